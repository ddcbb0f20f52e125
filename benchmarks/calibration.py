"""Calibration benchmark: ECE and Brier score per level, before and after calibration.

For every model and calibration method (``sigmoid``, ``temperature``, ``isotonic``;
one map per node, and ``/level``: one per level of the tree, ``pooling="level"``):

- ``in-domain``: the calibrator fitted on out-of-fold probabilities of the training
  set (``cv``), evaluated on the test clips;
- ``shifted``: the same calibrator on the test clips of another source (a second
  soundfont, or for ``--synthetic`` the features scaled by 0.7 and offset);
- ``shifted+recal``: the plain model recalibrated with ``cv="prefit"`` on a few
  dozen labelled clips of the other source (``--n-recal``), evaluated on the rest.

Per level: ECE (15 equal-width bins), adaptive ECE (15 equal-mass bins), Brier
score, and the ECE reduction with a paired bootstrap 95% interval (test clips
resampled); per model: mean level mAP and the child-above-parent violation rate of
the calibrated probabilities before and after reconciliation.

    python benchmarks/calibration.py --synthetic                # under a minute, anywhere
    python benchmarks/calibration.py --embeddings D/musicnn.npz --shift D/musicnn_shift.npz
    python benchmarks/calibration.py --bench-data benchmarks/data/loso1000   # held-out sources

The embedding files are those of ``sk-hier embed`` (or of the quality benchmark's
data folder: ``musicnn.npz`` holds every clip, ``musicnn_shift.npz`` the test clips
rendered with the other soundfont, matched by clip id). Without ``--shift`` a random
20% of the clips is the test set and the shifted rows are left out. Prints tables
and writes ``calibration.csv`` under ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sk_hier import HierarchicalTagger, PerLevelClassifier
from sk_hier.calibration import HierarchicalCalibrator, level_brier, level_ece
from sk_hier.datasets import default_hierarchy, make_hierarchical_multilabel
from sk_hier.metrics import level_average_precision, mean_level_average_precision, violation_rate

METHODS = ("sigmoid", "temperature", "isotonic")
# One map per node, or one per level shared by its nodes (for few calibration clips).
POOLINGS = ("node", "level")


# -- data ---------------------------------------------------------------------------------
def synthetic_data(seed: int, n_train: int = 1000, n_test: int = 800) -> dict:
    """Train / test from one source, and the test clips as another source would give them."""
    X, Y, tree = make_hierarchical_multilabel(
        n_train + n_test, default_hierarchy(4, 3), n_features=32, random_state=seed
    )
    rng = np.random.default_rng(seed)
    # Another source: quieter, offset features (the same clips, another timbre).
    X_shift = X[n_train:] * 0.7 + rng.normal(0, 3.0, X.shape[1]).astype(np.float32)
    return dict(
        tree=tree,
        train=(X[:n_train], Y[:n_train].astype(float)),
        test=(X[n_train:], Y[n_train:].astype(float)),
        shift=(X_shift, Y[n_train:].astype(float)),
        source="synthetic",
    )


def file_data(path: str, shift: str | None, seed: int) -> dict:
    """Splits from an embedding file (and its shifted twin, matched by clip id)."""
    from sk_hier.embeddings import load_embeddings

    main = load_embeddings(path)
    if main.hierarchy is None or main.Y.shape[1] == 0:
        raise SystemExit(f"{path} holds no labels and hierarchy; embed a labelled dataset.")
    position = {c: i for i, c in enumerate(main.clip_ids.tolist())}
    if shift is not None:
        other = load_embeddings(shift)
        missing = [c for c in other.clip_ids.tolist() if c not in position]
        if missing or other.labels != main.labels:
            raise SystemExit(
                f"{shift} must hold clips of {path} with the same labels; "
                f"{len(missing)} clip ids are not in it (e.g. {missing[:3]})."
            )
        test = np.array([position[c] for c in other.clip_ids.tolist()])
        shifted = (other.X, other.Y.astype(float))
    else:
        perm = np.random.default_rng(seed).permutation(len(main))
        test, shifted = np.sort(perm[: len(main) // 5]), None
    train = np.setdiff1d(np.arange(len(main)), test)
    return dict(
        tree=main.hierarchy,
        train=(main.X[train], main.Y[train].astype(float)),
        test=(main.X[test], main.Y[test].astype(float)),
        shift=shifted,
        source=Path(path).name,
    )


def _source_rows(data_dir: Path, source: str, embedder: str) -> tuple:
    """(X, Y, MIDI ids, hierarchy) of one source folder of the quality benchmark's data."""
    from sk_hier.datasets import load_rendered
    from sk_hier.embeddings import load_embeddings

    _, Y, tree, clip_ids = load_rendered(data_dir / source)
    emb = load_embeddings(data_dir / f"{embedder}__{source}.npz")
    position = {c: i for i, c in enumerate(clip_ids.tolist())}
    rows = np.array([position[c] for c in emb.clip_ids.tolist()])  # silent clips: absent
    with open(data_dir / source / "sources.csv", newline="") as f:
        midi = {r["clip_id"]: r["midi_id"] for r in csv.DictReader(f)}
    return emb.X, Y[rows].astype(float), np.array([midi[c] for c in emb.clip_ids]), tree


def bench_data(data_dir: str, train: list, held_out: list, seed: int, embedder="musicnn"):
    """Train on some sources, test on held-out ones, split by MIDI id (no leakage).

    A quarter of the MIDI ids are test pieces: the training sources' renderings of
    them are the in-domain test, the held-out sources' renderings the shifted set.
    No training clip shares a MIDI file with any test clip.
    """
    root = Path(data_dir)
    parts = {s: _source_rows(root, s, embedder) for s in [*train, *held_out]}
    tree = parts[train[0]][3]
    ids = np.unique(np.concatenate([p[2] for p in parts.values()]))
    test_ids = set(np.random.default_rng(seed).permutation(ids)[: len(ids) // 4].tolist())

    def stack(sources, in_test):
        keep = [np.array([(m in test_ids) == in_test for m in parts[s][2]]) for s in sources]
        X = np.concatenate([parts[s][0][k] for s, k in zip(sources, keep)])
        Y = np.concatenate([parts[s][1][k] for s, k in zip(sources, keep)])
        return X, Y, np.concatenate([parts[s][2][k] for s, k in zip(sources, keep)])

    X_tr, Y_tr, _ = stack(train, False)
    X_te, Y_te, _ = stack(train, True)
    X_sh, Y_sh, midi_sh = stack(held_out, True)
    return dict(
        tree=tree,
        train=(X_tr, Y_tr),
        test=(X_te, Y_te),
        shift=(X_sh, Y_sh),
        shift_groups=midi_sh,
        source=f"{'+'.join(train)} -> {'+'.join(held_out)}",
    )


def build_models(tree, seed: int, synthetic: bool) -> dict:
    """A classical baseline and a gated tagger (whose parents may fall below a child)."""
    epochs = 20 if synthetic else 150
    tagger = HierarchicalTagger(
        tree,
        strategy="gmp",
        parent_gate=True,
        hidden_dims=(64,),
        max_epochs=epochs,
        random_state=seed,
    )
    return {
        "logreg_per_level": make_pipeline(
            StandardScaler(), PerLevelClassifier(LogisticRegression(C=0.1, max_iter=2000), tree)
        ),
        "tagger_gmp_gated": make_pipeline(StandardScaler(), tagger),
    }


# -- figures ------------------------------------------------------------------------------
def level_figures(Y, P, tree) -> dict:
    """ECE, adaptive ECE, Brier and mAP per depth."""
    out = {}
    for d in range(tree.n_levels):
        out[d] = dict(
            ece=level_ece(Y, P, tree, level=d),
            ece_adaptive=level_ece(Y, P, tree, level=d, strategy="quantile"),
            brier=level_brier(Y, P, tree, level=d),
            map=level_average_precision(Y, P, tree, level=d),
        )
    return out


def bootstrap_reduction(Y, P0, P1, tree, depth, n_boot, rng) -> tuple[float, float]:
    """Paired percentile 95% interval of ECE(P0) - ECE(P1), resampling test rows."""
    diffs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(Y), len(Y))
        diffs.append(
            level_ece(Y[idx], P0[idx], tree, level=depth)
            - level_ece(Y[idx], P1[idx], tree, level=depth)
        )
    return tuple(np.percentile(diffs, [2.5, 97.5]).tolist())


def ece_floor(Y, P, tree, depth, rng, n_draws: int = 20) -> float:
    """The ECE a perfectly calibrated model with these probabilities would measure on
    as many clips: targets drawn from ``P`` itself (unknown ones kept unknown). With a
    few hundred clips, binning noise alone gives an ECE well above 0; the excess over
    this floor is the miscalibration that a calibrator can remove."""
    out = []
    for _ in range(n_draws):
        drawn = (rng.uniform(size=P.shape) < P).astype(float)
        drawn[np.isnan(Y)] = np.nan
        out.append(level_ece(drawn, P, tree, level=depth))
    return float(np.mean(out))


def rows_for(model, regime, method, Y, P_raw, P_cal, P_rec, tree, args, rng) -> list:
    """One table row per depth: the reconciled probabilities against the raw ones."""
    raw, final = level_figures(Y, P_raw, tree), level_figures(Y, P_rec, tree)
    common = dict(
        model=model,
        regime=regime,
        method=method,
        n_eval=len(Y),
        map_mean_raw=mean_level_average_precision(Y, P_raw, tree),
        map_mean=mean_level_average_precision(Y, P_rec, tree),
        violation_raw=violation_rate(P_raw, tree),
        violation_calibrated=violation_rate(P_cal, tree),
        violation_reconciled=violation_rate(P_rec, tree),
    )
    rows = []
    for d in range(tree.n_levels):
        lo, hi = (np.nan, np.nan)
        if method != "none":
            lo, hi = bootstrap_reduction(Y, P_raw, P_rec, tree, d, args.n_boot, rng)
        rows.append(
            dict(
                common,
                level=f"depth {d}",
                ece_raw=raw[d]["ece"],
                **final[d],
                ece_unreconciled=level_ece(Y, P_cal, tree, level=d),
                brier_raw=raw[d]["brier"],
                ece_reduction=raw[d]["ece"] - final[d]["ece"],
                ece_floor_raw=ece_floor(Y, P_raw, tree, d, rng),
                ece_floor=ece_floor(Y, P_rec, tree, d, rng),
                ci_low=lo,
                ci_high=hi,
            )
        )
    return rows


# -- the run ------------------------------------------------------------------------------
def calibrated_pair(cal, X) -> tuple[np.ndarray, np.ndarray]:
    """(without reconciliation, with it) from one fitted calibrator."""
    P_cal = cal.set_params(reconcile=None).predict_proba(X)
    return P_cal, cal.set_params(reconcile="max").predict_proba(X)


def recal_split(n: int, groups, n_recal: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """About ``n_recal`` rows to recalibrate on, the rest to evaluate on; rows of one
    MIDI file (several renderings of one piece) never fall on both sides."""
    if groups is None:
        perm = rng.permutation(n)
        return perm[:n_recal], perm[n_recal:]
    chosen, recal = set(), []
    for g in rng.permutation(np.unique(groups)):
        if len(recal) >= n_recal:
            break
        chosen.add(g)
        recal += np.flatnonzero(groups == g).tolist()
    rest = np.array([i for i in range(n) if groups[i] not in chosen])
    return np.array(recal), rest


def run_model(name, model, data, args, rng) -> list:
    tree = data["tree"]
    (X_tr, Y_tr), (X_te, Y_te) = data["train"], data["test"]
    start = time.perf_counter()
    model.fit(X_tr, Y_tr)
    regimes = {"in-domain": (X_te, Y_te, model.predict_proba(X_te))}
    if data["shift"] is not None:
        X_sh, Y_sh = data["shift"]
        recal, rest = recal_split(len(X_sh), data.get("shift_groups"), args.n_recal, rng)
        regimes["shifted"] = (X_sh[rest], Y_sh[rest], model.predict_proba(X_sh[rest]))
    rows = []
    for regime, (_, Y, P) in regimes.items():
        rows += rows_for(name, regime, "none", Y, P, P, P, tree, args, rng)
    for method, pooling in [(m, p) for p in POOLINGS for m in METHODS]:
        label = method if pooling == "node" else f"{method}/{pooling}"
        cal = HierarchicalCalibrator(
            model, method=method, pooling=pooling, cv=args.cv, n_jobs=args.n_jobs
        )
        cal.fit(X_tr, Y_tr)
        for regime, (X, Y, P) in regimes.items():
            rows += rows_for(name, regime, label, Y, P, *calibrated_pair(cal, X), tree, args, rng)
        if data["shift"] is not None:
            X, Y, P = regimes["shifted"]
            prefit = HierarchicalCalibrator(model, method=method, pooling=pooling, cv="prefit")
            prefit.fit(X_sh[recal], Y_sh[recal])
            pair = calibrated_pair(prefit, X)
            rows += rows_for(name, "shifted+recal", label, Y, P, *pair, tree, args, rng)
    print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return rows


def print_tables(rows: list) -> None:
    print(
        "\n| model | regime | method | level | ECE | ECE raw | reduction [95% CI] "
        "| adaptive ECE | Brier (raw) |\n|---|---|---|---|---|---|---|---|---|"
    )
    for r in rows:
        ci = "" if r["method"] == "none" else f" [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        print(
            f"| {r['model']} | {r['regime']} | {r['method']} | {r['level']} | {r['ece']:.3f} "
            f"| {r['ece_raw']:.3f} | {r['ece_reduction']:+.3f}{ci} | {r['ece_adaptive']:.3f} "
            f"| {r['brier']:.4f} ({r['brier_raw']:.4f}) |"
        )
    print(
        "\n| model | regime | method | mean mAP (raw) | violations raw | calibrated "
        "| reconciled |\n|---|---|---|---|---|---|---|"
    )
    for r in rows:
        if r["level"] == "depth 0":
            after = "| - | - |"  # nothing calibrated, nothing reconciled
            if r["method"] != "none":
                after = f"| {r['violation_calibrated']:.3f} | {r['violation_reconciled']:.3f} |"
            print(
                f"| {r['model']} | {r['regime']} | {r['method']} | {r['map_mean']:.4f} "
                f"({r['map_mean_raw']:.4f}) | {r['violation_raw']:.3f} {after}"
            )


def load_data(args, seed: int) -> dict:
    if args.synthetic:
        return synthetic_data(seed)
    if args.bench_data:
        return bench_data(args.bench_data, args.train.split(","), args.held_out.split(","), seed)
    try:
        return file_data(args.embeddings, args.shift, seed)
    except (OSError, ValueError) as exc:  # the loader's message names file and fix
        raise SystemExit(f"error: {exc}") from None


def print_summary(rows: list) -> None:
    """Means over seeds: ECE before -> after, the relative cut, seeds whose bootstrap
    interval of the cut excludes 0, and the change of mean level mAP."""
    seeds = sorted({r["seed"] for r in rows})
    print(
        f"\n**Means over {len(seeds)} seed(s)** (cut: relative ECE reduction; floor: the "
        "ECE a perfectly calibrated model measures on as many clips, raw -> after; excess "
        "cut: reduction of the ECE above its floor; CI>0: seeds whose 95% interval of the "
        "reduction lies above 0; ΔmAP in points)\n\n"
        "| model | regime | method | level | ECE raw | ECE | cut | floor | excess cut "
        "| CI>0 | ΔmAP |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    keys = sorted(
        {(r["model"], r["regime"], r["method"], r["level"]) for r in rows if r["method"] != "none"}
    )
    for key in keys:
        sel = [r for r in rows if (r["model"], r["regime"], r["method"], r["level"]) == key]
        raw, cal = np.mean([r["ece_raw"] for r in sel]), np.mean([r["ece"] for r in sel])
        f_raw, f_cal = (np.mean([r[k] for r in sel]) for k in ("ece_floor_raw", "ece_floor"))
        excess = 1 - (cal - f_cal) / (raw - f_raw)
        above = sum(r["ci_low"] > 0 for r in sel)
        dmap = 100 * np.mean([r["map_mean"] - r["map_mean_raw"] for r in sel])
        print(
            f"| {' | '.join(key)} | {raw:.3f} | {cal:.3f} | {1 - cal / raw:+.0%} "
            f"| {f_raw:.3f} -> {f_cal:.3f} | {excess:+.0%} | {above}/{len(sel)} | {dmap:+.2f} |"
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", action="store_true", help="synthetic data (seconds)")
    source.add_argument("--embeddings", help="an embedding file of `sk-hier embed`")
    source.add_argument(
        "--bench-data", help="a data folder of `sk-hier bench` (per-source folders)"
    )
    parser.add_argument("--train", default="timgm6mb,csound", help="with --bench-data")
    parser.add_argument(
        "--held-out", default="fluidr3,fluidr3mono,musescore", help="with --bench-data"
    )
    parser.add_argument("--shift", help="the test clips from another source (embedding file)")
    parser.add_argument("--out", default="benchmarks/results/calibration")
    parser.add_argument(
        "--cv", type=int, default=None, help="folds of the calibrators (3 synthetic, else 5)"
    )
    parser.add_argument("--n-recal", type=int, default=50, help="clips to recalibrate on")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one run per seed")
    parser.add_argument("--n-jobs", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cv is None:
        args.cv = 3 if args.synthetic else 5
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # fail now, not after the run
    warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
    rows = []
    for seed in args.seeds:
        data = load_data(args, seed)
        rng = np.random.default_rng(seed)
        # Small models: one thread each is fastest; threads fight each other on few cores.
        torch.set_num_threads(1)
        with threadpool_limits(1):
            for name, model in build_models(data["tree"], seed, args.synthetic).items():
                rows += [
                    {"seed": seed, "source": data["source"], **r}
                    for r in run_model(name, model, data, args, rng)
                ]
    if len(args.seeds) == 1:
        print_tables(rows)
    print_summary(rows)
    with open(out / "calibration.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {out / 'calibration.csv'} ({data['source']})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
