"""Soft voting over hierarchical taggers: the weighted mean of their probabilities.

Taggers of different shapes err differently: a linear trunk trained to its
regularised optimum is hard to beat on the sounds it was trained on, an MLP trunk
travels better to sounds it never heard. Averaging their probabilities keeps most
of both (see the benchmark's *linear probe* section). A weighted mean of
probabilities that each obey the max rule (no child above its parent) obeys it too,
so the vote is as consistent as its members.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ._base import HierarchicalClassifierMixin

__all__ = ["VotingTagger"]


class VotingTagger(HierarchicalClassifierMixin, ClassifierMixin, BaseEstimator):
    """Average the label probabilities of several hierarchical taggers.

    Each member is cloned and fitted on the same data; ``predict_proba`` is the
    weighted mean of the members' probabilities, and ``predict`` thresholds it.
    Members are any sk_hier estimators over the same label tree (taggers of any
    strategy, shape or solver, classical baselines). Their parameters are reached
    as ``<name>__<parameter>``, as in scikit-learn's ``VotingClassifier``, so a grid
    search tunes them together.

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        The members, each with a unique name (no ``__`` in it). They are cloned.
    weights : array-like of shape (n_estimators,), default=None
        Non-negative weight of each member's probabilities (normalised to sum 1);
        ``None`` weighs them equally.
    threshold : float or array-like of shape (n_labels,), default=0.5
        Probability at or above which a label is predicted, in ``classes_`` order.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members, in the order of ``estimators``.
    named_estimators_ : dict
        The fitted members by name.
    classes_ : ndarray
        Label names (or class labels), shared by every member.
    hierarchy_ : Hierarchy
        The label tree of the first member.
    target_type_ : str
        ``"multilabel"``, or the class-target kind the members settled on.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    HierarchicalTagger : ``n_ensemble`` averages networks of one shape over seeds.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier import HierarchicalTagger, VotingTagger
    >>> rng = np.random.default_rng(0)
    >>> tree = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> X = rng.normal(size=(60, 8)).astype("float32")
    >>> Y = (X[:, :3] > 0).astype(int)
    >>> vote = VotingTagger(
    ...     [
    ...         ("linear", HierarchicalTagger(tree, hidden_dims=(), solver="lbfgs")),
    ...         ("mlp", HierarchicalTagger(tree, hidden_dims=(16,), max_epochs=5)),
    ...     ]
    ... )
    >>> vote.set_params(mlp__random_state=0, linear__weight_decay=1e-3).fit(X, Y)
    VotingTagger(...)
    >>> vote.predict_proba(X[:2]).shape, list(vote.named_estimators_)
    ((2, 5), ['linear', 'mlp'])
    """

    def __init__(self, estimators, weights=None, threshold=0.5):
        self.estimators = estimators
        self.weights = weights
        self.threshold = threshold

    # -- parameters: members are reached as <name>__<parameter> ------------------------
    def get_params(self, deep: bool = True) -> dict:
        """Parameters of this estimator and, with ``deep``, of every member by name."""
        out = super().get_params(deep=False)
        if not deep or not _is_member_list(self.estimators):
            return out
        for name, est in self.estimators:
            out[name] = est
            if hasattr(est, "get_params"):
                out.update({f"{name}__{k}": v for k, v in est.get_params(deep=True).items()})
        return out

    def set_params(self, **params: Any) -> VotingTagger:
        """Set parameters: ``estimators``, a member by its name, or ``<name>__<param>``."""
        if "estimators" in params:
            self.estimators = params.pop("estimators")
        if _is_member_list(self.estimators):
            names = [name for name, _ in self.estimators]
            swaps = {k: params.pop(k) for k in list(params) if k in names}
            if swaps:
                self.estimators = [(n, swaps.get(n, est)) for n, est in self.estimators]
        super().set_params(**params)
        return self

    # -- fitting ----------------------------------------------------------------------
    def _checked_weights(self) -> np.ndarray:
        n = len(self.estimators)
        if self.weights is None:
            return np.full(n, 1.0 / n)
        w = np.asarray(self.weights, dtype=float)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"weights must be {n} non-negative numbers (one per estimator) with a "
                f"positive sum, got {self.weights!r}."
            )
        return w / w.sum()

    def _check_members(self) -> None:
        """Refuse a malformed member list before any member trains."""
        if not _is_member_list(self.estimators) or not self.estimators:
            raise ValueError(
                "estimators must be a non-empty list of (name, estimator) tuples, got "
                f"{self.estimators!r}."
            )
        names = [name for name, _ in self.estimators]
        bad = [n for n in names if not isinstance(n, str) or "__" in n or not n]
        if bad or len(set(names)) != len(names):
            raise ValueError(
                f"Estimator names must be unique non-empty strings without '__', got {names}."
            )
        params = set(self.get_params(deep=False))
        clash = sorted(set(names) & params)
        if clash:
            raise ValueError(f"Estimator names {clash} clash with VotingTagger's parameters.")
        for name, est in self.estimators:
            if not (hasattr(est, "fit") and hasattr(est, "predict_proba")):
                raise TypeError(
                    f"Estimator {name!r} ({type(est).__name__}) needs fit and predict_proba."
                )

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> VotingTagger:
        """Fit a clone of every member on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.
        y : targets
            Any target format the members accept.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to every member's ``fit`` when given.

        Returns
        -------
        self : VotingTagger
        """
        self._check_members()
        self._checked_weights()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        fitted = [clone(est).fit(X, y, **kwargs) for _, est in self.estimators]
        first = fitted[0]
        for (name, _), est in zip(self.estimators[1:], fitted[1:]):
            if not np.array_equal(np.asarray(est.classes_), np.asarray(first.classes_)):
                raise ValueError(
                    f"Estimator {name!r} predicts other labels than "
                    f"{self.estimators[0][0]!r}; every member needs the same label tree."
                )
        self.estimators_ = fitted
        self.classes_ = first.classes_
        self.hierarchy_ = getattr(first, "hierarchy_", None)
        self.target_type_ = getattr(first, "target_type_", "multilabel")
        self.n_features_in_ = first.n_features_in_
        if hasattr(first, "feature_names_in_"):
            self.feature_names_in_ = first.feature_names_in_
        return self

    @property
    def named_estimators_(self) -> dict:
        """The fitted members by name."""
        check_is_fitted(self)
        return {name: est for (name, _), est in zip(self.estimators, self.estimators_)}

    def predict_proba(self, X: Any) -> np.ndarray:
        """Weighted mean of the members' probabilities, ``(n_samples, n_labels)``.

        For one-class-per-sample targets, class probabilities that sum to 1.
        """
        check_is_fitted(self)
        weights = self._checked_weights()
        probas = [est.predict_proba(X) for est in self.estimators_]
        return np.tensordot(weights, np.stack(probas), axes=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        members = [est for _, est in self.estimators] if _is_member_list(self.estimators) else []
        # Deterministic when every member is (a seeded tagger, a logistic regression).
        tags.non_deterministic = any(est.__sklearn_tags__().non_deterministic for est in members)
        return tags


def _is_member_list(estimators: Any) -> bool:
    try:
        return all(isinstance(item, tuple) and len(item) == 2 for item in estimators)
    except TypeError:
        return False
