"""Which trunk shape wins where: the linear probe beside the tagger's shapes.

On the reference musicnn embeddings (the same 3,000 clips rendered with TimGM6mb
and with FluidR3_GM; see ``reference_check.py`` for the splits), per seed and
regime (``full``: 2,100 training clips; ``scarce``: 500), this fits

- ``logreg``: one-vs-rest logistic regression per node (``PerLevelClassifier``), its
  ``C`` chosen by 3-fold cross-validation on the first seed's training clips;
- the gated ``gmp`` tagger with each trunk shape: ``mlp`` (256 hidden units, the
  default), ``linear`` (``hidden_dims=()``), ``skip`` (MLP + linear skip),
  ``noise`` (MLP + input noise 0.1 and input dropout 0.1), ``ensemble3``
  (``n_ensemble=3`` of the MLP), ``linear_ensemble3``;

and reports leaf / parent macro mAP in-domain (``test``, TimGM6mb) and under a
timbre shift (``shift``, FluidR3), with the paired Δ vs ``logreg`` (×100, same seed;
seeds won). No setting is chosen on a test split: the taggers use fixed settings
and early stopping on 300 validation clips drawn from the training pool.

Run: ``python benchmarks/trunk_shapes.py [--seeds 0 1 2] [--regimes full scarce]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_check import DATA, load

from sk_hier import HierarchicalTagger, PerLevelClassifier
from sk_hier.metrics import level_average_precision, make_hierarchical_scorer

BASE = dict(strategy="gmp", parent_gate=True, max_epochs=200, batch_size=128)
SHAPES = {
    "mlp": dict(hidden_dims=(256,)),
    "linear": dict(hidden_dims=()),
    "skip": dict(hidden_dims=(256,), linear_skip=True),
    "noise": dict(hidden_dims=(256,), input_noise=0.1, input_dropout=0.1),
    "ensemble3": dict(hidden_dims=(256,), n_ensemble=3),
    "linear_ensemble3": dict(hidden_dims=(), n_ensemble=3),
}
REGIMES = {"full": None, "scarce": 500}
N_VAL = 300  # validation clips for early stopping, from the training pool


def _figures(model, norm, data) -> list[float]:
    X_in, X_shift, Y, tree, test = data
    out = []
    for X in (X_in, X_shift):
        P = model.predict_proba(norm(X[test]))
        out += [level_average_precision(Y[test], P, tree, level=lv) for lv in ("leaf", "parent")]
    return out


def _choose_C(X, Y, tree) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, KFold

    search = GridSearchCV(
        PerLevelClassifier(LogisticRegression(max_iter=2000), tree),
        {"estimator__C": [0.01, 0.1, 1.0]},
        scoring=make_hierarchical_scorer("map"),
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X, Y)
    return float(search.best_params_["estimator__C"])


def run(data, seeds, regimes) -> dict:
    from sklearn.linear_model import LogisticRegression

    X_in, _, Y, tree, test = data
    rows, C = {}, {}
    for regime in regimes:
        for seed in seeds:
            pool = np.random.default_rng(100 + seed).permutation(
                np.setdiff1d(np.arange(len(Y)), test)
            )
            val, train = pool[:N_VAL], pool[N_VAL:]
            if REGIMES[regime]:
                train = train[: REGIMES[regime]]
            mu, sd = X_in[train].mean(0), X_in[train].std(0) + 1e-8

            def norm(X, mu=mu, sd=sd):
                return ((X - mu) / sd).astype(np.float32)

            if regime not in C:
                C[regime] = _choose_C(norm(X_in[train]), Y[train], tree)
            start = time.perf_counter()
            lr = PerLevelClassifier(LogisticRegression(C=C[regime], max_iter=2000), tree)
            lr.fit(norm(X_in[train]), Y[train])
            rows["logreg", regime, seed] = [*_figures(lr, norm, data), time.perf_counter() - start]
            for name, shape in SHAPES.items():
                start = time.perf_counter()
                tagger = HierarchicalTagger(tree, random_state=seed, **BASE, **shape)
                tagger.fit(norm(X_in[train]), Y[train], X_val=norm(X_in[val]), Y_val=Y[val])
                rows[name, regime, seed] = [
                    *_figures(tagger, norm, data),
                    time.perf_counter() - start,
                ]
            for name in ("logreg", *SHAPES):
                f = rows[name, regime, seed]
                print(
                    f"{regime} seed {seed} {name:17s} leaf {f[0]:.3f} parent {f[1]:.3f} | "
                    f"shift {f[2]:.3f} / {f[3]:.3f} | {f[4]:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return {"rows": rows, "C": C}


def report(result: dict, seeds, regimes, argv) -> str:
    rows, C = result["rows"], result["C"]
    heads = ("leaf", "parent", "shift leaf", "shift parent")
    lines = [
        "# Trunk shapes vs the linear probe (reference musicnn embeddings)",
        "",
        f"Command: `python benchmarks/trunk_shapes.py {' '.join(argv)}`",
        f"Seeds {list(seeds)}; torch {torch.__version__}, 1 thread; logreg C by 3-fold CV "
        f"on the first seed's training clips: {C}. Mean over seeds; Δ vs logreg ×100 "
        "(paired, seeds won).",
        "",
    ]
    for regime in regimes:
        lines += [
            f"## {regime}",
            "",
            "| model | "
            + " | ".join(heads)
            + " | "
            + " | ".join(f"Δ {h}" for h in heads)
            + " | fit s |",
            "|---" * 10 + "|",
        ]
        base = np.array([rows["logreg", regime, s][:4] for s in seeds])
        for name in ("logreg", *SHAPES):
            f = np.array([rows[name, regime, s] for s in seeds])
            d = (f[:, :4] - base) * 100
            cells = [f"{v:.3f}" for v in f[:, :4].mean(0)]
            deltas = [
                f"{d[:, i].mean():+.1f} ({int((d[:, i] > 0).sum())}/{len(seeds)})"
                for i in range(4)
            ]
            lines.append(
                f"| {name} | "
                + " | ".join(cells)
                + " | "
                + " | ".join(deltas)
                + f" | {f[:, 4].mean():.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    args = parser.parse_args(argv)
    if not (args.data_dir / "reference_musicnn_timgm6mb.npz").exists():
        sys.exit(f"The reference embeddings are not in {args.data_dir}; pass --data-dir.")
    torch.set_num_threads(1)
    result = run(load(args.data_dir), args.seeds, args.regimes)
    text = report(result, args.seeds, args.regimes, sys.argv[1:] if argv is None else argv)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
