import numpy as np
import pandas as pd
import pytest

from sk_hier import Hierarchy, encode_targets
from sk_hier.targets import is_class_target

NAN = np.nan


@pytest.fixture
def h():
    return Hierarchy({"strings": ["violin", "cello"], "brass": ["trumpet"]})


def full(rows):
    return np.array(rows, dtype=np.float32)


def test_formats_give_the_same_matrix(h):
    expected = full([[1, 0, 1, 0, 0], [1, 1, 0, 1, 1], [0, 0, 0, 0, 0]])
    leaf = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 0]])
    sets = [["violin"], ["cello", "trumpet"], []]
    paths = [["strings/violin"], ["strings/cello", "brass/trumpet"], []]
    df = pd.DataFrame(leaf, columns=list(h.leaves))
    for Y in (leaf, leaf.tolist(), list(leaf), expected, sets, paths, df):
        got, tree = encode_targets(Y, h)
        np.testing.assert_array_equal(got, expected)
        assert tree == h


def test_tree_inferred_from_paths_and_flat_fallback():
    Y, tree = encode_targets([["s/v"], ["b/t", "s/c"]])
    assert tree.labels == ("s", "b", "v", "c", "t")
    np.testing.assert_array_equal(Y, full([[1, 0, 1, 0, 0], [1, 1, 0, 1, 1]]))
    Y, tree = encode_targets(np.array([[1, 0], [0, 1]]))
    assert tree.labels == ("0", "1") and tree.n_levels == 1
    Y, tree = encode_targets([["y", "x"], ["z"]])
    assert tree.labels == ("x", "y", "z")


def test_unknowns_and_parent_only(h):
    # -1 / NaN leaves: parent unknown unless a known child is positive.
    Y, _ = encode_targets(np.array([[NAN, 0, 0], [NAN, 1, -1]]), h)
    np.testing.assert_array_equal(Y, full([[NAN, 0, NAN, 0, 0], [1, NAN, NAN, 1, NAN]]))
    # Parent given without children: the children are unknown, not negatives.
    Y, _ = encode_targets(full([[1, 0, 0, 0, 0]]), h)
    np.testing.assert_array_equal(Y, full([[1, 0, NAN, NAN, 0]]))
    Y, _ = encode_targets([["brass"]], h)
    np.testing.assert_array_equal(Y, full([[0, 1, 0, 0, NAN]]))
    # An absent parent makes unknown children absent (max rule).
    Y, _ = encode_targets(full([[0, NAN, NAN, NAN, NAN]]), h)
    np.testing.assert_array_equal(Y, full([[0, NAN, 0, 0, NAN]]))


def test_inconsistent_labels_are_named(h):
    bad = full([[0, 0, 1, 0, 0], [1, 0, 1, 0, 0], [0, 0, 0, 1, 0]])
    with pytest.raises(ValueError, match=r"row 0: \['violin'\] = 1 but parent 'strings'.*row 2"):
        encode_targets(bad, h)
    Y, _ = encode_targets(bad, h, inconsistent="propagate")
    assert (Y[:, 0] == 1).all()


def test_deep_tree_completion():
    h = Hierarchy({"a": {"b": ["c", "d"]}, "e": ["f"]})
    assert h.labels == ("a", "e", "b", "f", "c", "d") and h.leaves == ("f", "c", "d")
    Y, _ = encode_targets(np.array([[1, 0, 0], [0, 0, 1]]), h)
    np.testing.assert_array_equal(Y, full([[0, 1, 0, 1, 0, 0], [1, 0, 1, 0, 0, 1]]))


@pytest.mark.parametrize(
    "Y, match",
    [
        (np.array([[0, 2, 0]]), r"0, 1, or NaN"),
        (np.ones((2, 4)), "4 columns.*3 leaves and 5 labels"),
        ([["violin", "oboe"]], "Unknown label 'oboe' in row 0"),
        ([["brass/violin"]], "does not match the hierarchy"),
        ([[3.5, "violin"]], "label names"),
        (pd.DataFrame({"oboe": [1]}), "not labels of the hierarchy.*oboe"),
        (np.zeros((0, 3)), "0 samples"),
        (np.array(["x", "y"]), "not labels of the hierarchy"),
    ],
)
def test_bad_targets(h, Y, match):
    with pytest.raises(ValueError, match=match):
        encode_targets(Y, h)


def test_class_target_detection(h):
    assert is_class_target(np.array([0, 1, 2]))
    assert is_class_target(np.array([[0], [1]]))
    assert not is_class_target(np.array([[0], [1]]), h)
    assert not is_class_target(["violin", "cello"], h)
    Y, _ = encode_targets(np.array(["violin", "trumpet"], dtype=object), h)
    np.testing.assert_array_equal(Y[:, 2], [1, 0])
    with pytest.raises(ValueError, match="class per sample"):
        encode_targets([0, 1, 2])
