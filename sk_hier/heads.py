"""Networks: a shared MLP trunk and one head per joint-training strategy.

Every head returns, for **every node** of the tree in ``hierarchy.labels`` order,
the pair ``(log p, log(1 - p))`` stacked as a tensor of shape ``(B, 2, n_labels)``.
Carrying both logs keeps the loss stable for every form (sigmoid logits, products
down a soft decision tree, noisy-OR pooling) without clamping probabilities.
The maths is in the user guide's *Strategies* page; each head's contract (options,
traits) is declared in :mod:`sk_hier.strategies`, which builds it by strategy name.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._tree import TreeSpec
from .strategies import STRATEGIES, TRUNK_ACTIVATIONS

__all__: list[str] = []  # torch modules behind the tagger; nothing public here

ACTIVATIONS = {name: getattr(nn, cls) for name, cls in TRUNK_ACTIVATIONS.items()}
_NEG = -1e4  # finite "minus infinity": keeps gradients of masked entries at zero
_LOG_HALF = -math.log(2.0)


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for ``x <= 0``, stable at both ends (Mächler, 2012)."""
    x = x.clamp(max=-1e-7)
    return torch.where(x > _LOG_HALF, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


class GaussianNoise(nn.Module):
    """Adds ``N(0, std^2)`` noise to its input while training; the identity otherwise."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.std > 0:
            return x + self.std * torch.randn_like(x)
        return x


class Trunk(nn.Module):
    """``x -> z``: input noise and dropout, then an MLP (Linear, optional normalisation,
    activation, dropout per layer), plus an optional linear skip from the input.

    ``hidden_dims=()`` makes the trunk the identity (after the input regularisers):
    the heads then sit on the input, a jointly trained linear model.
    """

    def __init__(
        self,
        n_features: int,
        hidden_dims: tuple = (256,),
        dropout: float = 0.2,
        activation: str = "relu",
        normalization: str | None = None,
        input_dropout: float = 0.0,
        input_noise: float = 0.0,
        linear_skip: bool = False,
    ) -> None:
        super().__init__()
        self.noise = GaussianNoise(input_noise)
        self.input_dropout = nn.Dropout(input_dropout) if input_dropout > 0 else nn.Identity()
        layers, width = [], n_features
        for h in hidden_dims:
            layers.append(nn.Linear(width, h))
            if normalization == "batch":
                layers.append(nn.BatchNorm1d(h))
            elif normalization == "layer":
                layers.append(nn.LayerNorm(h))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.net = nn.Sequential(*layers)
        # The skip is a linear model of the input beside the MLP: on small data the
        # heads can lean on it while the MLP learns only what is not linear.
        self.skip = nn.Linear(n_features, width, bias=False) if linear_skip and layers else None
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_dropout(self.noise(x))
        z = self.net(x)
        return z if self.skip is None else z + self.skip(x)


def _buf(module: nn.Module, name: str, value: np.ndarray) -> None:
    module.register_buffer(name, torch.as_tensor(value), persistent=False)


def _sigmoid_pair(logit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return F.logsigmoid(logit), F.logsigmoid(-logit)


class _Head(nn.Module):
    """Base: assembles per-level tensors into ``(B, 2, n_labels)``."""

    def __init__(self, spec: TreeSpec) -> None:
        super().__init__()
        self.spec = spec

    @staticmethod
    def _stack(lp: list, l1p: list) -> torch.Tensor:
        return torch.stack([torch.cat(lp, dim=1), torch.cat(l1p, dim=1)], dim=1)


#: Widest hidden layer of ``resatt``'s residual block (the MLP trunk's default width).
RESIDUAL_WIDTH = 256


class PoolingHead(_Head):
    """Bottom-up heads: leaf logits, parents pooled from their children.

    Covers ``flat`` (max rule; trained on leaves only by the loss), ``gmp`` with
    ``pooling`` in {"max", "noisy_or", "logsumexp"} and ``resatt`` (attention over
    the children's logits). With ``parent_gate`` each parent logit is
    ``w_k * pool_k + (1 - w_k) * h_k(z)``, ``w_k = sigmoid(omega_k)``.
    """

    def __init__(
        self,
        spec: TreeSpec,
        in_dim: int,
        pooling: str = "max",
        parent_gate: bool = False,
        attention: bool = False,
        attention_mask: str = "hierarchy",
    ) -> None:
        super().__init__(spec)
        self.pooling, self.parent_gate, self.attention = pooling, parent_gate, attention
        self.leaf_out = nn.Linear(in_dim, len(spec.leaf_index))
        if attention:
            # r(z) = z + MLP(z): the residual block that feeds the attention scores.
            # Its hidden layer is at most RESIDUAL_WIDTH wide, so heads straight on a
            # wide embedding (3,512 dimensions) stay small: a square block there held
            # 25M weights, and L-BFGS keeps 200 copies of them.
            width = min(in_dim, RESIDUAL_WIDTH)
            self.residual = nn.Sequential(
                nn.Linear(in_dim, width), nn.ReLU(), nn.Linear(width, in_dim)
            )
        self.scores, self.parent_out = nn.ModuleList(), nn.ModuleList()
        self.gate_logits = nn.ParameterList()
        for d, (inner, mask) in enumerate(spec.pairs):
            _buf(self, f"inner_{d}", inner)
            if attention and attention_mask == "none":
                mask = np.ones_like(mask)
            _buf(self, f"mask_{d}", mask)
            if attention:
                self.scores.append(nn.Linear(in_dim, mask.size))
            if parent_gate:
                self.parent_out.append(nn.Linear(in_dim, len(inner)))
                self.gate_logits.append(nn.Parameter(torch.zeros(len(inner))))
        for d in range(spec.n_levels):
            within, in_leaf = spec.leaves_at(d)
            _buf(self, f"leafpos_{d}", within)
            _buf(self, f"leafsel_{d}", in_leaf)

    def _pool(self, d: int, r, s_child, l1p_child, want_map: bool):
        """Pooled parent value at depth d and (if asked) the map that produced it."""
        mask = getattr(self, f"mask_{d}")
        if self.attention:
            k, n = mask.shape
            score = self.scores[d](r).view(-1, k, n).masked_fill(mask == 0, _NEG)
            amap = torch.softmax(score, dim=-1)
            return ("logit", (amap * s_child.unsqueeze(1)).sum(-1)), amap
        if self.pooling == "noisy_or":
            # log(1 - p_k) = sum_j log(1 - p_j): exact and stable in log space.
            l1p = l1p_child @ mask.T
            if not want_map:
                return ("l1p", l1p), None
            share = l1p_child.unsqueeze(1) * mask
            return ("l1p", l1p), share / share.sum(-1, keepdim=True).clamp(max=-1e-12)
        masked = s_child.unsqueeze(1).masked_fill(mask == 0, _NEG)
        if self.pooling == "logsumexp":
            amap = torch.softmax(masked, dim=-1) if want_map else None
            return ("logit", torch.logsumexp(masked, dim=-1)), amap
        value, arg = masked.max(dim=-1)
        amap = F.one_hot(arg, mask.shape[1]).to(s_child.dtype) if want_map else None
        return ("logit", value), amap

    def _run(self, z: torch.Tensor, want_maps: bool = False):
        spec, B = self.spec, z.shape[0]
        leaf_logit = self.leaf_out(z)
        r = z + self.residual(z) if self.attention else None
        lp, l1p, logits, maps = [None] * spec.n_levels, [None] * spec.n_levels, {}, {}
        for d in reversed(range(spec.n_levels)):
            size = spec.level_size(d)
            s = z.new_empty(B, size)
            lpd, l1pd = z.new_empty(B, size), z.new_empty(B, size)
            pos, sel = getattr(self, f"leafpos_{d}"), getattr(self, f"leafsel_{d}")
            if len(pos):
                s[:, pos] = leaf_logit[:, sel]
                lpd[:, pos], l1pd[:, pos] = _sigmoid_pair(leaf_logit[:, sel])
            if d < len(spec.pairs):
                inner = getattr(self, f"inner_{d}")
                (kind, value), maps[d] = self._pool(d, r, logits[d + 1], l1p[d + 1], want_maps)
                if kind == "l1p":
                    p_l1p, p_lp = value, log1mexp(value)
                    value = p_lp - p_l1p
                if self.parent_gate:
                    w = torch.sigmoid(self.gate_logits[d])
                    value = w * value + (1 - w) * self.parent_out[d](z)
                    kind = "logit"
                s[:, inner] = value
                if kind == "logit":
                    lpd[:, inner], l1pd[:, inner] = _sigmoid_pair(value)
                else:
                    lpd[:, inner], l1pd[:, inner] = p_lp, p_l1p
            logits[d], lp[d], l1p[d] = s, lpd, l1pd
        return self._stack(lp, l1p), [maps[d] for d in range(len(spec.pairs))]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._run(z)[0]

    def maps(self, z: torch.Tensor) -> list:
        return self._run(z, want_maps=True)[1]

    def gates(self) -> list:
        return [torch.sigmoid(g).detach() for g in self.gate_logits]


class PerLevelHead(_Head):
    """One linear head per level on the shared trunk; levels are independent."""

    def __init__(self, spec: TreeSpec, in_dim: int) -> None:
        super().__init__(spec)
        self.outs = nn.ModuleList(
            nn.Linear(in_dim, spec.level_size(d)) for d in range(spec.n_levels)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        pairs = [_sigmoid_pair(out(z)) for out in self.outs]
        return self._stack([p[0] for p in pairs], [p[1] for p in pairs])


class TopDownHead(_Head):
    """Soft decision tree: ``p_root = sigmoid(l)``, ``p_child = p_parent * sigmoid(q)``."""

    def __init__(self, spec: TreeSpec, in_dim: int) -> None:
        super().__init__(spec)
        self.out = nn.Linear(in_dim, spec.n_labels)
        for d in range(1, spec.n_levels):
            a, b = spec.level_slices[d]
            pa, _ = spec.level_slices[d - 1]
            _buf(self, f"parent_{d}", spec.parent_index[a:b] - pa)

    def _run(self, z: torch.Tensor):
        logit = self.out(z)
        a, b = self.spec.level_slices[0]
        lp0, l1p0 = _sigmoid_pair(logit[:, a:b])
        lp, l1p, cond = [lp0], [l1p0], []
        for d in range(1, self.spec.n_levels):
            a, b = self.spec.level_slices[d]
            gate = F.logsigmoid(logit[:, a:b])
            lpd = lp[-1][:, getattr(self, f"parent_{d}")] + gate
            lp.append(lpd)
            l1p.append(log1mexp(lpd))
            cond.append(gate)
        return self._stack(lp, l1p), cond

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self._run(z)[0]

    def maps(self, z: torch.Tensor) -> list:
        """p(child | parent) placed at (parent, child); rows need not sum to 1."""
        conds = self._run(z)[1]
        return [
            conds[d].exp().unsqueeze(1) * torch.as_tensor(mask, device=z.device)
            for d, (_inner, mask) in enumerate(self.spec.pairs)
        ]


class HierarchicalNet(nn.Module):
    """Trunk + the head of one strategy; forward returns ``(B, 2, n_labels)`` log-pairs."""

    def __init__(
        self,
        n_features: int,
        spec: TreeSpec,
        strategy: str = "gmp",
        hidden_dims: tuple = (256,),
        dropout: float = 0.2,
        activation: str = "relu",
        normalization: str | None = None,
        input_dropout: float = 0.0,
        input_noise: float = 0.0,
        linear_skip: bool = False,
        **head_options,
    ) -> None:
        super().__init__()
        self.trunk = Trunk(
            n_features,
            hidden_dims,
            dropout,
            activation,
            normalization,
            input_dropout,
            input_noise,
            linear_skip,
        )
        self.head = STRATEGIES[strategy].build(spec, self.trunk.out_dim, head_options)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(X))

    def maps(self, X: torch.Tensor) -> list:
        return self.head.maps(self.trunk(X))


class ClassNet(nn.Module):
    """Trunk + linear logits, for one-class-per-sample targets (softmax output)."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        hidden_dims: tuple = (256,),
        dropout: float = 0.2,
        activation: str = "relu",
        normalization: str | None = None,
        input_dropout: float = 0.0,
        input_noise: float = 0.0,
        linear_skip: bool = False,
    ) -> None:
        super().__init__()
        self.trunk = Trunk(
            n_features,
            hidden_dims,
            dropout,
            activation,
            normalization,
            input_dropout,
            input_noise,
            linear_skip,
        )
        self.out = nn.Linear(self.trunk.out_dim, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.out(self.trunk(X))
