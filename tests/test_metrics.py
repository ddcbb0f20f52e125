"""Tests for sk_hier.metrics: agreement with scikit-learn, unknown targets, tree metrics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_hier.baselines import PerLevelClassifier
from sk_hier.hierarchy import Hierarchy
from sk_hier.metrics import (
    hierarchical_f1,
    hierarchical_map_scorer,
    hierarchical_precision_recall_f1,
    level_average_precision,
    level_f1,
    level_report,
    level_roc_auc,
    make_hierarchical_scorer,
    mean_level_average_precision,
    per_label_table,
    violation_rate,
)
from sk_hier.targets import encode_targets

TREE = {"strings": ["violin", "cello", "viola"], "brass": ["trumpet", "horn"], "drums": ["kit"]}
H = Hierarchy(TREE)
PARENTS = [H.index(n) for n in H.inner]
LEAVES = [H.index(n) for n in H.leaves]


def make_data(seed: int = 0, n: int = 60, unknown: float = 0.2):
    """Random targets that obey the max rule, some entries unknown, noisy scores."""
    rng = np.random.default_rng(seed)
    Y = np.zeros((n, len(H.labels)))
    Y[:, LEAVES] = rng.random((n, len(LEAVES))) < 0.35
    for k in PARENTS:
        kids = [H.index(c) for c in H.children_of(H.labels[k])]
        Y[:, k] = Y[:, kids].max(axis=1)
    S = np.clip(0.5 * Y + 0.6 * rng.random(Y.shape), 0, 1)
    Y[rng.random(Y.shape) < unknown] = np.nan
    return Y, S


def sk_per_label(fn, Y, S, cols, need_negative=False):
    """Reference: scikit-learn on each label's known rows; None where skipped."""
    out = []
    for j in cols:
        known = ~np.isnan(Y[:, j])
        y = Y[known, j]
        if y.sum() == 0 or (need_negative and y.all()):
            out.append(None)
        else:
            out.append(fn(y, S[known, j]))
    return out


def sk_macro(fn, Y, S, cols, need_negative=False):
    vals = [v for v in sk_per_label(fn, Y, S, cols, need_negative) if v is not None]
    return np.mean(vals)


def pooled(Y, S, cols):
    sub = Y[:, cols]
    known = ~np.isnan(sub)
    return sub[known], S[:, cols][known]


LEVEL_COLS = {"leaf": LEAVES, "parent": PARENTS, "all": list(range(len(H.labels))), 0: PARENTS}


# -- agreement with scikit-learn ----------------------------------------------------
@pytest.mark.parametrize("level", list(LEVEL_COLS))
def test_average_precision_matches_sklearn(level):
    Y, S = make_data(1)
    cols = LEVEL_COLS[level]
    macro = level_average_precision(Y, S, H, level=level)
    assert macro == pytest.approx(sk_macro(average_precision_score, Y, S, cols))
    micro = level_average_precision(Y, S, H, level=level, average="micro")
    assert micro == pytest.approx(average_precision_score(*pooled(Y, S, cols)))
    per = level_average_precision(Y, S, H, level=level, average=None)
    ref = sk_per_label(average_precision_score, Y, S, cols)
    assert per == pytest.approx([np.nan if v is None else v for v in ref], nan_ok=True)


@pytest.mark.parametrize("level", list(LEVEL_COLS))
def test_roc_auc_matches_sklearn(level):
    Y, S = make_data(2)
    cols = LEVEL_COLS[level]
    macro = level_roc_auc(Y, S, H, level=level)
    assert macro == pytest.approx(sk_macro(roc_auc_score, Y, S, cols, need_negative=True))
    micro = level_roc_auc(Y, S, H, level=level, average="micro")
    assert micro == pytest.approx(roc_auc_score(*pooled(Y, S, cols)))


@pytest.mark.parametrize("level", list(LEVEL_COLS))
@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_f1_matches_sklearn(level, threshold):
    Y, S = make_data(3)
    cols = LEVEL_COLS[level]
    P = (S >= threshold).astype(int)
    macro = level_f1(Y, S, H, level=level, threshold=threshold)
    assert macro == pytest.approx(sk_macro(f1_score, Y, P, cols))
    micro = level_f1(Y, S, H, level=level, average="micro", threshold=threshold)
    assert micro == pytest.approx(f1_score(*pooled(Y, P, cols)))
    # 0/1 predictions are kept as they are.
    assert level_f1(Y, P, H, level=level) == pytest.approx(macro)


def test_f1_per_label_threshold():
    Y, S = make_data(4)
    thr = np.linspace(0.3, 0.7, len(H.labels))
    got = level_f1(Y, S, H, level="all", average=None, threshold=thr)
    P = (S >= thr).astype(int)
    ref = sk_per_label(f1_score, Y, P, range(len(H.labels)))
    assert got == pytest.approx([np.nan if v is None else v for v in ref], nan_ok=True)
    with pytest.raises(ValueError, match="threshold"):
        level_f1(Y, S, H, threshold=[0.5, 0.5])


def test_labels_without_positive_are_skipped():
    Y, S = make_data(5, unknown=0.0)
    violin, cello = H.index("violin"), H.index("cello")
    Y[:, violin] = 0  # no positive: skipped by AP and AUC
    Y[:, cello] = 1  # no negative: kept by AP, skipped by AUC
    per_ap = level_average_precision(Y, S, H, level="leaf", average=None)
    per_auc = level_roc_auc(Y, S, H, level="leaf", average=None)
    assert np.isnan(per_ap[LEAVES.index(violin)])
    assert per_ap[LEAVES.index(cello)] == pytest.approx(1.0)
    assert np.isnan(per_auc[LEAVES.index(cello)])
    assert level_average_precision(Y, S, H, level="leaf") == pytest.approx(np.nanmean(per_ap))


def test_nothing_to_score_gives_nan_with_warning():
    Y, S = make_data(6)
    Y[:, LEAVES] = 0
    with pytest.warns(UndefinedMetricWarning, match="no label"):
        assert np.isnan(level_average_precision(Y, S, H, level="leaf"))
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(level_roc_auc(Y, S, H, level="leaf", average="micro"))
    # mean over levels keeps the levels that remain, and says which were dropped
    with pytest.warns(UndefinedMetricWarning, match=r"depth levels \[1\]"):
        got = mean_level_average_precision(Y, S, H)
    assert got == pytest.approx(level_average_precision(Y, S, H, level="parent"))


def test_mean_level_average_precision_is_mean_of_parent_and_leaf_map():
    Y, S = make_data(7)
    parent = level_average_precision(Y, S, H, level="parent")
    leaf = level_average_precision(Y, S, H, level="leaf")
    assert mean_level_average_precision(Y, S, H) == pytest.approx((parent + leaf) / 2)


def test_deeper_tree_levels():
    tree = Hierarchy({"pitched": {"strings": ["violin", "cello"], "keys": ["piano"]}, "drums": []})
    rng = np.random.default_rng(0)
    Y = (rng.random((40, len(tree.labels))) < 0.5).astype(float)
    S = rng.random(Y.shape)
    for depth, names in enumerate(tree.levels):
        cols = [tree.index(n) for n in names]
        assert level_average_precision(Y, S, tree, level=depth) == pytest.approx(
            sk_macro(average_precision_score, Y, S, cols)
        )
    # "leaf" covers leaves at any depth (drums is a root leaf).
    leaf_cols = [tree.index(n) for n in tree.leaves]
    assert level_average_precision(Y, S, tree, level="leaf") == pytest.approx(
        sk_macro(average_precision_score, Y, S, leaf_cols)
    )
    assert level_average_precision(Y, S, tree, level=-1) == level_average_precision(
        Y, S, tree, level=2
    )
    means = [level_average_precision(Y, S, tree, level=d) for d in range(3)]
    assert mean_level_average_precision(Y, S, tree) == pytest.approx(np.mean(means))


@pytest.mark.parametrize("level", ["leaves", 3, 1.5, None])
def test_bad_level(level):
    Y, S = make_data(8)
    with pytest.raises(ValueError, match="level"):
        level_average_precision(Y, S, H, level=level)


def test_bad_scores():
    Y, S = make_data(9)
    with pytest.raises(ValueError, match=r"shape \(60, 9\)"):
        level_average_precision(Y, S[:, :5], H)
    S[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        level_average_precision(Y, S, H)
    with pytest.raises(ValueError, match="0, 1"):
        level_average_precision(np.full((60, 9), 2.0), np.zeros((60, 9)), H)


# -- unknown targets ----------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), new=st.floats(0, 1))
def test_scores_of_unknown_targets_never_matter(seed, new):
    Y, S = make_data(seed % 50, n=30)
    S2 = S.copy()
    S2[np.isnan(Y)] = new
    S3 = S.copy()
    S3[np.isnan(Y)] = 1 - S[np.isnan(Y)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        ref = level_report(Y, S, H)
        for other in (S2, S3):
            got = level_report(Y, other, H)
            for key in ref:
                if key == "violation_rate":  # a property of the scores alone
                    continue
                assert got[key] == pytest.approx(ref[key], nan_ok=True), key


def test_minus_one_means_unknown_and_other_formats():
    Y, S = make_data(10, unknown=0.0)
    Y_neg = Y.copy()
    Y_neg[0, H.index("violin")] = -1
    Y_nan = Y.copy()
    Y_nan[0, H.index("violin")] = np.nan
    assert level_f1(Y_neg, S, H) == level_f1(Y_nan, S, H)
    # a leaf indicator and label sets are encoded like fit does
    leaf = Y[:, LEAVES]
    sets = [[H.leaves[j] for j in np.flatnonzero(row)] for row in leaf]
    full = mean_level_average_precision(Y, S, H)
    assert mean_level_average_precision(leaf, S, H) == pytest.approx(full)
    assert mean_level_average_precision(sets, S, H) == pytest.approx(full)


def test_flat_labels_without_hierarchy():
    rng = np.random.default_rng(0)
    Y = (rng.random((30, 4)) < 0.5).astype(int)
    S = rng.random((30, 4))
    assert level_average_precision(Y, S) == pytest.approx(
        average_precision_score(Y, S, average="macro")
    )
    assert violation_rate(S, Hierarchy.flat("abcd")) == 0.0
    report = level_report(Y, S)
    assert np.isnan(report["parent_map"]) and report["violation_rate"] == 0.0
    assert report["mean_map"] == pytest.approx(report["leaf_map"])


# -- hierarchical precision / recall / F1 -------------------------------------------
def test_hierarchical_f1_hand_case():
    tree = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    # labels: strings brass violin cello trumpet
    true = [["violin"], ["trumpet"], ["violin", "trumpet"]]
    pred = np.array(
        [
            [0, 0, 0, 1, 0],  # cello: augmented {strings, cello}; hit 1 (strings)
            [0, 0, 0, 0, 1],  # trumpet: {brass, trumpet}; hit 2
            [0, 0, 1, 0, 0],  # violin: {strings, violin}; hit 2 of true 4
        ]
    )
    hp, hr, hf = hierarchical_precision_recall_f1(true, pred, tree)
    assert hp == pytest.approx(5 / 6)
    assert hr == pytest.approx(5 / 8)
    assert hf == pytest.approx(2 * hp * hr / (hp + hr))
    # predictions as label sets, as predict_labels returns them
    assert hierarchical_f1(true, [("cello",), ("trumpet",), ("violin",)], tree) == hf


def test_hierarchical_f1_ignores_unknown_targets():
    tree = Hierarchy({"strings": ["violin", "cello"], "brass": ["trumpet"]})
    # row 0: strings only (violin, cello unknown); row 1: brass and trumpet unknown
    Y = np.array([[1, 0, np.nan, np.nan, 0], [0, np.nan, 0, 0, np.nan]], dtype=float)
    P = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1]])
    # row 0: P̂ = {strings, violin}, violin unknown -> {strings}; T̂ = {strings}: hit 1.
    # row 1: P̂ = {brass, trumpet} both unknown -> {}; T̂ = {}.
    assert hierarchical_precision_recall_f1(Y, P, tree) == (1.0, 1.0, 1.0)
    # augmentation never brings an unknown label back (a hand-made array may leave
    # a parent unknown above a known positive child)
    Y2 = np.array([[np.nan, 0, 1, 0, 0]])
    P2 = np.array([[1, 0, 1, 0, 0]])
    assert hierarchical_precision_recall_f1(Y2, P2, tree) == (1.0, 1.0, 1.0)


def test_hierarchical_f1_empty_prediction_warns():
    with pytest.warns(UndefinedMetricWarning, match="precision"):
        hp, hr, hf = hierarchical_precision_recall_f1([["violin"]], np.zeros((1, 9)), TREE)
    assert (hp, hr, hf) == (0.0, 0.0, 0.0)


# -- consistency ----------------------------------------------------------------------
def test_violation_rate_hand_case():
    tree = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    S = np.array(
        [
            [0.9, 0.2, 0.95, 0.1, 0.3],  # violin > strings, trumpet > brass
            [0.5, 0.5, 0.5, 0.5, 0.5],  # ties are no violation
            [0.5, 0.5, 0.5 + 1e-9, 0.1, 0.1],  # within the tolerance
        ]
    )
    assert violation_rate(S, tree) == pytest.approx(2 / 9)
    assert violation_rate(S, tree, tol=0.0) == pytest.approx(3 / 9)


def test_violation_rate_deeper_tree_counts_every_edge():
    tree = Hierarchy({"a": {"b": ["c"]}})  # edges b->a, c->b
    S = np.array([[0.2, 0.5, 0.4], [0.9, 0.8, 0.7]])
    assert violation_rate(S, tree) == pytest.approx(1 / 4)


# -- tables and reports ---------------------------------------------------------------
def test_per_label_table():
    Y, S = make_data(11)
    table = per_label_table(Y, S, H)
    assert table["label"] == list(H.labels)
    assert table["parent"][H.index("violin")] == "strings"
    assert table["n_known"] == (~np.isnan(Y)).sum(axis=0).tolist()
    assert table["average_precision"] == pytest.approx(
        level_average_precision(Y, S, H, average=None).tolist(), nan_ok=True
    )
    assert {len(v) for v in table.values()} == {len(H.labels)}


def test_level_report_keys_and_values():
    Y, S = make_data(12)
    report = level_report(Y, S, H, threshold=0.6)
    expected = {
        f"{lv}_{m}"
        for lv in ("leaf", "parent")
        for m in ("map", "roc_auc", "f1_micro", "f1_macro")
    } | {"mean_map", "hier_precision", "hier_recall", "hier_f1", "violation_rate"}
    assert set(report) == expected
    assert report["leaf_map"] == level_average_precision(Y, S, H, level="leaf")
    assert report["parent_f1_micro"] == pytest.approx(
        level_f1(Y, S, H, level="parent", average="micro", threshold=0.6)
    )
    assert report["hier_f1"] == pytest.approx(hierarchical_f1(Y, S, H, threshold=0.6))
    assert all(isinstance(v, float) for v in report.values())


# -- scorers --------------------------------------------------------------------------
def make_xy(seed=0, n=80):
    rng = np.random.default_rng(seed)
    Y, _ = make_data(seed, n=n, unknown=0.0)
    X = Y[:, LEAVES] @ rng.normal(size=(len(LEAVES), 6)) + 0.5 * rng.normal(size=(n, 6))
    return X, Y[:, LEAVES].astype(int)


def test_hierarchical_map_scorer_equals_score():
    X, y = make_xy()
    clf = PerLevelClassifier(hierarchy=TREE).fit(X, y)
    assert hierarchical_map_scorer(clf, X, y) == pytest.approx(clf.score(X, y))
    sets = [[H.leaves[j] for j in np.flatnonzero(row)] for row in y]
    assert hierarchical_map_scorer(clf, X, sets) == pytest.approx(clf.score(X, y))


@pytest.mark.parametrize(
    "metric", ["map", "map_micro", "roc_auc", "roc_auc_micro", "f1_macro", "f1_micro", "hier_f1"]
)
def test_scorers_match_functions(metric):
    X, y = make_xy(1)
    clf = PerLevelClassifier(hierarchy=TREE, threshold=0.4).fit(X, y)
    Y_full, _ = encode_targets(y, H)
    proba, pred = clf.predict_proba(X), clf.predict(X)
    expected = {
        "map": level_average_precision(Y_full, proba, H, level="leaf"),
        "map_micro": level_average_precision(Y_full, proba, H, level="leaf", average="micro"),
        "roc_auc": level_roc_auc(Y_full, proba, H, level="leaf"),
        "roc_auc_micro": level_roc_auc(Y_full, proba, H, level="leaf", average="micro"),
        "f1_macro": level_f1(Y_full, pred, H, level="leaf"),
        "f1_micro": level_f1(Y_full, pred, H, level="leaf", average="micro"),
        "hier_f1": hierarchical_f1(Y_full, pred, H),
    }[metric]
    assert make_hierarchical_scorer(metric, level="leaf")(clf, X, y) == pytest.approx(expected)


def test_scorer_threshold_overrides_predict():
    X, y = make_xy(2)
    clf = PerLevelClassifier(hierarchy=TREE).fit(X, y)
    Y_full, _ = encode_targets(y, H)
    scorer = make_hierarchical_scorer("f1_micro", level="all", threshold=0.3)
    expected = level_f1(Y_full, clf.predict_proba(X), H, average="micro", threshold=0.3)
    assert scorer(clf, X, y) == pytest.approx(expected)


def test_scorer_in_grid_search_and_pipeline():
    X, y = make_xy(3, n=90)
    pipe = make_pipeline(
        StandardScaler(), PerLevelClassifier(LogisticRegression(), hierarchy=TREE)
    )
    search = GridSearchCV(
        pipe,
        {"perlevelclassifier__estimator__C": [0.01, 1.0]},
        scoring={"map": hierarchical_map_scorer, "hf1": make_hierarchical_scorer("hier_f1")},
        refit="map",
        cv=KFold(3),
    )
    search.fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_map"]))
    assert np.all(np.isfinite(search.cv_results_["mean_test_hf1"]))
    scores = cross_val_score(
        PerLevelClassifier(hierarchy=TREE), X, y, cv=3, scoring=hierarchical_map_scorer
    )
    assert scores.shape == (3,) and np.all((scores > 0) & (scores <= 1))


def test_scorer_errors():
    with pytest.raises(ValueError, match="Unknown metric"):
        make_hierarchical_scorer("accuracy")
    with pytest.raises(ValueError, match="level"):
        make_hierarchical_scorer("map", level="leaves")
    X, y = make_xy(4)
    with pytest.raises(ValueError, match="hierarchy_"):
        hierarchical_map_scorer(StandardScaler().fit(X), X, y)
    assert "metric='map'" in repr(hierarchical_map_scorer)
    classes = PerLevelClassifier().fit(X, y[:, 0])
    with pytest.raises(ValueError, match="class target"):
        hierarchical_map_scorer(classes, X, y[:, 0])
