"""Masked hierarchical binary cross-entropy (the user guide's *Strategies* page, "Loss")."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._tree import TreeSpec

__all__: list[str] = []  # the tagger's criteria; nothing public here

#: Loss weight of the parent levels when ``level_weights=None`` (leaves weigh 1): the
#: value that removed the ~1-point leaf loss of joint training in the reference runs.
DEFAULT_PARENT_WEIGHT = 0.3


def node_weights(spec: TreeSpec, level_weights) -> np.ndarray:
    """Loss weight of every node from ``level_weights``.

    ``None``: leaves 1, every inner node ``DEFAULT_PARENT_WEIGHT`` (0.3, measured). A float:
    leaves 1, inner nodes that value. A sequence: one weight per depth, shallowest
    first.
    """
    depth = spec.depth
    if level_weights is None:
        level_weights = DEFAULT_PARENT_WEIGHT
    if np.ndim(level_weights) == 0:
        return np.where(spec.is_leaf, 1.0, float(level_weights)).astype(np.float32)
    w = np.asarray(level_weights, dtype=np.float32)
    if w.shape != (spec.n_levels,):
        raise ValueError(
            f"level_weights must be None, a float (weight of the parent levels) or one "
            f"value per level ({spec.n_levels}, shallowest first); got {level_weights!r}."
        )
    return w[depth]


class HierarchicalBCELoss(nn.Module):
    """Sum over levels of the masked mean BCE of each level.

    ``y_true`` is ``(B, n_labels + 1)``: targets with NaN for unknown, then the
    sample weight. Unknown targets contribute nothing; each level's mean runs over
    its known (sample-weighted) entries, so levels with few known labels are not
    drowned. An inner node whose descendant leaves are all unknown in a row
    (a parent-only annotation) weighs 1 there, unless its level weight is 0.
    """

    def __init__(
        self,
        spec: TreeSpec,
        node_weight: np.ndarray,
        train_inner: bool = True,
        consistency_weight: float = 0.0,
        pos_weight: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        L = spec.n_labels
        is_leaf = spec.is_leaf
        weight = np.where(is_leaf | train_inner, node_weight, 0.0).astype(np.float32)
        level = np.zeros((spec.n_levels, L), dtype=np.float32)
        for d, (a, b) in enumerate(spec.level_slices):
            level[d, a:b] = 1.0
        below = spec.leaves_below()
        self.n_labels = L
        self.consistency_weight = float(consistency_weight)
        for name, value in {
            "weight": weight,
            "level": level,
            "below": below,
            "leaf_index": spec.leaf_index,
            "is_inner_trained": ~is_leaf & (weight > 0),
            "child": np.flatnonzero(spec.parent_index >= 0),
            "parent": spec.parent_index[spec.parent_index >= 0],
            "pos_weight": np.ones(L, np.float32) if pos_weight is None else pos_weight,
        }.items():
            self.register_buffer(name, torch.as_tensor(value), persistent=False)

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        lp, l1p = y_pred[:, 0], y_pred[:, 1]
        target, sw = y_true[:, : self.n_labels], y_true[:, self.n_labels]
        known = ~torch.isnan(target)
        t = torch.where(known, target, torch.zeros_like(target))
        bce = -(self.pos_weight * t * lp + (1 - t) * l1p)
        known_f = known.to(lp.dtype)
        leaf_known = known_f[:, self.leaf_index] @ self.below.T
        parent_only = self.is_inner_trained & (leaf_known == 0)
        weight = torch.where(parent_only, torch.ones_like(bce), self.weight.expand_as(bce))
        m = known_f * sw.unsqueeze(1)
        num = (weight * m * bce) @ self.level.T  # (B, n_levels)
        den = (m @ self.level.T).sum(0).clamp(min=1e-12)
        loss = (num.sum(0) / den).sum()
        if self.consistency_weight > 0 and len(self.child):
            p = lp.exp()
            loss = (
                loss
                + self.consistency_weight * F.relu(p[:, self.child] - p[:, self.parent]).mean()
            )
        return loss


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy for class targets; ``y_true`` is ``(B, 2)``: class index, weight."""

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(y_pred, y_true[:, 0].long(), reduction="none")
        sw = y_true[:, 1]
        return (ce * sw).sum() / sw.sum().clamp(min=1e-12)
