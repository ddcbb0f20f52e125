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

from ._rows import LazyRows as _LazyRows
from ._rows import is_chunked as _is_chunked
from ._tree import TreeSpec
from .strategies import STRATEGIES

__all__ = ["ArrayDataset", "BatchIterator", "TaggerNet", "build_net"]


def _as_source(X):
    """A zero-copy torch view where possible; numpy (memmap, read-only...) otherwise.

    Chunked arrays (zarr) are wrapped in ``_LazyRows`` and read batch by batch.
    """
    if isinstance(X, torch.Tensor | _LazyRows):
        return X
    if _is_chunked(X):
        return _LazyRows(X)
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
    """``X`` (n, d) and optional ``y``; indexed by arrays of row positions.

    ``X`` may be a numpy array (a memmap included), a torch tensor, a ``_LazyRows``
    or a zarr array; the last three kinds are read only batch by batch.
    """

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
            # Read the rows in sorted order (sequential on a memmap, one read per
            # chunk on zarr), then put them back in batch order: every source then
            # gives the same batches, so dropout masks and results do not depend on
            # where X lives.
            order = np.argsort(idx, kind="stable")
            back = np.empty_like(order)
            back[order] = np.arange(len(order))
            xb = _tensor(np.asarray(self.X[idx[order]])[back])
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

    def _bounds(self) -> list:
        n = len(self.dataset)
        starts = list(range(0, n, self.batch_size))
        if self.shuffle and len(starts) > 1 and n - starts[-1] == 1:
            # A training batch of one sample breaks batch normalisation (no variance)
            # and gives a noisy step: that sample joins the previous batch instead.
            starts.pop()
        return list(zip(starts, starts[1:] + [n]))

    def __len__(self) -> int:
        return len(self._bounds())

    def __iter__(self):
        if not self.shuffle:
            for start, stop in self._bounds():
                yield self.dataset.take(slice(start, stop))
            return
        order = self.rng.permutation(len(self.dataset))
        for start, stop in self._bounds():
            yield self.dataset.take(order[start:stop])


class TaggerNet(NeuralNet):
    """``NeuralNet`` that builds ``ArrayDataset``/``BatchIterator`` and skips DataLoader."""

    def __init__(self, *args, seed: int = 0, penalty: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seed = seed
        self.penalty = penalty

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training and self.penalty > 0:
            # L-BFGS has no weight decay: an L2 term on the weight matrices, not on
            # biases, gates or norms (as LogisticRegression's C and MLPClassifier's alpha).
            squares = sum(p.pow(2).sum() for p in self.module_.parameters() if p.ndim > 1)
            loss = loss + 0.5 * self.penalty * squares
        return loss

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


# -- building the net of a HierarchicalTagger ------------------------------------------
def _trunk_options(tagger) -> dict:
    dims = (tagger.hidden_dims,) if isinstance(tagger.hidden_dims, int) else tagger.hidden_dims
    return dict(
        hidden_dims=tuple(int(h) for h in dims),
        dropout=float(tagger.dropout),
        activation=tagger.activation,
        normalization=tagger.normalization,
        input_dropout=float(tagger.input_dropout),
        input_noise=float(tagger.input_noise),
        linear_skip=bool(tagger.linear_skip),
    )


def _pos_weight(tagger, y_arr: np.ndarray) -> np.ndarray | None:
    if tagger.pos_weight != "balanced":
        return None
    T = y_arr[:, :-1]
    pos = np.nansum(T, axis=0)
    neg = np.sum(T == 0, axis=0)
    return np.where(pos > 0, neg / np.maximum(pos, 1), 1.0).astype(np.float32)


def _module_and_criterion(tagger, y_arr: np.ndarray) -> tuple[dict, TreeSpec | None]:
    """skorch's module/criterion arguments for the tagger's settings, and the tree spec."""
    from .heads import ClassNet, HierarchicalNet
    from .losses import HierarchicalBCELoss, WeightedCrossEntropy, node_weights

    trunk = {f"module__{k}": v for k, v in _trunk_options(tagger).items()}
    if tagger.target_type_ != "multilabel":
        return dict(
            module=ClassNet,
            module__n_classes=len(tagger.classes_),
            criterion=WeightedCrossEntropy,
            **trunk,
        ), None
    spec = TreeSpec.from_hierarchy(tagger.hierarchy_)
    strategy = STRATEGIES[tagger.strategy]
    head = strategy.head_options(tagger.get_params())
    return dict(
        module=HierarchicalNet,
        module__spec=spec,
        module__strategy=tagger.strategy,
        criterion=HierarchicalBCELoss,
        criterion__spec=spec,
        criterion__node_weight=node_weights(spec, tagger.level_weights),
        criterion__train_inner=strategy.trains_parents,
        criterion__consistency_weight=tagger.consistency_weight,
        criterion__pos_weight=_pos_weight(tagger, y_arr),
        **trunk,
        **{f"module__{k}": v for k, v in head.items()},
    ), spec


def _train_split(tagger, n: int, val, seed: int):
    """skorch's ``train_split``: the given validation set, a seeded hold-out, or none."""
    if val is not None:
        return _given_split(val)
    if not tagger.early_stopping:
        return None
    n_val = round(tagger.validation_fraction * n)
    if n_val < 1 or n - n_val < 1:
        return None
    perm = np.random.default_rng(seed).permutation(n)
    val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return lambda ds, y=None: (Subset(ds, tr_idx), Subset(ds, val_idx))


def build_net(tagger, X, y_arr: np.ndarray, val, seed: int) -> tuple[TaggerNet, TreeSpec | None]:
    """The unfitted skorch net for ``tagger``'s parameters, and the tree spec it uses."""
    from skorch.callbacks import ProgressBar

    modules, spec = _module_and_criterion(tagger, y_arr)
    lbfgs = tagger.solver == "lbfgs"
    # L-BFGS trains on every sample; a given validation set is only scored.
    train_split = _given_split(val) if lbfgs else _train_split(tagger, len(X), val, seed)
    callbacks = []
    if tagger.early_stopping:
        callbacks.append(("early_stopping", _stopping(tagger, train_split)))
    if tagger.verbose >= 2:
        callbacks.append(("progress", ProgressBar()))
    net = TaggerNet(
        **modules,
        **_optimizer(tagger),
        module__n_features=X.shape[1],
        max_epochs=int(tagger.max_epochs),
        train_split=train_split,
        callbacks=callbacks,
        device=tagger.device,
        verbose=int(tagger.verbose),
        seed=seed,
    )
    return net, spec


#: Relative loss gain per L-BFGS step below which the fit has converged (skorch's
#: default threshold; scikit-learn's MLP uses the same 1e-4 as its ``tol``).
LBFGS_TOL = 1e-4


def _given_split(val):
    if val is None:
        return None
    valid = ArrayDataset(*val)
    return lambda ds, y=None: (ds, valid)


def _optimizer(tagger) -> dict:
    """skorch's optimiser arguments for ``tagger.solver``."""
    if tagger.solver == "lbfgs":
        # Full batch, one epoch = one step of up to 20 iterations; the line search
        # picks the step length, so lr=1 is only its first trial.
        return dict(
            optimizer=torch.optim.LBFGS,
            optimizer__line_search_fn="strong_wolfe",
            lr=1.0,
            batch_size=-1,
            penalty=float(tagger.weight_decay),
        )
    return dict(
        optimizer=torch.optim.Adam,
        optimizer__weight_decay=tagger.weight_decay,
        lr=tagger.lr,
        batch_size=int(tagger.batch_size),
    )


def _stopping(tagger, train_split):
    """Early stopping: on the validation loss (Adam), or once L-BFGS has converged."""
    from skorch.callbacks import EarlyStopping

    if tagger.solver == "lbfgs":
        # Two steps (40 iterations) without a relative gain of LBFGS_TOL end the fit.
        return EarlyStopping(
            monitor="train_loss", patience=2, threshold=LBFGS_TOL, load_best=False
        )
    monitor = "valid_loss" if train_split is not None else "train_loss"
    return EarlyStopping(monitor=monitor, patience=tagger.patience, load_best=True)
