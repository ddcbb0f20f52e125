"""TunedThresholds: per-label thresholds tuned on out-of-fold probabilities."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.exceptions import NotFittedError, UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, fbeta_score
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from sk_hier import BottomUpClassifier, HierarchicalTagger, Hierarchy, PerLevelClassifier
from sk_hier.datasets import default_hierarchy, make_hierarchical_multilabel
from sk_hier.thresholds import TunedThresholds

from .conftest import FAST

# Expected failures of scikit-learn's common checks, each with its reason.
EXPECTED_FAILED = {
    "check_classifiers_train": (
        "by design predict thresholds P(class 1) at the tuned value, not 0.5, so it "
        "need not agree with argmax(predict_proba) (sklearn lists the same failure for "
        "FixedThresholdClassifier)"
    ),
    "check_classifier_multioutput": (
        "by design the multi-label tags come from tuned thresholds, not from round(predict_proba)"
    ),
}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # Tiny solves: BLAS threads only contend for the 2 shared cores (10x slower here).
    with threadpool_limits(1):
        yield


def _lr_bottom_up(**kw):
    return BottomUpClassifier(LogisticRegression(max_iter=1000), **kw)


@pytest.fixture
def data(tree):
    """(X, Y_full, tree): 200 samples, 8 features (smaller than conftest's)."""
    return make_hierarchical_multilabel(200, tree, n_features=8, noise=1.0, random_state=0)


@parametrize_with_checks(
    [TunedThresholds(_lr_bottom_up(), cv=2)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _imbalanced(seed=0):
    tree = default_hierarchy(4, 3)
    X, Y, _ = make_hierarchical_multilabel(
        700, tree, n_features=16, mean_labels=1.2, noise=2.5, random_state=seed
    )
    return X[:400], Y[:400], X[400:], Y[400:], tree


def test_tuning_improves_f1_on_rare_labels():
    Xtr, Ytr, Xte, Yte, tree = _imbalanced()
    # Strong regularisation shrinks the probabilities of rare labels below 0.5.
    base = _lr_bottom_up(hierarchy=tree).set_params(estimator__C=0.01)
    plain = clone(base).fit(Xtr, Ytr)
    tuned = TunedThresholds(base, cv=3).fit(Xtr, Ytr)
    f1_plain = f1_score(Yte, plain.predict(Xte), average="macro", zero_division=0)
    f1_tuned = f1_score(Yte, tuned.predict(Xte), average="macro", zero_division=0)
    assert f1_tuned > f1_plain + 0.05
    assert tuned.thresholds_.shape == (len(tree.labels),)
    assert ((tuned.thresholds_ >= 0) & (tuned.thresholds_ <= 1)).all()
    assert tuned.tuned_.all() and np.isfinite(tuned.best_scores_).all()
    # Rare labels need thresholds below 0.5 here.
    assert np.median(tuned.thresholds_) < 0.5


def test_fitted_attributes_delegate_to_the_refitted_estimator(data):
    X, Y, tree = data
    model = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3).fit(X, Y)
    est = model.estimator_
    assert model.hierarchy_ == tree
    assert list(model.classes_) == list(tree.labels)
    assert model.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(model.predict_proba(X), est.predict_proba(X))
    assert model.score(X, Y) == est.score(X, Y)
    np.testing.assert_array_equal(
        model.predict(X), (est.predict_proba(X) >= model.thresholds_).astype(int)
    )
    labels = model.predict_labels(X[:3])
    assert all(isinstance(t, tuple) for t in labels)


def test_best_threshold_is_halfway_below_the_chosen_score():
    # F1 = 1 for any threshold in (0.2, 0.3]: the margin puts it at 0.25.
    s, y = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 0.0, 1.0, 1.0])
    thr, best = TunedThresholds(None)._best_threshold(y, s, None, None)
    assert best == 1.0 and thr == pytest.approx(0.25)
    # Separable data: the tuned threshold separates the out-of-fold scores.
    X = np.arange(40, dtype=float)[:, None]
    Y = (X[:, 0] >= 20).astype(int)[:, None]
    model = TunedThresholds(_lr_bottom_up(), cv=KFold(4, shuffle=True, random_state=0))
    model.fit(X, Y)
    assert model.best_scores_[0] == 1.0 and 0 < model.thresholds_[0] < 1


def test_labels_without_known_positives_keep_the_estimator_threshold(data):
    X, Y, tree = data
    Y = Y.astype(float).copy()
    piano, horn = tree.index("piano"), tree.index("horn")
    Y[:, piano] = 0  # no positive anywhere
    Y[:, horn] = np.nan  # never known
    keys = tree.index("keys")
    Y[:, keys] = 0
    with pytest.warns(UserWarning):
        model = TunedThresholds(_lr_bottom_up(hierarchy=tree, threshold=0.3), cv=3).fit(X, Y)
    assert not model.tuned_[piano] and not model.tuned_[horn]
    assert model.thresholds_[piano] == 0.3 and model.thresholds_[horn] == 0.3
    assert np.isnan(model.best_scores_[piano])
    assert model.tuned_[tree.index("violin")]


def test_unknown_targets_are_left_out_per_label(data):
    X, Y, tree = data
    Y = Y.astype(float).copy()
    violin = tree.index("violin")
    rng = np.random.default_rng(0)
    hidden = rng.random(len(Y)) < 0.5
    Y_nan = Y.copy()
    Y_nan[hidden, violin] = np.nan
    model = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3).fit(X, Y_nan)
    assert model.tuned_[violin] and 0 <= model.thresholds_[violin] <= 1


def test_levels_selects_which_labels_are_tuned(data):
    X, Y, tree = data
    model = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3, levels=-1).fit(X, Y)
    leaves = [tree.index(n) for n in tree.leaves]
    parents = [tree.index(n) for n in tree.levels[0]]
    assert model.tuned_[leaves].all() and not model.tuned_[parents].any()
    assert (model.thresholds_[parents] == 0.5).all()
    with pytest.raises(ValueError, match="levels must hold depths"):
        TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3, levels=5).fit(X, Y)


@pytest.mark.parametrize("metric", ["jaccard", "balanced_accuracy", "matthews"])
def test_built_in_metrics(data, metric):
    X, Y, tree = data
    model = TunedThresholds(_lr_bottom_up(hierarchy=tree), metric=metric, cv=3).fit(X, Y)
    assert ((model.thresholds_ >= 0) & (model.thresholds_ <= 1)).all()


def test_callable_metric_and_explicit_grid(data):
    X, Y, tree = data
    f2 = functools.partial(fbeta_score, beta=2, zero_division=0)
    grid = np.linspace(0.05, 0.95, 19)
    model = TunedThresholds(_lr_bottom_up(hierarchy=tree), metric=f2, cv=3, thresholds=grid)
    model.fit(X, Y)
    # Every threshold is a grid value moved halfway down to the next lower score.
    assert ((model.thresholds_ >= 0) & (model.thresholds_ <= 0.95)).all()
    # F2 favours recall: thresholds no higher than F1's on average.
    f1_model = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3, thresholds=grid).fit(X, Y)
    assert model.thresholds_.mean() <= f1_model.thresholds_.mean() + 1e-9


def test_sample_weight_reaches_every_fit(data):
    X, Y, tree = data
    w = np.ones(len(X))
    a = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3).fit(X, Y, sample_weight=w)
    b = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3).fit(X, Y)
    np.testing.assert_allclose(a.thresholds_, b.thresholds_)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(metric="accuracy_score"), r"TunedThresholds: metric must be one of 'f1'.*callable"),
        (dict(thresholds=1), r"thresholds must be an integer >= 2 or a non-empty array"),
        (dict(thresholds=[0.2, 1.5]), r"values in \[0, 1\]"),
        (dict(thresholds=[]), r"non-empty array of values in \[0, 1\]; got \[\]"),
    ],
)
def test_bad_parameters_say_what_to_do(data, params, match):
    X, Y, tree = data
    with pytest.raises(ValueError, match=match):
        TunedThresholds(_lr_bottom_up(hierarchy=tree), **params).fit(X, Y)


def test_estimator_without_predict_proba_is_rejected(data):
    X, Y, _ = data
    with pytest.raises(ValueError, match="predict_proba"):
        TunedThresholds(StandardScaler()).fit(X, Y)


def test_clone_keeps_parameters_and_fit_leaves_the_given_estimator_alone(data):
    X, Y, tree = data
    inner = _lr_bottom_up(hierarchy=tree)
    model = TunedThresholds(inner, cv=3, levels=[0, 1])
    copy = clone(model)
    assert copy.get_params()["cv"] == 3 and copy.levels == [0, 1]
    assert copy.estimator is not inner
    model.fit(X, Y)
    assert model.estimator is inner and not hasattr(inner, "estimators_")
    with pytest.raises(NotFittedError):
        clone(model).predict(X)


def test_in_a_pipeline_and_around_one(data):
    X, Y, tree = data
    inside = make_pipeline(StandardScaler(), TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3))
    assert inside.fit(X, Y).predict(X).shape == Y.shape
    around = TunedThresholds(make_pipeline(StandardScaler(), _lr_bottom_up(hierarchy=tree)), cv=3)
    around.fit(X, Y)
    assert around.hierarchy_ == tree and around.n_features_in_ == X.shape[1]
    # Around: the scaler is refitted in every fold, so the thresholds differ a little.
    assert np.abs(inside[-1].thresholds_ - around.thresholds_).max() < 0.5


def test_pickle_round_trip(data):
    X, Y, tree = data
    model = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3).fit(X, Y)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.thresholds_, model.thresholds_)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))


def test_with_the_tagger(data):
    X, Y, tree = data
    tagger = HierarchicalTagger(tree, **{**FAST, "max_epochs": 5})
    model = TunedThresholds(tagger, cv=3).fit(X, Y)
    assert model.thresholds_.shape == (len(tree.labels),)
    assert model.estimator_.device == "cpu"
    assert model.score(X, Y) == model.estimator_.score(X, Y)


def test_label_sets_and_inferred_tree():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    paths = [["strings/violin"] if x[0] > 0 else ["brass/trumpet"] for x in X]
    model = TunedThresholds(PerLevelClassifier(LogisticRegression()), cv=3).fit(X, paths)
    assert model.hierarchy_ == Hierarchy(["strings/violin", "brass/trumpet"])
    assert model.predict_labels(X[:1])[0] in {("strings", "violin"), ("brass", "trumpet")}


def test_folds_that_miss_an_inferred_label_give_it_probability_zero():
    X = np.arange(12, dtype=float)[:, None]
    paths = [["a/x"]] * 10 + [["b/y"]] * 2  # the last fold's training rows lack "b/y"
    with pytest.warns(UserWarning, match="constant prior"):
        model = TunedThresholds(PerLevelClassifier(LogisticRegression()), cv=3).fit(X, paths)
    assert model.hierarchy_.labels == ("a", "b", "x", "y")
    assert model.thresholds_.shape == (4,) and model.tuned_.all()


def test_binary_and_multiclass_targets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] + 0.5 * rng.normal(size=200) > 1.0, "yes", "no")
    model = TunedThresholds(_lr_bottom_up(), cv=3).fit(X, y)
    assert model.thresholds_.shape == (1,)
    assert set(model.predict(X)) <= {"yes", "no"}
    p = model.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(model.predict(X) == "yes", p >= model.thresholds_[0])
    y3 = np.digitize(X[:, 0], [-0.5, 0.5])
    model3 = TunedThresholds(_lr_bottom_up(), cv=3).fit(X, y3)
    assert model3.thresholds_ is None
    np.testing.assert_array_equal(model3.predict(X), model3.estimator_.predict(X))


# -- metadata routing ---------------------------------------------------------------------
def test_routed_sample_weight_matches_the_unrouted_fit(data):
    X, Y, tree = data
    w = np.random.default_rng(0).uniform(0.2, 3.0, len(X))
    plain = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3).fit(X, Y, sample_weight=w)
    with sklearn.config_context(enable_metadata_routing=True):
        inner = _lr_bottom_up(hierarchy=tree).set_fit_request(sample_weight=True)
        routed = TunedThresholds(inner, cv=3).fit(X, Y, sample_weight=w)
        # Not requested by the estimator: the weights are refused, never silently dropped.
        with pytest.raises(UnsetMetadataPassedError, match="BottomUpClassifier.fit"):
            TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=3).fit(X, Y, sample_weight=w)
    np.testing.assert_array_equal(routed.thresholds_, plain.thresholds_)
    np.testing.assert_array_equal(routed.predict_proba(X), plain.predict_proba(X))


def test_groups_are_routed_to_the_splitter(data):
    X, Y, tree = data
    groups = np.arange(len(X)) % 7
    explicit = list(GroupKFold(3).split(X, Y, groups))
    expected = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=explicit).fit(X, Y)
    with sklearn.config_context(enable_metadata_routing=True):
        model = TunedThresholds(_lr_bottom_up(hierarchy=tree), cv=GroupKFold(3))
        model.fit(X, Y, groups=groups)
        routing = model.get_metadata_routing()
    np.testing.assert_array_equal(model.thresholds_, expected.thresholds_)
    assert routing.consumes("fit", ["groups", "sample_weight"]) == {"groups"}
