"""Tests for sk_hier.baselines: scikit-learn contract, the math of each strategy, NaN targets."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_config
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_hier.baselines import BottomUpClassifier, PerLevelClassifier, TopDownClassifier
from sk_hier.hierarchy import Hierarchy
from sk_hier.targets import encode_targets

TREE = {"strings": ["violin", "cello"], "brass": ["trumpet", "horn"], "keys": ["piano"]}
H = Hierarchy(TREE)
ALL = (PerLevelClassifier, TopDownClassifier, BottomUpClassifier)


def make_xy(seed: int = 0, n: int = 120):
    """Leaf indicator targets with features that carry them; full targets too."""
    rng = np.random.default_rng(seed)
    leaves = (rng.random((n, len(H.leaves))) < 0.35).astype(float)
    X = leaves @ rng.normal(size=(len(H.leaves), 5)) + 0.7 * rng.normal(size=(n, 5))
    full = np.zeros((n, len(H.labels)))
    full[:, [H.index(leaf) for leaf in H.leaves]] = leaves
    for parent in H.inner:
        kids = [H.index(c) for c in H.children_of(parent)]
        full[:, H.index(parent)] = full[:, kids].max(axis=1)
    return X, leaves, full


def lr_proba(X, y, rows, X_test=None):
    """Reference: one LogisticRegression on the given rows, P(y = 1)."""
    model = LogisticRegression(max_iter=1000).fit(X[rows], y[rows].astype(int))
    return model.predict_proba(X if X_test is None else X_test)[:, 1]


# -- scikit-learn contract ------------------------------------------------------------
# No expected failures: 1-D class targets are handled by delegating to the base
# classifier, so every common check applies as to any classifier.
@parametrize_with_checks([cls() for cls in ALL])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", ALL)
def test_clone_and_pickle_round_trip(cls):
    X, y, _ = make_xy(1)
    clf = cls(hierarchy=TREE, threshold=0.4).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(copy.predict(X), clf.predict(X))
    assert copy.hierarchy_ == clf.hierarchy_
    fresh = clone(clf)
    assert fresh.get_params()["hierarchy"] == TREE and not hasattr(fresh, "estimators_")
    np.testing.assert_allclose(fresh.fit(X, y).predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("cls", ALL)
def test_default_and_given_estimators_are_not_mutated(cls):
    X, y, _ = make_xy(2)
    clf = cls(hierarchy=TREE).fit(X, y)
    assert clf.estimator is None
    assert isinstance(clf.estimators_[0], LogisticRegression)
    base = LogisticRegression(C=0.5)
    clf = cls(base, hierarchy=TREE).fit(X, y)
    assert not hasattr(base, "coef_")
    models = [m for m in clf.estimators_ if isinstance(m, LogisticRegression)]
    assert models and all(m is not base and m.C == 0.5 for m in models)


@pytest.mark.parametrize("cls", ALL)
def test_fitted_attributes_and_outputs(cls):
    X, y, _ = make_xy(3)
    clf = cls(hierarchy=TREE).fit(X, y)
    assert clf.hierarchy_ == H
    assert clf.classes_.tolist() == list(H.labels)
    assert clf.n_features_in_ == X.shape[1]
    n_models = len(H.leaves) if cls is BottomUpClassifier else len(H.labels)
    assert len(clf.estimators_) == n_models
    P = clf.predict_proba(X)
    assert P.shape == (len(X), len(H.labels)) and np.all((P >= 0) & (P <= 1))
    np.testing.assert_array_equal(clf.predict(X), (P >= 0.5).astype(int))
    labels = clf.predict_labels(X[:3])
    assert all(isinstance(t, tuple) for t in labels)
    assert 0 < clf.score(X, y) <= 1


# -- the math of each strategy --------------------------------------------------------
def test_per_level_is_independent_one_vs_rest():
    X, y, full = make_xy(4)
    P = PerLevelClassifier(hierarchy=TREE).fit(X, y).predict_proba(X)
    for j in range(len(H.labels)):
        np.testing.assert_allclose(P[:, j], lr_proba(X, full[:, j], slice(None)), rtol=1e-6)


def test_top_down_multiplies_conditional_models():
    X, y, full = make_xy(5)
    P = TopDownClassifier(hierarchy=TREE).fit(X, y).predict_proba(X)
    for name in H.labels:
        j, parent = H.index(name), H.parent_of(name)
        if parent is None:
            np.testing.assert_allclose(P[:, j], lr_proba(X, full[:, j], slice(None)), rtol=1e-6)
            continue
        k = H.index(parent)
        assert np.all(P[:, j] <= P[:, k] + 1e-12)
        if name == "piano":  # an only child: p(piano | keys) = 1
            np.testing.assert_allclose(P[:, j], P[:, k])
        else:
            cond = lr_proba(X, full[:, j], full[:, k] == 1)
            np.testing.assert_allclose(P[:, j], P[:, k] * cond, rtol=1e-6)


def test_top_down_deeper_tree_products_along_the_path():
    tree = Hierarchy({"pitched": {"strings": ["violin", "cello"], "brass": ["horn"]}})
    rng = np.random.default_rng(0)
    leaves = rng.random((150, 3)) < 0.4
    X = leaves @ rng.normal(size=(3, 4)) + 0.5 * rng.normal(size=(150, 4))
    clf = TopDownClassifier(hierarchy=tree).fit(X, leaves.astype(int))
    P = clf.predict_proba(X)
    # each child is its parent times a conditional model, so never above any ancestor
    for name in tree.labels:
        for anc in tree.ancestors_of(name):
            assert np.all(P[:, tree.index(name)] <= P[:, tree.index(anc)] + 1e-12)
    Q = np.column_stack([m.predict_proba(X)[:, 1] for m in clf.estimators_])
    violin = [tree.index(n) for n in ("pitched", "strings", "violin")]
    np.testing.assert_allclose(P[:, violin[2]], Q[:, violin].prod(axis=1))


def test_bottom_up_parents_follow_the_max_rule():
    X, y, full = make_xy(6)
    clf = BottomUpClassifier(hierarchy=TREE).fit(X, y)
    P = clf.predict_proba(X)
    for parent in H.inner:
        kids = [H.index(c) for c in H.children_of(parent)]
        np.testing.assert_array_equal(P[:, H.index(parent)], P[:, kids].max(axis=1))
    for leaf in H.leaves:
        j = H.index(leaf)
        np.testing.assert_allclose(P[:, j], lr_proba(X, full[:, j], slice(None)), rtol=1e-6)


# -- unknown targets ------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_nan_targets_train_each_model_on_known_rows(cls):
    X, _, full = make_xy(7)
    Y = full.copy()
    rng = np.random.default_rng(7)
    violin = H.index("violin")
    Y[rng.random(len(Y)) < 0.3, violin] = np.nan  # violin unknown on some clips
    P = cls(hierarchy=TREE, inconsistent="propagate").fit(X, Y).predict_proba(X)
    # where strings is absent, the encoder knows violin is absent too (max rule)
    Y = encode_targets(Y, H)[0]
    known = ~np.isnan(Y[:, violin])
    assert 0 < known.sum() < len(Y)
    if cls is TopDownClassifier:
        strings = H.index("strings")
        rows = known & (full[:, strings] == 1)
        expected = P[:, strings] * lr_proba(X, full[:, violin], rows)
    else:
        expected = lr_proba(X, full[:, violin], known)
    np.testing.assert_allclose(P[:, violin], expected, rtol=1e-6)


def test_parent_only_annotations_leave_children_unknown():
    X, _, full = make_xy(8)
    sets = [[H.labels[j] for j in np.flatnonzero(row) if H.labels[j] in H.leaves] for row in full]
    sets[0] = ["strings"]  # family given, instrument not: violin and cello unknown here
    clf = PerLevelClassifier(hierarchy=TREE).fit(X, sets)
    violin = H.index("violin")
    expected = lr_proba(X, full[:, violin], np.arange(1, len(X)))
    np.testing.assert_allclose(clf.predict_proba(X)[:, violin], expected, rtol=1e-6)


@pytest.mark.parametrize("cls", ALL)
def test_single_class_labels_become_constant_priors(cls):
    X, _, full = make_xy(9)
    Y = full.copy()
    horn, piano = H.index("horn"), H.index("piano")
    Y[:, horn] = 0  # never present in this fold
    Y[:, piano] = np.nan  # never known
    Y[:, H.index("keys")] = np.nan
    with pytest.warns(UserWarning, match="constant prior"):
        clf = cls(hierarchy=TREE, inconsistent="propagate").fit(X, Y)
    P = clf.predict_proba(X)
    np.testing.assert_array_equal(P[:, horn], 0.0)
    np.testing.assert_array_equal(P[:, piano], 0.0)
    assert np.isfinite(P).all()


def test_constant_prior_is_the_known_positive_rate():
    X, _, full = make_xy(10)
    Y = full.copy()
    strings = H.index("strings")
    Y[:, strings] = 1.0  # strings on every clip (most of them without an instrument)
    with pytest.warns(UserWarning, match="strings"):
        clf = PerLevelClassifier(hierarchy=TREE).fit(X, Y)
    np.testing.assert_allclose(clf.predict_proba(X)[:, strings], 1.0)


# -- model selection ------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_grid_search_without_scoring_uses_score(cls):
    X, y, _ = make_xy(11, n=90)
    search = GridSearchCV(
        cls(LogisticRegression(max_iter=1000), hierarchy=TREE),
        {"estimator__C": [0.01, 1.0]},
        cv=KFold(3),
    )
    search.fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.estimators_[0].C in (0.01, 1.0)


def test_n_jobs_gives_the_same_models():
    X, y, _ = make_xy(12)
    one = TopDownClassifier(hierarchy=TREE).fit(X, y).predict_proba(X)
    # threads: process start-up would dominate; pickling is covered by the round trip
    with parallel_config(backend="threading"):
        two = TopDownClassifier(hierarchy=TREE, n_jobs=2).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(one, two)


# -- other target formats -------------------------------------------------------------
def test_dataframe_and_path_targets():
    X, y, full = make_xy(13)
    df = pd.DataFrame(y, columns=list(H.leaves))
    P_df = PerLevelClassifier(hierarchy=TREE).fit(X, df).predict_proba(X)
    paths = [[H.path_of(leaf) for leaf, v in zip(H.leaves, row) if v] for row in y]
    clf = PerLevelClassifier().fit(X, paths)  # tree inferred from the paths
    assert set(clf.classes_) == set(H.labels)
    ref = PerLevelClassifier(hierarchy=TREE).fit(X, full).predict_proba(X)
    np.testing.assert_allclose(P_df, ref)


def test_flat_indicator_without_hierarchy():
    X, y, _ = make_xy(14)
    clf = BottomUpClassifier().fit(X, y)
    assert clf.classes_.tolist() == list(range(y.shape[1]))
    assert clf.predict(X).shape == y.shape


def test_class_target_behaves_as_the_base_classifier():
    X, y, _ = make_xy(15)
    labels = np.array(["a", "b", "c"])[y[:, :3].argmax(axis=1)]
    clf = TopDownClassifier().fit(X, labels)
    base = LogisticRegression(max_iter=1000).fit(X, labels)
    assert clf.classes_.tolist() == ["a", "b", "c"]
    assert clf.hierarchy_ == Hierarchy.flat(["a", "b", "c"])
    np.testing.assert_allclose(clf.predict_proba(X), base.predict_proba(X))
    np.testing.assert_array_equal(clf.predict(X), base.predict(X))
    assert clf.score(X, labels) == pytest.approx(base.score(X, labels))


def test_per_label_threshold():
    X, y, _ = make_xy(16)
    thr = np.linspace(0.2, 0.8, len(H.labels))
    clf = PerLevelClassifier(hierarchy=TREE, threshold=thr).fit(X, y)
    np.testing.assert_array_equal(clf.predict(X), (clf.predict_proba(X) >= thr).astype(int))


def test_sample_weight_zero_equals_dropping_rows():
    X, y, _ = make_xy(17)
    w = np.ones(len(X))
    w[:20] = 0
    weighted = TopDownClassifier(hierarchy=TREE).fit(X, y, sample_weight=w)
    dropped = TopDownClassifier(hierarchy=TREE).fit(X[20:], y[20:])
    np.testing.assert_allclose(
        weighted.predict_proba(X), dropped.predict_proba(X), rtol=1e-4, atol=1e-5
    )


# -- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL)
def test_bad_input_raises_clear_errors(cls):
    X, y, _ = make_xy(18)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls(hierarchy=TREE).fit(X_nan, y)
    clf = cls(hierarchy=TREE).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(X_nan)
    with pytest.raises(ValueError, match="Unknown label 'banjo'"):
        cls(hierarchy=TREE).fit(X[:2], [["violin"], ["banjo"]])
    with pytest.raises(ValueError, match="columns"):
        cls(hierarchy=TREE).fit(X, y[:, :3])
    with pytest.raises(ValueError, match="samples"):
        cls(hierarchy=TREE).fit(X[:10], y)
    with pytest.raises(ValueError, match="predict_proba"):
        cls(LinearSVC(), hierarchy=TREE).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        cls(hierarchy=TREE).fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="parent"):
        cls(hierarchy=TREE).fit(X[:1], [[0, 0, 0, 1, 0, 0, 0, 0]])  # violin without strings
