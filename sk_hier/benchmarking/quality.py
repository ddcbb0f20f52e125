"""The quality benchmark on rendered audio (the toolkit's main job).

Pipeline: compose one MIDI set and render it through every timbre source the run needs
(:mod:`~sk_hier.benchmarking.data`); embed the clips the cells use (musicnn, log-mel);
a fixed test set; per seed a training pool in each regime of
:data:`~sk_hier.benchmarking.regimes.REGIMES` (single-source ``full`` / ``scarce`` /
``partial``, ``multi_source``, leave-one-source-group-out ``loso`` with and without
augmentation); per model a grid search on the cell's training clips only (inner 3-fold,
scoring = mean of leaf and parent mAP; never a held-out group), refit, and evaluation on
every test split. Every finished cell is stored, so an interrupted run resumes.
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
from .compare import (
    TAGGER_VARIANTS,
    TAGGERS,
    VOTING_VARIANTS,
    LeafMultilabelClassifier,
    evaluate,
    hide_leaves,
)
from .data import prepare_data
from .regimes import REGIMES, cell_name

__all__ = [
    "FULL",
    "QUICK",
    "QualityConfig",
    "build_models",
    "load_results",
    "prepare_data",
    "run_quality",
]

BASELINES = ("logreg_per_level", "logreg_top_down", "logreg_bottom_up", "mlp_flat")
#: Every model ``--models`` accepts.
MODELS = TAGGERS + BASELINES
#: The models of a run by default: each strategy's main variant, the soft vote and the
#: classical baselines. The ablation variants (``gmp`` without its gate, ``resatt``
#: without its mask) run on request, so the full run fits its budget.
DEFAULT_MODELS = tuple(m for m in MODELS if m not in ("gmp", "resatt_nomask"))
#: Every registered source: the full run renders through all of them.
ALL_SOURCES = ("timgm6mb", "csound", "fluidr3", "fluidr3mono", "musescore", "freepats", "opl3")


@dataclass
class QualityConfig:
    """Size and scope of a benchmark run.

    ``sources`` are the timbre sources rendered (their lineage groups make the LOSO
    cells); ``held_out`` limits the LOSO cells to some groups (``None``: every group).

    Examples
    --------
    >>> from sk_hier.benchmarking import QUICK, QualityConfig
    >>> QUICK.n_clips, QualityConfig().regimes[:2]
    (600, ('full', 'scarce'))
    """

    n_clips: int = 2000
    n_test: int = 600
    n_scarce: int = 500
    seeds: tuple = (0, 1, 2, 3, 4)
    embedders: tuple = ("musicnn_pair", "logmel")
    regimes: tuple = tuple(r for r in REGIMES if REGIMES[r].default)
    models: tuple = DEFAULT_MODELS
    sources: tuple = ALL_SOURCES
    held_out: tuple | None = None
    grid: bool = True
    max_epochs: int = 200
    render_seed: int = 2026
    n_jobs: int = 2
    extra: dict = field(default_factory=dict)


#: ``make bench``: the single-source cell and one small LOSO cell (FluidR3 held out,
#: trained on the TimGM6mb group), musicnn, one seed, default hyper-parameters.
QUICK = QualityConfig(
    n_clips=600,
    n_test=200,
    seeds=(0,),
    embedders=("musicnn",),
    regimes=("full", "loso"),
    sources=("timgm6mb", "csound", "fluidr3"),
    held_out=("fluid",),
    grid=False,
)
FULL = QualityConfig()

# The grids, declared once. Every tagger gets the same trunk grids - the MLP trunk and
# the linear one (heads on the input, where dropout has no hidden layer to act on) -;
# strategies whose loss trains parent nodes (the registry says which) add the parent
# loss weight. Adding a trunk parameter to the search is one line here. The linear
# trunk trains by L-BFGS to its regularised optimum (Adam stopped early left it ~2.5
# leaf points behind). Its L2 and the logistic baseline's C cover the same range:
# weight decay wd on n clips and L leaves is C = 1 / (wd n L), so at 1,400 training
# clips wd 3e-2 / 1e-2 / 1e-3 / 1e-4 is C ~ 0.001 / 0.003 / 0.03 / 0.3. The strong end
# goes in half-decade steps because the group-held-out inner CV picks it (with the
# grids ending at wd 1e-2 and C 0.01, both picks sat on the edge).
TRUNK_GRID = {"hidden_dims": [(256,)], "weight_decay": [1e-4, 1e-3], "dropout": [0.2, 0.4]}
LINEAR_GRID = {
    "hidden_dims": [()],
    "solver": ["lbfgs"],
    "weight_decay": [1e-4, 1e-3, 1e-2, 3e-2],
}
# The linear trunk fits on the coordinates of the training rows' span: the same
# L2-regularised optimum (RowSpaceProjection says why) at n / d of the cost per L-BFGS
# iteration (930 / 3,512 in musicnn_pair's inner folds: fits 2.2 times faster).
LINEAR_INPUT = {"project__active": [True]}
JOINT_GRID = {"level_weights": [0.3, 1.0]}
# A soft vote of the two trunks (VOTING_VARIANTS): the linear member's L2 over the
# values the inner CV picks (1e-3 in-domain, 1e-2 and up across sources), the MLP
# member at its trunk's most regularised cell, so a vote costs 3 candidates (x the
# joint grid, tied across members) rather than their product.
VOTING_GRID = {"linear__weight_decay": [1e-3, 1e-2, 3e-2]}
VOTING_MLP = {"hidden_dims": (256,), "dropout": 0.4, "weight_decay": 1e-3}
LOGREG_GRID = {"estimator__C": [0.001, 0.003, 0.01, 0.1, 1.0]}
MLP_GRID = {"estimator__alpha": [1e-4, 1e-2]}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tagger_grid(strategy: str) -> list[dict]:
    """The pipeline grids of a tagger with ``strategy`` (derived from the registry):
    one per trunk shape, as ``GridSearchCV`` takes a list of grids."""
    from ..strategies import STRATEGIES

    joint = JOINT_GRID if STRATEGIES[strategy].trains_parents else {}
    # Heads on the input make a linear model for every strategy but resatt, whose
    # attention path is a residual MLP on the input: trained full-batch by L-BFGS on a
    # 3,512-dimension embedding one fit took ~30 times a linear one, for no linear model.
    trunks = (TRUNK_GRID, LINEAR_GRID) if STRATEGIES[strategy].linear_on_input else (TRUNK_GRID,)
    return [
        {**_prefixed({**trunk, **joint}), **(LINEAR_INPUT if trunk is LINEAR_GRID else {})}
        for trunk in trunks
    ]


def voting_grid(strategy: str) -> list[dict]:
    """The pipeline grids of a soft vote over ``strategy``'s two trunks: the joint
    parameters take one value for both members at a time.

    Examples
    --------
    >>> [sorted(g) for g in voting_grid("flat")]
    [['model__linear__weight_decay']]
    >>> len(voting_grid("top_down")), voting_grid("top_down")[0]["model__mlp__level_weights"]
    (2, [0.3])
    """
    from ..strategies import STRATEGIES

    joint = JOINT_GRID if STRATEGIES[strategy].trains_parents else {}
    tied = [{}]
    for key, values in joint.items():
        tied = [
            {**t, **{f"{m}__{key}": [v] for m in ("linear", "mlp")}} for t in tied for v in values
        ]
    return [_prefixed({**VOTING_GRID, **t}) for t in tied]


def build_models(tree: Any, config: QualityConfig) -> dict:
    """Unfitted ``(pipeline, grid)`` per model name: StandardScaler (then, for the
    taggers, a :class:`RowSpaceProjection` their linear-trunk grid switches on) + model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from ..baselines import BottomUpClassifier, PerLevelClassifier, TopDownClassifier
    from ..tagger import HierarchicalTagger
    from .row_space import RowSpaceProjection

    def pipe(model, project: bool = False):
        # Taggers get a projection step that their linear-trunk grid switches on.
        steps = [("scale", StandardScaler()), ("model", model)]
        if project:
            steps.insert(1, ("project", RowSpaceProjection(active=False)))
        return Pipeline(steps)

    models = {}
    for name, (strategy, extra) in TAGGER_VARIANTS.items():
        tagger = HierarchicalTagger(tree, strategy=strategy, max_epochs=config.max_epochs, **extra)
        models[name] = (pipe(tagger, project=True), tagger_grid(strategy))
    for name, strategy in VOTING_VARIANTS.items():
        models[name] = (pipe(_vote(tree, strategy, config)), voting_grid(strategy))
    logreg = LogisticRegression(max_iter=2000)
    for name, cls in (
        ("logreg_per_level", PerLevelClassifier),
        ("logreg_top_down", TopDownClassifier),
        ("logreg_bottom_up", BottomUpClassifier),
    ):
        # One binary model per node: spread them over the cores.
        models[name] = (pipe(cls(logreg, tree, n_jobs=config.n_jobs)), _prefixed(LOGREG_GRID))
    mlp = MLPClassifier((256,), early_stopping=True, max_iter=300, random_state=0)
    models["mlp_flat"] = (pipe(LeafMultilabelClassifier(mlp, tree)), _prefixed(MLP_GRID))
    return {name: models[name] for name in config.models}


def _vote(tree: Any, strategy: str, config: QualityConfig) -> Any:
    """The soft vote of ``strategy``'s linear L-BFGS trunk and its MLP trunk."""
    from ..tagger import HierarchicalTagger
    from ..voting import VotingTagger

    def member(**params):
        return HierarchicalTagger(tree, strategy=strategy, max_epochs=config.max_epochs, **params)

    linear = member(hidden_dims=(), solver="lbfgs", weight_decay=1e-3)
    return VotingTagger([("linear", linear), ("mlp", member(**VOTING_MLP))])


def _prefixed(grid: dict) -> dict:
    return {f"model__{k}": v for k, v in grid.items()}


def _set_seed(est, seed: int) -> None:
    for key in est.get_params():
        if key.endswith("random_state"):
            est.set_params(**{key: seed})


def _inner_cv(seed: int, groups) -> Any:
    """Folds of the inner cross-validation: one training lineage group held out per
    fold where a cell trains on two or more (so the choice rewards what travels to an
    unheard source, and never sees the cell's own held-out group), else 3 shuffled folds."""
    from sklearn.model_selection import KFold, LeaveOneGroupOut

    if groups is not None and len(set(groups)) >= 2:
        return LeaveOneGroupOut()
    return KFold(3, shuffle=True, random_state=seed)


def _select(name, pipeline, grid, X, Y, seed, config, cache: Path, groups=None) -> dict:
    """Grid search once per (model, embedder, cell), on the first seed's training clips.

    Returns ``{"params": ..., "score": inner-CV score or None}``; the choice is cached.
    Without a grid, a cell that trains on several lineage groups still gets the
    group-held-out score of its default parameters, so the benchmark can recommend a
    model without looking at the held-out group.
    """
    if cache.exists():
        saved = json.loads(cache.read_text())
        # Older caches hold the parameters alone.
        return saved if "params" in saved else {"params": saved, "score": None}
    from sklearn.model_selection import GridSearchCV

    best: dict = {"params": {}, "score": None}
    by_group = groups is not None and len(set(groups)) >= 2
    start = time.perf_counter()
    if (config.grid and grid) or by_group:
        _set_seed(pipeline, seed)
        search = GridSearchCV(
            pipeline,
            grid if (config.grid and grid) else {},
            scoring=hierarchical_map_scorer,
            cv=_inner_cv(seed, groups),
            n_jobs=config.n_jobs,
            refit=False,
        )
        search.fit(X, Y, groups=groups)
        params = {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in search.best_params_.items()
        }
        best = {"params": params, "score": float(search.best_score_)}
        _log(f"  {name}: best {params} (inner CV {search.best_score_:.3f})")
    best["seconds"] = time.perf_counter() - start
    cache.write_text(json.dumps(best))
    return best


def _groups_of(data, emb: str, rows: list) -> np.ndarray:
    """The lineage group of each row that ``data.rows`` keeps, in its order."""
    from ..datasets.soundfonts import SOUNDFONTS

    return np.array([SOUNDFONTS[f.partition("__")[0]].group for f, _ in data.kept(emb, rows)])


def _traits(name: str) -> tuple[bool, bool]:
    """``(has_maps, is_gated)`` of a benchmark model, from the strategy registry."""
    from ..strategies import HEAD_DEFAULTS, STRATEGIES

    if name not in TAGGER_VARIANTS:
        return False, False
    strategy, extra = TAGGER_VARIANTS[name]
    spec = STRATEGIES[strategy]
    gated = spec.is_gated({**HEAD_DEFAULTS, **extra})
    # Maps are worth storing where they are learned (attention); a max-pooling head's
    # maps are one-hot by construction.
    return spec.has_maps and spec.uses("attention_mask"), gated


def _extras(name, fitted, X_test, Y_test, tree, base) -> dict:
    """Per-label AP rows and, where the head has them, attention maps and gates."""
    P = fitted.predict_proba(X_test)
    table = per_label_table(Y_test, P, tree)
    rows = [
        {**base, "label": lab, "is_leaf": leaf, "average_precision": ap}
        for lab, leaf, ap in zip(table["label"], table["is_leaf"], table["average_precision"])
    ]
    out = {"per_label": rows, "proba": P.tolist()}
    model = fitted[-1]
    has_maps, gated = _traits(name)
    if has_maps:
        A = model.attention_maps(fitted[:-1].transform(X_test))
        out["attention_mean"] = np.asarray(A).mean(axis=0).tolist()
    if gated:
        out["gates"] = np.asarray(model.gates_).tolist()
    return out


def _cell_inputs(plan, seed, emb, data, tree) -> tuple:
    """The training and test arrays of one cell and seed (leaves hidden where the
    regime says so): what a worker needs, rather than the whole data set."""
    X_train, Y_train = data.rows(emb, plan.train[seed])
    hidden = REGIMES[plan.regime].hidden
    if hidden:
        Y_train = hide_leaves(Y_train, tree, hidden, seed)
    tests = {split: data.rows(emb, rows) for split, rows in plan.tests.items()}
    return (X_train, Y_train), tests


def _run_cell(name, est, train, tests, seed, emb, tag, tree) -> dict:
    """Fit one model on one cell's training clips for one seed; score every split."""
    fitted: dict = {}
    rows = evaluate(
        {name: est}, train, tests, tree, seed=seed, embedder=emb, regime=tag, fitted=fitted
    )
    base = {"model": name, "embedder": emb, "regime": tag, "seed": seed}
    extras = {
        split: _extras(name, fitted[name], Xs, Ys, tree, {**base, "split": split})
        for split, (Xs, Ys) in tests.items()
    }
    return {"rows": rows, "extras": extras, "Y_test": {s: Ys for s, (_, Ys) in tests.items()}}


def _fit_cell(job: dict, train, tests, tree, side_by_side: float) -> float:
    """Run and store one cell (in a worker process) fitted among ``side_by_side``
    cells per round of workers; returns its wall time."""
    import torch

    torch.set_num_threads(1)  # the cores go to cells running side by side
    start = time.perf_counter()
    result = _run_cell(
        job["name"], job["est"], train, tests, job["seed"], job["emb"], job["tag"], tree
    )
    # Wall time of this cell, and of the grid search it ran (once per model and cell,
    # charged to the cell that ran it): what "where the time goes" sums.
    seconds = {
        "cell": time.perf_counter() - start,
        "search": job["search_seconds"],
        "side_by_side": side_by_side,
    }
    _store(job["cell"], result, job["params"], job["proba"], seconds)
    return seconds["cell"]


def _clock(seconds: float) -> str:
    return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}"


def _store(cell: Path, result: dict, params: dict, proba_path: Path | None, seconds: dict) -> None:
    """Write a finished cell (and, once per model and embedder, the PR-curve data)."""
    extras = result["extras"]
    if proba_path is not None:
        np.savez_compressed(
            proba_path,
            **{f"Y_{s}": np.asarray(y, np.float16) for s, y in result["Y_test"].items()},
            **{s: np.asarray(e["proba"], np.float32) for s, e in extras.items()},
        )
    for e in extras.values():
        e.pop("proba", None)
    cell.write_text(
        json.dumps(
            {"rows": result["rows"], "params": params, "extras": extras, "seconds": seconds}
        )
    )


def _cells_todo(config, plans, models) -> list:
    """Every (embedder, plan, model) of the run, in a resumable order: each one
    searches once, then fits its seeds side by side."""
    return [(emb, plan, name) for emb in config.embedders for plan in plans for name in models]


#: How the inner CV splits: LOSO cells hold out one training lineage group per fold.
INNER_CV = "group-held-out for LOSO cells, else 3 shuffled folds"
# Settings every stored cell depends on: a run resumes only under the same ones.
_CELL_SETTINGS = ("n_clips", "n_test", "n_scarce", "sources", "grid", "max_epochs", "render_seed")


def check_resumable(out_dir, config: QualityConfig) -> None:
    """Record the settings the cells depend on in ``out_dir/cells/settings.json``, or
    refuse to resume cells stored under other settings (they would be mixed in
    silently: a LOSO cell trained on other sources has the same name)."""
    path = Path(out_dir) / "cells" / "settings.json"
    mine = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()}
    mine = {k: mine[k] for k in _CELL_SETTINGS} | {"extra": config.extra}
    mine["inner_cv"] = INNER_CV
    if config.grid:  # a grid that changed makes other choices: not the same cells
        grids = dict(
            trunk=TRUNK_GRID,
            linear=dict(LINEAR_GRID, input="row space"),
            joint=JOINT_GRID,
            logreg=LOGREG_GRID,
            mlp=MLP_GRID,
            voting=dict(VOTING_GRID, mlp=VOTING_MLP),
        )
        mine["grids"] = json.loads(json.dumps(grids))  # tuples as JSON lists, as stored
    if path.is_file():
        theirs = json.loads(path.read_text())
        current = mine.get("grids", {})
        if "grids" in theirs and current:
            # A grid added since (a new model's) changes none of the stored cells.
            mine["grids"] = {k: v for k, v in current.items() if k in theirs["grids"]}
        diff = sorted(k for k in mine if theirs.get(k) != mine[k])
        if diff:
            raise ValueError(
                f"{path.parent} holds cells of a run with other settings ({', '.join(diff)}: "
                f"{[theirs.get(k) for k in diff]} there, {[mine[k] for k in diff]} now); "
                "give another --out, or delete that folder to start again."
            )
        if current.keys() - mine.get("grids", {}).keys():  # record the added grids
            path.write_text(
                json.dumps({**theirs, "grids": current}, indent=1, sort_keys=True) + "\n"
            )
        return
    if any(path.parent.glob("*.json")):
        return  # cells from before settings were recorded: kept as they are
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(mine, indent=1, sort_keys=True) + "\n")


def _cell_jobs(name, emb, plan, model, data, config, cells: Path) -> list[dict]:
    """The cells of one model still to run on one plan, each with its estimator, after
    the grid search (run here, once, on the first seed's training clips of the plan:
    for LOSO those are the training groups, never the held-out one)."""
    from sklearn.base import clone

    regime, held, first = plan.regime, plan.held_out, config.seeds[0]
    todo = [
        s for s in config.seeds if not (cells / cell_name(name, emb, regime, s, held)).exists()
    ]
    if not todo:
        return []
    pipeline, grid = model
    X_sel, Y_sel = data.rows(emb, plan.train[first])
    groups = _groups_of(data, emb, plan.train[first]) if held else None
    chosen = cells / cell_name(name, emb, REGIMES[regime].grid_from or regime, "params", held)
    searched = not chosen.exists()  # the first cell run is charged for the search
    choice = _select(name, clone(pipeline), grid, X_sel, Y_sel, first, config, chosen, groups)
    params = {**choice["params"], "inner_cv": choice["score"]}
    jobs = []
    for i, seed in enumerate(todo):
        est = clone(pipeline).set_params(**choice["params"])
        _set_seed(est, seed)
        proba = None
        if seed == first:  # for the PR curves and the test-clip bootstrap
            proba = cells / cell_name(name, emb, regime, "proba", held).replace(".json", ".npz")
        jobs.append(
            dict(
                name=name,
                emb=emb,
                tag=plan.tag,
                seed=seed,
                est=est,
                params=params,
                cell=cells / cell_name(name, emb, regime, seed, held),
                proba=proba,
                search_seconds=choice.get("seconds", 0.0) if searched and i == 0 else 0.0,
            )
        )
    return jobs


def run_quality(data_dir, out_dir, config: QualityConfig, progress: bool = True):
    """Run (or resume) the benchmark; returns the long-form results DataFrame.

    Examples
    --------
    >>> from sk_hier.benchmarking import QUICK, run_quality
    >>> df = run_quality("benchmarks/data", "benchmarks/results", QUICK)  # doctest: +SKIP
    """
    import torch
    from joblib import Parallel, delayed, effective_n_jobs

    torch.set_num_threads(1)  # many small fits: processes, not threads, use the cores
    check_resumable(out_dir, config)  # before any long work
    data, plans = prepare_data(data_dir, config, progress=progress)
    tree = data.hierarchy
    cells = Path(out_dir) / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    models = build_models(tree, config)
    todo = _cells_todo(config, plans, models)
    began = time.perf_counter()
    for k, (emb, plan, name) in enumerate(todo, start=1):
        jobs = _cell_jobs(name, emb, plan, models[name], data, config, cells)
        if not jobs:
            continue
        workers = min(effective_n_jobs(config.n_jobs), len(jobs))
        share = len(jobs) / -(-len(jobs) // workers)  # cells per round: each one's share
        # Inputs are built as workers take the jobs, not all seeds' copies at once.
        done = Parallel(n_jobs=workers, return_as="generator")(
            delayed(_fit_cell)(job, *_cell_inputs(plan, job["seed"], emb, data, tree), tree, share)
            for job in jobs
        )
        for job, seconds in zip(jobs, done):
            _log(
                f"[{k}/{len(todo)}] {name} {emb} {plan.tag} seed {job['seed']}: cell "
                f"{seconds:.0f} s, search {job['search_seconds']:.0f} s "
                f"({_clock(time.perf_counter() - began)} in)"
            )
    return load_results(out_dir)


def load_results(out_dir) -> Any:
    """The long-form table of every finished cell in ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> from sk_hier.benchmarking import load_results
    >>> load_results(tempfile.mkdtemp()).empty  # no finished cell yet
    True
    """
    import pandas as pd

    rows = []
    for cell in sorted((Path(out_dir) / "cells").glob("*__*__*__[0-9]*.json")):
        rows += json.loads(cell.read_text())["rows"]
    return pd.DataFrame(rows)
