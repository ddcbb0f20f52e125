"""``sk-hier bench``: compare every strategy, with paired statistics over seeds."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="compare all strategies (paired over seeds) and print a table",
        description="Compare every tagger strategy on synthetic hierarchical data "
        "(regimes: full labels, and half of the clips with family labels only).",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small run (default)")
    size.add_argument("--full", action="store_true", help="larger data, 5 seeds")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2)")
    p.add_argument("--out", default=None, help="also write the long-form results CSV here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pandas as pd
    import torch

    from ..benchmarking import default_models, evaluate, hide_leaves, summarize
    from ..datasets import default_hierarchy, make_hierarchical_multilabel

    torch.set_num_threads(1)  # fair, repeatable timings
    n_train, n_test = (4000, 2000) if args.full else (1500, 1000)
    seeds = args.seeds or ([0, 1, 2, 3, 4] if args.full else [0, 1, 2])
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
