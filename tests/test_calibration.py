"""HierarchicalCalibrator: per-node calibration maps, then parents lifted to their children."""

from __future__ import annotations

import pickle
from typing import ClassVar

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.exceptions import NotFittedError, UnsetMetadataPassedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_classifiers_multilabel_output_format_predict_proba,
    parametrize_with_checks,
)

from sk_hier import BottomUpClassifier, HierarchicalTagger, Hierarchy, PerLevelClassifier
from sk_hier._calibration_maps import IdentityMap, IsotonicMap, PlattMap, TemperatureMap
from sk_hier.calibration import HierarchicalCalibrator, level_ece, neg_level_ece_scorer
from sk_hier.datasets import make_hierarchical_multilabel
from sk_hier.metrics import violation_rate
from sk_hier.thresholds import TunedThresholds

from .conftest import EPS32, TREE, f32_tol

SMALL_TAGGER = dict(hidden_dims=(16,), max_epochs=15, random_state=0)

# Expected failures of scikit-learn's common checks, each with its reason (asserted
# in test_isotonic_reaches_exact_zero_by_design).
EXPECTED_FAILED = {
    "isotonic": {
        "check_classifiers_multilabel_output_format_predict_proba": (
            "an isotonic map is a step function: where every calibration sample of the "
            "lowest step is negative it predicts exactly 0, and the check asks for "
            "probabilities strictly above 0"
        )
    },
}


def _lr(**kw):
    return LogisticRegression(max_iter=1000, **kw)


def _expected_failed(est):
    return EXPECTED_FAILED.get(est.method, {})


@parametrize_with_checks(
    [
        HierarchicalCalibrator(BottomUpClassifier(_lr()), cv=2),
        HierarchicalCalibrator(BottomUpClassifier(_lr()), method="isotonic", cv=2),
        HierarchicalCalibrator(BottomUpClassifier(_lr()), pooling="level", cv=2),
    ],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_isotonic_reaches_exact_zero_by_design():
    # The reason listed for the isotonic expected failure, shown on the check itself.
    est = HierarchicalCalibrator(BottomUpClassifier(_lr()), method="isotonic", cv=2)
    with pytest.raises(AssertionError, match="between 0 and 1"):
        check_classifiers_multilabel_output_format_predict_proba("cal", est)
    X, Y, _ = make_hierarchical_multilabel(120, TREE, n_features=8, random_state=0)
    P = clone(est).fit(X, Y).predict_proba(X)
    assert P.min() == 0.0 and P.max() <= 1.0
    # The parametric maps never reach 0, so the same check passes for them.
    check_classifiers_multilabel_output_format_predict_proba(
        "cal", est.set_params(method="sigmoid")
    )


# -- a "model" whose probabilities are its input: the maps can be tested exactly -------
class _Given(ClassifierMixin, BaseEstimator):
    """Prefit stand-in: ``predict_proba(X)`` is ``X`` (columns = labels of the tree)."""

    def __init__(self, hierarchy=None):
        self.hierarchy = hierarchy

    def fit(self, X, y=None):
        self.hierarchy_ = Hierarchy(self.hierarchy)
        self.classes_ = np.asarray(self.hierarchy_.labels, dtype=object)
        self.target_type_ = "multilabel"
        self.n_features_in_ = len(self.classes_)
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=float)


def _given(tree):
    return _Given(tree).fit(None)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_temperature_and_platt_recover_the_true_map():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, size=20_000)
    p = _sigmoid(z)
    y_temp = (rng.random(z.size) < _sigmoid(z / 2.0)).astype(float)  # true T = 2
    y_platt = (rng.random(z.size) < _sigmoid(0.5 * z - 1.0)).astype(float)
    w = np.ones(z.size)
    assert TemperatureMap().fit(p, y_temp, w).temperature_ == pytest.approx(2.0, rel=0.05)
    platt = PlattMap().fit(p, y_platt, w)
    assert platt.a_ == pytest.approx(0.5, abs=0.03) and platt.b_ == pytest.approx(-1.0, abs=0.06)
    iso = IsotonicMap().fit(p, y_temp, w)
    q = iso.predict(np.linspace(0, 1, 101))
    assert np.all(np.diff(q) >= 0) and q.min() >= 0 and q.max() <= 1


def test_maps_are_weighted_like_repeated_rows():
    rng = np.random.default_rng(1)
    p, y = rng.random(40), (rng.random(40) < 0.4).astype(float)
    w = rng.integers(1, 4, size=40).astype(float)
    rep = np.repeat(np.arange(40), w.astype(int))
    ones = np.ones(len(rep))
    t1, t2 = TemperatureMap().fit(p, y, w), TemperatureMap().fit(p[rep], y[rep], ones)
    assert t1.temperature_ == pytest.approx(t2.temperature_, rel=1e-5)
    a, b = PlattMap().fit(p, y, w), PlattMap().fit(p[rep], y[rep], ones)
    assert (a.a_, a.b_) == pytest.approx((b.a_, b.b_), rel=1e-4, abs=1e-5)
    grid = np.linspace(0, 1, 51)
    i1, i2 = IsotonicMap().fit(p, y, w), IsotonicMap().fit(p[rep], y[rep], ones)
    np.testing.assert_allclose(i1.predict(grid), i2.predict(grid), atol=1e-12)


def _violating_scores(tree, n=200, seed=0):
    """Targets by the max rule and noisy scores whose children often beat parents."""
    rng = np.random.default_rng(seed)
    _, Y, _ = make_hierarchical_multilabel(n, tree, n_features=4, random_state=seed)
    S = np.clip(0.25 + 0.5 * Y + rng.normal(0, 0.2, Y.shape), 0.01, 0.99)
    return S, Y.astype(float)


def test_reconciliation_lifts_parents_and_never_lowers_them(tree):
    S, Y = _violating_scores(tree)
    assert violation_rate(S, tree) > 0.1  # the raw scores break the max rule often
    plain = HierarchicalCalibrator(_given(tree), cv="prefit", reconcile=None).fit(S, Y)
    lifted = HierarchicalCalibrator(_given(tree), cv="prefit").fit(S, Y)
    raw, out = plain.predict_proba(S), lifted.predict_proba(S)
    assert violation_rate(raw, tree) > 0.05  # calibration alone does not fix it
    assert violation_rate(out, tree, tol=0.0) == 0.0
    parents = [tree.index(p) for p in tree.inner]
    for p in tree.inner:
        kids = [tree.index(c) for c in tree.children_of(p)]
        expected = np.maximum(raw[:, tree.index(p)], raw[:, kids].max(axis=1))
        np.testing.assert_array_equal(out[:, tree.index(p)], expected)
    leaves = [tree.index(n) for n in tree.leaves]
    np.testing.assert_array_equal(out[:, leaves], raw[:, leaves])
    assert (out[:, parents] >= raw[:, parents]).all()


def test_deeper_trees_are_lifted_level_by_level(deep_tree):
    S, Y = _violating_scores(deep_tree)
    out = HierarchicalCalibrator(_given(deep_tree), cv="prefit").fit(S, Y).predict_proba(S)
    assert violation_rate(out, deep_tree, tol=0.0) == 0.0


def test_parent_only_clip_keeps_its_high_parent_at_predict_time(tree):
    S, Y = _violating_scores(tree)
    cal = HierarchicalCalibrator(_given(tree), cv="prefit").fit(S, Y)
    plain = HierarchicalCalibrator(_given(tree), cv="prefit", reconcile=None).fit(S, Y)
    clip = np.full((1, len(tree.labels)), 0.05)
    clip[0, tree.index("strings")] = 0.95  # family clear, instrument not
    out, raw = cal.predict_proba(clip), plain.predict_proba(clip)
    strings = tree.index("strings")
    kids = [tree.index(c) for c in tree.children_of("strings")]
    assert out[0, strings] == raw[0, strings]  # not lowered towards its children
    np.testing.assert_array_equal(out[0, kids], raw[0, kids])
    assert out[0, strings] > 0.5 > out[0, kids].max()


def test_parent_only_rows_train_the_parent_map_and_no_child_map(tree):
    S, Y = _violating_scores(tree, n=300)
    strings = tree.index("strings")
    kids = [tree.index(c) for c in tree.children_of("strings")]
    extra_S, _ = _violating_scores(tree, n=60, seed=1)
    extra_Y = np.full((60, len(tree.labels)), np.nan)
    extra_Y[:, strings] = 1.0  # annotated at the family only: children unknown
    base = HierarchicalCalibrator(_given(tree), cv="prefit").fit(S, Y)
    more = HierarchicalCalibrator(_given(tree), cv="prefit")
    more.fit(np.vstack([S, extra_S]), np.vstack([Y, extra_Y]))
    for j in kids:  # the children never saw the parent-only rows (not as negatives)
        assert (more.calibrators_[j].a_, more.calibrators_[j].b_) == (
            base.calibrators_[j].a_,
            base.calibrators_[j].b_,
        )
    assert more.calibrators_[strings].b_ != base.calibrators_[strings].b_


def test_unknown_targets_are_left_out_per_label(tree):
    S, Y = _violating_scores(tree, n=300)
    violin, strings = tree.index("violin"), tree.index("strings")
    # Unknown where the family is present (elsewhere "no strings" implies "no violin").
    rng = np.random.default_rng(0)
    hidden = (rng.random(len(Y)) < 0.5) & (Y[:, strings] == 1)
    Y_nan = Y.copy()
    Y_nan[hidden, violin] = np.nan
    cal = HierarchicalCalibrator(_given(tree), cv="prefit").fit(S, Y_nan)
    alone = PlattMap().fit(S[~hidden, violin], Y[~hidden, violin], np.ones((~hidden).sum()))
    assert (cal.calibrators_[violin].a_, cal.calibrators_[violin].b_) == (alone.a_, alone.b_)
    full = PlattMap().fit(S[:, violin], Y[:, violin], np.ones(len(Y)))
    assert (full.a_, full.b_) != (alone.a_, alone.b_)


def test_a_label_with_one_known_class_keeps_its_probabilities(tree):
    S, Y = _violating_scores(tree)
    piano = tree.index("piano")
    Y[:, piano] = 0.0
    with pytest.warns(UserWarning, match="1 of 8 labels.*'piano'"):
        cal = HierarchicalCalibrator(_given(tree), cv="prefit", reconcile=None).fit(S, Y)
    assert not cal.calibrated_[piano] and cal.calibrated_.sum() == 7
    assert isinstance(cal.calibrators_[piano], IdentityMap)
    np.testing.assert_array_equal(cal.predict_proba(S)[:, piano], S[:, piano])


# -- the real use: a few dozen labelled clips of a new recording source ---------------
def _shifted_source(seed=0):
    X, Y, tree = make_hierarchical_multilabel(
        1500, TREE, n_features=16, noise=1.0, random_state=seed
    )
    rng = np.random.default_rng(seed)
    # Another microphone / synthesiser: louder and offset features.
    X_new = (X[400:] * 2.0 + rng.normal(0, 0.5, X.shape[1])).astype(np.float32)
    return X[:400], Y[:400], X_new, Y[400:], tree


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_prefit_recalibration_on_fifty_clips_of_a_new_source_lowers_ece(method):
    X, Y, X_new, Y_new, tree = _shifted_source()
    tagger = HierarchicalTagger(tree, **SMALL_TAGGER).fit(X, Y)
    calib, test = slice(0, 50), slice(50, None)
    cal = HierarchicalCalibrator(tagger, method=method, cv="prefit").fit(
        X_new[calib], Y_new[calib]
    )
    assert cal.estimator_ is tagger  # prefit: used as is, not refitted
    P_before, P_after = tagger.predict_proba(X_new[test]), cal.predict_proba(X_new[test])
    for level in ("all", 0, 1):
        before = level_ece(Y_new[test], P_before, tree, level=level)
        after = level_ece(Y_new[test], P_after, tree, level=level)
        assert after < 0.8 * before, (level, before, after)


def test_prefit_recalibration_helps_a_baseline_on_the_new_source():
    X, Y, X_new, Y_new, tree = _shifted_source()
    model = PerLevelClassifier(_lr(), hierarchy=tree).fit(X, Y)
    cal = HierarchicalCalibrator(model, cv="prefit").fit(X_new[:50], Y_new[:50])
    before = level_ece(Y_new[50:], model.predict_proba(X_new[50:]), tree)
    after = level_ece(Y_new[50:], cal.predict_proba(X_new[50:]), tree)
    assert after < 0.8 * before, (before, after)


def test_prefit_needs_a_fitted_estimator_and_no_fit_params(data):
    X, Y, tree = data
    with pytest.raises(NotFittedError, match="cv='prefit' needs an estimator that is already"):
        HierarchicalCalibrator(BottomUpClassifier(_lr(), hierarchy=tree), cv="prefit").fit(X, Y)
    fitted = BottomUpClassifier(_lr(), hierarchy=tree).fit(X, Y)
    with pytest.raises(ValueError, match=r"fit parameters \['X_val'\] cannot be used"):
        HierarchicalCalibrator(fitted, cv="prefit").fit(X, Y, X_val=X)


def test_frozen_estimator_is_prefit_and_survives_clone_in_a_search(data):
    X, Y, tree = data
    fitted = BottomUpClassifier(_lr(), hierarchy=tree).fit(X[:200], Y[:200])
    search = GridSearchCV(
        HierarchicalCalibrator(FrozenEstimator(fitted)),
        {"method": ["sigmoid", "temperature"]},
        cv=2,
        scoring=neg_level_ece_scorer,
    ).fit(X[200:], Y[200:])
    assert search.best_params_["method"] in ("sigmoid", "temperature")
    assert search.best_estimator_.estimator_.estimator is fitted
    assert search.best_score_ <= 0  # a negated error


# -- cross-validated fit ----------------------------------------------------------------
def test_cross_validated_fit_refits_and_keeps_the_given_estimator(data):
    X, Y, tree = data
    inner = PerLevelClassifier(_lr(), hierarchy=tree)
    cal = HierarchicalCalibrator(inner, cv=3).fit(X, Y)
    assert cal.estimator is inner and not hasattr(inner, "estimators_")
    assert cal.hierarchy_ == tree and list(cal.classes_) == list(tree.labels)
    assert cal.n_features_in_ == X.shape[1] and cal.target_type_ == "multilabel"
    P = cal.predict_proba(X)
    assert P.shape == Y.shape and ((P >= 0) & (P <= 1)).all()
    np.testing.assert_array_equal(cal.predict(X), (P >= 0.5).astype(int))
    assert all(isinstance(t, tuple) for t in cal.predict_labels(X[:3]))
    assert 0.5 < cal.score(X, Y) <= 1.0
    again = pickle.loads(pickle.dumps(cal))
    np.testing.assert_array_equal(again.predict_proba(X), P)


def test_predict_uses_the_taggers_own_threshold(data):
    X, Y, tree = data
    cal = HierarchicalCalibrator(BottomUpClassifier(_lr(), hierarchy=tree, threshold=0.3), cv=2)
    cal.fit(X, Y)
    np.testing.assert_array_equal(cal.predict(X), (cal.predict_proba(X) >= 0.3).astype(int))


def test_in_a_pipeline_and_a_grid_search(data):
    X, Y, tree = data
    pipe = make_pipeline(
        StandardScaler(), HierarchicalCalibrator(BottomUpClassifier(_lr(), hierarchy=tree), cv=2)
    )
    assert pipe.fit(X, Y).predict_proba(X).shape == Y.shape
    search = GridSearchCV(
        HierarchicalCalibrator(BottomUpClassifier(_lr(), hierarchy=tree), cv=2),
        {"method": ["sigmoid", "isotonic"], "estimator__estimator__C": [0.1, 1.0]},
        cv=2,
    ).fit(X, Y)
    assert set(search.best_params_) == {"method", "estimator__estimator__C"}
    copy = clone(HierarchicalCalibrator(PerLevelClassifier(), method="isotonic", reconcile=None))
    assert copy.get_params()["method"] == "isotonic" and copy.reconcile is None


def test_thresholds_outermost_tune_on_calibrated_probabilities(data):
    X, Y, tree = data
    model = TunedThresholds(
        HierarchicalCalibrator(BottomUpClassifier(_lr(), hierarchy=tree), cv=2), cv=2
    )
    model.fit(X, Y)
    assert isinstance(model.estimator_, HierarchicalCalibrator)
    np.testing.assert_array_equal(model.predict_proba(X), model.estimator_.predict_proba(X))
    assert model.thresholds_.shape == (len(tree.labels),) and model.tuned_.all()


def test_deterministic_for_a_fixed_random_state(data):
    X, Y, tree = data
    a = HierarchicalCalibrator(HierarchicalTagger(tree, **SMALL_TAGGER), cv=2).fit(
        X[:150], Y[:150]
    )
    b = HierarchicalCalibrator(HierarchicalTagger(tree, **SMALL_TAGGER), cv=2).fit(
        X[:150], Y[:150]
    )
    np.testing.assert_array_equal(a.predict_proba(X[150:]), b.predict_proba(X[150:]))


# -- metadata routing ---------------------------------------------------------------------
class _RecordingTagger(HierarchicalTagger):
    """The tagger, recording the sample weights every fit receives."""

    weights: ClassVar[list] = []

    def fit(self, X, y, sample_weight=None, X_val=None, Y_val=None):
        type(self).weights.append(None if sample_weight is None else np.array(sample_weight))
        return super().fit(X, y, sample_weight=sample_weight, X_val=X_val, Y_val=Y_val)


def test_sample_weight_is_routed_through_thresholds_and_calibrator_in_a_search(tree):
    X, Y, _ = make_hierarchical_multilabel(120, tree, n_features=8, noise=1.0, random_state=0)
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    _RecordingTagger.weights = []
    with sklearn.config_context(enable_metadata_routing=True):
        tagger = _RecordingTagger(tree, **{**SMALL_TAGGER, "max_epochs": 3})
        cal = HierarchicalCalibrator(tagger.set_fit_request(sample_weight=True), cv=2)
        cal.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        model = TunedThresholds(cal, cv=2)
        model.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        search = GridSearchCV(model, {"estimator__method": ["sigmoid", "temperature"]}, cv=2)
        search.fit(X, Y, sample_weight=w)
        # Not requested by the tagger: routing refuses rather than dropping the weights.
        bare = TunedThresholds(HierarchicalCalibrator(HierarchicalTagger(tree), cv=2))
        bare.set_fit_request(sample_weight=True)
        with pytest.raises(UnsetMetadataPassedError, match="HierarchicalCalibrator.fit"):
            bare.fit(X, Y, sample_weight=w)
        bare.estimator.set_fit_request(sample_weight=True)
        with pytest.raises(UnsetMetadataPassedError, match="HierarchicalTagger.fit"):
            bare.fit(X, Y, sample_weight=w)
    seen = _RecordingTagger.weights
    # 2 candidates x 2 outer folds x (refit + 2 folds) x (refit + 2 folds) + final refit.
    assert len(seen) == 2 * 2 * 9 + 9
    assert all(s is not None and np.isin(s, w).all() for s in seen)
    np.testing.assert_array_equal(seen[-9], w)  # the final refit of everything: all rows
    assert search.best_estimator_.estimator_.target_type_ == "multilabel"


def test_without_routing_sample_weight_reaches_estimator_and_maps(data):
    X, Y, tree = data
    w = np.r_[np.zeros(100), np.ones(len(X) - 100)]
    cal = HierarchicalCalibrator(BottomUpClassifier(_lr(), hierarchy=tree), cv=2)
    weighted = clone(cal).fit(X, Y, sample_weight=w)
    assert not np.allclose(weighted.predict_proba(X), clone(cal).fit(X, Y).predict_proba(X))
    with pytest.warns(UserWarning, match="only weigh the calibration maps"):
        make = make_pipeline(StandardScaler(), BottomUpClassifier(_lr(), hierarchy=tree))
        HierarchicalCalibrator(make, cv=2).fit(X, Y, sample_weight=w)


# -- class targets, bad input ------------------------------------------------------------
def test_class_targets_delegate_to_sklearns_calibrator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=150) > 0, "yes", "no")
    cal = HierarchicalCalibrator(BottomUpClassifier(_lr()), cv=3).fit(X, y)
    assert isinstance(cal.estimator_, CalibratedClassifierCV) and cal.target_type_ == "binary"
    P = cal.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, **f32_tol())
    assert set(cal.predict(X)) <= {"yes", "no"} and cal.calibrators_ is None
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])
    prefit = BottomUpClassifier(_lr()).fit(X, y3)
    cal3 = HierarchicalCalibrator(prefit, method="temperature", cv="prefit").fit(X, y3)
    assert cal3.target_type_ == "multiclass" and list(cal3.classes_) == [0, 1, 2]
    assert cal3.estimator_.estimator.estimator is prefit  # frozen, not refitted
    assert abs(cal3.predict_proba(X).sum(axis=1) - 1).max() <= 8 * EPS32


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(method="beta"), "method must be one of 'sigmoid'"),
        (dict(cv="pre-fit"), "cv must be 'prefit' or an integer >= 2"),
        (dict(cv=1), "cv must be"),
        (dict(reconcile="min"), "reconcile must be one of 'max', None"),
        (
            dict(estimator=StandardScaler()),
            "estimator must be a tagger with fit and predict_proba",
        ),
    ],
)
def test_bad_parameters_say_what_to_do(data, params, match):
    X, Y, tree = data
    cal = HierarchicalCalibrator(BottomUpClassifier(_lr(), hierarchy=tree), cv=2)
    with pytest.raises(ValueError, match=match):
        cal.set_params(**params).fit(X, Y)


def test_an_estimator_without_a_tree_is_refused(data):
    X, Y, _ = data
    knn = KNeighborsClassifier().fit(X, Y)
    with pytest.raises(ValueError, match="has no fitted hierarchy_"):
        HierarchicalCalibrator(knn, cv="prefit").fit(X, Y)


@pytest.mark.parametrize("method", ["sigmoid", "temperature"])
def test_level_pooling_shares_one_map_per_level_and_keeps_rankings(method):
    X, Y, X_new, Y_new, tree = _shifted_source()
    tagger = HierarchicalTagger(tree, **SMALL_TAGGER).fit(X, Y)
    cal = HierarchicalCalibrator(
        tagger, method=method, pooling="level", cv="prefit", reconcile=None
    ).fit(X_new[:50], Y_new[:50])
    level = np.array([tree.level_of(name) for name in tree.labels])
    for d in np.unique(level):
        maps = {id(cal.calibrators_[j]) for j in np.flatnonzero(level == d)}
        assert len(maps) == 1, d  # one shared map per level
    assert len({id(m) for m in cal.calibrators_}) == len(np.unique(level))
    P_before, P_after = tagger.predict_proba(X_new[50:]), cal.predict_proba(X_new[50:])
    for j in range(P_before.shape[1]):  # a monotone map per label: the same order
        order = np.argsort(P_before[:, j], kind="stable")
        assert np.all(np.diff(P_after[order, j]) >= 0), j
    before = level_ece(Y_new[50:], P_before, tree)
    assert level_ece(Y_new[50:], P_after, tree) < before


def test_level_pooling_fits_the_pooled_targets():
    # Two labels of one level whose pooled data is one logistic relation: the shared
    # map equals the map fitted on the stacked columns.
    rng = np.random.default_rng(0)
    P = rng.uniform(0.05, 0.95, size=(400, 2))
    Y = (rng.uniform(size=P.shape) < P**2).astype(float)
    stacked = PlattMap().fit(P.ravel(), Y.ravel(), np.ones(P.size))
    from sk_hier.calibration import _fit_maps

    maps, calibrated = _fit_maps(Y, P, np.ones(len(P)), "sigmoid", [[0, 1]])
    assert maps[0] is maps[1] and calibrated.all()
    tol = 1e-6 * max(1.0, abs(stacked.a_))
    assert abs(maps[0].a_ - stacked.a_) <= tol and abs(maps[0].b_ - stacked.b_) <= tol


@pytest.mark.parametrize("name", ["ece", "map"])
def test_scorers_take_sample_weight_when_requested_under_routing(name):
    from sklearn.model_selection import KFold, cross_validate

    from sk_hier.metrics import hierarchical_map_scorer

    shared = neg_level_ece_scorer if name == "ece" else hierarchical_map_scorer
    X, Y, tree = make_hierarchical_multilabel(200, TREE, n_features=5, random_state=0)
    w = np.random.default_rng(0).uniform(0.0, 2.0, len(X))
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        shared.set_score_request(sample_weight=True)
    with sklearn.config_context(enable_metadata_routing=True):
        est = BottomUpClassifier(_lr(), hierarchy=tree).set_fit_request(sample_weight=False)
        scorer = shared.set_score_request(sample_weight=True)
        assert shared._sample_weight_request is None  # the shared object is unchanged
        with pytest.raises(UnsetMetadataPassedError, match="set_score_request"):
            cross_validate(est, X, Y, scoring=shared, cv=KFold(2), params={"sample_weight": w})
        got = cross_validate(est, X, Y, scoring=scorer, cv=KFold(2), params={"sample_weight": w})
    for k, (train, test) in enumerate(KFold(2).split(X)):
        fitted = clone(est).fit(X[train], Y[train])
        expected = shared(fitted, X[test], Y[test], sample_weight=w[test])
        assert got["test_score"][k] == pytest.approx(expected, rel=1e-12)
        assert expected != pytest.approx(shared(fitted, X[test], Y[test]), rel=1e-6)
