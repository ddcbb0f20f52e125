"""Output side shared by the tagger and the classical baselines."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .targets import encode_targets, is_class_target

__all__ = ["HierarchicalClassifierMixin", "settle_target_type", "thresholds_of"]


def thresholds_of(estimator: Any, n_labels: int) -> np.ndarray:
    """Per-label decision thresholds of a fitted tagger, in ``classes_`` order.

    An sk_hier estimator's own (its ``threshold`` parameter, per label), else a plain
    ``threshold`` attribute, else 0.5: what wrappers (calibrator, threshold tuning,
    the tag timeline) start from.
    """
    if hasattr(estimator, "_thresholds"):
        return np.asarray(estimator._thresholds(), dtype=float)
    return np.full(n_labels, float(getattr(estimator, "threshold", 0.5)))


def settle_target_type(y: Any, hierarchy: Any) -> str:
    """What kind of model ``y`` asks for, decided once in ``fit``.

    ``"multilabel"`` for every multi-label format (indicators, label sets, paths,
    DataFrames, one tree label per sample); otherwise scikit-learn's
    ``type_of_target`` of the class labels (``"binary"`` or ``"multiclass"``), for
    which the estimators behave as plain classifiers, as ``MLPClassifier`` does.
    """
    from sklearn.utils.multiclass import check_classification_targets, type_of_target

    if not is_class_target(y, hierarchy):
        return "multilabel"
    y = np.asarray(y)
    y = y[:, 0] if y.ndim == 2 else y
    check_classification_targets(y)
    return type_of_target(y)


class HierarchicalClassifierMixin:
    """``predict``, ``predict_labels``, ``score`` and tags for hierarchical taggers.

    The estimator provides ``predict_proba(X)`` of shape ``(n, n_labels)`` and the
    fitted ``hierarchy_`` and ``classes_``; a ``threshold`` parameter (float or one
    value per label, in ``classes_`` order) turns probabilities into tags.
    """

    @property
    def _class_model(self) -> bool:
        # Settled once in fit (``target_type_``); never re-guessed from the data.
        return self.target_type_ != "multilabel"

    def __setstate__(self, state: dict) -> None:
        # Models saved before target_type_ existed carry a private flag instead.
        if "_class_target" in state and "target_type_" not in state:
            flag = state.pop("_class_target")
            n_classes = len(state.get("classes_", ()))
            state["target_type_"] = (
                ("binary" if n_classes <= 2 else "multiclass") if flag else "multilabel"
            )
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags

    def _thresholds(self) -> np.ndarray:
        thr = np.asarray(self.threshold, dtype=float)
        n_labels = len(self.classes_)
        if thr.ndim == 0:
            thr = np.full(n_labels, float(thr))
        if thr.shape != (n_labels,):
            raise ValueError(
                f"threshold must be a float or one value per label ({n_labels}, in "
                f"classes_ order), got shape {thr.shape}."
            )
        if not np.all((thr >= 0) & (thr <= 1)):
            raise ValueError("threshold values must lie in [0, 1].")
        return thr

    def predict(self, X: Any) -> np.ndarray:
        """0/1 tags for every node, ``(n_samples, n_labels)`` in ``classes_`` order.

        For one-class-per-sample targets, the most probable class label.
        """
        check_is_fitted(self)
        if self._class_model:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        proba = self.predict_proba(X)
        return (proba >= self._thresholds()).astype(int)

    def predict_labels(self, X: Any) -> list:
        """Predicted label names per sample, as tuples in ``classes_`` order."""
        check_is_fitted(self)
        if self._class_model:
            return [(label,) for label in self.predict(X)]
        Y = self.predict(X)
        names = self.hierarchy_.labels
        return [tuple(names[j] for j in np.flatnonzero(row)) for row in Y]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean over tree levels of the macro average precision of each level.

        Labels without a known positive in ``y`` are skipped, and unknown (NaN)
        targets are excluded; ``sample_weight`` weighs samples as in scikit-learn's
        metrics. ``y`` may take any target format that ``fit`` accepts. For
        one-class-per-sample targets: the (weighted) accuracy.
        """
        from sklearn.base import ClassifierMixin

        from ._params import check_sample_weight
        from .metrics import mean_level_average_precision

        check_is_fitted(self)
        if self._class_model:
            return ClassifierMixin.score(self, X, y, sample_weight=sample_weight)
        Y_full, _ = encode_targets(y, self.hierarchy_, inconsistent="propagate")
        w = check_sample_weight(sample_weight, len(Y_full))
        proba = self.predict_proba(X)
        return float(mean_level_average_precision(Y_full, proba, self.hierarchy_, sample_weight=w))
