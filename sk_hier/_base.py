"""Output side shared by the tagger and the classical baselines."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .targets import encode_targets

__all__ = ["HierarchicalClassifierMixin"]


class HierarchicalClassifierMixin:
    """``predict``, ``predict_labels``, ``score`` and tags for hierarchical taggers.

    The estimator provides ``predict_proba(X)`` of shape ``(n, n_labels)`` and the
    fitted ``hierarchy_`` and ``classes_``; a ``threshold`` parameter (float or one
    value per label, in ``classes_`` order) turns probabilities into tags.
    """

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
        """0/1 tags for every node, ``(n_samples, n_labels)`` in ``classes_`` order."""
        proba = self.predict_proba(X)
        return (proba >= self._thresholds()).astype(int)

    def predict_labels(self, X: Any) -> list:
        """Predicted label names per sample, as tuples in ``classes_`` order."""
        check_is_fitted(self)
        Y = self.predict(X)
        names = self.hierarchy_.labels
        return [tuple(names[j] for j in np.flatnonzero(row)) for row in Y]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean over tree levels of the macro average precision of each level.

        Labels without a known positive in ``y`` are skipped, and unknown (NaN)
        targets are excluded. ``y`` may take any target format that ``fit`` accepts.
        """
        from .metrics import mean_level_average_precision

        check_is_fitted(self)
        Y_full, _ = encode_targets(y, self.hierarchy_, inconsistent="propagate")
        return float(mean_level_average_precision(Y_full, self.predict_proba(X), self.hierarchy_))
