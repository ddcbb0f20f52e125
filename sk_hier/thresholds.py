"""Per-label decision thresholds tuned by cross-validation, for multi-label taggers.

scikit-learn's own threshold tuners (``TunedThresholdClassifierCV``,
``FixedThresholdClassifier``) handle binary targets only. :class:`TunedThresholds`
does the same job for every label of a tree at once: out-of-fold probabilities from
cross-validation, one threshold per label that maximises a binary metric (F1 by
default), then a refit of the estimator on all the data.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    MultiOutputMixin,
    clone,
)
from sklearn.utils import get_tags
from sklearn.utils.validation import _num_samples, check_is_fitted

from ._base import thresholds_of
from ._cross_fit import cross_val_proba, final_step, fit_router, routed_fit_params
from ._params import Interval, Options, Predicate, check_sample_weight, validate_params
from .targets import encode_targets, is_class_target

__all__ = ["TunedThresholds"]


def _f1(tp, fp, fn, tn):
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)


def _jaccard(tp, fp, fn, tn):
    den = tp + fp + fn
    return np.divide(tp, den, out=np.zeros_like(den), where=den > 0)


def _balanced_accuracy(tp, fp, fn, tn):
    pos, neg = tp + fn, tn + fp
    tpr = np.divide(tp, pos, out=np.zeros_like(pos), where=pos > 0)
    tnr = np.divide(tn, neg, out=np.zeros_like(neg), where=neg > 0)
    return (tpr + tnr) / 2


def _matthews(tp, fp, fn, tn):
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.divide(tp * tn - fp * fn, den, out=np.zeros_like(den), where=den > 0)


# Metrics computed from (weighted) confusion counts at every candidate threshold at
# once; a callable metric is evaluated candidate by candidate instead.
THRESHOLD_METRICS: dict[str, Callable] = {
    "f1": _f1,
    "jaccard": _jaccard,
    "balanced_accuracy": _balanced_accuracy,
    "matthews": _matthews,
}


def _is_class_model(final: Any, y: Any) -> bool:
    """Whether the fitted estimator took ``y`` as one class per sample.

    Its own settled ``target_type_`` when it has one (decided once, in its fit);
    otherwise the same test its fit applies to ``y``.
    """
    target_type = getattr(final, "target_type_", None)
    if target_type is not None:
        return target_type != "multilabel"
    return is_class_target(y, final.get_params().get("hierarchy"))


def _is_grid(value: Any) -> bool:
    if np.ndim(value) == 0:  # a number is a count of candidates, checked on its own
        return False
    grid = np.asarray(value, dtype=float).ravel()
    return grid.size > 0 and bool(np.all((grid >= 0) & (grid <= 1)))


class TunedThresholds(MetaEstimatorMixin, ClassifierMixin, MultiOutputMixin, BaseEstimator):
    """Tune one decision threshold per label by cross-validation.

    The estimator is fitted on ``cv`` folds; each label's threshold is the value
    that maximises ``metric`` on the out-of-fold probabilities of that label (only
    rows where the label is known: NaN targets are left out). Then the estimator is
    refitted on all the data and ``predict`` uses the tuned thresholds.

    A label without a known positive or a known negative in the out-of-fold data
    cannot be tuned and keeps the estimator's own threshold (its ``threshold``
    parameter, 0.5 by default). Per-label thresholds may tag a child without its
    parent; thresholding never changes ``predict_proba``.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator
        A tagger with ``predict_proba`` over every label: a
        :class:`~sk_hier.HierarchicalTagger`, a baseline of :mod:`sk_hier.baselines`,
        or a Pipeline ending in one. It is cloned; the given instance is not changed.
    metric : {"f1", "jaccard", "balanced_accuracy", "matthews"} or callable, default="f1"
        The binary metric maximised per label. A callable is called as
        ``metric(y_true, y_pred)`` (and with ``sample_weight=`` when weights are
        given), e.g. ``functools.partial(sklearn.metrics.fbeta_score, beta=2)``.
    cv : int, cross-validation generator or iterable, default=5
        Folds for the out-of-fold probabilities (``sklearn.model_selection.check_cv``;
        an int gives ``KFold`` for multi-label targets, ``StratifiedKFold`` for
        binary ones).
    thresholds : int or array-like, default=100
        Candidate thresholds. An int ``n``: the distinct out-of-fold scores of a
        label, or ``n`` of their quantiles when there are more. An array: these
        values (in [0, 1]) for every label. The chosen threshold is moved halfway
        down to the next lower score, which tags the out-of-fold data the same way
        but leaves a margin.
    levels : None, int or sequence of int, default=None
        Depths of the tree whose labels are tuned (0 = roots, -1 = leaves); the
        others keep the estimator's own threshold. ``None`` tunes every label.
    n_jobs : int or None, default=None
        Folds fitted in parallel (joblib).

    Attributes
    ----------
    estimator_ : estimator
        The estimator refitted on all the data.
    thresholds_ : ndarray of shape (n_labels,) or None
        Threshold per label in ``classes_`` order. For a binary 1-D target, shape
        (1,): the threshold on the probability of ``classes_[1]``. ``None`` for a
        multiclass 1-D target (``predict`` is then the arg-max).
    tuned_ : ndarray of bool, same shape as ``thresholds_``
        Which thresholds were tuned (the others are the estimator's own).
    best_scores_ : ndarray of float, same shape as ``thresholds_``
        Out-of-fold ``metric`` at the chosen threshold (NaN where not tuned).
    classes_ : ndarray
        As ``estimator_.classes_``.
    hierarchy_ : Hierarchy
        As the estimator's fitted ``hierarchy_``.
    n_features_in_ : int

    See Also
    --------
    sklearn.model_selection.TunedThresholdClassifierCV : the binary-only version.
    sk_hier.metrics.level_f1 : F1 per level at given thresholds.
    sk_hier.calibration.HierarchicalCalibrator : calibrated probabilities; wrap it
        (``TunedThresholds(HierarchicalCalibrator(tagger))``) to tune thresholds on them.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sk_hier import BottomUpClassifier
    >>> from sk_hier.datasets import make_hierarchical_multilabel
    >>> from sk_hier.thresholds import TunedThresholds
    >>> X, Y, tree = make_hierarchical_multilabel(
    ...     300, {"a": ["a1", "a2"], "b": ["b1", "b2"]}, n_features=16, random_state=0)
    >>> model = TunedThresholds(BottomUpClassifier(LogisticRegression(), hierarchy=tree), cv=3)
    >>> model.fit(X, Y).thresholds_.shape
    (6,)
    >>> bool(((model.thresholds_ >= 0) & (model.thresholds_ <= 1)).all())
    True
    >>> model.predict(X[:2]).shape
    (2, 6)
    """

    def __init__(
        self,
        estimator: Any,
        *,
        metric: str | Callable = "f1",
        cv: Any = 5,
        thresholds: int | Any = 100,
        levels: int | Any | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.metric = metric
        self.cv = cv
        self.thresholds = thresholds
        self.levels = levels
        self.n_jobs = n_jobs

    # -- validation ---------------------------------------------------------------
    # Allowed values of the parameters, checked in ``fit`` (one message style).
    _parameter_constraints: ClassVar[dict] = {
        "estimator": [
            Predicate(
                lambda e: hasattr(e, "fit") and hasattr(e, "predict_proba"),
                "a tagger with fit and predict_proba (e.g. HierarchicalTagger or "
                "BottomUpClassifier)",
            )
        ],
        "metric": [
            Options(*THRESHOLD_METRICS),
            Predicate(callable, "a callable metric(y_true, y_pred) -> float"),
        ],
        "thresholds": [
            Interval(numbers.Integral, 2, None),
            Predicate(_is_grid, "a non-empty array of values in [0, 1]"),
        ],
    }

    def _check_params(self) -> np.ndarray | None:
        validate_params(self, self._parameter_constraints)
        if isinstance(self.thresholds, numbers.Integral) and not isinstance(self.thresholds, bool):
            return None  # that many candidates, from the out-of-fold probabilities
        return np.unique(np.asarray(self.thresholds, dtype=float).ravel())

    # -- fit ----------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any) -> TunedThresholds:
        """Fit the folds, tune the thresholds, refit on all the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : targets
            Any format the estimator accepts (DESIGN §4); NaN means unknown.
        sample_weight : array-like of shape (n_samples,), default=None
            Weighs the metric. Without metadata routing it is also passed to every
            fit of the estimator; with routing on
            (``sklearn.set_config(enable_metadata_routing=True)``) it goes where
            ``set_fit_request`` asks (``estimator.set_fit_request(sample_weight=True)``).
        **fit_params
            Passed unchanged to every fit of the estimator (with routing on: routed
            to the estimator and the splitter by their requests, e.g. ``groups``).

        Returns
        -------
        self : TunedThresholds
        """
        grid = self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        if not hasattr(X, "shape") and not hasattr(X, "iloc"):
            X = np.asarray(X)
        if hasattr(y, "__array__") and not hasattr(y, "shape") and not hasattr(y, "iloc"):
            y = np.asarray(y)  # array-likes with only __array__: index them as arrays
        sample_weight = check_sample_weight(sample_weight, _num_samples(X))
        est_params, split_params = routed_fit_params(self, sample_weight, fit_params)
        self.estimator_ = clone(self.estimator).fit(X, y, **est_params)
        final = final_step(self.estimator_)
        self.classes_ = np.asarray(self.estimator_.classes_)
        self.hierarchy_ = final.hierarchy_
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        class_target = _is_class_model(final, y)
        if class_target and len(self.classes_) > 2:
            self.thresholds_ = self.tuned_ = self.best_scores_ = None
            return self

        y_cv = np.ravel(np.asarray(y)) if class_target else None
        P = cross_val_proba(
            self.estimator,
            X,
            y,
            self.classes_,
            cv=self.cv,
            y_split=y_cv,
            classifier=class_target,
            fit_params=est_params,
            split_params=split_params,
            n_jobs=self.n_jobs,
        )
        if class_target:
            Y = (y_cv == self.classes_[1]).astype(float)[:, None]
            P = P[:, [1]]
            base = np.array([0.5])
        else:
            Y, _ = encode_targets(y, self.hierarchy_, inconsistent="propagate")
            base = self._base_thresholds(final)
        self.thresholds_, self.tuned_, self.best_scores_ = self._tune(
            Y, P, sample_weight, grid, base, class_target
        )
        return self

    def get_metadata_routing(self):
        """How ``fit`` routes metadata (scikit-learn's metadata routing).

        ``sample_weight`` and other fit parameters go to the estimator's ``fit`` and
        the splitter's ``split`` as they request them; ``TunedThresholds`` itself
        consumes ``sample_weight`` in ``fit`` (the metric) and ``score``.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        return fit_router(self, self.estimator, self.cv)

    def _base_thresholds(self, final: Any) -> np.ndarray:
        return thresholds_of(final, len(self.classes_))

    def _selected_labels(self, n_labels: int, class_target: bool) -> np.ndarray:
        if self.levels is None or class_target:
            return np.ones(n_labels, dtype=bool)
        levels = self.hierarchy_.levels
        chosen = np.zeros(n_labels, dtype=bool)
        for depth in np.atleast_1d(self.levels):
            if not isinstance(depth, numbers.Integral) or not -len(levels) <= depth < len(levels):
                raise ValueError(
                    f"levels must hold depths in [{-len(levels)}, {len(levels) - 1}] "
                    f"(the tree has {len(levels)} levels), got {self.levels!r}."
                )
            for name in levels[depth]:
                chosen[self.hierarchy_.index(name)] = True
        return chosen

    def _tune(self, Y, P, sample_weight, grid, base, class_target):
        n_labels = Y.shape[1]
        thresholds = base.copy()
        tuned = np.zeros(n_labels, dtype=bool)
        scores = np.full(n_labels, np.nan)
        w_all = np.ones(len(Y)) if sample_weight is None else sample_weight
        for j in np.flatnonzero(self._selected_labels(n_labels, class_target)):
            known = ~np.isnan(Y[:, j]) & ~np.isnan(P[:, j]) & (w_all > 0)
            y, s, w = Y[known, j], P[known, j], w_all[known]
            if not (np.any(y == 1) and np.any(y == 0)):
                continue
            thresholds[j], scores[j] = self._best_threshold(
                y, s, w if sample_weight is not None else None, grid
            )
            tuned[j] = True
        return np.clip(thresholds, 0.0, 1.0), tuned, scores

    def _best_threshold(self, y, s, w, grid) -> tuple[float, float]:
        order = np.argsort(s, kind="stable")
        s, y = s[order], y[order]
        weights = None if w is None else w[order]
        w = np.ones_like(s) if weights is None else weights
        if grid is not None:
            candidates = grid
        else:
            candidates = np.unique(s)
            if len(candidates) > self.thresholds:
                candidates = np.unique(np.quantile(s, np.linspace(0, 1, self.thresholds)))
        if callable(self.metric):
            extra = {} if weights is None else {"sample_weight": weights}
            values = np.array(
                [self.metric(y.astype(int), (s >= c).astype(int), **extra) for c in candidates]
            )
        else:
            prefix_pos = np.concatenate([[0.0], np.cumsum(w * y)])
            prefix_w = np.concatenate([[0.0], np.cumsum(w)])
            first = np.searchsorted(s, candidates, side="left")  # rows with s >= c start here
            pos_total, total = prefix_pos[-1], prefix_w[-1]
            tp = pos_total - prefix_pos[first]
            fp = (total - prefix_w[first]) - tp
            fn = pos_total - tp
            tn = (total - pos_total) - fp
            values = THRESHOLD_METRICS[self.metric](tp, fp, fn, tn)
        values = np.nan_to_num(values, nan=-np.inf)
        best = np.flatnonzero(values >= values.max() - 1e-12)
        # Ties: the candidate nearest 0.5, the untuned default.
        c = candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]]
        below = s[s < c]
        threshold = (c + below[-1]) / 2 if len(below) else c
        return float(threshold), float(values.max())

    # -- inference ----------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """The estimator's probabilities, ``(n_samples, n_labels)`` in ``classes_`` order."""
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """0/1 tags from the tuned thresholds (class labels for a 1-D target)."""
        check_is_fitted(self)
        if self.thresholds_ is None:  # multiclass 1-D target
            return self.estimator_.predict(X)
        proba = self.predict_proba(X)
        if len(self.thresholds_) == 1 and len(self.classes_) == 2 and proba.shape[1] == 2:
            return self.classes_[(proba[:, 1] >= self.thresholds_[0]).astype(int)]
        return (proba >= self.thresholds_).astype(int)

    def predict_labels(self, X: Any) -> list:
        """Predicted label names per sample, as tuples in ``classes_`` order."""
        check_is_fitted(self)
        Y = self.predict(X)
        if Y.ndim == 1:
            return [(label,) for label in Y]
        names = self.hierarchy_.labels
        return [tuple(names[j] for j in np.flatnonzero(row)) for row in Y]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The estimator's ``score`` (threshold-free mean level AP for multi-label)."""
        check_is_fitted(self)
        if self.thresholds_ is not None and len(self.thresholds_) == 1:
            return ClassifierMixin.score(self, X, y, sample_weight=sample_weight)
        return self.estimator_.score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            tags.input_tags = get_tags(self.estimator).input_tags
        except (TypeError, AttributeError, ValueError):  # not an estimator: fit says so
            pass
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags
