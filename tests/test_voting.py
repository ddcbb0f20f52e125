"""VotingTagger: the weighted mean of its members, their parameters, bad member lists."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_hier import HierarchicalTagger, PerLevelClassifier, VotingTagger
from sk_hier.persistence import load, save

from .conftest import f32_tol
from .test_tagger import SAMPLE_WEIGHT_REASON


def _members(tree=None) -> list:
    return [
        ("linear", HierarchicalTagger(tree, hidden_dims=(), solver="lbfgs", random_state=0)),
        (
            "mlp",
            HierarchicalTagger(
                tree,
                hidden_dims=(16,),
                max_epochs=30,
                lr=1e-2,
                early_stopping=False,
                random_state=0,
            ),
        ),
    ]


@parametrize_with_checks(
    [VotingTagger(_members())],
    # The MLP member's own expected failure (mini-batch SGD), inherited by the vote.
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON
    },
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("weights", [None, [3.0, 1.0]])
def test_proba_is_the_weighted_mean_of_the_members(data, tree, weights):
    X, Y, _ = data
    vote = VotingTagger(_members(tree), weights=weights).fit(X, Y)
    alone = [clone(est).fit(X, Y).predict_proba(X) for _, est in _members(tree)]
    w = np.array([1.0, 1.0] if weights is None else weights)
    expected = (w[0] * alone[0] + w[1] * alone[1]) / w.sum()
    np.testing.assert_allclose(vote.predict_proba(X), expected, **f32_tol())
    assert not np.allclose(alone[0], alone[1], atol=1e-3)  # the mean mixes two models
    np.testing.assert_array_equal(vote.predict(X), (vote.predict_proba(X) >= 0.5).astype(int))
    assert list(vote.named_estimators_) == ["linear", "mlp"]
    assert vote.hierarchy_ is not None and list(vote.classes_) == list(tree.labels)


def test_members_obeying_the_max_rule_give_a_vote_that_does(data, tree):
    X, Y, _ = data
    members = [(n, est.set_params(strategy="top_down")) for n, est in _members(tree)]
    P = VotingTagger(members).fit(X, Y).predict_proba(X)
    for parent in tree.inner:
        for child in tree.children_of(parent):
            i, j = tree.index(child), tree.index(parent)
            assert np.all(P[:, i] <= P[:, j] + f32_tol()["atol"])


def test_member_parameters_are_reached_by_name_and_tuned_by_a_grid(data, tree):
    X, Y, _ = data
    vote = VotingTagger(_members(tree))
    params = vote.get_params()
    assert params["linear__weight_decay"] == 1e-4 and params["mlp"] is vote.estimators[1][1]
    logreg = PerLevelClassifier(LogisticRegression(), tree)
    vote.set_params(linear__weight_decay=1e-2, mlp=logreg)
    assert vote.estimators[0][1].weight_decay == 1e-2
    assert isinstance(vote.estimators[1][1], PerLevelClassifier)
    grid = [{"linear__weight_decay": [1e-3, 1e-2], "mlp__estimator__C": [0.1]}]
    search = GridSearchCV(vote, grid, cv=2).fit(X, Y)
    assert search.best_params_["linear__weight_decay"] in (1e-3, 1e-2)
    assert search.best_estimator_.named_estimators_["mlp"].estimator.C == 0.1


def test_deterministic_and_saved_without_pickle(data, tree, tmp_path):
    X, Y, _ = data
    vote = VotingTagger(_members(tree)).fit(X, Y)
    again = VotingTagger(_members(tree)).fit(X, Y)
    np.testing.assert_array_equal(vote.predict_proba(X), again.predict_proba(X))
    loaded = load(save(vote, tmp_path / "vote.skops"))
    np.testing.assert_array_equal(loaded.predict_proba(X), vote.predict_proba(X))


def test_class_targets_average_class_probabilities(data, tree):
    X, _, _ = data
    y = np.where(X[:, 0] > 0, "violin", "trumpet")
    vote = VotingTagger(_members()).fit(X, y)
    P = vote.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, **f32_tol())
    assert set(vote.predict(X)) <= {"violin", "trumpet"}


class _Untrainable:
    """Stands for a long fit that must never start."""

    def fit(self, X, y):
        raise AssertionError("trained before the member list was checked")

    def predict_proba(self, X):
        raise AssertionError


@pytest.mark.parametrize(
    "members, weights, match",
    [
        ([], None, "non-empty list"),
        ([HierarchicalTagger()], None, r"\(name, estimator\) tuples"),
        ([("a", _Untrainable()), ("a", _Untrainable())], None, "unique"),
        ([("a__b", _Untrainable())], None, "without '__'"),
        ([("weights", _Untrainable())], None, "clash"),
        ([("a", _Untrainable()), ("b", object())], None, "needs fit and predict_proba"),
        ([("a", _Untrainable()), ("b", _Untrainable())], [1.0], "weights must be 2"),
        ([("a", _Untrainable()), ("b", _Untrainable())], [1.0, -1.0], "non-negative"),
        ([("a", _Untrainable()), ("b", _Untrainable())], [0.0, 0.0], "positive sum"),
    ],
)
def test_bad_member_lists_are_refused_before_training(data, members, weights, match):
    X, Y, _ = data
    with pytest.raises((ValueError, TypeError), match=match):
        VotingTagger(members, weights=weights).fit(X, Y)


def test_members_over_other_trees_are_refused(data, tree):
    X, Y, _ = data
    # The same shape under other names: the columns fit both, the labels differ.
    other = {"bowed": ["violin", "cello"], "brass": ["trumpet", "horn"], "keys": ["piano"]}
    members = [("ours", PerLevelClassifier(hierarchy=tree))]
    members.append(("theirs", PerLevelClassifier(hierarchy=other)))
    with pytest.raises(ValueError, match="same label tree"):
        VotingTagger(members).fit(X, Y)
