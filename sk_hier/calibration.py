"""Calibrated, hierarchy-consistent probabilities for multi-label taggers.

:class:`HierarchicalCalibrator` maps each node's probability through a calibration
map fitted on out-of-fold (or held-out) probabilities, then lifts every parent to at
least its best child. The figures that measure calibration per level of the tree
(:func:`level_ece`, :func:`level_brier`, :func:`level_calibration_curve`) and their
scorers are defined in a private module and importable from here.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    MultiOutputMixin,
    clone,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.validation import _num_samples, check_is_fitted, has_fit_parameter

from ._base import HierarchicalClassifierMixin, thresholds_of
from ._calibration_maps import CALIBRATION_MAPS, IdentityMap
from ._calibration_metrics import (
    level_brier,
    level_calibration_curve,
    level_ece,
    make_calibration_scorer,
    neg_level_brier_scorer,
    neg_level_ece_scorer,
)
from ._cross_fit import (
    cross_val_proba,
    final_step,
    fit_router,
    routed_fit_params,
    routing_enabled,
)
from ._params import Interval, Options, Predicate, check_sample_weight, validate_params
from ._tree import TreeSpec
from .hierarchy import Hierarchy
from .targets import encode_targets, is_class_target

__all__ = [
    "HierarchicalCalibrator",
    "level_brier",
    "level_calibration_curve",
    "level_ece",
    "make_calibration_scorer",
    "neg_level_brier_scorer",
    "neg_level_ece_scorer",
]


def _unfrozen(estimator: Any) -> Any:
    """The estimator inside a ``FrozenEstimator`` (any depth), then its last step."""
    from sklearn.frozen import FrozenEstimator

    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    return final_step(estimator)


def _declared_hierarchy(estimator: Any) -> Any:
    """The ``hierarchy`` parameter of the tagger inside (meta-)estimators, if any."""
    for _ in range(16):  # nesting depth; a cycle of estimators is not a thing
        params = _unfrozen(estimator).get_params(deep=False)
        if "hierarchy" in params or params.get("estimator") is None:
            return params.get("hierarchy")
        estimator = params["estimator"]
    return None


def _is_cv(value: Any) -> bool:
    if isinstance(value, str | bool | numbers.Number):
        return False  # ints are the Interval's to accept; other strings are typos
    return hasattr(value, "split") or hasattr(value, "__iter__")


def _fit_maps(Y: np.ndarray, P: np.ndarray, w: np.ndarray, method: str, groups: list):
    """One fitted map per group of label columns (a label, or a level), shared by
    the group's labels; identity where the known targets hold a single class."""
    maps: list = [None] * Y.shape[1]
    calibrated = np.zeros(Y.shape[1], dtype=bool)
    for cols in groups:
        keep = ~np.isnan(Y[:, cols]) & ~np.isnan(P[:, cols]) & (w[:, None] > 0)
        y = Y[:, cols][keep]
        fitted: Any = IdentityMap()
        if np.any(y == 1) and np.any(y == 0):
            weights = np.broadcast_to(w[:, None], keep.shape)[keep]
            fitted = CALIBRATION_MAPS[method]().fit(P[:, cols][keep], y, weights)
            calibrated[cols] = True
        for j in cols:
            maps[j] = fitted
    return maps, calibrated


def _map_groups(hierarchy: Hierarchy, pooling: str) -> list:
    """Label columns that share one map: each label alone, or each level."""
    if pooling == "node":
        return [[j] for j in range(len(hierarchy.labels))]
    level = np.array([hierarchy.level_of(name) for name in hierarchy.labels])
    return [np.flatnonzero(level == d).tolist() for d in np.unique(level)]


class HierarchicalCalibrator(
    HierarchicalClassifierMixin,
    MetaEstimatorMixin,
    ClassifierMixin,
    MultiOutputMixin,
    BaseEstimator,
):
    """Per-node probability calibration, then parents lifted to their best child.

    Every node of the tree gets a one-dimensional calibration map fitted on
    probabilities the estimator did not see the answers to: out-of-fold
    probabilities of ``cv`` (then the estimator is refitted on all the data), or,
    with ``cv="prefit"``, the probabilities of an already fitted estimator on the
    data given to ``fit`` (a held-out set, e.g. a few dozen labelled clips of a new
    recording source). Each map sees only the rows where its node's target is known:
    unknown (NaN) targets are left out. Then ``reconcile="max"`` raises each parent
    to at least its best child, so the max rule holds.

    Methods (``z = logit(p)``; each minimises the weighted negative log-likelihood of
    the node's known targets):

    - ``"sigmoid"`` (default): Platt scaling, ``p' = sigmoid(a · z + b)``, with
      Platt's smoothed targets. Corrects the scale and the base rate; keeps the
      ranking (and so the average precision) when ``a > 0``.
    - ``"temperature"``: ``p' = sigmoid(z / T)``, one ``T > 0`` per node. Always
      keeps the ranking, but only stretches scores around 0.5: for a rare label
      whose base rate moved it softens towards 0.5, not towards the base rate.
    - ``"isotonic"``: a non-decreasing step function of ``p``
      (:class:`sklearn.isotonic.IsotonicRegression`). The most flexible; needs the
      most data and can tie scores (which lowers average precision).

    A node whose known calibration targets hold a single class (or none) keeps its
    probabilities unchanged, with a warning (see ``calibrated_``).

    **Parent-only annotations.** A clip annotated only at a parent ("family
    present, instrument not given") has unknown children. At fit time it trains the
    parent's map and none of its children's: its children are never counted as
    negatives. At predict time there are no annotations: the reconciliation lifts a
    parent to its best calibrated child (a present child implies a present parent)
    and never lowers a parent, so a clip whose family is clear but whose instrument
    is not keeps a high parent over low children. The maps are fitted before the
    reconciliation, each on the estimator's own probabilities of its node.

    .. versionadded:: 0.1

    Parameters
    ----------
    estimator : estimator
        A tagger with ``predict_proba`` over every label: a
        :class:`~sk_hier.HierarchicalTagger`, a baseline of :mod:`sk_hier.baselines`,
        :class:`~sk_hier.TunedThresholds`, or a Pipeline ending in one. Cloned for
        cross-validation; with ``cv="prefit"`` (or wrapped in
        :class:`sklearn.frozen.FrozenEstimator`) it must be fitted and is used as is.
    method : {"sigmoid", "temperature", "isotonic"}, default="sigmoid"
        The calibration map of every node (see above).
    pooling : {"node", "level"}, default="node"
        ``"node"``: one map per node, fitted on that node's known targets.
        ``"level"``: one map per level of the tree, fitted on the known targets of
        all its nodes pooled and shared by them: two or three parameters in all
        instead of two per node, for a small calibration set (a few dozen clips of
        a new source, with ``cv="prefit"``), where per-node maps overfit. With
        ``"sigmoid"`` and ``"temperature"`` either way keeps each label's ranking.
    cv : int, cross-validation generator, iterable or "prefit", default=5
        Folds for the out-of-fold probabilities (an int gives ``KFold`` for
        multi-label targets), or ``"prefit"``: calibrate a fitted estimator on the
        data given to ``fit``. ``clone`` (hence GridSearchCV) returns an unfitted
        copy of a plain estimator; to search over a prefit one, wrap it in
        ``FrozenEstimator``, which ``clone`` keeps fitted.
    reconcile : {"max"} or None, default="max"
        ``"max"``: lift each parent to at least its best child after the maps.
        ``None``: the calibrated probabilities as they are. Applied at predict
        time only (the maps do not depend on it), so it may be switched with
        ``set_params`` after fitting, e.g. to measure violations before and after.
    n_jobs : int or None, default=None
        Folds fitted in parallel (joblib).

    Attributes
    ----------
    estimator_ : estimator
        The estimator refitted on all the data (the given one with
        ``cv="prefit"``). For a 1-D class target: the fitted
        :class:`sklearn.calibration.CalibratedClassifierCV` that does the work.
    calibrators_ : list or None
        One fitted map per label in ``classes_`` order (``TemperatureMap`` with
        ``temperature_``, ``PlattMap`` with ``a_`` and ``b_``, ``IsotonicMap``, or
        ``IdentityMap``); the labels of one level share one map with
        ``pooling="level"``. ``None`` for a 1-D class target.
    calibrated_ : ndarray of bool of shape (n_labels,) or None
        Which labels were calibrated (the others had a single known class).
    classes_ : ndarray
        As ``estimator_.classes_``.
    hierarchy_ : Hierarchy
        The estimator's fitted tree (flat over the classes for a class target).
    target_type_ : str
        ``"multilabel"``, or ``"binary"`` / ``"multiclass"`` for 1-D class targets.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When the estimator recorded them.

    See Also
    --------
    sklearn.calibration.CalibratedClassifierCV : the single-output version (used for
        1-D class targets: binary and multiclass delegate to it, with
        ``ensemble=False``).
    sk_hier.TunedThresholds : tune per-label thresholds; wrap the calibrator in it
        (thresholds outermost) to tune them on calibrated probabilities.
    level_ece, level_brier : calibration figures per level of the tree.

    Notes
    -----
    ``predict`` thresholds the calibrated probabilities at the wrapped tagger's
    own ``threshold`` (0.5 unless set; 0.5 when the estimator has none, e.g.
    ``TunedThresholds``, whose thresholds belong to uncalibrated probabilities).

    ``sample_weight`` always weighs the calibration maps. Without metadata routing
    it also goes to the estimator's fit when that accepts it; with routing on
    (``sklearn.set_config(enable_metadata_routing=True)``) it goes where
    ``set_fit_request`` asks.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sk_hier import BottomUpClassifier
    >>> from sk_hier.calibration import HierarchicalCalibrator, level_ece
    >>> from sk_hier.datasets import make_hierarchical_multilabel
    >>> X, Y, tree = make_hierarchical_multilabel(
    ...     600, {"a": ["a1", "a2"], "b": ["b1", "b2"]}, n_features=8, random_state=0)
    >>> # Strong regularisation: the ranking is fine, the probabilities too timid.
    >>> base = BottomUpClassifier(LogisticRegression(C=0.001), hierarchy=tree)
    >>> raw = base.fit(X[:400], Y[:400]).predict_proba(X[400:])
    >>> cal = HierarchicalCalibrator(base, cv=3).fit(X[:400], Y[:400])
    >>> P = cal.predict_proba(X[400:])
    >>> round(level_ece(Y[400:], raw, tree), 2), round(level_ece(Y[400:], P, tree), 2)
    (0.14, 0.09)
    >>> bool((P[:, :2] >= P[:, 2:].reshape(-1, 2, 2).max(axis=2)).all())  # parents >= children
    True
    >>> cal.calibrators_[0]
    PlattMap(a_=..., b_=...)
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [
            Predicate(
                lambda v: hasattr(v, "fit") and hasattr(v, "predict_proba"),
                "a tagger with fit and predict_proba (HierarchicalTagger, a baseline, "
                "TunedThresholds or a Pipeline ending in one)",
            )
        ],
        "method": [Options(*CALIBRATION_MAPS)],
        "pooling": [Options("node", "level")],
        "cv": [
            Options("prefit"),
            Interval(numbers.Integral, 2, None),
            Predicate(_is_cv, "a cross-validation splitter or an iterable of (train, test)"),
        ],
        "reconcile": [Options("max", None)],
        "n_jobs": [Options(None), Interval(numbers.Integral)],
    }

    def __init__(
        self,
        estimator: Any,
        *,
        method: str = "sigmoid",
        pooling: str = "node",
        cv: Any = 5,
        reconcile: str | None = "max",
        n_jobs: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.pooling = pooling
        self.cv = cv
        self.reconcile = reconcile
        self.n_jobs = n_jobs

    @property
    def _prefit(self) -> bool:
        from sklearn.frozen import FrozenEstimator

        return isinstance(self.cv, str) or isinstance(self.estimator, FrozenEstimator)

    # -- fit ----------------------------------------------------------------------
    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, **fit_params: Any
    ) -> HierarchicalCalibrator:
        """Fit (or take) the estimator, then one calibration map per node.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : targets
            Any format the estimator accepts; NaN means unknown. With
            ``cv="prefit"``: the held-out calibration set.
        sample_weight : array-like of shape (n_samples,), default=None
            Weighs the calibration maps; reaches the estimator's fit as the class
            Notes say.
        **fit_params
            Passed to every fit of the estimator (routed by request when metadata
            routing is on). Not allowed with ``cv="prefit"``: nothing is fitted.

        Returns
        -------
        self : HierarchicalCalibrator
        """
        validate_params(self, self._parameter_constraints)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        if self._prefit and fit_params:
            raise ValueError(
                f"fit parameters {sorted(fit_params)} cannot be used with a prefit "
                "estimator: it is not fitted again. Fit it with them first."
            )
        if not hasattr(X, "shape") and not hasattr(X, "iloc"):
            X = np.asarray(X)
        if hasattr(y, "__array__") and not hasattr(y, "shape") and not hasattr(y, "iloc"):
            y = np.asarray(y)  # array-likes with only __array__: index them as arrays
        n_samples = _num_samples(X)
        if n_samples == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is "
                f"required by {type(self).__name__}: give data to calibrate on."
            )
        sample_weight = check_sample_weight(sample_weight, n_samples)
        if self._is_class_target(y):
            return self._fit_classes(X, y, sample_weight, fit_params)
        P = (
            self._prefit_proba(X)
            if self._prefit
            else self._cv_proba(X, y, sample_weight, fit_params)
        )
        Y, _ = encode_targets(y, self.hierarchy_, inconsistent="propagate")
        if len(Y) != len(P):
            raise ValueError(f"X has {len(P)} samples but y has {len(Y)}: one target per sample.")
        w = np.ones(len(Y)) if sample_weight is None else sample_weight
        groups = _map_groups(self.hierarchy_, self.pooling)
        self.calibrators_, self.calibrated_ = _fit_maps(Y, P, w, self.method, groups)
        self._warn_uncalibrated()
        return self

    def _is_class_target(self, y: Any) -> bool:
        if self._prefit:
            self._check_prefit()
            target_type = getattr(_unfrozen(self.estimator), "target_type_", None)
            if target_type is not None:
                return target_type != "multilabel"
        return is_class_target(y, _declared_hierarchy(self.estimator))

    def _check_prefit(self) -> None:
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            raise NotFittedError(
                f"cv='prefit' needs an estimator that is already fitted, but "
                f"{type(self.estimator).__name__} is not. Fit it first, or use cv=5 to "
                "fit it here on cross-validation folds."
            ) from None

    def _fit_classes(self, X, y, sample_weight, fit_params) -> HierarchicalCalibrator:
        # One class per sample: scikit-learn's calibrator is the right tool; the same
        # out-of-fold scheme as for multi-label targets (ensemble=False).
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.frozen import FrozenEstimator
        from sklearn.utils.multiclass import type_of_target

        estimator, cv = self.estimator, self.cv
        if self._prefit:
            # A frozen estimator is never refitted: the folds only split the rows.
            estimator, cv = FrozenEstimator(_frozen_or_self(estimator)), 2
        self.estimator_ = CalibratedClassifierCV(
            estimator, method=self.method, cv=cv, n_jobs=self.n_jobs, ensemble=False
        ).fit(X, np.ravel(np.asarray(y)), sample_weight=sample_weight, **fit_params)
        self.target_type_ = type_of_target(np.ravel(np.asarray(y)))
        self.classes_ = self.estimator_.classes_
        self.hierarchy_ = Hierarchy.flat(str(c) for c in self.classes_)
        self.calibrators_ = self.calibrated_ = None
        self._copy_feature_info()
        return self

    def _prefit_proba(self, X) -> np.ndarray:
        self.estimator_ = self.estimator
        self._take_fitted_info()
        return np.asarray(self.estimator_.predict_proba(X), dtype=float)

    def _cv_proba(self, X, y, sample_weight, fit_params) -> np.ndarray:
        sw_estimator = sample_weight
        if sample_weight is not None and not routing_enabled():
            if not has_fit_parameter(self.estimator, "sample_weight"):
                warnings.warn(
                    f"{type(self.estimator).__name__}.fit does not take sample_weight: the "
                    "weights only weigh the calibration maps. For a Pipeline, enable "
                    "metadata routing and set_fit_request(sample_weight=True) on its step.",
                    UserWarning,
                    stacklevel=3,
                )
                sw_estimator = None
        est_params, split_params = routed_fit_params(self, sw_estimator, fit_params)
        self.estimator_ = clone(self.estimator).fit(X, y, **est_params)
        self._take_fitted_info()
        return cross_val_proba(
            self.estimator,
            X,
            y,
            self.classes_,
            cv=self.cv,
            fit_params=est_params,
            split_params=split_params,
            n_jobs=self.n_jobs,
        )

    def _take_fitted_info(self) -> None:
        final = _unfrozen(self.estimator_)
        hierarchy = getattr(final, "hierarchy_", None)
        if not isinstance(hierarchy, Hierarchy):
            raise ValueError(
                f"{type(final).__name__} has no fitted hierarchy_: HierarchicalCalibrator "
                "needs an sk_hier tagger (HierarchicalTagger, a baseline, TunedThresholds, "
                "or a Pipeline ending in one)."
            )
        self.hierarchy_, self.target_type_ = hierarchy, "multilabel"
        self.classes_ = np.asarray(self.estimator_.classes_)
        self._copy_feature_info()

    def _copy_feature_info(self) -> None:
        for name in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.estimator_, name):
                setattr(self, name, getattr(self.estimator_, name))

    def _warn_uncalibrated(self) -> None:
        left = [self.hierarchy_.labels[j] for j in np.flatnonzero(~self.calibrated_)]
        if left:
            warnings.warn(
                f"{len(left)} of {len(self.calibrated_)} labels have no known positive or "
                f"no known negative in the calibration data and keep the estimator's "
                f"probabilities: {left[:10]}{' ...' if len(left) > 10 else ''}.",
                UserWarning,
                stacklevel=3,
            )

    def get_metadata_routing(self):
        """How ``fit`` routes metadata (scikit-learn's metadata routing).

        The calibrator consumes ``sample_weight`` in ``fit`` (the maps) and
        ``score``; the estimator's ``fit`` and the splitter's ``split`` get what they
        request. A prefit estimator is not fitted, so nothing is routed to it.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        if self._prefit:
            return fit_router(self)
        return fit_router(self, self.estimator, self.cv)

    # -- inference ----------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probability of every label, ``(n_samples, n_labels)``.

        In ``classes_`` order; with ``reconcile="max"`` every parent is at least
        its best child. For a 1-D class target: calibrated class probabilities
        (rows sum to 1).
        """
        check_is_fitted(self)
        P = np.asarray(self.estimator_.predict_proba(X), dtype=float)
        if self._class_model:
            return P
        out = np.empty_like(P)
        for j, node_map in enumerate(self.calibrators_):
            out[:, j] = node_map.predict(P[:, j])
        if self.reconcile == "max":
            TreeSpec.from_hierarchy(self.hierarchy_).lift_parents(out)
        return out

    def _thresholds(self) -> np.ndarray:
        return thresholds_of(_unfrozen(self.estimator_), len(self.classes_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            tags.input_tags = get_tags(self.estimator).input_tags
        except (TypeError, AttributeError, ValueError):  # not an estimator: fit says so
            pass
        return tags


def _frozen_or_self(estimator: Any) -> Any:
    from sklearn.frozen import FrozenEstimator

    return estimator.estimator if isinstance(estimator, FrozenEstimator) else estimator
