"""An exact change of basis for linear heads on wide embeddings: ``RowSpaceProjection``.

An L2-regularised linear map of the input, ``W x``, fitted on ``n`` clips of ``d > n``
features has its optimum in the span of the training rows: the gradient of the data
loss is ``X^T G``, and any component of ``W`` outside that span only adds to the
penalty. So fitting on the coordinates ``Z = X Q`` (``Q``: an orthonormal basis of
the row span, ``d x n``) reaches the same optimum - ``||W||`` is ``||B||`` for
``W = B Q^T`` - with ``n`` columns instead of ``d``. This holds for every head whose
input enters through linear maps only (the registry's ``linear_on_input``), and for
nothing with a hidden layer trained by a stochastic solver, whose path depends on the
basis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["RowSpaceProjection"]


class RowSpaceProjection(TransformerMixin, BaseEstimator):
    """Coordinates in an orthonormal basis of the training rows' span (when there are
    fewer rows than features), else the identity.

    Put it before a tagger whose heads sit on the input (``hidden_dims=()``,
    ``solver="lbfgs"``): the fit reaches the same regularised optimum on ``n``
    columns instead of ``d``, so each L-BFGS iteration costs ``n / d`` as much.

    Parameters
    ----------
    active : bool, default=True
        ``False``: the identity (a pipeline step a grid can switch on).

    Attributes
    ----------
    components_ : ndarray of shape (n_features, n_components) or None
        The orthonormal basis (None where inactive, or with no fewer rows than
        features).
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.benchmarking import RowSpaceProjection
    >>> X = np.random.default_rng(0).standard_normal((5, 12))
    >>> proj = RowSpaceProjection().fit(X)
    >>> Z = proj.transform(X)
    >>> Z.shape, bool(np.allclose(Z @ Z.T, X @ X.T))  # distances and angles are kept
    ((5, 5), True)
    """

    def __init__(self, active: bool = True) -> None:
        self.active = active

    def fit(self, X: Any, y: Any = None) -> RowSpaceProjection:
        """Find the basis of ``X``'s rows (economic QR of ``X^T``)."""
        from scipy.linalg import qr

        X = validate_data(self, X, dtype=[np.float32, np.float64])
        self.components_ = None
        if self.active and X.shape[0] < X.shape[1]:
            self.components_ = qr(X.T, mode="economic", check_finite=False)[0]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """``X`` in the basis (``X @ components_``), or ``X`` itself."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        return X if self.components_ is None else X @ self.components_.astype(X.dtype)
