"""The L-BFGS solver: the objective it reaches, when it stops, what it refuses."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_hier import STRATEGIES, HierarchicalTagger
from sk_hier.persistence import load, save

from .conftest import EPS32, f32_tol
from .test_tagger import SUBSET_REASON

LINEAR_LBFGS = dict(hidden_dims=(), solver="lbfgs", random_state=0)


WEIGHT_REASON = (
    "L-BFGS in float32 stops once a step gains less than its tolerance, so the weighted "
    "and the repeated fits agree to the stopping rule, not bit for bit (the test "
    "below shows they are far closer to each other than to an unweighted fit)"
)
SATURATION_REASON = (
    "on the check's separable data the converged weights are large and some float32 "
    "probabilities round to exactly 1, tying where decision_function (log-odds) still "
    "orders the samples"
)
LBFGS_EXPECTED = {
    "check_sample_weight_equivalence_on_dense_data": WEIGHT_REASON,
    "check_classifier_multioutput": SATURATION_REASON,
}


@parametrize_with_checks(
    [
        HierarchicalTagger(**LINEAR_LBFGS),
        HierarchicalTagger(
            hidden_dims=(8,), dropout=0.0, solver="lbfgs", max_epochs=20, random_state=0
        ),
    ],
    expected_failed_checks=lambda est: {
        **LBFGS_EXPECTED,
        # A hidden layer: the same blocking effect as the default (Adam) tagger.
        **({"check_methods_subset_invariance": SUBSET_REASON} if est.hidden_dims else {}),
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_expected_failures_are_what_they_say(data, tree):
    X, Y, _ = data
    weights = np.random.default_rng(0).integers(0, 3, len(X))
    weighted = HierarchicalTagger(tree, **LINEAR_LBFGS).fit(X, Y, sample_weight=weights)
    rows = np.repeat(np.arange(len(X)), weights)
    repeated = HierarchicalTagger(tree, **LINEAR_LBFGS).fit(X[rows], Y[rows])
    unweighted = HierarchicalTagger(tree, **LINEAR_LBFGS).fit(X, Y)
    P = weighted.predict_proba(X)
    gap = np.abs(P - repeated.predict_proba(X)).max()
    ignored = np.abs(P - unweighted.predict_proba(X)).max()
    assert 0 < gap < ignored / 100  # the weights count; the small rest is the stop rule

    from scipy.stats import rankdata
    from sklearn.datasets import make_multilabel_classification

    X2, y2 = make_multilabel_classification(n_samples=42, n_classes=5, random_state=0)
    tagger = HierarchicalTagger(**LINEAR_LBFGS).fit(X2, y2)
    P, D = tagger.predict_proba(X2), tagger.decision_function(X2)
    differ = [j for j in range(5) if (rankdata(P[:, j]) != rankdata(D[:, j])).any()]
    assert differ and all((P[:, j] == 1).sum() >= 2 for j in differ)


def _objective(P: np.ndarray, Y: np.ndarray, squares: float, wd: float) -> float:
    """Mean leaf BCE + wd / 2 * ||W||^2, in float64."""
    P = np.clip(P.astype(np.float64), 1e-300, 1 - 1e-16)
    bce = -(Y * np.log(P) + (1 - Y) * np.log1p(-P))
    return float(bce.mean() + 0.5 * wd * squares)


def test_flat_linear_lbfgs_is_logistic_regression(data, tree):
    X, Y, _ = data
    leaves = [tree.labels.index(leaf) for leaf in tree.leaves]
    wd = 1e-2
    tagger = HierarchicalTagger(
        tree,
        strategy="flat",
        weight_decay=wd,
        early_stopping=False,
        max_epochs=30,
        **LINEAR_LBFGS,
    ).fit(X, Y)
    P = tagger.predict_proba(X)[:, leaves]
    W = sum(
        float((p.detach().double() ** 2).sum())
        for p in tagger.net_.module_.parameters()
        if p.ndim > 1
    )
    # The same objective, per leaf: C = 1 / (wd * n_samples * n_leaves).
    C = 1 / (wd * len(X) * len(leaves))
    models = [LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, Y[:, j]) for j in leaves]
    P_ref = np.column_stack([m.predict_proba(X)[:, 1] for m in models])
    W_ref = sum(float((m.coef_**2).sum()) for m in models)
    f, f_ref = _objective(P, Y[:, leaves], W, wd), _objective(P_ref, Y[:, leaves], W_ref, wd)
    # float64 optimum vs a float32 run: L-BFGS cannot tell apart objective values
    # closer than the rounding of a mean of n * L float32 terms.
    resolution = 64 * EPS32 * f
    assert f_ref - resolution <= f <= f_ref + resolution
    # Strong convexity (modulus >= wd in the weights) turns that gap into a bound on
    # the weights, and the logistic function is 1/4-Lipschitz in the logit.
    x_norm = np.sqrt((X.astype(np.float64) ** 2).sum(1).max() + 1)
    assert np.abs(P - P_ref).max() <= 0.25 * x_norm * np.sqrt(2 * 2 * resolution / wd)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_lbfgs_learns_for_every_strategy_and_is_deterministic(data, strategy):
    X, Y, tree = data
    a = HierarchicalTagger(tree, strategy=strategy, **LINEAR_LBFGS).fit(X[:300], Y[:300])
    assert a.score(X[300:], Y[300:]) > 0.8
    b = HierarchicalTagger(tree, strategy=strategy, **LINEAR_LBFGS).fit(X[:300], Y[:300])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_lbfgs_on_a_deep_tree_beats_adam_on_small_data(deep_tree):
    from sk_hier.datasets import make_hierarchical_multilabel

    X, Y, _ = make_hierarchical_multilabel(300, deep_tree, n_features=12, random_state=1)
    for strategy in STRATEGIES:
        params = dict(hidden_dims=(), strategy=strategy, random_state=0)
        lbfgs = HierarchicalTagger(deep_tree, solver="lbfgs", **params).fit(X[:200], Y[:200])
        adam = HierarchicalTagger(deep_tree, **params).fit(X[:200], Y[:200])
        # 200 samples: Adam stops early on a 20-sample hold-out, L-BFGS reaches the
        # regularised optimum on all 200 (3-7 points ahead on this tree).
        assert lbfgs.score(X[200:], Y[200:]) > adam.score(X[200:], Y[200:])


def test_lbfgs_stops_once_converged_and_trains_on_every_sample(data):
    X, Y, tree = data
    tagger = HierarchicalTagger(tree, max_epochs=200, **LINEAR_LBFGS).fit(X, Y)
    losses = tagger.history_[:, "train_loss"]
    assert len(losses) < 200  # stopped before the epoch budget
    # The last two steps gained less than the convergence threshold.
    from sk_hier._net import LBFGS_TOL

    assert losses[-1] >= min(losses[:-2]) * (1 - LBFGS_TOL)
    # No hold-out: every epoch saw all 400 samples, and there is no validation loss.
    assert tagger.history_[-1, "batches"][0]["train_batch_size"] == len(X)
    assert "valid_loss" not in tagger.history_[-1]
    # A given validation set is scored, not used to stop.
    fitted = HierarchicalTagger(tree, **LINEAR_LBFGS).fit(
        X[:300], Y[:300], X_val=X[300:], Y_val=Y[300:]
    )
    assert np.isfinite(fitted.history_[-1, "valid_loss"])


def test_lbfgs_penalty_shrinks_the_weights(data):
    X, Y, tree = data

    def norm(wd):
        t = HierarchicalTagger(tree, weight_decay=wd, **LINEAR_LBFGS).fit(X, Y)
        return sum(
            float((p.detach() ** 2).sum()) for p in t.net_.module_.parameters() if p.ndim > 1
        )

    assert norm(1e-1) < norm(1e-3) < norm(0.0)


@pytest.mark.parametrize(
    "params, named",
    [
        (dict(dropout=0.2, hidden_dims=(8,)), "dropout=0.2"),
        (dict(input_dropout=0.1), "input_dropout=0.1"),
        (dict(input_noise=0.5), "input_noise=0.5"),
    ],
)
def test_lbfgs_refuses_a_random_loss(data, params, named):
    X, Y, tree = data
    tagger = HierarchicalTagger(tree, **{**LINEAR_LBFGS, **params})
    with pytest.raises(ValueError, match=f"deterministic loss, but {named}"):
        tagger.fit(X, Y)


def test_dropout_without_hidden_layers_is_no_obstacle(data):
    X, Y, tree = data
    HierarchicalTagger(tree, dropout=0.4, **LINEAR_LBFGS).fit(X, Y)


def test_lbfgs_model_saves_and_loads_without_pickle(data, tmp_path):
    X, Y, tree = data
    tagger = HierarchicalTagger(tree, **LINEAR_LBFGS).fit(X, Y)
    path = save(tagger, tmp_path / "m.skops")
    again = load(path)
    np.testing.assert_allclose(again.predict_proba(X), tagger.predict_proba(X), **f32_tol())
    assert again.solver == "lbfgs"
