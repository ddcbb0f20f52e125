"""Classical hierarchical baselines: meta-estimators over any scikit-learn classifier.

Three ways to turn binary classifiers into a tagger over a label tree, with the same
targets, outputs and ``score`` as :class:`~sk_hier.HierarchicalTagger`:

- :class:`PerLevelClassifier`: one independent one-vs-rest model per node;
- :class:`TopDownClassifier`: a model per node, each child trained only where its
  parent is present; ``p_child = p_parent · p(child | parent)``;
- :class:`BottomUpClassifier`: leaf models only; each parent takes the maximum of
  its children (the max rule).

Every binary model is fitted on the rows where its label is known (NaN targets are
left out). A label whose known rows hold a single class, or none at all, gets a
constant predictor at its prior (0 when it has no known row) and a warning, so that
cross-validation folds of sparse data do not stop the fit.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, has_fit_parameter, validate_data

from ._base import HierarchicalClassifierMixin, settle_target_type
from ._params import Interval, Options, check_sample_weight, validate_params
from ._tree import TreeSpec
from .hierarchy import Hierarchy
from .targets import as_hierarchy, encode_targets, is_unnamed_indicator

__all__ = ["BottomUpClassifier", "PerLevelClassifier", "TopDownClassifier"]


class _ConstantProbability:
    """Stands in for a binary model whose training rows held a single class."""

    def __init__(self, p: float) -> None:
        self.p = float(p)
        self.classes_ = np.array([0, 1])

    def predict_proba(self, X: Any) -> np.ndarray:
        n = X.shape[0]
        return np.column_stack([np.full(n, 1.0 - self.p), np.full(n, self.p)])

    def __repr__(self) -> str:
        return f"_ConstantProbability(p={self.p:.4g})"


def _leaf_max_rule(Q: np.ndarray, hierarchy: Hierarchy) -> np.ndarray:
    """Scores of every node from leaf scores ``Q`` (leaves order), by the max rule."""
    return TreeSpec.from_hierarchy(hierarchy).max_rule(Q)


def _fit_binary(base, X, y, rows, sample_weight):
    """Fit one clone of ``base`` on ``X[rows]``; a constant if one class is left."""
    y = y[rows]
    sw = None if sample_weight is None else sample_weight[rows]
    if np.unique(y).size < 2:
        if len(y) == 0 or (sw is not None and sw.sum() <= 0):
            return _ConstantProbability(0.0 if len(y) == 0 else y.mean()), True
        return _ConstantProbability(np.average(y, weights=sw)), True
    fit_params = {} if sw is None else {"sample_weight": sw}
    return clone(base).fit(X[rows], y.astype(int), **fit_params), False


def _positive_proba(model, X) -> np.ndarray:
    proba = model.predict_proba(X)
    return proba[:, np.flatnonzero(np.asarray(model.classes_) == 1)[0]]


class _HierarchicalBaseline(
    HierarchicalClassifierMixin, ClassifierMixin, MultiOutputMixin, BaseEstimator
):
    """Shared fit / predict_proba; subclasses say which labels get a model, trained
    on which rows (``_tasks``), and how model outputs become node probabilities
    (``_combine``)."""

    def __init__(
        self,
        estimator: Any = None,
        hierarchy: Any = None,
        threshold: float | Any = 0.5,
        inconsistent: str = "error",
        n_jobs: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.hierarchy = hierarchy
        self.threshold = threshold
        self.inconsistent = inconsistent
        self.n_jobs = n_jobs

    # -- strategy hooks -----------------------------------------------------------
    def _model_labels(self, hierarchy: Hierarchy) -> tuple:
        """Labels that get a binary model, in ``estimators_`` order."""
        return hierarchy.labels

    def _rows(self, Y: np.ndarray, hierarchy: Hierarchy, label: str) -> np.ndarray:
        """Training rows of the model for ``label`` (its known rows by default)."""
        return ~np.isnan(Y[:, hierarchy.index(label)])

    def _combine(self, Q: np.ndarray, hierarchy: Hierarchy) -> np.ndarray:
        """Node probabilities ``(n, n_labels)`` from model outputs ``(n, n_models)``."""
        return Q

    def _constant_expected(self, hierarchy: Hierarchy, label: str) -> bool:
        """Whether a single-class training set is normal for ``label`` (no warning)."""
        return False

    # Allowed values of the parameters, checked in ``fit`` (one message style). The
    # estimator's own message (no predict_proba) names the fix, so it stays below.
    _parameter_constraints: ClassVar[dict] = {
        "inconsistent": [Options("error", "propagate")],
        "n_jobs": [Options(None), Interval(numbers.Integral, None, None)],
    }

    # -- fitting ------------------------------------------------------------------
    def _base_estimator(self) -> Any:
        # A fresh default per fit: a shared default instance would be mutated by fit.
        base = LogisticRegression(max_iter=1000) if self.estimator is None else self.estimator
        if not hasattr(base, "predict_proba"):
            raise ValueError(
                f"{type(self).__name__} needs probabilities, but estimator "
                f"{type(base).__name__} has no predict_proba. Use a probabilistic "
                "classifier, or wrap it in sklearn.calibration.CalibratedClassifierCV."
            )
        return clone(base)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _HierarchicalBaseline:
        """Fit the binary models.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (e.g. audio embeddings); must be finite.
        y : array-like, sequence of label collections, or DataFrame
            Any multi-label target format of ``sk_hier.targets.encode_targets``
            (NaN = unknown). A 1-D class target (see
            ``sk_hier.targets.is_class_target``) fits one clone of ``estimator`` as a
            plain classifier.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed on to every binary model.

        Returns
        -------
        self
        """
        validate_params(self, self._parameter_constraints)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = validate_data(self, X, reset=True)
        base = self._base_estimator()
        sample_weight = check_sample_weight(sample_weight, X.shape[0])
        if sample_weight is not None and not has_fit_parameter(base, "sample_weight"):
            raise ValueError(
                f"estimator {type(base).__name__} does not accept sample_weight in fit."
            )
        if hasattr(y, "__array__") and not (hasattr(y, "columns") or hasattr(y, "toarray")):
            # Array-likes that are neither sequences nor ndarrays (e.g. wrappers with
            # only __array__) are read as the arrays they stand for.
            y = np.asarray(y)
        hierarchy = as_hierarchy(self.hierarchy)
        self.target_type_ = settle_target_type(y, hierarchy)
        if self._class_model:
            # Binary / multiclass: no tree to exploit, so behave as the base classifier
            # (as HierarchicalTagger does: classes_ are the classes, a flat hierarchy_).
            fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
            model = base.fit(X, np.ravel(np.asarray(y)), **fit_params)
            self.classes_ = model.classes_
            self.hierarchy_ = Hierarchy.flat(str(c) for c in self.classes_)
            self.estimators_ = [model]
            return self
        Y, self.hierarchy_ = encode_targets(y, hierarchy, inconsistent=self.inconsistent)
        if len(Y) != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but y has {len(Y)}; give one target per sample."
            )
        labels = self._model_labels(self.hierarchy_)
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_binary)(
                base,
                X,
                Y[:, self.hierarchy_.index(label)],
                self._rows(Y, self.hierarchy_, label),
                sample_weight,
            )
            for label in labels
        )
        constant = [
            label
            for label, (_, is_const) in zip(labels, results)
            if is_const and not self._constant_expected(self.hierarchy_, label)
        ]
        if constant:
            warnings.warn(
                f"{len(constant)} of {len(labels)} binary models of {type(self).__name__} "
                f"saw a single class (or no known target) and predict a constant prior: "
                f"{constant[:10]}{' ...' if len(constant) > 10 else ''}.",
                UserWarning,
                stacklevel=2,
            )
        self.estimators_ = [model for model, _ in results]
        self.classes_ = np.asarray(self.hierarchy_.labels, dtype=object)
        if hierarchy is None and is_unnamed_indicator(y):
            # Columns without names: integer classes, as MLPClassifier and the tagger.
            self.classes_ = np.arange(len(self.hierarchy_.labels))
        return self

    # -- prediction ---------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of every node, ``(n_samples, n_labels)`` in ``classes_`` order.

        For a 1-D class target: the base classifier's ``predict_proba``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        if self._class_model:
            return self.estimators_[0].predict_proba(X)
        Q = Parallel(n_jobs=self.n_jobs)(
            delayed(_positive_proba)(model, X) for model in self.estimators_
        )
        Q = np.column_stack(Q) if Q else np.zeros((X.shape[0], 0))
        return self._combine(Q.astype(float), self.hierarchy_)

    def predict(self, X: Any) -> np.ndarray:
        """0/1 tags for every node (``proba >= threshold``); class labels for a 1-D target."""
        check_is_fitted(self)
        if self._class_model:
            return self.estimators_[0].predict(validate_data(self, X, reset=False))
        return super().predict(X)


_PARAMS_DOC = """
    Parameters
    ----------
    estimator : classifier or None, default=None
        Binary classifier with ``predict_proba``, cloned for every model;
        ``None`` uses ``LogisticRegression(max_iter=1000)``.
    hierarchy : Hierarchy, dict, list or None, default=None
        The label tree. ``None`` infers it from path-string targets, or treats every
        column as a root label (flat multi-label tagging).
    threshold : float or array-like of shape (n_labels,), default=0.5
        ``predict`` tags a label where its probability is at least this.
    inconsistent : {"error", "propagate"}, default="error"
        A child labelled 1 under a parent labelled 0: raise, or set the parent.
    n_jobs : int or None, default=None
        Models fitted and evaluated in parallel with joblib (any backend).

    Attributes
    ----------
    hierarchy_ : Hierarchy
        The fitted tree (flat, over the class names, after a 1-D class target).
    classes_ : ndarray
        ``hierarchy_.labels``; ``0 .. n_labels - 1`` for an indicator without
        ``hierarchy`` and column names; the class labels after a 1-D class target.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Feature names, when ``X`` had string column names.
    estimators_ : list of estimators
        The fitted binary models, MODELS.
        A label whose known training rows held a single class has a constant
        stand-in.
"""


class PerLevelClassifier(_HierarchicalBaseline):
    __doc__ = (
        """One independent binary model per node of the tree (one-vs-rest).

    Every node, leaf or parent, gets its own classifier fitted on the rows where that
    label is known. Nothing ties a child to its parent, so a child may score above
    its parent (see :func:`sk_hier.metrics.violation_rate`).

    .. versionadded:: 0.1
"""
        + _PARAMS_DOC.replace("MODELS", "one per label in ``classes_`` order")
        + """
    See Also
    --------
    TopDownClassifier, BottomUpClassifier, sk_hier.HierarchicalTagger

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.baselines import PerLevelClassifier
    >>> X = np.array([[0.0], [0.1], [1.0], [1.1], [2.0], [2.1]])
    >>> y = [["violin"], ["violin"], ["cello"], ["cello"], ["trumpet"], ["trumpet"]]
    >>> h = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> clf = PerLevelClassifier(hierarchy=h).fit(X, y)
    >>> clf.classes_.tolist()
    ['strings', 'brass', 'violin', 'cello', 'trumpet']
    >>> clf.predict_proba(X).shape
    (6, 5)
    """
    )


class TopDownClassifier(_HierarchicalBaseline):
    __doc__ = (
        """Top-down cascade: each child is modelled given that its parent is present.

    Root labels get a model over all rows; the model of a child is trained only on
    the rows where its parent is present (and the child known), so it estimates
    ``p(child | parent)``. Probabilities multiply down the tree:
    ``p_child = p_parent · p(child | parent)``, hence a child never exceeds its
    parent.

    .. versionadded:: 0.1
"""
        + _PARAMS_DOC.replace("MODELS", "one per label in ``classes_`` order")
        + """
    See Also
    --------
    PerLevelClassifier, BottomUpClassifier

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.baselines import TopDownClassifier
    >>> X = np.array([[0.0], [0.1], [1.0], [1.1], [2.0], [2.1]])
    >>> y = [["violin"], ["violin"], ["cello"], ["cello"], ["trumpet"], ["trumpet"]]
    >>> h = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> clf = TopDownClassifier(hierarchy=h).fit(X, y)
    >>> P = clf.predict_proba(X)
    >>> bool(np.all(P[:, 2] <= P[:, 0]))  # violin never above strings
    True
    """
    )

    def _rows(self, Y: np.ndarray, hierarchy: Hierarchy, label: str) -> np.ndarray:
        rows = super()._rows(Y, hierarchy, label)
        parent = hierarchy.parent_of(label)
        if parent is not None:
            rows &= Y[:, hierarchy.index(parent)] == 1
        return rows

    def _constant_expected(self, hierarchy: Hierarchy, label: str) -> bool:
        # An only child is present wherever its parent is: p(child | parent) = 1.
        parent = hierarchy.parent_of(label)
        return parent is not None and len(hierarchy.children_of(parent)) == 1

    def _combine(self, Q: np.ndarray, hierarchy: Hierarchy) -> np.ndarray:
        P = Q.copy()
        # labels are ordered parents first, so each parent is final before its children.
        for j, label in enumerate(hierarchy.labels):
            parent = hierarchy.parent_of(label)
            if parent is not None:
                P[:, j] *= P[:, hierarchy.index(parent)]
        return P


class BottomUpClassifier(_HierarchicalBaseline):
    __doc__ = (
        """Leaf models only; every parent takes the maximum of its children.

    Each leaf gets a model fitted where it is known; the parents follow the max rule
    (``p_parent = max_children p_child``), so the tree is always consistent and
    parent-only annotations do not train anything.

    .. versionadded:: 0.1
"""
        + _PARAMS_DOC.replace("MODELS", "one per leaf in ``hierarchy_.leaves`` order")
        + """
    See Also
    --------
    PerLevelClassifier, TopDownClassifier

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.baselines import BottomUpClassifier
    >>> X = np.array([[0.0], [0.1], [1.0], [1.1], [2.0], [2.1]])
    >>> y = [["violin"], ["violin"], ["cello"], ["cello"], ["trumpet"], ["trumpet"]]
    >>> h = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> clf = BottomUpClassifier(hierarchy=h).fit(X, y)
    >>> P = clf.predict_proba(X)
    >>> bool(np.allclose(P[:, 0], P[:, 2:4].max(axis=1)))  # strings = max(violin, cello)
    True
    """
    )

    def _model_labels(self, hierarchy: Hierarchy) -> tuple:
        return hierarchy.leaves

    def _combine(self, Q: np.ndarray, hierarchy: Hierarchy) -> np.ndarray:
        return _leaf_max_rule(Q, hierarchy)
