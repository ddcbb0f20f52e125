import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_hier import STRATEGIES, HierarchicalTagger
from sk_hier.datasets import make_hierarchical_multilabel

from .conftest import FAST, f32_tol

# Expected failures of scikit-learn's common checks, each with its reason; the test
# below runs each one and checks that it fails for that reason and no other.
SAMPLE_WEIGHT_REASON = (
    "mini-batch SGD on a non-convex loss: a repeated sample lands in other batches "
    "(and shifts the shuffling and the validation split) than a weighted one, so the "
    "optimiser follows another path; sklearn's MLPClassifier has no sample_weight "
    "for the same reason"
)
SUBSET_REASON = (
    "float32 matrix products choose their blocking by batch size, so a sample's "
    "log-probabilities may differ by a few float32 ulps between a batch and a subset "
    "of it; decision_function, the difference of two such logs, shows it at rtol=1e-7"
)
EXPECTED_FAILED = {"check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON}
DEFAULT_EXPECTED_FAILED = {**EXPECTED_FAILED, "check_methods_subset_invariance": SUBSET_REASON}


@parametrize_with_checks(
    [
        HierarchicalTagger(
            hidden_dims=(16,), max_epochs=30, lr=1e-2, early_stopping=False, random_state=0
        ),
        HierarchicalTagger(
            hidden_dims=(),
            n_ensemble=2,
            input_noise=0.1,
            max_epochs=30,
            lr=1e-2,
            early_stopping=False,
            random_state=0,
        ),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@parametrize_with_checks(
    [HierarchicalTagger()], expected_failed_checks=lambda est: DEFAULT_EXPECTED_FAILED
)
def test_sklearn_compatible_with_default_parameters(estimator, check):
    check(estimator)


def _max_abs_difference(message: str) -> float:
    return float(re.search(r"Max absolute difference among violations: (\S+)", message)[1])


def test_expected_failures_fail_for_their_stated_reason():
    with pytest.raises(AssertionError) as exc:
        estimator_checks.check_sample_weight_equivalence_on_dense_data(
            "HierarchicalTagger", HierarchicalTagger()
        )
    assert "not equivalent to fitting with removed or repeated data points" in str(exc.value)

    with pytest.raises(AssertionError) as exc:
        estimator_checks.check_methods_subset_invariance(
            "HierarchicalTagger", HierarchicalTagger()
        )
    message = str(exc.value)
    assert "decision_function of HierarchicalTagger is not invariant" in message
    # Re-associated float32 sums over at most 256 terms (the default width) err by
    # well under 256 ulps of the values' scale (log-probabilities of order 1).
    assert _max_abs_difference(message) <= 256 * np.finfo(np.float32).eps


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_learns(data, strategy):
    X, Y, tree = data
    tagger = HierarchicalTagger(tree, strategy=strategy, **FAST).fit(X[:300], Y[:300])
    assert tagger.score(X[300:], Y[300:]) > 0.8
    proba = tagger.predict_proba(X[300:])
    assert proba.shape == (100, len(tree.labels)) and ((proba >= 0) & (proba <= 1)).all()
    assert tagger.predict(X[:3]).dtype.kind == "i"
    labels = tagger.predict_labels(X[:3])
    assert all(set(row) <= set(tree.labels) for row in labels)


def test_three_level_tree_every_strategy(deep_tree):
    X, Y, _ = make_hierarchical_multilabel(
        300, deep_tree, n_features=12, noise=1.0, random_state=1
    )
    for strategy in STRATEGIES:
        tagger = HierarchicalTagger(deep_tree, strategy=strategy, **FAST).fit(X, Y)
        assert tagger.predict_proba(X).shape == (300, len(deep_tree.labels))
        if strategy != "per_level":
            maps = tagger.attention_maps(X[:5])
            assert isinstance(maps, list) and len(maps) == 2


def test_flat_learns_from_leaves_only_and_uses_the_max_rule(data, tree):
    X, Y, _ = data
    Y_parents_flipped = Y.copy().astype(float)
    Y_parents_flipped[:, :3] = np.nan  # parents unknown: flat must not care
    a = HierarchicalTagger(tree, strategy="flat", **FAST).fit(X, Y)
    b = HierarchicalTagger(tree, strategy="flat", **FAST).fit(X, Y_parents_flipped)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    p = a.predict_proba(X)
    for k, parent in enumerate(tree.levels[0]):
        kids = [tree.index(c) for c in tree.children_of(parent)]
        np.testing.assert_allclose(p[:, k], p[:, kids].max(axis=1), rtol=1e-6)


def test_target_formats_give_the_same_model(data, tree):
    X, Y, _ = data
    leaf_cols = [tree.index(n) for n in tree.leaves]
    Y_leaf = Y[:, leaf_cols]
    sets = [[tree.leaves[j] for j in np.flatnonzero(row)] for row in Y_leaf]
    paths = [[tree.path_of(name) for name in row] for row in sets]
    formats = [Y, Y_leaf, Y_leaf.tolist(), sets, paths, pd.DataFrame(Y_leaf, columns=tree.leaves)]
    ref = None
    for target in formats:
        proba = HierarchicalTagger(tree, strategy="gmp", **FAST).fit(X, target).predict_proba(X)
        if ref is None:
            ref = proba
        np.testing.assert_array_equal(proba, ref)


def test_parent_only_labels_teach_the_parents(data, tree):
    """With leaves unknown, flat cannot learn the families; joint training can."""
    X, Y, _ = data
    Y_partial = Y.astype(float)
    Y_partial[:200, 3:] = np.nan  # half the clips: families only
    scores = {}
    for strategy in ("flat", "gmp"):
        tagger = HierarchicalTagger(tree, strategy=strategy, **FAST).fit(X[:300], Y_partial[:300])
        scores[strategy] = tagger.score(X[300:], Y[300:])
    assert np.isfinite(list(scores.values())).all()


def test_grid_search_pipeline_clone_pickle(data, tree):
    X, Y, _ = data
    search = GridSearchCV(
        HierarchicalTagger(tree, **FAST), {"strategy": ["flat", "gmp"]}, cv=2
    ).fit(X, Y)
    assert search.best_params_["strategy"] in ("flat", "gmp")
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    pipe = make_pipeline(StandardScaler(), PCA(8), HierarchicalTagger(tree, **FAST)).fit(X, Y)
    assert pipe.predict_proba(X).shape == (400, len(tree.labels))
    tagger = HierarchicalTagger(tree, strategy="resatt", **FAST).fit(X, Y)
    clone(tagger)  # unfitted copy with the same params
    assert clone(tagger).get_params()["strategy"] == "resatt"
    restored = pickle.loads(pickle.dumps(tagger))
    np.testing.assert_array_equal(restored.predict_proba(X), tagger.predict_proba(X))
    np.testing.assert_array_equal(restored.attention_maps(X[:4]), tagger.attention_maps(X[:4]))


def test_determinism_and_batch_independence(data, tree):
    X, Y, _ = data
    a = HierarchicalTagger(tree, strategy="resatt", **FAST).fit(X, Y).predict_proba(X)
    tagger = HierarchicalTagger(tree, strategy="resatt", **FAST).fit(X, Y)
    np.testing.assert_array_equal(tagger.predict_proba(X), a)
    alone = np.vstack([tagger.predict_proba(X[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(alone, a[:5], rtol=1e-5, atol=1e-7)
    shuffled = tagger.predict_proba(X[::-1])[::-1]
    np.testing.assert_allclose(shuffled, a, rtol=1e-5, atol=1e-7)
    other_seed = HierarchicalTagger(tree, strategy="resatt", **{**FAST, "random_state": 1})
    assert not np.array_equal(other_seed.fit(X, Y).predict_proba(X), a)


def test_attention_maps_and_gates(data, tree):
    X, Y, _ = data
    tagger = HierarchicalTagger(tree, strategy="resatt", **FAST).fit(X, Y)
    A = tagger.attention_maps(X[:10])
    assert A.shape == (10, 3, 5)
    np.testing.assert_allclose(A.sum(-1), 1, rtol=1e-5)
    assert (A[:, tree.membership(0, 1) == 0] == 0).all()
    assert tagger.gates_.shape == (3,) and ((tagger.gates_ > 0) & (tagger.gates_ < 1)).all()
    assert HierarchicalTagger(tree, strategy="gmp", **FAST).fit(X, Y).gates_ is None
    with pytest.raises(ValueError, match="per_level.*no maps"):
        HierarchicalTagger(tree, strategy="per_level", **FAST).fit(X, Y).attention_maps(X)


def test_thresholds_and_consistency(data, tree):
    X, Y, _ = data
    tagger = HierarchicalTagger(tree, strategy="per_level", enforce_consistency=True, **FAST)
    p = tagger.fit(X, Y).predict_proba(X)
    for j, label in enumerate(tree.labels):
        if tree.parent_of(label):
            assert (p[:, tree.index(tree.parent_of(label))] >= p[:, j]).all()
    per_label = np.linspace(0.1, 0.9, len(tree.labels))
    tagger.set_params(threshold=per_label)
    np.testing.assert_array_equal(tagger.predict(X), (p >= per_label).astype(int))
    tagger.set_params(threshold=[0.5, 0.5])
    with pytest.raises(ValueError, match="one value per label"):
        tagger.predict(X)


def test_validation_set_early_stopping_and_verbose(data, tree, capsys):
    X, Y, _ = data
    tagger = HierarchicalTagger(
        tree, max_epochs=200, patience=3, verbose=1, hidden_dims=(32,), lr=5e-2, random_state=0
    )
    tagger.fit(X[:300], Y[:300], X_val=X[300:], Y_val=Y[300:])
    history = tagger.history_
    assert len(history) < 200  # stopped early
    best = int(np.argmin(history[:, "valid_loss"]))
    out = capsys.readouterr().out
    assert "valid_loss" in out and "epoch" in out
    # restored weights are the best epoch's: re-evaluating gives the best valid loss
    import torch

    loss = tagger.net_.get_loss(
        tagger.net_.forward(X[300:]),
        torch.as_tensor(tagger._encode_fit_targets(Y[300:], 100, None, fit=False)),
    )
    np.testing.assert_allclose(loss.item(), history[best, "valid_loss"], rtol=1e-4)


def test_keyboard_interrupt_leaves_a_usable_model(data, tree):
    X, Y, _ = data
    from skorch.callbacks import Callback

    class Interrupt(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 3:
                raise KeyboardInterrupt

    tagger = HierarchicalTagger(tree, **FAST)
    tagger.fit(X, Y)
    tagger.net_.callbacks = [("stop", Interrupt())]
    tagger.net_.initialize_callbacks()
    tagger.net_.partial_fit(X, tagger._encode_fit_targets(Y, len(X), None, fit=False))
    assert np.isfinite(tagger.predict_proba(X)).all()


def test_class_targets_behave_like_a_classifier():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = np.array(["cat", "dog", "eel"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    clf = HierarchicalTagger(hidden_dims=(16,), max_epochs=40, lr=1e-2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog", "eel"])
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.score(X, y) > 0.8


def test_unknown_label_column_warns(data, tree):
    X, Y, _ = data
    Y = Y[:, len(tree.inner) :].astype(float)  # leaf columns: parents are derived
    Y[:, tree.leaves.index("horn")] = np.nan
    with pytest.warns(UserWarning, match="no known value.*horn"):
        HierarchicalTagger(tree, **{**FAST, "max_epochs": 2}).fit(X, Y)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda X, Y: (np.where(X > 1, np.nan, X), Y), "NaN"),
        (lambda X, Y: (np.where(X > 1, np.inf, X), Y), "infinity"),
        (lambda X, Y: (X, Y[:-1]), "X has 400 samples but y has 399"),
        (lambda X, Y: (X, [["violin", "oboe"]] * len(X)), "Unknown label 'oboe'"),
        (
            lambda X, Y: (X, np.c_[np.zeros((len(X), 2)), np.ones((len(X), 1)), Y[:, 3:]]),
            "breaks the hierarchy.*'strings' = 0.*inconsistent='propagate'",
        ),
        (lambda X, Y: (X[:, 0], Y), "2D array"),
        (lambda X, Y: (X.astype(object), Y), None),
    ],
)
def test_bad_fit_input(data, tree, change, match):
    X, Y, _ = data
    Xb, Yb = change(X, Y)
    if match is None:  # object X of numbers is converted, not rejected
        HierarchicalTagger(tree, **{**FAST, "max_epochs": 1}).fit(Xb, Yb)
        return
    with pytest.raises(ValueError, match=match):
        HierarchicalTagger(tree, **{**FAST, "max_epochs": 1}).fit(Xb, Yb)


def test_bad_predict_input_and_params(data, tree):
    X, Y, _ = data
    tagger = HierarchicalTagger(tree, **{**FAST, "max_epochs": 1}).fit(X, Y)
    with pytest.raises(ValueError, match="X has 15 features.*expecting 16"):
        tagger.predict_proba(X[:, :15])
    with pytest.raises(ValueError, match="strategy must be one of .*'flat'.*'resatt'.*got 'deep'"):
        HierarchicalTagger(tree, strategy="deep").fit(X, Y)
    with pytest.raises(ValueError, match="hierarchy is empty"):
        HierarchicalTagger({}).fit(X, Y)
    with pytest.raises(ValueError, match="dropout"):
        HierarchicalTagger(tree, dropout=1.5).fit(X, Y)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_linear_trunk_learns_for_every_strategy(data, strategy):
    X, Y, tree = data
    tagger = HierarchicalTagger(tree, strategy=strategy, **{**FAST, "hidden_dims": ()})
    tagger.fit(X[:300], Y[:300])
    assert tagger.score(X[300:], Y[300:]) > 0.8
    assert tagger.net_.module_.trunk.out_dim == X.shape[1]


def test_ensemble_is_deterministic_and_averages_its_members(data):
    X, Y, tree = data
    params = dict(FAST, n_ensemble=3, strategy="gmp", parent_gate=True)
    a = HierarchicalTagger(tree, **params).fit(X, Y)
    b = HierarchicalTagger(tree, **params).fit(X, Y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert len(a.nets_) == 3 and a.net_ is a.nets_[0]
    members = [net.forward(X.astype(np.float32))[:, 0].exp().numpy() for net in a.nets_]
    assert not np.allclose(members[0], members[1])  # different seeds, different nets
    np.testing.assert_allclose(a.predict_proba(X), np.mean(members, axis=0), **f32_tol())
    other = HierarchicalTagger(tree, **{**params, "random_state": 1}).fit(X, Y)
    assert not np.allclose(a.predict_proba(X), other.predict_proba(X))
    assert a.gates_.shape == (len(tree.levels[0]),)
    maps = a.set_params(strategy="gmp").attention_maps(X[:5])
    assert maps.shape[0] == 5


def test_ensemble_of_one_is_the_single_model(data):
    X, Y, tree = data
    one = HierarchicalTagger(tree, **FAST).fit(X, Y)
    ens = HierarchicalTagger(tree, n_ensemble=1, **FAST).fit(X, Y)
    np.testing.assert_array_equal(one.predict_proba(X), ens.predict_proba(X))
