"""Compare taggers and baselines over seeds: long-form results and paired summaries.

The benchmark suite and ``sk-hier bench`` compose these helpers; results are a
long table with columns ``model, embedder, regime, seed, split, level, metric,
value`` so that any summary is one ``groupby`` away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from .._base import HierarchicalClassifierMixin
from ..baselines import _leaf_max_rule
from ..metrics import level_report
from ..tagger import HierarchicalTagger
from ..targets import as_hierarchy, encode_targets

__all__ = [
    "COLUMNS",
    "TAGGERS",
    "TAGGER_VARIANTS",
    "VOTING_VARIANTS",
    "LeafMultilabelClassifier",
    "default_models",
    "evaluate",
    "hide_leaves",
    "summarize",
]

COLUMNS = ["model", "embedder", "regime", "seed", "split", "level", "metric", "value"]

# Tagger variants by benchmark name: (strategy, extra parameters).
TAGGER_VARIANTS = {
    "flat": ("flat", {}),
    "per_level": ("per_level", {}),
    "top_down": ("top_down", {}),
    "gmp": ("gmp", {}),
    "gmp_gated": ("gmp", {"parent_gate": True}),
    "resatt": ("resatt", {}),
    "resatt_nomask": ("resatt", {"attention_mask": "none"}),
}
# Soft votes by benchmark name -> their strategy: a VotingTagger of that strategy's
# linear L-BFGS trunk and its MLP trunk (the quality benchmark builds them).
VOTING_VARIANTS = {"top_down_vote": "top_down"}
#: Every sk_hier tagger of the benchmark: the pool its recommendation is drawn from.
TAGGERS = (*TAGGER_VARIANTS, *VOTING_VARIANTS)


def default_models(hierarchy: Any, **params: Any) -> dict:
    """Every tagger variant of the benchmark, unfitted, sharing ``params``.

    Examples
    --------
    >>> from sk_hier.benchmarking import default_models
    >>> sorted(default_models({"a": ["b"]}))[:3]
    ['flat', 'gmp', 'gmp_gated']
    """
    return {
        name: HierarchicalTagger(hierarchy, strategy=strategy, **{**params, **extra})
        for name, (strategy, extra) in TAGGER_VARIANTS.items()
    }


class LeafMultilabelClassifier(HierarchicalClassifierMixin, ClassifierMixin, BaseEstimator):
    """One native multi-label model on the leaves; parents by the max rule.

    For estimators that fit a leaf indicator matrix directly (e.g. scikit-learn's
    ``MLPClassifier``). Rows with an unknown leaf are left out of training, and
    the count is kept in ``n_rows_dropped_`` (such models cannot mask targets).

    Parameters
    ----------
    estimator : classifier with multi-label ``fit``/``predict_proba``
    hierarchy : Hierarchy, dict, list or None
    threshold : float or array, default=0.5

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sk_hier.benchmarking import LeafMultilabelClassifier
    >>> X = np.array([[0.0], [0.1], [1.0], [1.1]])
    >>> Y = [["a/x"], ["a/x"], ["b/y"], ["b/y"]]
    >>> model = LeafMultilabelClassifier(KNeighborsClassifier(1)).fit(X, Y)
    >>> model.predict_labels([[0.05]])
    [('a', 'x')]
    """

    def __init__(self, estimator=None, hierarchy=None, threshold=0.5):
        self.estimator = estimator
        self.hierarchy = hierarchy
        self.threshold = threshold

    def fit(self, X, y):
        from sklearn.neural_network import MLPClassifier
        from sklearn.utils.validation import validate_data

        X = validate_data(self, X, reset=True)
        Y_full, self.hierarchy_ = encode_targets(y, as_hierarchy(self.hierarchy))
        self.target_type_ = "multilabel"  # a leaf indicator model: never class labels
        self.classes_ = np.asarray(self.hierarchy_.labels, dtype=object)
        self._leaf_cols = [self.hierarchy_.index(n) for n in self.hierarchy_.leaves]
        leaves = Y_full[:, self._leaf_cols]
        rows = ~np.isnan(leaves).any(axis=1)
        self.n_rows_dropped_ = int((~rows).sum())
        base = MLPClassifier() if self.estimator is None else self.estimator
        self.estimator_ = clone(base).fit(X[rows], leaves[rows].astype(int))
        return self

    def predict_proba(self, X):
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        leaf = self.estimator_.predict_proba(X)
        if isinstance(leaf, list):  # one (n, 2) array per output, as KNeighbors returns
            leaf = np.column_stack([p[:, -1] for p in leaf])
        return _leaf_max_rule(leaf, self.hierarchy_)


def hide_leaves(Y: np.ndarray, hierarchy: Any, fraction: float, seed: int) -> np.ndarray:
    """Copy of ``Y`` (all labels) where a ``fraction`` of rows keep only their parents.

    The "partial" regime: those rows' leaves become unknown (NaN).

    Examples
    --------
    >>> import numpy as np
    >>> hide_leaves(np.array([[1, 1], [1, 1]]), {"a": ["b"]}, 0.5, seed=0)
    array([[ 1., nan],
           [ 1.,  1.]], dtype=float32)
    """
    Y_full, tree = encode_targets(Y, hierarchy)
    rows = np.random.default_rng(seed).permutation(len(Y_full))[: round(fraction * len(Y_full))]
    leaves = [tree.index(n) for n in tree.leaves if tree.parent_of(n) is not None]
    Y_full[np.ix_(np.sort(rows), leaves)] = np.nan
    return Y_full


def _report_rows(report: Mapping, base: dict) -> list:
    rows = []
    for key, value in report.items():
        for level in ("leaf", "parent"):
            if key.startswith(level + "_"):
                rows.append(
                    {**base, "level": level, "metric": key[len(level) + 1 :], "value": value}
                )
                break
        else:
            if key in ("hier_f1", "violation_rate"):
                rows.append({**base, "level": "all", "metric": key, "value": value})
    return rows


def evaluate(
    models: Mapping[str, Any],
    train: tuple,
    tests: Mapping[str, tuple],
    hierarchy: Any,
    *,
    seed: int,
    embedder: str = "",
    regime: str = "full",
    on_fit: Callable[[str, float], None] | None = None,
    fitted: dict | None = None,
) -> list:
    """Fit each model on ``train`` and score it on every test split.

    Returns long-form rows (dicts with ``COLUMNS``), ``fit_seconds`` included.
    When ``fitted`` is a dict, the fitted estimators are stored in it by name.

    Examples
    --------
    >>> from sk_hier.benchmarking import default_models, evaluate
    >>> from sk_hier.datasets import make_hierarchical_multilabel
    >>> X, Y, tree = make_hierarchical_multilabel(200, n_features=8, random_state=0)
    >>> models = {"flat": default_models(tree, max_epochs=3)["flat"]}
    >>> rows = evaluate(models, (X[:150], Y[:150]), {"test": (X[150:], Y[150:])}, tree, seed=0)
    >>> sorted({(r["level"], r["metric"]) for r in rows})[:3]
    [('all', 'fit_seconds'), ('all', 'hier_f1'), ('all', 'violation_rate')]
    """
    X, Y = train
    rows = []
    for name, model in models.items():
        est = clone(model)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
        start = time.perf_counter()
        est.fit(X, Y)
        seconds = time.perf_counter() - start
        if on_fit is not None:
            on_fit(name, seconds)
        if fitted is not None:
            fitted[name] = est
        base = {"model": name, "embedder": embedder, "regime": regime, "seed": seed}
        for split, (X_test, Y_test) in tests.items():
            report = level_report(Y_test, est.predict_proba(X_test), hierarchy)
            rows += _report_rows(report, {**base, "split": split})
            rows.append(
                {**base, "split": split, "level": "all", "metric": "fit_seconds", "value": seconds}
            )
    return rows


def summarize(df: Any, metric: str = "map", baseline: str = "flat") -> str:
    """Markdown: mean ± std per model, and the paired Δ (×100) vs ``baseline`` with wins.

    ``df`` is the long-form table (a pandas DataFrame).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [
    ...     dict(model=m, embedder="e", regime="full", seed=s, split="test", level=lv,
    ...          metric="map", value=v + (0.01 if m == "gmp" else 0))
    ...     for m in ("flat", "gmp") for s in (0, 1) for lv, v in (("leaf", 0.8), ("parent", 0.9))
    ... ]
    >>> print(summarize(pd.DataFrame(rows)).splitlines()[-1])
    | gmp | 0.810 ± 0.000 | 0.910 ± 0.000 | +1.0 ± 0.0 | +1.0 ± 0.0 | 2/2 | 2/2 |
    """
    import pandas as pd

    sub = df[(df["metric"] == metric) & df["level"].isin(["leaf", "parent"])]
    wide = sub.pivot_table(
        index=["embedder", "regime", "split", "seed", "model"], columns="level", values="value"
    ).reset_index()
    lines = []
    for (emb, regime, split), group in wide.groupby(["embedder", "regime", "split"], sort=False):
        lines += [
            f"\n**{metric} — embedder={emb or '-'}, regime={regime}, split={split}** "
            f"({group['seed'].nunique()} seeds; Δ = paired difference vs {baseline}, ×100)\n",
            "| model | leaf | parent | Δ leaf | Δ parent | wins leaf | wins parent |",
            "|---|---|---|---|---|---|---|",
        ]
        ref = group[group["model"] == baseline].set_index("seed")
        # With one seed there is no spread to show: "± 0.000" would only mislead.
        spread = group["seed"].nunique() > 1
        for model, g in group.groupby("model", sort=False):
            g = g.set_index("seed")
            cells = [model]
            for level in ("leaf", "parent"):
                sd = f" ± {g[level].std(ddof=0):.3f}" if spread else ""
                cells.append(f"{g[level].mean():.3f}{sd}")
            for level in ("leaf", "parent"):
                if model == baseline or ref.empty:
                    cells.append("—")
                    continue
                d = (g[level] - ref[level].reindex(g.index)) * 100
                sd = f" ± {d.std(ddof=0):.1f}" if spread else ""
                cells.append(f"{d.mean():+.1f}{sd}")
            for level in ("leaf", "parent"):
                if model == baseline or ref.empty:
                    cells.append("—")
                    continue
                d = g[level] - ref[level].reindex(g.index)
                cells.append(f"{int((d > 0).sum())}/{len(d)}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) if lines else pd.DataFrame().to_markdown()
