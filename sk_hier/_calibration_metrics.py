"""Calibration figures per level of the tree: ECE, adaptive ECE, Brier score, scorers.

Arrays are laid out as in :mod:`sk_hier.metrics`: ``(n_samples, n_labels)``, columns
in ``hierarchy.labels`` order, ``Y_true`` in {0, 1} with NaN (or -1) for unknown.
Unknown targets, and samples of weight 0, are left out of every figure. Scores must
be probabilities in [0, 1]: calibration is a property of probabilities, not of
rankings.

For one label with known entries ``i`` (weights ``w_i``, targets ``y_i``,
probabilities ``p_i``, ``W = Σ w_i``) and bins ``B_0 .. B_{M-1}``:

- expected calibration error ``ECE = Σ_k (W_k / W) · |ȳ_k − p̄_k|
  = (1 / W) · Σ_k |Σ_{i∈B_k} w_i (y_i − p_i)|``, where ``W_k``, ``ȳ_k`` and ``p̄_k``
  are the weight, mean target and mean probability of bin ``k`` (empty bins add 0);
- Brier score ``BS = (1 / W) · Σ_i w_i (p_i − y_i)²``.

Bins (``strategy``): ``"uniform"``, M equal-width bins, bin ``k`` (0-based) holds
``k/M ≤ p < (k+1)/M`` and the last also ``p = 1``; ``"quantile"`` (the *adaptive*
ECE), M bins of (nearly) equal weight: with the entries sorted by ``p``, each group
of equal scores goes whole to bin ``⌊M · m_g / W⌋``, where ``m_g`` is the middle of
the group's span of cumulative weight (so a sample of weight 2 bins as two copies).

A level's figure (``average="macro"``) is the mean over its labels of the per-label
figure; every label with a known entry counts (unlike average precision, neither
figure needs a positive). ``"micro"`` pools the known (sample, label) entries of the
level into one set of bins.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ._level_metrics import LevelSpec, check_pair, columns, undefined
from ._params import ScoreRequestMixin, check_sample_weight
from .hierarchy import Hierarchy
from .targets import encode_targets

__all__ = [
    "level_brier",
    "level_calibration_curve",
    "level_ece",
    "make_calibration_scorer",
    "neg_level_brier_scorer",
    "neg_level_ece_scorer",
]

_STRATEGIES = ("uniform", "quantile")


# -- checks and binning ---------------------------------------------------------------
def _check_probabilities(S: np.ndarray) -> None:
    if S.size and (S.min() < 0 or S.max() > 1):
        raise ValueError(
            "Y_score must hold probabilities in [0, 1] (calibration is a property of "
            f"probabilities), found values in [{S.min():.4g}, {S.max():.4g}]. Pass "
            "predict_proba, not decision_function."
        )


def _check_bins(n_bins: Any, strategy: Any) -> None:
    if not isinstance(n_bins, numbers.Integral) or isinstance(n_bins, bool) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}.")


def _bin_ids(p: np.ndarray, w: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin of every entry (see the module docstring for the two rules)."""
    if strategy == "uniform":
        return np.minimum((p * n_bins).astype(int), n_bins - 1)
    # Entries with equal scores cannot be told apart by any threshold: each group of
    # equal scores goes whole to the bin of the middle of its cumulative weight span
    # (for distinct scores, the middle of the entry's own span). Weights and repeated
    # rows then bin alike.
    values, group = np.unique(p, return_inverse=True)
    group_weight = np.bincount(group, weights=w, minlength=len(values))
    middle = np.cumsum(group_weight) - group_weight / 2
    ids = np.minimum((n_bins * middle / group_weight.sum()).astype(int), n_bins - 1)
    return ids[group]


def _known(Y: np.ndarray, S: np.ndarray, cols: np.ndarray, w: np.ndarray | None):
    """Flat (y, p, w) of the known, positively weighted entries of columns ``cols``."""
    sub = Y[:, cols]
    W = np.ones_like(sub) if w is None else np.broadcast_to(w[:, None], sub.shape)
    keep = ~np.isnan(sub) & (W > 0)
    return sub[keep], S[:, cols][keep], W[keep]


def _ece(y, p, w, n_bins: int, strategy: str) -> float:
    if w.sum() <= 0:
        return float("nan")
    gap = np.bincount(_bin_ids(p, w, n_bins, strategy), weights=w * (y - p), minlength=n_bins)
    return float(np.abs(gap).sum() / w.sum())


def _brier(y, p, w, n_bins: int = 0, strategy: str = "") -> float:
    return float(np.sum(w * (p - y) ** 2) / w.sum()) if w.sum() > 0 else float("nan")


def _level_value(Y, S, hierarchy, level, average, w, fn, n_bins=0, strategy="", what=""):
    if average not in ("macro", "micro", None):
        raise ValueError(f"average must be 'macro', 'micro' or None, got {average!r}.")
    cols = columns(hierarchy, level)
    if average == "micro":
        value = fn(*_known(Y, S, cols, w), n_bins, strategy)
        if np.isnan(value):
            return undefined(f"{what} (micro, level={level!r}): no known target")
        return value
    values = np.array([fn(*_known(Y, S, [j], w), n_bins, strategy) for j in cols])
    if average is None:
        return values
    if np.all(np.isnan(values)):
        return undefined(f"{what} (macro, level={level!r}): no label has a known target")
    return float(np.nanmean(values))


def _prepare(Y_true, Y_score, hierarchy, sample_weight):
    Y, S, hierarchy = check_pair(Y_true, Y_score, hierarchy)
    _check_probabilities(S)
    return Y, S, hierarchy, check_sample_weight(sample_weight, len(Y))


# -- public figures -------------------------------------------------------------------
def level_ece(
    Y_true: Any,
    Y_score: Any,
    hierarchy: Any = None,
    *,
    level: LevelSpec = "all",
    n_bins: int = 15,
    strategy: str = "uniform",
    average: str | None = "macro",
    sample_weight: Any = None,
) -> float | np.ndarray:
    """Expected calibration error of the labels of one level (lower is better).

    Per label, ``ECE = (1 / W) · Σ_k |Σ_{i∈B_k} w_i (y_i − p_i)|`` over ``n_bins``
    bins ``B_k`` of the label's known entries (the module docstring states the
    binning rules): the weighted mean, over bins, of the gap between the fraction of
    positives and the mean probability. The level's ECE is the mean over its labels.

    Parameters
    ----------
    Y_true : array-like of shape (n_samples, n_labels) or any accepted target
        0/1 targets, NaN (or -1) for unknown; unknown entries are left out.
    Y_score : array-like of shape (n_samples, n_labels)
        Probabilities in [0, 1], in ``hierarchy.labels`` order.
    hierarchy : Hierarchy, dict, list or None
        The label tree; ``None`` treats every column as a root label.
    level : {"leaf", "parent", "all"} or int, default="all"
        Which labels to score (0 = roots, -1 = the deepest level).
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        ``"uniform"``: equal-width bins on [0, 1]; ``"quantile"``: bins of equal
        weight (the adaptive ECE), which spends its bins where the scores are.
    average : {"macro", "micro"} or None, default="macro"
        ``"macro"``: mean of the per-label ECE over labels with a known entry;
        ``"micro"``: one ECE of all known (sample, label) entries pooled; ``None``:
        the per-label values (NaN for a label without a known entry).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights; samples of weight 0 are left out.

    Returns
    -------
    float or ndarray
        In [0, 1]. NaN, with an ``UndefinedMetricWarning``, when no label of the
        level has a known entry.

    See Also
    --------
    level_brier : the Brier score per level.
    sk_hier.displays.LevelCalibrationDisplay : the reliability diagram.

    References
    ----------
    M. P. Naeini, G. Cooper and M. Hauskrecht, "Obtaining well calibrated
    probabilities using Bayesian binning", AAAI 2015. J. Nixon et al., "Measuring
    calibration in deep learning", CVPR Workshops 2019 (the adaptive ECE).

    Examples
    --------
    >>> import numpy as np
    >>> h = {"strings": ["violin", "cello"]}
    >>> Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 0]])
    >>> S = np.array([[0.9, 0.8, 0.1], [0.6, 0.3, 0.7], [0.2, 0.1, 0.2], [0.7, 0.6, 0.1]])
    >>> # strings: bin [0, .5) holds 0.2 (y=0), bin [.5, 1] holds .9, .6, .7 (y=1)
    >>> level_ece(Y, S, h, level="parent", n_bins=2)  # (|0 - .2| + |3 - 2.2|) / 4
    0.25
    >>> level_ece(Y, S, h, level="leaf", average=None, n_bins=2)
    array([0.25 , 0.175])
    """
    _check_bins(n_bins, strategy)
    Y, S, hierarchy, w = _prepare(Y_true, Y_score, hierarchy, sample_weight)
    return _level_value(Y, S, hierarchy, level, average, w, _ece, n_bins, strategy, "ECE")


def level_brier(
    Y_true: Any,
    Y_score: Any,
    hierarchy: Any = None,
    *,
    level: LevelSpec = "all",
    average: str | None = "macro",
    sample_weight: Any = None,
) -> float | np.ndarray:
    """Brier score of the labels of one level (lower is better).

    Per label, ``BS = (1 / W) · Σ_i w_i (p_i − y_i)²`` over its known entries; the
    level's score is the mean over its labels (``average="macro"``), the score of
    all known entries pooled (``"micro"``), or one value per label (``None``).
    Arguments as in :func:`level_ece`.

    Returns
    -------
    float or ndarray
        In [0, 1]; NaN, with a warning, when no label of the level has a known entry.

    See Also
    --------
    level_ece, sklearn.metrics.brier_score_loss

    Examples
    --------
    >>> import numpy as np
    >>> h = {"strings": ["violin", "cello"]}
    >>> Y = np.array([[1, 1, np.nan], [0, 0, 0]])
    >>> S = np.array([[0.8, 0.5, 0.9], [0.4, 0.1, 0.2]])
    >>> level_brier(Y, S, h, level="leaf", average=None)  # cello: only row 2 known
    array([0.13, 0.04])
    """
    Y, S, hierarchy, w = _prepare(Y_true, Y_score, hierarchy, sample_weight)
    return _level_value(Y, S, hierarchy, level, average, w, _brier, what="Brier score")


def level_calibration_curve(
    Y_true: Any,
    Y_score: Any,
    hierarchy: Any = None,
    *,
    level: LevelSpec = "all",
    n_bins: int = 15,
    strategy: str = "uniform",
    sample_weight: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability curve of one level: the known entries of its labels pooled.

    Returns, for every non-empty bin (in increasing order of probability), the
    fraction of positives ``prob_true``, the mean probability ``prob_pred`` and the
    bin's total weight, as :func:`sklearn.calibration.calibration_curve` does for
    one binary label. A perfectly calibrated level lies on the diagonal.

    Returns
    -------
    prob_true, prob_pred, bin_weight : ndarray of shape (n_nonempty_bins,)

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1], [0], [1], [1]])
    >>> S = np.array([[0.2], [0.1], [0.9], [0.7]])
    >>> level_calibration_curve(Y, S, n_bins=2)
    (array([0.5, 1. ]), array([0.15, 0.8 ]), array([2., 2.]))
    """
    _check_bins(n_bins, strategy)
    Y, S, hierarchy, w = _prepare(Y_true, Y_score, hierarchy, sample_weight)
    y, p, wk = _known(Y, S, columns(hierarchy, level), w)
    if wk.sum() <= 0:
        empty = np.zeros(0)
        return empty, empty, empty
    ids = _bin_ids(p, wk, n_bins, strategy)
    weight = np.bincount(ids, weights=wk, minlength=n_bins)
    full = weight > 0
    pos = np.bincount(ids, weights=wk * y, minlength=n_bins)[full]
    mean_p = np.bincount(ids, weights=wk * p, minlength=n_bins)[full]
    return pos / weight[full], mean_p / weight[full], weight[full]


# -- scorers ----------------------------------------------------------------------------
_SCORER_METRICS: dict[str, tuple[Callable, str]] = {
    "ece": (_ece, "uniform"),
    "adaptive_ece": (_ece, "quantile"),
    "brier": (_brier, ""),
}


class _CalibrationScorer(ScoreRequestMixin):
    """Callable ``(estimator, X, y) -> -figure`` for ``scoring=`` (higher is better)."""

    def __init__(self, metric: str, level: LevelSpec, n_bins: int) -> None:
        self.metric, self.level, self.n_bins = metric, level, n_bins

    def __call__(self, estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        from .metrics import _fitted_hierarchy

        hierarchy = _fitted_hierarchy(estimator)
        Y, _ = encode_targets(y, hierarchy, inconsistent="propagate")
        S = np.asarray(estimator.predict_proba(X), dtype=float)
        return -_scored(Y, S, hierarchy, self, check_sample_weight(sample_weight, len(Y)))

    def __repr__(self) -> str:
        extra = "" if self.metric == "brier" or self.n_bins == 15 else f", n_bins={self.n_bins}"
        return f"make_calibration_scorer(metric={self.metric!r}, level={self.level!r}{extra})"


def _scored(Y, S, hierarchy: Hierarchy, scorer: _CalibrationScorer, w) -> float:
    fn, strategy = _SCORER_METRICS[scorer.metric]
    _check_probabilities(S)
    levels = range(hierarchy.n_levels) if scorer.level == "mean" else [scorer.level]
    values = [
        _level_value(Y, S, hierarchy, d, "macro", w, fn, scorer.n_bins, strategy, scorer.metric)
        for d in levels
    ]
    known = [v for v in values if not np.isnan(v)]
    return float(np.mean(known)) if known else float("nan")


def make_calibration_scorer(
    metric: str = "ece", *, level: LevelSpec = "mean", n_bins: int = 15
) -> Callable[[Any, Any, Any], float]:
    """A ``scoring=`` object for GridSearchCV: the negated ECE or Brier score.

    Lower calibration errors are better, and scikit-learn maximises scores, so the
    scorer returns ``-figure`` (as scikit-learn's ``"neg_brier_score"`` does). It
    reads ``predict_proba`` and encodes ``y`` (any target format ``fit`` accepts)
    with the estimator's fitted ``hierarchy_``; unknown targets are left out.

    Parameters
    ----------
    metric : {"ece", "adaptive_ece", "brier"}, default="ece"
        :func:`level_ece` with equal-width bins, with equal-mass bins, or
        :func:`level_brier`; each macro-averaged over the labels of a level.
    level : {"mean", "leaf", "parent", "all"} or int, default="mean"
        ``"mean"``: the mean over the depth levels (each level counts the same);
        otherwise one selection of labels.
    n_bins : int, default=15
        Bins of the ECE.

    Returns
    -------
    callable
        ``scorer(estimator, X, y, sample_weight=None) -> float``, at most 0.
        With metadata routing on, ``scorer.set_score_request(sample_weight=True)``
        returns a copy that a search passes sample weights to.

    Examples
    --------
    >>> make_calibration_scorer("brier", level="leaf")
    make_calibration_scorer(metric='brier', level='leaf')
    """
    if metric not in _SCORER_METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose one of {sorted(_SCORER_METRICS)}.")
    valid_str = isinstance(level, str) and level in ("mean", "leaf", "parent", "all")
    valid_int = isinstance(level, int | np.integer) and not isinstance(level, bool)
    if not (valid_str or valid_int):
        raise ValueError(
            f"level must be 'mean', 'leaf', 'parent', 'all' or an int depth, got {level!r}."
        )
    _check_bins(n_bins, "uniform")
    return _CalibrationScorer(metric, level, n_bins)


#: The negated ECE (15 equal-width bins), mean over depth levels.
neg_level_ece_scorer = make_calibration_scorer("ece")
#: The negated Brier score, mean over depth levels.
neg_level_brier_scorer = make_calibration_scorer("brier")
