"""The maths of each head (DESIGN §5) on hand-sized cases."""

import pytest
import torch

from sk_hier import Hierarchy
from sk_hier.heads import RESIDUAL_WIDTH, HierarchicalNet, TreeSpec, Trunk, log1mexp
from sk_hier.strategies import STRATEGIES

from .conftest import f32_tol

TWO = Hierarchy({"s": ["v", "c", "d"], "b": ["t", "h"]})  # labels: s b v c d t h
THREE = Hierarchy({"m": {"s": ["v", "c"], "b": ["t"]}, "x": ["y", "z"]})


def net(tree, strategy, **kw):
    torch.manual_seed(0)
    return HierarchicalNet(
        6, TreeSpec.from_hierarchy(tree), strategy, hidden_dims=(8,), dropout=0, **kw
    ).eval()


def probs(model, X):
    return model(X)[:, 0].exp()


def test_log_pairs_are_complementary():
    X = torch.randn(5, 6)
    for strategy in STRATEGIES:
        out = net(THREE, strategy)(X)
        assert out.shape == (5, 2, len(THREE.labels))
        torch.testing.assert_close(
            out[:, 0].exp() + out[:, 1].exp(), torch.ones(5, 9), **f32_tol()
        )


def test_log1mexp_is_stable():
    x = torch.tensor([-1e-9, -1e-3, -0.5, -5.0, -100.0], requires_grad=True)
    y = log1mexp(x)
    ref = torch.log(1 - torch.exp(x.double().clamp(max=-1e-7)))
    torch.testing.assert_close(y.double(), ref, **f32_tol(ref.abs().max()))
    y.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_gmp_parent_is_max_and_gradient_reaches_argmax_only():
    model = net(TWO, "gmp")
    X = torch.randn(4, 6)
    p = probs(model, X)
    torch.testing.assert_close(p[:, 0], p[:, 2:5].max(1).values)
    torch.testing.assert_close(p[:, 1], p[:, 5:7].max(1).values)
    # d(parent logit)/d(child logits): one-hot at the arg-max child.
    z = model.trunk(X[:1])
    leaf_logit = model.head.leaf_out(z).detach().requires_grad_(True)
    model.head.leaf_out.forward = lambda _z: leaf_logit
    out = model.head(z)
    (out[0, 0, 0] - out[0, 1, 0]).backward()  # logit of parent "s"
    grad = leaf_logit.grad[0, :3]
    assert (grad != 0).sum() == 1 and grad.argmax() == leaf_logit[0, :3].argmax()
    assert (leaf_logit.grad[0, 3:] == 0).all()


@pytest.mark.parametrize("pooling", ["noisy_or", "logsumexp"])
def test_gmp_other_poolings(pooling):
    model = net(TWO, "gmp", pooling=pooling)
    p = probs(model, torch.randn(4, 6)).double()
    kids = p[:, 2:5]
    if pooling == "noisy_or":
        torch.testing.assert_close(p[:, 0], 1 - (1 - kids).prod(1), **f32_tol())
    else:
        logit = torch.logit(kids)
        torch.testing.assert_close(
            # logit() of a float32 probability near 1 amplifies its rounding by 1/(1-p).
            torch.logit(p[:, 0]),
            torch.logsumexp(logit, 1),
            **f32_tol(1 / (1 - p[:, 0]).min().item()),
        )
    maps = model.maps(torch.randn(3, 6))[0]
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2))


def test_top_down_child_never_exceeds_parent():
    for tree in (TWO, THREE):
        model = net(tree, "top_down")
        p = probs(model, torch.randn(50, 6) * 3)
        for j, label in enumerate(tree.labels):
            parent = tree.parent_of(label)
            if parent is not None:
                assert (p[:, j] <= p[:, tree.index(parent)] + 1e-6).all()


def test_resatt_attention_and_gated_parent_by_hand():
    model = net(TWO, "resatt")
    X = torch.randn(3, 6)
    A = model.maps(X)[0]
    torch.testing.assert_close(A.sum(-1), torch.ones(3, 2))
    mask = torch.as_tensor(TWO.membership(0, 1), dtype=torch.float32)
    assert (A[:, mask == 0] == 0).all() and (A[:, mask == 1] > 0).all()
    # Parent logit by hand: w_k * sum_j A_kj l_j + (1 - w_k) * h_k(z).
    head = model.head
    z = model.trunk(X)
    r = z + head.residual(z)
    score = head.scores[0](r).view(3, 2, 5).masked_fill(mask == 0, float("-inf"))
    A_hand = torch.softmax(score, -1)
    leaf = head.leaf_out(z)
    w = torch.sigmoid(head.gate_logits[0])
    s_hand = w * (A_hand * leaf.unsqueeze(1)).sum(-1) + (1 - w) * head.parent_out[0](z)
    out = model(X)
    torch.testing.assert_close(
        out[:, 0, :2] - out[:, 1, :2], s_hand, **f32_tol(s_hand.abs().max())
    )
    torch.testing.assert_close(A, A_hand)


@pytest.mark.parametrize("in_dim", [6, RESIDUAL_WIDTH, 4 * RESIDUAL_WIDTH])
def test_resatt_residual_block_is_at_most_residual_width_wide(in_dim):
    # Heads on a wide input (hidden_dims=()) must not grow a square in_dim x in_dim block.
    model = HierarchicalNet(in_dim, TreeSpec.from_hierarchy(TWO), "resatt", hidden_dims=())
    first, last = model.head.residual[0], model.head.residual[-1]
    width = min(in_dim, RESIDUAL_WIDTH)
    assert (first.in_features, first.out_features) == (in_dim, width)
    assert (last.in_features, last.out_features) == (width, in_dim)
    z = torch.randn(4, in_dim)
    assert (z + model.head.residual(z)).shape == z.shape


def test_resatt_without_mask_attends_everywhere():
    A = net(TWO, "resatt", attention_mask="none").maps(torch.randn(2, 6))[0]
    assert (A > 0).all()
    torch.testing.assert_close(A.sum(-1), torch.ones(2, 2))


def test_gated_gmp_mixes_max_and_parent_head():
    model = net(TWO, "gmp", parent_gate=True)
    X = torch.randn(3, 6)
    head, z = model.head, model.trunk(X)
    leaf = head.leaf_out(z)
    w = torch.sigmoid(head.gate_logits[0])
    groups = [leaf[:, :3].max(1).values, leaf[:, 3:].max(1).values]
    s_hand = w * torch.stack(groups, 1) + (1 - w) * head.parent_out[0](z)
    out = model(X)
    torch.testing.assert_close(
        out[:, 0, :2] - out[:, 1, :2], s_hand, **f32_tol(s_hand.abs().max())
    )


def test_three_levels_every_strategy():
    X = torch.randn(4, 6)
    for strategy in STRATEGIES:
        model = net(THREE, strategy)
        p = probs(model, X)
        assert torch.isfinite(p).all() and p.shape == (4, 9)
        if strategy in ("flat", "gmp"):
            # Max rule at each level pair: m = max(s, b), s = max(v, c).
            i = THREE.index
            torch.testing.assert_close(p[:, i("m")], torch.maximum(p[:, i("s")], p[:, i("b")]))
            torch.testing.assert_close(p[:, i("s")], torch.maximum(p[:, i("v")], p[:, i("c")]))
        if STRATEGIES[strategy].has_maps:
            maps = model.maps(X)
            assert [tuple(m.shape) for m in maps] == [(4, 2, 4), (4, 2, 3)]


@pytest.mark.parametrize("dims", [(), (8,)], ids=["linear", "mlp"])
@pytest.mark.parametrize("skip", [False, True], ids=["plain", "skip"])
def test_trunk_shapes_every_strategy_and_depth(dims, skip):
    torch.manual_seed(0)
    X = torch.randn(4, 6)
    for tree in (TWO, THREE):
        for strategy in STRATEGIES:
            model = HierarchicalNet(
                6,
                TreeSpec.from_hierarchy(tree),
                strategy,
                hidden_dims=dims,
                linear_skip=skip,
                input_noise=0.5,
                input_dropout=0.5,
            ).eval()
            out = model(X)
            assert out.shape == (4, 2, len(tree.labels)) and torch.isfinite(out).all()
            torch.testing.assert_close(
                out[:, 0].exp() + out[:, 1].exp(), torch.ones_like(out[:, 0]), **f32_tol()
            )
            if strategy in ("flat", "gmp"):  # the max rule holds whatever the trunk
                p = out[:, 0].exp()
                for parent in tree.inner:
                    kids = [tree.index(c) for c in tree.children_of(parent)]
                    torch.testing.assert_close(p[:, tree.index(parent)], p[:, kids].max(1).values)


def test_linear_trunk_is_the_identity_and_skip_adds_a_linear_map():
    X = torch.randn(5, 6)
    trunk = Trunk(6, hidden_dims=(), input_noise=1.0, input_dropout=0.5).eval()
    torch.testing.assert_close(trunk(X), X)  # noise and dropout act only in training
    assert trunk.skip is None and trunk.out_dim == 6
    torch.manual_seed(0)
    skip = Trunk(6, hidden_dims=(4,), dropout=0, linear_skip=True).eval()
    torch.testing.assert_close(skip(X), skip.net(X) + X @ skip.skip.weight.T, **f32_tol(10))


def test_input_noise_and_dropout_act_in_training_only():
    X = torch.ones(200, 6)
    trunk = Trunk(6, hidden_dims=(), input_noise=0.1).train()
    noisy = trunk(X)
    assert 0.08 < float((noisy - X).std()) < 0.12
    dropped = Trunk(6, hidden_dims=(), input_dropout=0.5).train()(X)
    assert 0.4 < float((dropped == 0).float().mean()) < 0.6
