"""Shared fixtures: fixed seeds and tiny data builders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from sk_hier import Hierarchy
from sk_hier.datasets import make_hierarchical_multilabel

TREE = {"strings": ["violin", "cello"], "brass": ["trumpet", "horn"], "keys": ["piano"]}
DEEP_TREE = {
    "music": {"strings": ["violin", "cello"], "brass": ["trumpet"]},
    "speech": ["male", "female"],
}


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(0)  # noqa: NPY002 - code under test may use the legacy global RNG
    torch.manual_seed(0)
    # Small nets run faster on one thread, and 2-core CI runs tests side by side.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # BLAS threads fight each other on a loaded 2-core box
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def tree() -> Hierarchy:
    return Hierarchy(TREE)


@pytest.fixture
def deep_tree() -> Hierarchy:
    return Hierarchy(DEEP_TREE)


@pytest.fixture
def data(tree):
    """(X, Y_full, tree): 400 samples, 16 features, labels over all nodes."""
    return make_hierarchical_multilabel(400, tree, n_features=16, noise=1.0, random_state=0)


FAST = dict(hidden_dims=(32,), max_epochs=15, lr=5e-3, random_state=0)


#: float32 machine epsilon: every float tolerance in the tests is a multiple of it,
#: scaled by the size of the values compared, never a number one machine printed.
EPS32 = float(np.finfo(np.float32).eps)


def f32_tol(scale: float = 1.0, ulps: float = 64) -> dict:
    """``rtol``/``atol`` for float32 results after a short chain of operations.

    ``ulps`` bounds the rounding error accumulated by the chain, in units of float32
    epsilon relative to ``scale`` (the magnitude of the values compared): a few
    dozen operations, each off by half an ulp, stay well under 64.
    """
    return {"rtol": ulps * EPS32, "atol": ulps * EPS32 * max(1.0, float(scale))}
