import numpy as np
import torch

from sk_hier import Hierarchy
from sk_hier.heads import TreeSpec
from sk_hier.losses import HierarchicalBCELoss, node_weights

from .conftest import f32_tol

TREE = Hierarchy({"s": ["v", "c"], "b": ["t"]})  # labels s b v c t
SPEC = TreeSpec.from_hierarchy(TREE)
IS_LEAF = np.array([False, False, True, True, True])


def loss_fn(**kw):
    kw.setdefault("node_weight", node_weights(SPEC, None))
    return HierarchicalBCELoss(SPEC, **kw)


def pairs(p):
    p = torch.as_tensor(p, dtype=torch.float32)
    return torch.stack([p.log(), (1 - p).log()], 1)


def with_weight(Y, w=None):
    Y = torch.as_tensor(Y, dtype=torch.float32)
    w = torch.ones(len(Y)) if w is None else torch.as_tensor(w, dtype=torch.float32)
    return torch.cat([Y, w[:, None]], 1)


def bce(p, t):
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def test_level_means_by_hand():
    p = np.array([[0.8, 0.3, 0.6, 0.4, 0.2], [0.1, 0.7, 0.2, 0.3, 0.9]])
    Y = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1]], dtype=float)
    got = loss_fn()(pairs(p), with_weight(Y)).item()
    expected = bce(p[:, 2:], Y[:, 2:]).mean() + 0.3 * bce(p[:, :2], Y[:, :2]).mean()
    np.testing.assert_allclose(got, expected, **f32_tol(3))


def test_unknown_targets_contribute_nothing():
    p = torch.rand(4, 5) * 0.9 + 0.05
    Y = (torch.rand(4, 5) > 0.5).float()
    Y[1, 3] = Y[2, 0] = float("nan")
    fn = loss_fn()
    base = fn(pairs(p), with_weight(Y))
    p2 = p.clone()
    p2[1, 3], p2[2, 0] = 0.999, 0.001  # predictions at unknown entries change
    torch.testing.assert_close(fn(pairs(p2), with_weight(Y)), base)
    # and their gradient is exactly zero
    logits = torch.logit(p).requires_grad_(True)
    out = torch.stack(
        [torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits)], 1
    )
    fn(out, with_weight(Y)).backward()
    assert logits.grad[1, 3] == 0 and logits.grad[2, 0] == 0


def test_parent_only_rows_weigh_one_and_flat_ignores_parents():
    p = np.full((1, 5), 0.3)
    Y = np.array([[1, 0, np.nan, np.nan, 0]])  # family "s" only; "b" known via leaf t
    got = loss_fn()(pairs(p), with_weight(Y)).item()
    leaf = bce(0.3, 0.0)
    parents = (1.0 * bce(0.3, 1.0) + 0.3 * bce(0.3, 0.0)) / 2
    np.testing.assert_allclose(got, leaf + parents, **f32_tol(3))
    flat = loss_fn(train_inner=False)(pairs(p), with_weight(Y)).item()
    np.testing.assert_allclose(flat, leaf, **f32_tol(3))


def test_sample_weight_and_consistency_term():
    p = np.array([[0.2, 0.5, 0.9, 0.1, 0.4], [0.6, 0.5, 0.5, 0.1, 0.4]])
    Y = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=float)
    one = loss_fn()(pairs(p[:1]), with_weight(Y[:1])).item()
    weighted = loss_fn()(pairs(p), with_weight(Y, [1.0, 0.0])).item()
    np.testing.assert_allclose(weighted, one, **f32_tol(3))
    plain = loss_fn()(pairs(p), with_weight(Y)).item()
    cons = loss_fn(consistency_weight=2.0)(pairs(p), with_weight(Y)).item()
    # violations: row 0 v(0.9) > s(0.2) by 0.7; row 1 none; 3 edges x 2 rows
    # The difference of two float32 losses of order 3 keeps their absolute error.
    np.testing.assert_allclose(cons - plain, 2.0 * 0.7 / 6, **f32_tol(3))


def test_node_weights_forms():
    np.testing.assert_allclose(node_weights(SPEC, None), [0.3, 0.3, 1, 1, 1])
    np.testing.assert_allclose(node_weights(SPEC, 1.0), [1, 1, 1, 1, 1])
    np.testing.assert_allclose(node_weights(SPEC, [0.5, 2.0]), [0.5, 0.5, 2, 2, 2])
