"""``sk-hier bench``: the quality benchmark (rendered audio), or a synthetic comparison."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace

from . import CLIError


def add_parser(sub) -> None:
    # Registries of plain-Python modules: listing the choices loads no numpy or torch.
    from ..benchmarking.regimes import REGIMES
    from ..datasets.soundfonts import LINEAGE_GROUPS, soundfont_names
    from ..embedders import embedder_names

    p = sub.add_parser(
        "bench",
        help="compare every strategy and baseline on rendered audio; print the answer",
        description="Render one MIDI set through timbre sources, embed it, grid-search "
        "every model on training clips only, and report per-level mAP with paired "
        "deltas vs flat and vs the best logistic regression over seeds, in regimes: "
        + "; ".join(f"{n}: {r.summary}" for n, r in REGIMES.items())
        + ". --quick (the default) is a small end-to-end run with one LOSO cell; "
        "--full the committed one. Resumable: finished cells in OUT/cells are kept.",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="600 clips, musicnn, 1 seed, no grid, 1 LOSO cell"
    )
    size.add_argument(
        "--full",
        action="store_true",
        help="2,000 clips, musicnn_pair and log-mel, the default regimes, 5 seeds",
    )
    size.add_argument("--synthetic", action="store_true", help="strategies on synthetic data only")
    p.add_argument(
        "--data", default=None, help="data folder (default benchmarks/data/{quick,full})"
    )
    p.add_argument(
        "--out", default=None, help="results folder (default benchmarks/results/{quick,full})"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=None)
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--embedders", nargs="+", default=None, choices=embedder_names())
    p.add_argument("--regimes", nargs="+", default=None, choices=tuple(REGIMES))
    p.add_argument(
        "--sources", nargs="+", default=None, choices=soundfont_names(), help="timbre sources"
    )
    p.add_argument(
        "--held-out",
        nargs="+",
        default=None,
        choices=tuple(LINEAGE_GROUPS),
        help="LOSO cells for these lineage groups only (default: every group)",
    )
    p.add_argument("--n-clips", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--n-jobs", type=int, default=None)
    grid = p.add_mutually_exclusive_group()
    grid.add_argument("--no-grid", action="store_true", help="default hyper-parameters only")
    grid.add_argument(
        "--grid",
        action="store_true",
        help="grid-search every model (the default of --full; without --full the run "
        "starts from --quick's settings, which have no grid)",
    )
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (or 'local')")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace):
    from ..benchmarking.quality import FULL, MODELS, QUICK

    config = FULL if args.full else QUICK
    changes = {
        "seeds": tuple(args.seeds) if args.seeds else None,
        "models": tuple(args.models) if args.models else None,
        "embedders": tuple(args.embedders) if args.embedders else None,
        "regimes": tuple(args.regimes) if args.regimes else None,
        "sources": tuple(args.sources) if args.sources else None,
        "held_out": tuple(args.held_out) if args.held_out else None,
        "n_clips": args.n_clips,
        "n_test": args.n_test,
        "n_jobs": args.n_jobs,
        "grid": False if args.no_grid else (True if args.grid else None),
    }
    config = replace(config, **{k: v for k, v in changes.items() if v is not None})
    unknown = set(config.models) - set(MODELS)
    if unknown:
        raise CLIError(f"--models: unknown {sorted(unknown)}; valid: {', '.join(MODELS)}.")
    if "timgm6mb" not in config.sources:
        raise CLIError("--sources must include timgm6mb: it carries the single-source regimes.")
    if config.n_test >= config.n_clips:
        raise CLIError(f"--n-test {config.n_test} must be below --n-clips {config.n_clips}.")
    return config


def _gaps(data: str) -> dict:
    """Gaps recorded in the render.json of every source folder of a data folder."""
    import json
    from pathlib import Path

    out = {}
    for meta in sorted(Path(data).glob("*/render.json")):
        gaps = json.loads(meta.read_text()).get("settings", {}).get("gaps", {})
        out.update(gaps)
    return out


def run(args: argparse.Namespace) -> int:
    if args.synthetic:
        return _synthetic(args)
    from ..benchmarking.quality import run_quality
    from ..benchmarking.report import write_report

    config = _config(args)
    kind = "full" if args.full else "quick"
    data = args.data or f"benchmarks/data/{kind}"
    out = args.out or f"benchmarks/results/{kind}"
    command = "sk-hier bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    start = time.perf_counter()
    if args.scheduler:
        from .._dask import scheduler_context

        with scheduler_context(args.scheduler):
            df = run_quality(data, out, config)
    else:
        df = run_quality(data, out, config)
    from ..datasets import load_rendered

    tree = load_rendered(f"{data}/timgm6mb")[2]
    _, answer = write_report(out, df, tree, command=command, gaps=_gaps(data))
    print(answer)
    print(f"({time.perf_counter() - start:.0f} s; full tables in {out}/summary.md)")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    import torch

    from ..benchmarking import default_models, evaluate, hide_leaves, summarize
    from ..datasets import default_hierarchy, make_hierarchical_multilabel

    torch.set_num_threads(1)  # fair, repeatable timings
    n_train, n_test = 1500, 1000
    seeds = args.seeds or [0, 1, 2]
    tree = default_hierarchy(6, 4)
    X, Y, _ = make_hierarchical_multilabel(n_train + n_test, tree, 64, random_state=1234)
    test = {"test": (X[n_train:], Y[n_train:])}
    rows = []
    for seed in seeds:
        train_idx = np.random.default_rng(seed).permutation(n_train)
        Xtr, Ytr = X[train_idx], Y[train_idx]
        for regime, Y_reg in (("full", Ytr), ("partial", hide_leaves(Ytr, tree, 0.5, seed))):
            print(f"seed {seed}, regime {regime} ...", file=sys.stderr, flush=True)
            rows += evaluate(
                default_models(tree),
                (Xtr, Y_reg),
                test,
                tree,
                seed=seed,
                embedder="synthetic",
                regime=regime,
            )
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    print(summarize(df, "map"))
    secs = df[df.metric == "fit_seconds"].groupby("model", sort=False)["value"].mean()
    print("\nmean fit seconds: " + ", ".join(f"{m} {s:.1f}" for m, s in secs.items()))
    return 0
