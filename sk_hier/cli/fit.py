"""``sk-hier fit``: train a tagger on an embedding file and save it."""

from __future__ import annotations

import argparse
import ast
import difflib
import shlex
import sys
from pathlib import Path
from typing import Any

from . import CLIError

HELP = "train a HierarchicalTagger on an .npz embedding file and save it"
DESCRIPTION = """\
Train a HierarchicalTagger on the embeddings and labels of an .npz file written by
`sk-hier embed`, with the label tree stored in that file, and save the fitted model
(.skops, or .joblib). The embedder that made the features is recorded with the
model, so that `sk-hier tag` embeds new audio the same way. A .joblib model is a
pickle: `sk-hier tag` and sk_hier.load read it only when told to (--allow-pickle,
allow_pickle=True), since loading a pickle runs code; prefer .skops. --out is
checked before any work: it must not be the embedding file.
"""
EPILOG = """examples:
  sk-hier fit data/train_logmel.npz --out model.skops
  sk-hier fit data/train_musicnn.npz --strategy resatt --param hidden_dims=(256,) \\
      --param lr=3e-4 max_epochs=200 --seed 0 --out resatt.skops
  sk-hier fit data/train_musicnn.npz --tune-thresholds --cv 5 --out tuned.skops

--param values are Python literals (1e-3, (256, 128), True, None); anything else is
taken as a string (device=cuda).
"""

# Set by the command itself, not through --param.
_RESERVED = {
    "hierarchy": "the label tree comes from the embedding file",
    "strategy": "use --strategy",
    "random_state": "use --seed",
}


def add_parser(subparsers) -> None:
    """Register ``fit`` on the ``sk-hier`` sub-command parser."""
    # The strategy registry imports no torch: `sk-hier --help` stays fast.
    from ..strategies import strategy_names

    p = subparsers.add_parser(
        "fit",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("embeddings", metavar="EMB.npz", help="embedding file with labels")
    p.add_argument(
        "--strategy", choices=strategy_names(), default="gmp", help="head strategy (default: gmp)"
    )
    p.add_argument(
        "--param",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="a HierarchicalTagger parameter (repeatable)",
    )
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random_state")
    p.add_argument(
        "--tune-thresholds",
        action="store_true",
        help="tune one F1-optimal threshold per label by cross-validation "
        "(sk_hier.thresholds.TunedThresholds)",
    )
    p.add_argument(
        "--cv", type=int, default=5, metavar="K", help="folds for --tune-thresholds (default 5)"
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="MODEL.skops",
        help="model file to write: .skops (recommended) or .joblib (a pickle, which "
        "`sk-hier tag` loads only with --allow-pickle)",
    )
    p.set_defaults(func=run)


def parse_params(items: list[str], valid: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings -> a dict; values as Python literals, else strings.

    Examples
    --------
    >>> valid = ["lr", "hidden_dims", "device"]
    >>> parse_params(["lr=1e-3", "hidden_dims=(64, 32)", "device=cuda"], valid)
    {'lr': 0.001, 'hidden_dims': (64, 32), 'device': 'cuda'}
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"--param expects KEY=VALUE, got {item!r} (e.g. --param lr=1e-3).")
        if key in _RESERVED:
            raise CLIError(f"--param {key} is not allowed: {_RESERVED[key]}.")
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise CLIError(
                f"Unknown HierarchicalTagger parameter {key!r}.{hint} Valid parameters: "
                f"{', '.join(valid)}."
            )
        try:
            params[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            params[key] = text.strip()
    return params


def run(args: argparse.Namespace) -> int:
    """Fit a tagger on ``args.embeddings`` and save it to ``args.out``."""
    import numpy as np

    from .._io import check_output
    from ..embeddings import load_embeddings
    from ..persistence import save
    from ..tagger import HierarchicalTagger
    from ..thresholds import TunedThresholds

    valid = sorted(set(HierarchicalTagger().get_params()) - set(_RESERVED))
    params = parse_params(args.param, valid)
    out = Path(args.out)
    if out.suffix.lower() not in (".skops", ".joblib", ".pkl", ".pickle"):
        raise CLIError(f"--out {out}: name the model file *.skops (recommended) or *.joblib.")
    if args.tune_thresholds and args.cv < 2:
        raise CLIError(f"--cv must be at least 2, got {args.cv}.")
    check_output(out, [args.embeddings], option="--out")  # before the data are read
    data = load_embeddings(args.embeddings)
    if data.hierarchy is None or data.Y.shape[1] == 0:
        raise CLIError(
            f"{args.embeddings} holds no labels: embed a rendered folder, or a manifest "
            "with label columns, to train on it."
        )
    known = ~np.isnan(data.Y)
    if not known.any():
        raise CLIError(f"{args.embeddings}: every label is unknown (NaN); nothing to learn.")

    tagger = HierarchicalTagger(
        hierarchy=data.hierarchy, strategy=args.strategy, random_state=args.seed, **params
    )
    model = TunedThresholds(tagger, cv=args.cv) if args.tune_thresholds else tagger
    n, d = data.X.shape
    print(
        f"sk-hier fit: {args.strategy} on {n} clips x {d} features, "
        f"{len(data.labels)} labels{' (tuning thresholds)' if args.tune_thresholds else ''} ...",
        file=sys.stderr,
        flush=True,
    )
    model.fit(data.X, data.Y)
    score = model.score(data.X, data.Y)
    path = save(model, out, _metadata(args, data, score))
    _report(args, model, score, path)
    return 0


def _metadata(args: argparse.Namespace, data: Any, score: float) -> dict:
    """What the model file records about its training: `sk-hier tag` reads the embedder."""
    n, d = data.X.shape
    return {
        "embedder": data.embedder,
        "training_data": {
            "file": Path(args.embeddings).name,
            "n_clips": int(n),
            "n_features": int(d),
            "labels": list(data.labels),
        },
        "training_score": float(score),
        "command": "sk-hier fit " + " ".join(shlex.quote(a) for a in _argv(args)),
    }


def _report(args: argparse.Namespace, model: Any, score: float, path: Path) -> None:
    fitted = model.estimator_ if args.tune_thresholds else model
    history = fitted.history_
    best = [h["epoch"] for h in history if h.get("valid_loss_best")]
    stop = f", best at epoch {best[-1]}" if best and "valid_loss" in history[-1] else ""
    print(
        f"sk-hier fit: {len(history)} epochs{stop}; training score (mean level AP) "
        f"{score:.3f}; wrote {path}"
    )
    if args.tune_thresholds:
        thr = model.thresholds_
        print(
            f"sk-hier fit: tuned {int(model.tuned_.sum())} of {len(thr)} thresholds "
            f"(range {thr.min():.2f}-{thr.max():.2f})"
        )


def _argv(args: argparse.Namespace) -> list[str]:
    argv = [str(args.embeddings), "--strategy", args.strategy]
    for item in args.param:
        argv += ["--param", item]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    if args.tune_thresholds:
        argv += ["--tune-thresholds", "--cv", str(args.cv)]
    return [*argv, "--out", str(args.out)]
