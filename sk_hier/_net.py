"""The skorch net under ``HierarchicalTagger``, with a lean batch path.

skorch's default path fetches samples one by one through a DataLoader and
collates them; for small MLPs on embeddings that costs more than the maths.
Here a batch is one fancy-indexing operation on the whole array (a torch tensor
when the data sit in memory, the numpy array - e.g. a memmap - otherwise).
"""

from __future__ import annotations

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EpochTimer, PassthroughScoring, PrintLog

__all__ = ["ArrayDataset", "BatchIterator", "TaggerNet"]


def _as_source(X):
    """A zero-copy torch view where possible; numpy (memmap, read-only...) otherwise."""
    if isinstance(X, torch.Tensor):
        return X
    if (
        type(X) is np.ndarray
        and X.dtype == np.float32
        and X.flags.c_contiguous
        and X.flags.writeable
    ):
        return torch.from_numpy(X)
    return X


def _tensor(rows) -> torch.Tensor:
    """Rows read from a numpy source as a float32 tensor (copied if read-only)."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    return torch.from_numpy(rows if rows.flags.writeable else rows.copy())


class ArrayDataset(torch.utils.data.Dataset):
    """``X`` (n, d) and optional ``y``; indexed by arrays of row positions."""

    def __init__(self, X, y=None) -> None:
        self.X = _as_source(X)
        self.y = None if y is None else torch.as_tensor(np.asarray(y, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.X)

    def take(self, idx):
        if isinstance(idx, slice):  # in-order passes: views, no copy
            yb = None if self.y is None else self.y[idx]
            xb = self.X[idx]
            if not isinstance(xb, torch.Tensor):
                xb = _tensor(xb)
            return xb, yb
        if isinstance(self.X, torch.Tensor):
            xb = self.X[torch.from_numpy(idx)]
        else:
            # Sorted positions read a memmap sequentially; order within a batch
            # does not change a mean loss.
            xb = _tensor(self.X[np.sort(idx)])
            idx = np.sort(idx)
        yb = None if self.y is None else self.y[torch.from_numpy(idx)]
        return xb, yb

    def __getitem__(self, i):
        return self.take(np.atleast_1d(np.asarray(i)))


class Subset(ArrayDataset):
    """Rows ``index`` of a dataset, without copying the data."""

    def __init__(self, base: ArrayDataset, index: np.ndarray) -> None:
        self.base, self.index = base, np.asarray(index)

    def __len__(self) -> int:
        return len(self.index)

    def take(self, idx):
        return self.base.take(self.index[idx])


class BatchIterator:
    """Batches of a dataset; reshuffled at every pass when ``shuffle``."""

    def __init__(self, dataset, batch_size: int, shuffle: bool = False, seed: int = 0) -> None:
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        if not self.shuffle:
            for start in range(0, n, self.batch_size):
                yield self.dataset.take(slice(start, start + self.batch_size))
            return
        order = self.rng.permutation(n)
        for start in range(0, n, self.batch_size):
            yield self.dataset.take(order[start : start + self.batch_size])


class TaggerNet(NeuralNet):
    """``NeuralNet`` that builds ``ArrayDataset``/``BatchIterator`` and skips DataLoader."""

    def __init__(self, *args, seed: int = 0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed

    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            ("print_log", PrintLog()),
        ]

    def check_data(self, X, y=None):  # validated by the estimator already
        pass

    def get_dataset(self, X, y=None):
        if isinstance(X, ArrayDataset):
            return X
        return ArrayDataset(X, y)

    def get_iterator(self, dataset, training=False):
        bs = self.batch_size if self.batch_size > 0 else len(dataset)
        return BatchIterator(dataset, bs, shuffle=training, seed=self.seed)

    def forward_iter(self, X, training=False, device="cpu"):
        # One mode switch and one grad context for the whole pass, not per batch.
        self.check_is_fitted()
        dataset = self.get_dataset(X)
        self._set_training(training)
        with torch.set_grad_enabled(training):
            for xb, _ in self.get_iterator(dataset, training=False):
                yield self.infer(xb).to(device)
