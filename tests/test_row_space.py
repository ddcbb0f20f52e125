"""RowSpaceProjection: an exact change of basis for linear heads on wide inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_hier.benchmarking import RowSpaceProjection


def _wide(n=40, d=150, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32)


@parametrize_with_checks([RowSpaceProjection()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_the_basis_is_orthonormal_and_spans_the_training_rows():
    X = _wide().astype(np.float64)
    Q = RowSpaceProjection().fit(X).components_
    assert Q.shape == (150, 40)
    np.testing.assert_allclose(Q.T @ Q, np.eye(40), atol=1e-12)
    # Each training row is its own projection: nothing of it is lost.
    np.testing.assert_allclose(X @ Q @ Q.T, X, atol=1e-10 * np.abs(X).max())


@pytest.mark.parametrize("shape, active", [((150, 40), True), ((40, 150), False)])
def test_identity_without_fewer_rows_than_features_or_when_switched_off(shape, active):
    X = np.random.default_rng(1).standard_normal(shape)
    proj = RowSpaceProjection(active=active).fit(X)
    assert proj.components_ is None
    assert np.array_equal(proj.transform(X), X)


def test_linear_heads_reach_the_same_optimum_on_the_projected_input():
    from sk_hier import HierarchicalTagger
    from sk_hier.datasets import make_hierarchical_multilabel

    X, Y, tree = make_hierarchical_multilabel(
        n_samples=100, n_features=160, hierarchy={"a": ["b", "c"], "d": ["e", "f"]},
        random_state=0,
    )  # fmt: skip
    X = X.astype(np.float32)
    train, test = slice(0, 60), slice(60, None)
    proj = RowSpaceProjection().fit(X[train])
    assert proj.components_.shape == (160, 60)

    def fitted(A):
        # Strongly convex (weight decay 0.1): one optimum, which L-BFGS reaches.
        return HierarchicalTagger(
            tree, strategy="flat", hidden_dims=(), solver="lbfgs", weight_decay=0.1,
            max_epochs=200, random_state=0,
        ).fit(A, Y[train])  # fmt: skip

    direct = fitted(X[train]).predict_proba(X[test])
    projected = fitted(proj.transform(X[train])).predict_proba(proj.transform(X[test]))
    # Two float32 solutions of one optimum, each stopped at L-BFGS's relative loss
    # tolerance (1e-4): probabilities agree to well within 1e-2, while a fit that
    # ignored the regulariser or lost part of the input moves them by ~1e-1.
    assert np.abs(direct - projected).max() < 1e-2
    lost = RowSpaceProjection().fit(X[train][:30])
    other = fitted(lost.transform(X[train])).predict_proba(lost.transform(X[test]))
    assert np.abs(direct - other).max() > 5e-2
