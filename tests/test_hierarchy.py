import pickle

import numpy as np
import pytest

from sk_hier import Hierarchy


def test_order_levels_and_queries():
    h = Hierarchy({"b": ["b2", "b1"], "a": {"a1": ["x", "y"], "a2": []}})
    assert h.levels == [("b", "a"), ("b2", "b1", "a1", "a2"), ("x", "y")]
    assert h.labels == ("b", "a", "b2", "b1", "a1", "a2", "x", "y")
    assert h.leaves == ("b2", "b1", "a2", "x", "y")
    assert h.inner == ("b", "a", "a1")
    assert h.parent_of("x") == "a1" and h.parent_of("a") is None
    assert h.children_of("a1") == ("x", "y")
    assert h.ancestors_of("y") == ("a1", "a")
    assert h.descendants_of("a") == ("a1", "a2", "x", "y")
    assert h.level_of("x") == 2
    assert h.path_of("x") == "a/a1/x"
    np.testing.assert_array_equal(h.membership(0, 1), [[1, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_array_equal(h.membership(0, 2), [[0, 0], [1, 1]])


def test_three_constructors_agree():
    d = Hierarchy({"s": ["v", "c"], "b": ["t"]})
    e = Hierarchy.from_edges([("v", "s"), ("c", "s"), ("t", "b")])
    p = Hierarchy.from_paths(["s/v", "s/c", "b/t"])
    assert d == e == p
    assert hash(d) == hash(p)
    assert Hierarchy(d.to_dict()) == d
    assert Hierarchy.from_json(d.to_json()) == d


def test_flat_dict_keys_link_children():
    h = Hierarchy({"a": ["b"], "b": ["c"]})
    assert h.levels == [("a",), ("b",), ("c",)]


def test_pickle_repr_immutable():
    h = Hierarchy({"s": ["v"]})
    assert pickle.loads(pickle.dumps(h)) == h
    assert "'s'" in repr(h)
    with pytest.raises(AttributeError, match="immutable"):
        h.labels = ()


@pytest.mark.parametrize(
    "tree, match",
    [
        ({}, "empty"),
        ([], "empty"),
        ([("a", "b"), ("b", "a")], "cycle"),
        ([("a", "a")], "cycle"),
        ({"s": ["v"], "b": ["v"]}, "two parents.*prefix"),
        ({"s": "violin"}, "single child"),
        ([("a", 1)], "strings"),
        (["a//b"], "empty component"),
        ("s/v", "single string"),
    ],
)
def test_bad_trees(tree, match):
    with pytest.raises(ValueError, match=match):
        Hierarchy(tree)


def test_unknown_label_query():
    with pytest.raises(KeyError, match="Unknown label 'zz'"):
        Hierarchy({"s": ["v"]}).parent_of("zz")
