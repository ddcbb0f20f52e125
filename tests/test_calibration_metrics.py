"""ECE, adaptive ECE and Brier score per level, checked against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import GridSearchCV

from sk_hier import BottomUpClassifier
from sk_hier.calibration import (
    level_brier,
    level_calibration_curve,
    level_ece,
    make_calibration_scorer,
    neg_level_brier_scorer,
    neg_level_ece_scorer,
)

from .conftest import f32_tol

H = {"strings": ["violin", "cello"]}  # labels: strings, violin, cello


def _one(p, y):
    """One label as (n, 1) arrays."""
    return np.asarray(y, dtype=float)[:, None], np.asarray(p, dtype=float)[:, None]


def test_uniform_ece_by_hand():
    Y, S = _one([0.05, 0.15, 0.55, 0.65, 0.95], [0, 1, 1, 0, 1])
    # 2 bins: [0, .5) holds .05 (y 0), .15 (y 1): Σ(y - p) = .8;
    #         [.5, 1] holds .55, .65, .95 (y 1, 0, 1): Σ(y - p) = -.15.  (.8 + .15) / 5
    assert level_ece(Y, S, n_bins=2) == pytest.approx(0.19, abs=1e-12)
    # 15 bins: every score alone in its bin, so ECE = mean |y - p| = 2.05 / 5.
    assert level_ece(Y, S) == pytest.approx(0.41, abs=1e-12)
    # One bin: |Σ(y - p)| / n = |3 - 2.35| / 5.
    assert level_ece(Y, S, n_bins=1) == pytest.approx(0.13, abs=1e-12)


def test_adaptive_ece_by_hand():
    Y, S = _one([0.1, 0.2, 0.3, 0.9], [1, 0, 1, 0])
    # Uniform, 2 bins: {.1, .2, .3}: .9 - .2 + .7 = 1.4; {.9}: -.9.  (1.4 + .9) / 4
    assert level_ece(Y, S, n_bins=2) == pytest.approx(0.575, abs=1e-12)
    # Equal mass, 2 bins: {.1, .2}: .9 - .2 = .7; {.3, .9}: .7 - .9 = -.2.  (.7 + .2) / 4
    assert level_ece(Y, S, n_bins=2, strategy="quantile") == pytest.approx(0.225, abs=1e-12)


def test_adaptive_ece_keeps_equal_scores_in_one_bin():
    Y, S = _one([0.2, 0.2, 0.2, 0.8], [1, 0, 1, 0])
    # The three .2 go to one bin (1.4), .8 to the other (-.8): 2.2 / 4. Splitting the
    # ties by position would give .15 instead.
    assert level_ece(Y, S, n_bins=2, strategy="quantile") == pytest.approx(0.55, abs=1e-12)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_integer_weights_equal_repeated_rows(strategy):
    rng = np.random.default_rng(0)
    p, y = rng.random(50), (rng.random(50) < 0.3).astype(float)
    w = rng.integers(0, 4, size=50)
    rep = np.repeat(np.arange(50), w)
    Y, S = _one(p, y)
    weighted = level_ece(Y, S, n_bins=5, strategy=strategy, sample_weight=w)
    repeated = level_ece(Y[rep], S[rep], n_bins=5, strategy=strategy)
    assert weighted == pytest.approx(repeated, abs=1e-12)
    assert level_brier(Y, S, sample_weight=w) == pytest.approx(level_brier(Y[rep], S[rep]))


def test_brier_by_hand_and_against_sklearn():
    Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, np.nan]])
    S = np.array([[0.9, 0.8, 0.1], [0.6, 0.3, 0.7], [0.2, 0.1, 0.2], [0.7, 0.6, 0.9]])
    # strings: (.01 + .16 + .04 + .09) / 4 = .075
    # violin:  (.04 + .09 + .01 + .16) / 4 = .075
    # cello (row 4 unknown): (.01 + .09 + .04) / 3 = .14 / 3
    per_label = level_brier(Y, S, H, average=None)
    np.testing.assert_allclose(per_label, [0.075, 0.075, 0.14 / 3], rtol=1e-12)
    assert level_brier(Y, S, H, level="leaf") == pytest.approx((0.075 + 0.14 / 3) / 2)
    assert level_brier(Y, S, H, level="leaf", average="micro") == pytest.approx(0.44 / 7)
    known = ~np.isnan(Y[:, 2])
    assert per_label[2] == pytest.approx(brier_score_loss(Y[known, 2], S[known, 2]))


def test_level_ece_by_hand_with_unknown_targets_left_out():
    Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, np.nan]])
    S = np.array([[0.9, 0.8, 0.1], [0.6, 0.3, 0.7], [0.2, 0.1, 0.2], [0.7, 0.6, 0.9]])
    # 2 bins. violin: [0,.5): .3 (0), .1 (0) -> -.4; [.5,1]: .8 (1), .6 (1) -> .6; 1/4.
    # cello (row 4 unknown, its .9 never counts): [0,.5): .1, .2 (0, 0) -> -.3;
    #       [.5,1]: .7 (1) -> .3; .6/3.
    per_label = level_ece(Y, S, H, n_bins=2, average=None)
    np.testing.assert_allclose(per_label[1:], [0.25, 0.2], rtol=1e-12)
    assert level_ece(Y, S, H, level="leaf", n_bins=2) == pytest.approx(0.225)
    assert level_ece(Y, S, H, level=0, n_bins=2) == pytest.approx(per_label[0])
    # Micro pools the 7 known leaf entries: [0,.5): .3 .1 .1 .2 (all 0) -> -.7;
    # [.5,1]: .8 .6 .7 (all 1) -> .9; (.7 + .9) / 7.
    assert level_ece(Y, S, H, level="leaf", n_bins=2, average="micro") == pytest.approx(1.6 / 7)


def test_zero_weight_removes_a_sample():
    Y = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 1]])
    S = np.array([[0.9, 0.6, 0.2], [0.4, 0.3, 0.1], [0.5, 0.5, 0.5]])
    w = np.array([1.0, 1.0, 0.0])
    expected = level_ece(Y[:2], S[:2], H, average=None)
    np.testing.assert_array_equal(level_ece(Y, S, H, average=None, sample_weight=w), expected)


def test_float32_scores_give_the_float64_figures():
    rng = np.random.default_rng(0)
    Y = (rng.random((200, 3)) < 0.4).astype(float)
    S = rng.random((200, 3))
    # Away from bin edges, so that float32 rounding cannot move a score across one.
    S = np.clip(np.round(S * 15) / 15 + 1 / 30, 0, 1 - 1 / 30)
    S32 = S.astype(np.float32)
    for fn in (level_ece, level_brier):
        np.testing.assert_allclose(
            fn(Y, S32, H, average=None), fn(Y, S, H, average=None), **f32_tol()
        )


def test_calibration_curve_matches_sklearn_for_one_label():
    rng = np.random.default_rng(0)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(float)
    Y, S = _one(p, y)
    prob_true, prob_pred, weight = level_calibration_curve(Y, S, n_bins=10)
    ref_true, ref_pred = calibration_curve(y, p, n_bins=10)
    np.testing.assert_allclose(prob_true, ref_true, rtol=1e-12)
    np.testing.assert_allclose(prob_pred, ref_pred, rtol=1e-12)
    assert weight.sum() == 300
    # ECE is the weighted gap of that curve.
    ece = np.sum(weight * np.abs(prob_true - prob_pred)) / weight.sum()
    assert level_ece(Y, S, n_bins=10) == pytest.approx(ece, abs=1e-12)


def test_a_level_without_known_targets_is_undefined():
    Y = np.array([[1, np.nan, np.nan], [0, np.nan, np.nan]])
    S = np.full((2, 3), 0.5)
    with pytest.warns(UndefinedMetricWarning, match="no label has a known target"):
        assert np.isnan(level_ece(Y, S, H, level="leaf"))
    with pytest.warns(UndefinedMetricWarning, match="no known target"):
        assert np.isnan(level_brier(Y, S, H, level="leaf", average="micro"))
    assert level_brier(Y, S, H, level="parent") == 0.25  # no positive needed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_bins=0), "n_bins must be a positive integer"),
        (dict(strategy="equal"), "strategy must be 'uniform' or 'quantile'"),
        (dict(average="weighted"), "average must be 'macro', 'micro' or None"),
        (dict(level="middle"), "level must be 'leaf', 'parent', 'all'"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs, match):
    Y, S = np.array([[1, 1, 0]]), np.array([[0.9, 0.8, 0.1]])
    with pytest.raises(ValueError, match=match):
        level_ece(Y, S, H, **kwargs)


def test_scores_must_be_probabilities():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*decision_function"):
        level_brier(np.array([[1, 0, 1]]), np.array([[2.5, -1.0, 0.3]]), H)


# -- scorers -----------------------------------------------------------------------------
@pytest.fixture
def fitted(data):
    X, Y, tree = data
    model = BottomUpClassifier(LogisticRegression(max_iter=1000), hierarchy=tree).fit(X, Y)
    return model, X, Y, tree


def test_scorers_are_negated_level_means(fitted):
    model, X, Y, tree = fitted
    P = model.predict_proba(X)
    ece = np.mean([level_ece(Y, P, tree, level=d) for d in range(tree.n_levels)])
    assert neg_level_ece_scorer(model, X, Y) == pytest.approx(-ece)
    assert neg_level_brier_scorer(model, X, Y) == pytest.approx(
        -level_brier(Y, P, tree, level=0) / 2 - level_brier(Y, P, tree, level=1) / 2
    )
    adaptive = make_calibration_scorer("adaptive_ece", level="leaf", n_bins=10)
    expected = level_ece(Y, P, tree, level="leaf", n_bins=10, strategy="quantile")
    assert adaptive(model, X, Y) == pytest.approx(-expected)
    w = np.r_[np.ones(200), np.zeros(len(X) - 200)]
    assert neg_level_ece_scorer(model, X, Y, sample_weight=w) == pytest.approx(
        neg_level_ece_scorer(model, X[:200], Y[:200])
    )


def test_scorers_select_models_in_a_grid_search(data):
    X, Y, tree = data
    search = GridSearchCV(
        BottomUpClassifier(LogisticRegression(max_iter=1000), hierarchy=tree),
        {"estimator__C": [1e-4, 1.0]},
        cv=2,
        scoring={"ece": neg_level_ece_scorer, "brier": neg_level_brier_scorer},
        refit="brier",
    ).fit(X, Y)
    # C=1e-4 squashes every probability to the prior: much worse Brier score.
    assert search.best_params_ == {"estimator__C": 1.0}
    assert (search.cv_results_["mean_test_ece"] <= 0).all()


def test_scorer_repr_and_bad_arguments():
    assert repr(neg_level_ece_scorer) == "make_calibration_scorer(metric='ece', level='mean')"
    assert "n_bins=10" in repr(make_calibration_scorer("ece", level=1, n_bins=10))
    with pytest.raises(ValueError, match="Unknown metric 'nll'"):
        make_calibration_scorer("nll")
    with pytest.raises(ValueError, match="level must be 'mean'"):
        make_calibration_scorer("ece", level="root")
