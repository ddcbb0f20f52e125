"""The quality benchmark on rendered audio (the toolkit's main job).

Pipeline: render clips with TimGM6mb and re-render the same MIDI with FluidR3_GM;
embed them (musicnn, log-mel); a fixed test set (``test``, and the same clips
rendered with the other soundfont, ``test_shift``); per seed a training pool in
three regimes (``full``, ``scarce``, ``partial``); per model a grid search on the
training clips only (inner 3-fold, scoring = mean of leaf and parent mAP), refit,
and evaluation on both test splits. Every finished (model, embedder, regime,
seed) cell is stored, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import hierarchical_map_scorer, per_label_table
from .compare import TAGGER_VARIANTS, LeafMultilabelClassifier, evaluate, hide_leaves

__all__ = ["FULL", "QUICK", "QualityConfig", "build_models", "prepare_data", "run_quality"]

BASELINES = ("logreg_per_level", "logreg_top_down", "logreg_bottom_up", "mlp_flat")
MODELS = tuple(TAGGER_VARIANTS) + BASELINES


@dataclass
class QualityConfig:
    """Size and scope of a benchmark run."""

    n_clips: int = 3000
    n_test: int = 600
    n_scarce: int = 500
    seeds: tuple = (0, 1, 2)
    embedders: tuple = ("musicnn", "logmel")
    regimes: tuple = ("full", "scarce", "partial")
    models: tuple = MODELS
    grid: bool = True
    max_epochs: int = 200
    render_seed: int = 2026
    n_jobs: int = 2
    extra: dict = field(default_factory=dict)


QUICK = QualityConfig(
    n_clips=600, n_test=200, seeds=(0,), embedders=("musicnn",), regimes=("full",), grid=False
)
FULL = QualityConfig()

# Small grids, sized so the full run fits in about two hours on two cores. Every
# tagger gets the same trunk grid (weight decay, dropout); joint ones add the
# parent loss weight, which flat does not have.
FLAT_GRID = {"model__weight_decay": [1e-4, 1e-3], "model__dropout": [0.2, 0.4]}
TAGGER_GRID = {**FLAT_GRID, "model__level_weights": [0.3, 1.0]}
LOGREG_GRID = {"model__estimator__C": [0.01, 0.1, 1.0]}
MLP_GRID = {"model__estimator__alpha": [1e-4, 1e-2]}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare_data(data_dir: str | Path, config: QualityConfig, progress: bool = True) -> dict:
    """Render (or reuse) the clips and embed them; returns arrays and splits."""
    from ..datasets import load_rendered, render_dataset
    from ..embeddings import load_embeddings, make_embedder, save_embeddings

    data_dir = Path(data_dir)
    main, shift = data_dir / "timgm6mb", data_dir / "fluidr3"
    start = time.perf_counter()
    render_dataset(
        main, config.n_clips, seed=config.render_seed, n_jobs=config.n_jobs, progress=progress
    )
    render_dataset(
        shift, soundfont="fluidr3", midi_from=main, n_jobs=config.n_jobs, progress=progress
    )
    _log(f"rendered {config.n_clips} clips x 2 soundfonts ({time.perf_counter() - start:.0f} s)")
    paths, Y, tree, clip_ids = load_rendered(main)
    shift_paths, Y_shift, _, shift_ids = load_rendered(shift)
    if list(shift_ids) != list(clip_ids) or not np.array_equal(Y_shift, Y):
        raise ValueError(f"{shift} does not hold the same clips and labels as {main}; delete it.")
    test = np.sort(np.random.default_rng(0).permutation(len(paths))[: config.n_test])
    X = {}
    for name in config.embedders:
        out = data_dir / f"{name}.npz"
        if not out.exists():
            emb = make_embedder(
                name, n_jobs=config.n_jobs, cache_dir=str(data_dir / "cache"), progress=progress
            )
            start = time.perf_counter()
            X_main = emb.fit_transform(list(paths))
            X_shift = emb.transform(list(shift_paths[test]))
            _log(f"embedded with {name} ({time.perf_counter() - start:.0f} s)")
            save_embeddings(out, X_main, clip_ids, Y, tree, emb.describe())
            save_embeddings(
                data_dir / f"{name}_shift.npz",
                X_shift,
                clip_ids[test],
                Y[test],
                tree,
                emb.describe(),
            )
        X[name] = (load_embeddings(out).X, load_embeddings(data_dir / f"{name}_shift.npz").X)
    pool = np.setdiff1d(np.arange(len(paths)), test)
    return {"hierarchy": tree, "Y": Y.astype(np.float32), "test": test, "pool": pool, "X": X}


def build_models(tree: Any, config: QualityConfig) -> dict:
    """Unfitted ``(pipeline, grid)`` per model name: StandardScaler + model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ..baselines import BottomUpClassifier, PerLevelClassifier, TopDownClassifier
    from ..tagger import HierarchicalTagger

    def pipe(model):
        return Pipeline([("scale", StandardScaler()), ("model", model)])

    models = {}
    for name, (strategy, extra) in TAGGER_VARIANTS.items():
        tagger = HierarchicalTagger(tree, strategy=strategy, max_epochs=config.max_epochs, **extra)
        models[name] = (pipe(tagger), FLAT_GRID if strategy == "flat" else TAGGER_GRID)
    logreg = LogisticRegression(max_iter=2000)
    for name, cls in (
        ("logreg_per_level", PerLevelClassifier),
        ("logreg_top_down", TopDownClassifier),
        ("logreg_bottom_up", BottomUpClassifier),
    ):
        models[name] = (pipe(cls(logreg, tree)), LOGREG_GRID)
    mlp = MLPClassifier((256,), early_stopping=True, max_iter=300, random_state=0)
    models["mlp_flat"] = (pipe(LeafMultilabelClassifier(mlp, tree)), MLP_GRID)
    return {name: models[name] for name in config.models}


def _training_set(data: dict, regime: str, seed: int, config: QualityConfig):
    pool = np.random.default_rng(100 + seed).permutation(data["pool"])
    if regime == "scarce":
        pool = pool[: config.n_scarce]
    Y = data["Y"][pool]
    if regime == "partial":
        Y = hide_leaves(Y, data["hierarchy"], 0.5, seed)
    return pool, Y


def _set_seed(est, seed: int) -> None:
    for key in est.get_params():
        if key.endswith("random_state"):
            est.set_params(**{key: seed})


def _select(name, pipeline, grid, X, Y, seed, config, cache: Path) -> dict:
    """Grid search once per (model, embedder, regime), on the first seed's training clips."""
    if cache.exists():
        return json.loads(cache.read_text())
    from sklearn.model_selection import GridSearchCV, KFold

    if not config.grid or not grid:
        best = {}
    else:
        est = pipeline
        _set_seed(est, seed)
        search = GridSearchCV(
            est,
            grid,
            scoring=hierarchical_map_scorer,
            cv=KFold(3, shuffle=True, random_state=seed),
            n_jobs=config.n_jobs,
            refit=False,
        )
        search.fit(X, Y)
        best = {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in search.best_params_.items()
        }
        _log(f"  {name}: best {best} (inner CV {search.best_score_:.3f})")
    cache.write_text(json.dumps(best))
    return best


def _extras(name, fitted, X_test, Y_test, tree, base) -> dict:
    """Per-label AP rows and, for interpretable models, the average attention map."""
    P = fitted.predict_proba(X_test)
    table = per_label_table(Y_test, P, tree)
    rows = [
        {**base, "label": lab, "is_leaf": leaf, "average_precision": ap}
        for lab, leaf, ap in zip(table["label"], table["is_leaf"], table["average_precision"])
    ]
    out = {"per_label": rows, "proba": P.tolist()}
    model = fitted[-1]
    if name.startswith("resatt"):
        A = model.attention_maps(fitted[:-1].transform(X_test))
        out["attention_mean"] = np.asarray(A).mean(axis=0).tolist()
        out["gates"] = np.asarray(model.gates_).tolist()
    return out


def run_quality(data_dir, out_dir, config: QualityConfig, progress: bool = True):
    """Run (or resume) the benchmark; returns the long-form results DataFrame."""
    import torch
    from sklearn.base import clone

    torch.set_num_threads(1)  # many small fits: processes, not threads, use the cores
    data = prepare_data(data_dir, config, progress=progress)
    tree, test = data["hierarchy"], data["test"]
    cells = Path(out_dir) / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    models = build_models(tree, config)
    total = len(config.embedders) * len(config.regimes) * len(config.seeds) * len(models)
    done = 0
    for emb in config.embedders:
        X_all, X_shift = data["X"][emb]
        tests = {"test": (X_all[test], data["Y"][test]), "test_shift": (X_shift, data["Y"][test])}
        for regime in config.regimes:
            # The grid search runs on the first seed's training clips (once per model).
            first = _training_set(data, regime, config.seeds[0], config)
            for seed in config.seeds:
                pool, Y_train = _training_set(data, regime, seed, config)
                X_train = X_all[pool]
                for name, (pipeline, grid) in models.items():
                    done += 1
                    cell = cells / f"{name}__{emb}__{regime}__{seed}.json"
                    if cell.exists():
                        continue
                    params = _select(
                        name,
                        clone(pipeline),
                        grid,
                        X_all[first[0]],
                        first[1],
                        config.seeds[0],
                        config,
                        cells / f"{name}__{emb}__{regime}__params.json",
                    )
                    est = clone(pipeline).set_params(**params)
                    _set_seed(est, seed)
                    fitted = {}
                    rows = evaluate(
                        {name: est},
                        (X_train, Y_train),
                        tests,
                        tree,
                        seed=seed,
                        embedder=emb,
                        regime=regime,
                        fitted=fitted,
                    )
                    base = {"model": name, "embedder": emb, "regime": regime, "seed": seed}
                    extras = {
                        split: _extras(name, fitted[name], Xs, Ys, tree, {**base, "split": split})
                        for split, (Xs, Ys) in tests.items()
                    }
                    if regime == "full" and seed == config.seeds[0]:  # for the PR curves
                        np.savez_compressed(
                            cells / f"{name}__{emb}__proba.npz",
                            Y_test=data["Y"][test],
                            **{
                                s: np.asarray(e.pop("proba"), np.float16)
                                for s, e in extras.items()
                            },
                        )
                    for e in extras.values():
                        e.pop("proba", None)
                    cell.write_text(json.dumps({"rows": rows, "params": params, "extras": extras}))
                    secs = next(r["value"] for r in rows if r["metric"] == "fit_seconds")
                    _log(f"[{done}/{total}] {name} {emb} {regime} seed {seed}: fit {secs:.0f} s")
    return load_results(out_dir)


def load_results(out_dir) -> Any:
    """The long-form table of every finished cell in ``out_dir``."""
    import pandas as pd

    rows = []
    for cell in sorted((Path(out_dir) / "cells").glob("*__*__*__[0-9]*.json")):
        rows += json.loads(cell.read_text())["rows"]
    return pd.DataFrame(rows)
