"""Tree index maths in one place: index maps, ancestor / leaf matrices, the max rule.

Heads, losses, metrics, the tagger and the baselines all read the tree through
:class:`TreeSpec` (numpy only, so the low layers need no torch and no estimator).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .hierarchy import Hierarchy

__all__ = ["TreeSpec"]


@dataclass(frozen=True)
class TreeSpec:
    """Index maps of a hierarchy, in the form the heads need (numpy, picklable).

    ``level_slices[d]`` is the slice of ``labels`` at depth d (levels are contiguous
    in ``labels`` order). For each depth d with children below it, ``pairs[d]``
    holds ``(inner_pos, mask)``: positions (within level d) of the nodes that have
    children, and the 0/1 mask ``(n_inner_d, n_nodes_{d+1})`` of their children.
    """

    n_labels: int
    level_slices: tuple
    leaf_index: np.ndarray  # positions of the leaves in ``labels``
    parent_index: np.ndarray  # parent position for each label, -1 for roots
    pairs: tuple

    @classmethod
    def from_hierarchy(cls, hierarchy: Hierarchy) -> TreeSpec:
        labels = hierarchy.labels
        slices, start = [], 0
        for level in hierarchy.levels:
            slices.append((start, start + len(level)))
            start += len(level)
        pairs = []
        for d in range(hierarchy.n_levels - 1):
            level, below = hierarchy.levels[d], hierarchy.levels[d + 1]
            inner = [i for i, n in enumerate(level) if hierarchy.children_of(n)]
            mask = np.zeros((len(inner), len(below)), dtype=np.float32)
            pos = {n: j for j, n in enumerate(below)}
            for r, i in enumerate(inner):
                for c in hierarchy.children_of(level[i]):
                    mask[r, pos[c]] = 1.0
            pairs.append((np.asarray(inner, dtype=np.int64), mask))
        parent = [hierarchy.parent_of(n) for n in labels]
        return cls(
            n_labels=len(labels),
            level_slices=tuple(slices),
            leaf_index=np.asarray([hierarchy.index(n) for n in hierarchy.leaves], dtype=np.int64),
            parent_index=np.asarray(
                [-1 if p is None else hierarchy.index(p) for p in parent], dtype=np.int64
            ),
            pairs=tuple(pairs),
        )

    @property
    def n_levels(self) -> int:
        return len(self.level_slices)

    def level_size(self, d: int) -> int:
        a, b = self.level_slices[d]
        return b - a

    def leaves_at(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions within level d, positions within the leaf vector) of level-d leaves."""
        a, b = self.level_slices[d]
        sel = np.flatnonzero((self.leaf_index >= a) & (self.leaf_index < b))
        return self.leaf_index[sel] - a, sel

    @property
    def depth(self) -> np.ndarray:
        """Depth of every node, in ``labels`` order."""
        out = np.zeros(self.n_labels, dtype=int)
        for d, (a, b) in enumerate(self.level_slices):
            out[a:b] = d
        return out

    @property
    def is_leaf(self) -> np.ndarray:
        """Boolean mask of the leaves, in ``labels`` order."""
        out = np.zeros(self.n_labels, dtype=bool)
        out[self.leaf_index] = True
        return out

    def ancestors(self, node: int) -> list[int]:
        """Positions of the ancestors of ``node``, nearest first."""
        out, node = [], int(self.parent_index[node])
        while node >= 0:
            out.append(node)
            node = int(self.parent_index[node])
        return out

    def leaves_below(self) -> np.ndarray:
        """(n_labels, n_leaves) 0/1: 1 where leaf j lies strictly below node k."""
        below = np.zeros((self.n_labels, len(self.leaf_index)), dtype=np.float32)
        for j, leaf in enumerate(self.leaf_index):
            below[self.ancestors(leaf), j] = 1.0
        return below

    def closure(self) -> np.ndarray:
        """(n_labels, n_labels) 0/1: row j marks node j and all its ancestors."""
        out = np.eye(self.n_labels, dtype=int)
        for j in range(self.n_labels):
            out[j, self.ancestors(j)] = 1
        return out

    def max_rule(self, leaf_scores: np.ndarray) -> np.ndarray:
        """Scores of every node from leaf scores (columns in leaf order), by the max rule."""
        P = np.zeros((leaf_scores.shape[0], self.n_labels))
        P[:, self.leaf_index] = leaf_scores
        return self.lift_parents(P)

    def lift_parents(self, scores: np.ndarray) -> np.ndarray:
        """Raise every parent to at least its best child, in place; returns ``scores``.

        Deepest level first, so every child is final before its parent takes the max.
        """
        for d in reversed(range(1, self.n_levels)):
            a, b = self.level_slices[d]
            for j in range(a, b):
                p = self.parent_index[j]
                np.maximum(scores[:, p], scores[:, j], out=scores[:, p])
        return scores
