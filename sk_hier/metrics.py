"""Per-level and hierarchical metrics for label trees, and scorers for model selection.

Every array is ``(n_samples, n_labels)`` with columns in ``hierarchy.labels`` order.
``Y_true`` holds 0, 1 or NaN; NaN (or -1) means *unknown* and such entries are left
out of every figure: they count as neither positive nor negative, and the score
given to them never matters. ``Y_true`` may also be given in any target format that
:func:`sk_hier.targets.encode_targets` reads (leaf indicator, label sets, DataFrame).

Which labels a figure covers is set by ``level``: ``"leaf"`` (the leaves),
``"parent"`` (every inner node), ``"all"`` (every node), or an ``int`` depth
(0 = the roots; negative values count from the deepest level).

In macro averages a label without a known positive is skipped (its average
precision, recall and F1 are undefined); for ROC-AUC a label without a known
negative is skipped as well. When no label is left, the result is NaN and an
:class:`~sklearn.exceptions.UndefinedMetricWarning` is issued; cross-validation
folds of sparse data meet this case.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

from ._level_metrics import (
    KINDS,
    LevelSpec,
    as_score,
    as_true,
    binarize,
    check_pair,
    level_metric,
    per_label,
    undefined,
)
from ._params import ScoreRequestMixin, check_sample_weight
from ._tree import TreeSpec
from .hierarchy import Hierarchy
from .targets import as_hierarchy, encode_targets

__all__ = [
    "hierarchical_f1",
    "hierarchical_map_scorer",
    "hierarchical_precision_recall_f1",
    "level_average_precision",
    "level_f1",
    "level_report",
    "level_roc_auc",
    "make_hierarchical_scorer",
    "mean_level_average_precision",
    "per_label_table",
    "violation_rate",
]


def level_average_precision(
    Y_true: Any,
    Y_score: Any,
    hierarchy: Any = None,
    *,
    level: LevelSpec = "all",
    average: str | None = "macro",
    sample_weight: Any = None,
) -> float | np.ndarray:
    """Average precision of the labels of one level, macro or micro averaged.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels) or any accepted target
        0/1 targets, NaN (or -1) for unknown.
    Y_score : array-like of shape (n_samples, n_labels)
        Scores (probabilities) in ``hierarchy.labels`` order.
    hierarchy : Hierarchy, dict, list or None
        The label tree; ``None`` treats every column as a root label.
    level : {"leaf", "parent", "all"} or int, default="all"
        Which labels to score (see the module docstring).
    average : {"macro", "micro"} or None, default="macro"
        ``"macro"``: mean of the per-label AP over labels with a known positive;
        ``"micro"``: AP of all known (sample, label) entries pooled; ``None``: the
        per-label values (NaN where skipped), in ``hierarchy.labels`` order.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights, as in scikit-learn's metrics; samples of
        weight 0 are left out.

    Returns
    -------
    float or ndarray
        NaN, with a warning, when no label of the level has a known positive.

    Examples
    --------
    >>> import numpy as np
    >>> h = {"strings": ["violin", "cello"]}
    >>> Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    >>> S = np.array([[0.9, 0.8, 0.3], [0.7, 0.4, 0.6], [0.2, 0.1, 0.1]])
    >>> level_average_precision(Y, S, h, level="leaf")
    1.0
    """
    Y, S, hierarchy = check_pair(Y_true, Y_score, hierarchy)
    w = check_sample_weight(sample_weight, len(Y))
    return level_metric(Y, S, hierarchy, level, average, "ap", w)


def level_roc_auc(
    Y_true: Any,
    Y_score: Any,
    hierarchy: Any = None,
    *,
    level: LevelSpec = "all",
    average: str | None = "macro",
    sample_weight: Any = None,
) -> float | np.ndarray:
    """Area under the ROC curve of the labels of one level.

    Same arguments as :func:`level_average_precision`; a label needs both a known
    positive and a known negative to count in the macro average.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    >>> S = np.array([[0.9, 0.2], [0.1, 0.7], [0.6, 0.4], [0.3, 0.5]])
    >>> level_roc_auc(Y, S)
    0.875
    """
    Y, S, hierarchy = check_pair(Y_true, Y_score, hierarchy)
    w = check_sample_weight(sample_weight, len(Y))
    return level_metric(Y, S, hierarchy, level, average, "auc", w)


def level_f1(
    Y_true: Any,
    Y_pred: Any,
    hierarchy: Any = None,
    *,
    level: LevelSpec = "all",
    average: str | None = "macro",
    threshold: float | Any = 0.5,
    sample_weight: Any = None,
) -> float | np.ndarray:
    """F1 of the labels of one level at a decision threshold.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels) or any accepted target
        0/1 targets, NaN (or -1) for unknown.
    Y_pred : array-like of shape (n_samples, n_labels)
        Scores, or 0/1 predictions (which any threshold in (0, 1] keeps as they are).
    hierarchy, level, average
        As in :func:`level_average_precision`; ``"micro"`` pools true positives,
        false positives and false negatives over the known entries of the level.
    threshold : float or array-like of shape (n_labels,), default=0.5
        A label is predicted where ``score >= threshold``, as the estimators'
        ``predict`` does.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1, 0], [0, 1], [1, 1]])
    >>> P = np.array([[1, 0], [1, 1], [1, 0]])
    >>> round(level_f1(Y, P, average="micro"), 4)
    0.75
    """
    Y, S, hierarchy = check_pair(Y_true, Y_pred, hierarchy, "Y_pred")
    P = binarize(S, threshold)
    w = check_sample_weight(sample_weight, len(Y))
    return level_metric(Y, P, hierarchy, level, average, "f1", w)


def _mean_over_levels(per_level: Callable[[int], float], n_levels: int, what: str) -> float:
    with warnings.catch_warnings():
        # One summary warning below says which levels were dropped.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        values = np.array([per_level(d) for d in range(n_levels)])
    missing = np.flatnonzero(np.isnan(values)).tolist()
    if len(missing) == n_levels:
        return undefined(f"{what}: no level has a label with a known positive")
    if missing:
        warnings.warn(
            f"{what}: depth levels {missing} have no label with a known positive and "
            "are left out of the mean.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
    return float(np.nanmean(values))


def mean_level_average_precision(
    Y_true: Any, Y_score: Any, hierarchy: Any = None, *, sample_weight: Any = None
) -> float:
    """Mean over depth levels of the macro average precision of each level.

    This is the ``score`` of the sk_hier estimators. Within a level, labels without
    a known positive are skipped; a level left without labels is left out of the
    mean (with a warning). For a two-level tree it is the mean of the parent mAP
    and the leaf mAP, so both granularities weigh the same however many labels
    each has. ``sample_weight`` weighs samples as in scikit-learn's metrics.

    Examples
    --------
    >>> import numpy as np
    >>> h = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> Y = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1], [1, 0, 0, 1, 0]])
    >>> S = np.array([[.9, .1, .3, .2, .1], [.2, .9, .1, .3, .7], [.8, .3, .6, .5, .2]])
    >>> mean_level_average_precision(Y, S, h)  # parents 1.0, leaves (1/2 + 1 + 1) / 3
    0.9166...
    """
    Y, S, hierarchy = check_pair(Y_true, Y_score, hierarchy)
    w = check_sample_weight(sample_weight, len(Y))
    return _mean_over_levels(
        lambda d: level_metric(Y, S, hierarchy, d, "macro", "ap", w),
        hierarchy.n_levels,
        "mean level average precision",
    )


# -- hierarchical set-based metrics ----------------------------------------------------
def _closure(hierarchy: Hierarchy) -> np.ndarray:
    """(n_labels, n_labels) 0/1: row j marks j and all its ancestors."""
    return TreeSpec.from_hierarchy(hierarchy).closure()


def hierarchical_precision_recall_f1(
    Y_true: Any,
    Y_pred: Any,
    hierarchy: Any = None,
    *,
    threshold: float | Any = 0.5,
    sample_weight: Any = None,
) -> tuple[float, float, float]:
    """Hierarchical precision, recall and F1 (Kiritchenko et al.).

    Each sample's predicted and true label sets are augmented with all ancestors
    of their members; then, pooled over samples (micro),
    ``hP = Σ|P̂ ∩ T̂| / Σ|P̂|``, ``hR = Σ|P̂ ∩ T̂| / Σ|T̂|`` and
    ``hF = 2·hP·hR / (hP + hR)``. A wrong leaf under the right parent thus earns
    partial credit. Labels whose true value is unknown (NaN) for a sample are
    removed from both of its sets, before and after the augmentation, so a score
    given to an unknown entry never counts, not even through its ancestors. (Targets
    encoded by :func:`~sk_hier.targets.encode_targets` never leave a parent unknown
    above a known positive child, so no true ancestor is lost this way.)
    A zero denominator gives 0 with an :class:`~sklearn.exceptions.UndefinedMetricWarning`.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels) or any accepted target
        0/1 targets, NaN (or -1) for unknown.
    Y_pred : array-like of shape (n_samples, n_labels), or label sets
        Scores or 0/1 predictions, or one collection of label names per sample
        (as ``predict_labels`` returns).
    hierarchy : Hierarchy, dict, list or None
        The label tree.
    threshold : float or array-like of shape (n_labels,), default=0.5
        A label is predicted where ``score >= threshold``.
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each sample in the pooled counts.

    Returns
    -------
    (hP, hR, hF) : tuple of float

    References
    ----------
    S. Kiritchenko, S. Matwin, R. Nock and A. F. Famili, "Learning and evaluation in
    the presence of class hierarchies: application to text categorization",
    Canadian Conference on AI, 2006.

    Examples
    --------
    >>> h = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> # true {violin}, predicted {cello}: the shared parent earns half credit
    >>> hierarchical_precision_recall_f1([["violin"]], [[0, 0, 0, 1, 0]], h)
    (0.5, 0.5, 0.5)
    """
    Y, hierarchy = as_true(Y_true, hierarchy)
    if not _is_numeric_rows(Y_pred):
        # Predictions given as label sets are read like targets; what they leave
        # unknown (the subtree of a parent-only label) is simply not predicted.
        Y_pred = np.nan_to_num(encode_targets(Y_pred, hierarchy)[0], nan=0.0)
    S = as_score(Y_pred, len(Y), hierarchy, "Y_pred")
    A = _closure(hierarchy)
    known = ~np.isnan(Y)
    P = ((binarize(S, threshold) * known) @ A > 0) & known
    T = ((np.nan_to_num(Y, nan=0.0)) @ A > 0) & known
    w = check_sample_weight(sample_weight, len(Y))
    w = np.ones((len(Y), 1)) if w is None else w[:, None]
    hit = float(np.sum(w * (P & T)))
    n_pred, n_true = float(np.sum(w * P)), float(np.sum(w * T))

    def ratio(num: float, den: float, what: str) -> float:
        if den == 0:
            warnings.warn(
                f"Hierarchical {what} is ill-defined ({den_name[what]}); set to 0.",
                UndefinedMetricWarning,
                stacklevel=3,
            )
            return 0.0
        return num / den

    den_name = {"precision": "no label predicted", "recall": "no known true label"}
    hp = ratio(hit, n_pred, "precision")
    hr = ratio(hit, n_true, "recall")
    hf = 2 * hp * hr / (hp + hr) if hp + hr > 0 else 0.0
    return hp, hr, hf


def hierarchical_f1(
    Y_true: Any,
    Y_pred: Any,
    hierarchy: Any = None,
    *,
    threshold: float | Any = 0.5,
    sample_weight: Any = None,
) -> float:
    """Hierarchical F1; see :func:`hierarchical_precision_recall_f1`.

    Examples
    --------
    >>> h = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> hierarchical_f1([["violin"], ["trumpet"]], [["cello"], ["trumpet"]], h)
    0.75
    """
    return hierarchical_precision_recall_f1(
        Y_true, Y_pred, hierarchy, threshold=threshold, sample_weight=sample_weight
    )[2]


def _is_numeric_rows(Y: Any) -> bool:
    try:
        arr = np.asarray(Y)
    except (TypeError, ValueError):  # ragged label sets
        return False
    return arr.dtype.kind in "biuf" and not (arr.ndim == 2 and arr.shape[1] == 0)


# -- consistency ----------------------------------------------------------------------
def violation_rate(Y_score: Any, hierarchy: Any, *, tol: float = 1e-6) -> float:
    """Fraction of (sample, child→parent edge) pairs where the child outscores its parent.

    The max rule says a parent is present whenever a child is, so a consistent
    model never gives a child a higher probability than its parent. Pairs with
    ``p_child > p_parent + tol`` count as violations; ``tol`` absorbs rounding.
    A tree without edges (flat labels) has rate 0.

    Examples
    --------
    >>> h = {"strings": ["violin", "cello"]}
    >>> violation_rate([[0.9, 0.8, 0.95], [0.5, 0.2, 0.1]], h)  # 1 of 4 pairs
    0.25
    """
    hierarchy = as_hierarchy(hierarchy)
    if hierarchy is None:
        raise ValueError("violation_rate needs the hierarchy whose edges it checks.")
    S = as_score(Y_score, None, hierarchy, "Y_score")
    child = [hierarchy.index(n) for n in hierarchy.labels if hierarchy.parent_of(n) is not None]
    if not child or len(S) == 0:
        return 0.0
    parent = [hierarchy.index(hierarchy.parent_of(hierarchy.labels[j])) for j in child]
    return float(np.mean(S[:, child] > S[:, parent] + tol))


# -- tables and reports ---------------------------------------------------------------
def per_label_table(
    Y_true: Any, Y_score: Any, hierarchy: Any = None, *, threshold: float | Any = 0.5
) -> dict[str, list]:
    """Per-label figures as columns (``pandas.DataFrame(table)`` makes the table).

    Returns
    -------
    dict of str to list
        ``label``, ``parent`` (``None`` for roots), ``depth``, ``is_leaf``,
        ``n_known``, ``n_positive``, ``average_precision``, ``roc_auc`` and
        ``f1``, one entry per label in ``hierarchy.labels`` order; a figure that is
        undefined for a label (no known positive, or for ROC-AUC no known
        negative) is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> h = {"strings": ["violin", "cello"]}
    >>> Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    >>> S = np.array([[0.9, 0.8, 0.3], [0.7, 0.4, 0.6], [0.2, 0.1, 0.1]])
    >>> table = per_label_table(Y, S, h)
    >>> table["label"], table["average_precision"]
    (['strings', 'violin', 'cello'], [1.0, 1.0, 1.0])
    """
    Y, S, hierarchy = check_pair(Y_true, Y_score, hierarchy)
    cols = np.arange(len(hierarchy.labels))
    known = ~np.isnan(Y)
    return {
        "label": list(hierarchy.labels),
        "parent": [hierarchy.parent_of(n) for n in hierarchy.labels],
        "depth": [hierarchy.level_of(n) for n in hierarchy.labels],
        "is_leaf": [n in hierarchy.leaves for n in hierarchy.labels],
        "n_known": known.sum(axis=0).astype(int).tolist(),
        "n_positive": np.nansum(Y, axis=0).astype(int).tolist(),
        "average_precision": per_label(Y, S, cols, *KINDS["ap"][:2]).tolist(),
        "roc_auc": per_label(Y, S, cols, *KINDS["auc"][:2]).tolist(),
        "f1": per_label(Y, binarize(S, threshold), cols, *KINDS["f1"][:2]).tolist(),
    }


def level_report(
    Y_true: Any, Y_score: Any, hierarchy: Any = None, *, threshold: float | Any = 0.5
) -> dict[str, float]:
    """Every figure the benchmark stores, as one flat dict.

    Keys: ``leaf_map``, ``leaf_roc_auc``, ``leaf_f1_micro``, ``leaf_f1_macro`` and the
    same four with prefix ``parent_`` (``parent`` = all inner nodes; NaN for a flat
    tree), ``mean_map`` (:func:`mean_level_average_precision`, the estimators'
    ``score``), ``hier_precision``, ``hier_recall``, ``hier_f1`` and
    ``violation_rate``. ``map`` is the macro average precision; F1 uses
    ``score >= threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> h = {"strings": ["violin", "cello"]}
    >>> Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    >>> S = np.array([[0.9, 0.8, 0.3], [0.7, 0.4, 0.6], [0.2, 0.1, 0.1]])
    >>> report = level_report(Y, S, h)
    >>> report["leaf_map"], report["parent_f1_macro"], report["violation_rate"]
    (1.0, 1.0, 0.0)
    """
    Y, S, hierarchy = check_pair(Y_true, Y_score, hierarchy)
    P = binarize(S, threshold)
    columns = {
        "map": (S, "macro", "ap"),
        "roc_auc": (S, "macro", "auc"),
        "f1_micro": (P, "micro", "f1"),
        "f1_macro": (P, "macro", "f1"),
    }
    report: dict[str, float] = {}
    for name in ("leaf", "parent"):
        empty = name == "parent" and not hierarchy.inner  # a flat tree has no parents
        for key, (data, average, kind) in columns.items():
            value = np.nan if empty else level_metric(Y, data, hierarchy, name, average, kind)
            report[f"{name}_{key}"] = float(value)
    report["mean_map"] = mean_level_average_precision(Y, S, hierarchy)
    hp, hr, hf = hierarchical_precision_recall_f1(Y, P, hierarchy)
    report.update(hier_precision=hp, hier_recall=hr, hier_f1=hf)
    report["violation_rate"] = violation_rate(S, hierarchy)
    return report


# -- scorers --------------------------------------------------------------------------
_SCORER_METRICS = {  # name: (level function or hierarchical_f1, average, needs 0/1 tags)
    "map": (level_average_precision, "macro", False),
    "map_micro": (level_average_precision, "micro", False),
    "roc_auc": (level_roc_auc, "macro", False),
    "roc_auc_micro": (level_roc_auc, "micro", False),
    "f1_macro": (level_f1, "macro", True),
    "f1_micro": (level_f1, "micro", True),
    "hier_f1": (hierarchical_f1, None, True),
}


def _fitted_hierarchy(estimator: Any) -> Hierarchy:
    for candidate in (estimator, getattr(estimator, "_final_estimator", None)):
        hierarchy = getattr(candidate, "hierarchy_", None)
        if getattr(candidate, "target_type_", "multilabel") != "multilabel":
            raise ValueError(
                f"{type(candidate).__name__} was fitted on a 1-D class target; hierarchical "
                "scorers need multi-label targets. Use scoring='accuracy' for classes."
            )
        if isinstance(hierarchy, Hierarchy):
            return hierarchy
    raise ValueError(
        f"{type(estimator).__name__} has no fitted multi-label hierarchy_ attribute: "
        "hierarchical scorers need a fitted sk_hier estimator (or a Pipeline ending in "
        "one) trained on multi-label targets."
    )


class _HierarchicalScorer(ScoreRequestMixin):
    """Callable ``(estimator, X, y) -> float`` for ``scoring=`` (higher is better)."""

    def __init__(self, metric: str, level: LevelSpec, threshold: Any) -> None:
        self.metric = metric
        self.level = level
        self.threshold = threshold

    def __call__(self, estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        hierarchy = _fitted_hierarchy(estimator)
        Y, _ = encode_targets(y, hierarchy, inconsistent="propagate")
        w = check_sample_weight(sample_weight, len(Y))
        fn, average, needs_pred = _SCORER_METRICS[self.metric]
        if needs_pred and self.threshold is None:
            S = estimator.predict(X)  # keeps the estimator's own (per-label) threshold
        else:
            S = estimator.predict_proba(X)
            if needs_pred:
                S = binarize(np.asarray(S, dtype=float), self.threshold)
        if fn is hierarchical_f1:
            return float(fn(Y, S, hierarchy, sample_weight=w))
        if self.level == "mean":
            return _mean_over_levels(
                lambda d: fn(Y, S, hierarchy, level=d, average=average, sample_weight=w),
                hierarchy.n_levels,
                f"scorer {self.metric}",
            )
        return float(fn(Y, S, hierarchy, level=self.level, average=average, sample_weight=w))

    def __repr__(self) -> str:
        extra = "" if self.threshold is None else f", threshold={self.threshold!r}"
        return f"make_hierarchical_scorer(metric={self.metric!r}, level={self.level!r}{extra})"


def make_hierarchical_scorer(
    metric: str = "map", *, level: LevelSpec = "mean", threshold: float | None = None
) -> Callable[[Any, Any, Any], float]:
    """A scorer for ``GridSearchCV(..., scoring=...)`` and ``cross_validate``.

    The scorer is called as ``scorer(estimator, X, y)``; ``y`` may take any target
    format that ``fit`` accepts (leaf indicator, full indicator, label sets,
    DataFrame) and is encoded with the estimator's fitted ``hierarchy_``. Prefer
    these scorers to scikit-learn's generic ones: ``predict`` covers every node of
    the tree, so a generic scorer such as ``"f1_macro"`` only works when ``y`` is
    an indicator over all labels, and it cannot skip unknown (NaN) targets.

    Parameters
    ----------
    metric : str, default="map"
        ``"map"`` (macro average precision), ``"map_micro"``, ``"roc_auc"``,
        ``"roc_auc_micro"``, ``"f1_macro"``, ``"f1_micro"`` or ``"hier_f1"``
        (hierarchical F1; ``level`` does not apply to it).
    level : {"mean", "leaf", "parent", "all"} or int, default="mean"
        ``"mean"`` averages the metric over the depth levels (each level counts
        the same); the others score one selection of labels.
    threshold : float or None, default=None
        For the F1 metrics: ``None`` uses the estimator's ``predict`` (its own
        ``threshold``); a float thresholds ``predict_proba`` instead.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, higher is better.
        With metadata routing on, ``scorer.set_score_request(sample_weight=True)``
        returns a copy that a search passes sample weights to.

    Examples
    --------
    >>> scorer = make_hierarchical_scorer("f1_micro", level="leaf")
    >>> scorer
    make_hierarchical_scorer(metric='f1_micro', level='leaf')
    """
    if metric not in _SCORER_METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose one of {sorted(_SCORER_METRICS)}.")
    valid_str = isinstance(level, str) and level in ("mean", "leaf", "parent", "all")
    valid_int = isinstance(level, int | np.integer) and not isinstance(level, bool)
    if not (valid_str or valid_int):
        raise ValueError(
            f"level must be 'mean', 'leaf', 'parent', 'all' or an int depth, got {level!r}."
        )
    return _HierarchicalScorer(metric, level, threshold)


# The estimators' own score as a scorer: mean over depth levels of the macro AP.
hierarchical_map_scorer = make_hierarchical_scorer("map", level="mean")
