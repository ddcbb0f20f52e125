"""Fast synthetic embeddings whose labels follow a tree by the max rule."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from ..hierarchy import Hierarchy
from ..targets import as_hierarchy

__all__ = ["default_hierarchy", "make_hierarchical_multilabel"]


def default_hierarchy(n_parents: int = 4, n_children: int = 3) -> Hierarchy:
    """A two-level tree ``p0..`` with children ``p0_c0..``.

    Examples
    --------
    >>> default_hierarchy(2, 2).labels
    ('p0', 'p1', 'p0_c0', 'p0_c1', 'p1_c0', 'p1_c1')
    """
    return Hierarchy(
        {f"p{i}": [f"p{i}_c{j}" for j in range(n_children)] for i in range(n_parents)}
    )


def make_hierarchical_multilabel(
    n_samples: int = 1000,
    hierarchy: Any = None,
    n_features: int = 64,
    *,
    mean_labels: float = 2.0,
    max_labels: int = 5,
    family_correlation: float = 0.5,
    signal: float = 1.0,
    noise: float = 3.0,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray, Hierarchy]:
    """Embeddings of "clips" that each hold a few leaves of a tree.

    Each leaf has a prototype: the sum of random directions of its ancestors and
    its own, so siblings look alike. A sample picks 1 to ``max_labels`` leaves
    (about ``mean_labels`` on average; with probability ``family_correlation`` each
    further leaf is drawn from a family already present), and its embedding is the
    sum of their prototypes passed through a mild non-linearity, plus Gaussian
    noise. Parents follow by the max rule.

    Parameters
    ----------
    n_samples : int, default=1000
    hierarchy : Hierarchy, dict, list or None, default=None
        The tree; ``None`` gives ``default_hierarchy()`` (4 parents x 3 children).
    n_features : int, default=64
    mean_labels : float, default=2.0
        Mean number of leaves per sample.
    max_labels : int, default=5
    family_correlation : float, default=0.5
        Chance that a further leaf comes from a family already in the sample.
    signal : float, default=1.0
        Scale of the prototypes.
    noise : float, default=3.0
        Standard deviation of the additive noise (the default makes a task that a
        tagger learns to a macro AP of about 0.9, leaving room to compare).
    random_state : int, RandomState or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    Y : ndarray of shape (n_samples, n_labels), int
        0/1 for every node in ``hierarchy.labels`` order (the max rule holds).
    hierarchy : Hierarchy

    Examples
    --------
    >>> from sk_hier.datasets import make_hierarchical_multilabel
    >>> X, Y, tree = make_hierarchical_multilabel(n_samples=5, n_features=8, random_state=0)
    >>> X.shape, Y.shape, len(tree.leaves)
    ((5, 8), (5, 16), 12)
    """
    tree = default_hierarchy() if hierarchy is None else as_hierarchy(hierarchy)
    if n_samples < 1 or n_features < 1:
        raise ValueError("n_samples and n_features must be positive.")
    if not 0 <= family_correlation <= 1:
        raise ValueError("family_correlation must lie in [0, 1].")
    rng = check_random_state(random_state)
    labels, leaves = tree.labels, tree.leaves
    direction = {n: rng.normal(size=n_features) / np.sqrt(n_features) for n in labels}
    proto = np.stack(
        [sum(direction[a] for a in (leaf, *tree.ancestors_of(leaf))) for leaf in leaves]
    )
    proto *= signal * np.sqrt(n_features) / np.linalg.norm(proto, axis=1, keepdims=True)
    family = [(tree.ancestors_of(leaf) or (leaf,))[-1] for leaf in leaves]
    Y_leaf = np.zeros((n_samples, len(leaves)), dtype=int)
    counts = np.clip(rng.poisson(max(mean_labels - 1, 0), size=n_samples) + 1, 1, max_labels)
    for i, k in enumerate(np.minimum(counts, len(leaves))):
        chosen = [rng.randint(len(leaves))]
        while len(chosen) < k:
            present = {family[j] for j in chosen}
            same = [j for j in range(len(leaves)) if family[j] in present and j not in chosen]
            pool = same if same and rng.rand() < family_correlation else None
            if pool is None:
                pool = [j for j in range(len(leaves)) if j not in chosen]
            chosen.append(pool[rng.randint(len(pool))])
        Y_leaf[i, chosen] = 1
    mix = Y_leaf @ proto
    X = np.tanh(mix / np.sqrt(n_features) * 2) * np.sqrt(n_features) / 2 + mix * 0.25
    X = X + noise * rng.normal(size=X.shape)
    Y = np.zeros((n_samples, len(labels)), dtype=int)
    for j, leaf in enumerate(leaves):
        for node in (leaf, *tree.ancestors_of(leaf)):
            Y[:, tree.index(node)] |= Y_leaf[:, j]
    return X.astype(np.float32), Y, tree
