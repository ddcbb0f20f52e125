"""``HierarchicalTagger``: the scikit-learn estimator around a skorch network."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, ProgressBar

from ._base import HierarchicalClassifierMixin
from ._net import ArrayDataset, Subset, TaggerNet
from .heads import ACTIVATIONS, HEADS, ClassNet, HierarchicalNet, TreeSpec
from .hierarchy import Hierarchy
from .losses import HierarchicalBCELoss, WeightedCrossEntropy, node_weights
from .targets import as_hierarchy, encode_targets, is_class_target, is_unnamed_indicator

__all__ = ["STRATEGIES", "HierarchicalTagger"]

STRATEGIES = tuple(HEADS)
_POOLINGS = ("max", "noisy_or", "logsumexp")

# Rows per block when X is checked without being loaded whole: about this many bytes.
_BLOCK_BYTES = 64 * 2**20


def _reads_lazily(X) -> bool:
    """Whether ``X`` is to be read batch by batch rather than validated as one array.

    True for chunked arrays (zarr) and for memmaps whose dtype is not float32 (which
    ``validate_data`` would cast, that is load, whole). A float32 memmap goes through
    ``validate_data``, which returns a view of it without copying.
    """
    from ._net import _is_chunked, _LazyRows

    if isinstance(X, _LazyRows) or _is_chunked(X):
        return True
    return isinstance(X, np.memmap) and X.dtype != np.float32


def _check_lazy_X(estimator, X, reset: bool):
    """Validate a lazily read ``X`` block by block; return it wrapped in ``_LazyRows``.

    Shape, dtype, the number of features and feature names are checked on the first
    row with ``validate_data`` (same rules and messages as for an array);
    finiteness is checked with ``check_array`` on blocks of about ``_BLOCK_BYTES``
    aligned to the array's chunks, so at most one block is in memory at a time.
    """
    from sklearn import get_config
    from sklearn.utils import check_array

    from ._net import _LazyRows

    raw = X.array if isinstance(X, _LazyRows) else X
    validate_data(
        estimator, np.asarray(raw[:1]), reset=reset, dtype=np.float32, ensure_min_samples=1
    )
    rows = _LazyRows(raw)
    if get_config()["assume_finite"]:
        return rows
    n, d = rows.shape
    step = max(1, _BLOCK_BYTES // max(1, d * np.dtype(raw.dtype).itemsize))
    try:
        chunk = int(raw.chunks[0])
    except (AttributeError, TypeError, IndexError, NotImplementedError):
        chunk = 1
    step = max(chunk, step // chunk * chunk)
    for start in range(0, n, step):
        check_array(rows[start : start + step], dtype=None, input_name="X", estimator=estimator)
    return rows


class HierarchicalTagger(
    HierarchicalClassifierMixin, ClassifierMixin, MultiOutputMixin, BaseEstimator
):
    """Hierarchical multi-label tagger: one network trained jointly over a label tree.

    A shared MLP trunk feeds the head of one strategy (DESIGN §5); every strategy
    outputs a probability for every node of the tree:

    - ``"flat"``: leaf sigmoids trained on leaves only; parents by the max rule.
    - ``"per_level"``: one linear head per level, trained jointly.
    - ``"top_down"``: soft decision tree, ``p_child = p_parent * sigmoid(q_child)``.
    - ``"gmp"``: grouped max-pooling of child logits into parent logits (``pooling``
      picks max, noisy-OR or log-sum-exp; ``parent_gate=True`` adds a gated
      dedicated parent head).
    - ``"resatt"``: attention over the children's logits from a residual block,
      gated with a dedicated parent head; ``attention_maps`` explains it.

    Parameters
    ----------
    hierarchy : Hierarchy, dict, list or None, default=None
        The label tree (anything ``Hierarchy`` accepts). ``None``: inferred from path
        targets, else flat multi-label tagging.
    strategy : {"flat", "per_level", "top_down", "gmp", "resatt"}, default="gmp"
        Joint-training strategy.
    hidden_dims : tuple of int, default=(256,)
        Widths of the trunk's hidden layers.
    dropout : float, default=0.2
        Dropout after each hidden layer.
    level_weights : None, float or sequence of float, default=None
        Loss weight per level: ``None`` = leaves 1, parents 0.3; a float = the weight
        of every parent level; a sequence = one weight per depth, shallowest first.
        Parent entries of samples whose leaves are all unknown weigh 1.
    consistency_weight : float, default=0.0
        Weight of ``mean(relu(p_child - p_parent))`` added to the loss.
    attention_mask : {"hierarchy", "none"}, default="hierarchy"
        ``resatt``: attend only to a parent's children, or to every node below.
    pooling : {"max", "noisy_or", "logsumexp"}, default="max"
        ``gmp``: how children pool into their parent.
    parent_gate : bool or "auto", default="auto"
        Gate a dedicated parent head into the pooled logit
        (``w_k * pool + (1 - w_k) * h_k(z)``). ``"auto"``: on for resatt, off for gmp.
    enforce_consistency : bool, default=False
        At predict time, lift each parent to at least its best child.
    activation : {"relu", "gelu", "tanh", "elu"}, default="relu"
    normalization : {None, "batch", "layer"}, default=None
        Normalisation after each hidden linear layer.
    pos_weight : None or "balanced", default=None
        ``"balanced"`` weighs each label's positives by its negative/positive ratio.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=1e-4
        Adam weight decay (L2).
    batch_size : int, default=128
    max_epochs : int, default=100
    early_stopping : bool, default=True
        Stop when the validation loss has not improved for ``patience`` epochs and
        restore the best weights.
    patience : int, default=10
    validation_fraction : float, default=0.1
        Share of the training samples held out for early stopping (ignored when
        ``X_val``/``Y_val`` are given to ``fit``).
    threshold : float or array of shape (n_labels,), default=0.5
        Decision threshold of ``predict`` (per label in ``classes_`` order).
    inconsistent : {"error", "propagate"}, default="error"
        A child labelled 1 under a parent labelled 0: raise, or set the parent.
    device : str, default="cpu"
        Torch device; may be changed after fitting or loading.
    random_state : int, RandomState or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation split.
    verbose : int, default=0
        1: a per-epoch table; 2: also a progress bar per epoch.

    Attributes
    ----------
    hierarchy_ : Hierarchy
        The tree used (given or inferred).
    classes_ : ndarray
        ``hierarchy_.labels`` for multi-label targets; the class labels for 1-D ones.
    n_features_in_ : int
    net_ : skorch.NeuralNet
        The fitted network wrapper.
    history_ : skorch.History
        Per-epoch losses.
    gates_ : ndarray, list of ndarray, or None
        Learned parent gates ``w_k`` (one array per level pair for deeper trees);
        ``None`` when the head has no gate.

    See Also
    --------
    sk_hier.baselines.PerLevelClassifier : classical per-level baseline.

    Examples
    --------
    >>> from sk_hier import HierarchicalTagger
    >>> from sk_hier.datasets import make_hierarchical_multilabel
    >>> X, Y, tree = make_hierarchical_multilabel(
    ...     n_samples=300, hierarchy={"a": ["a1", "a2"], "b": ["b1", "b2"]}, random_state=0)
    >>> tagger = HierarchicalTagger(tree, strategy="gmp", max_epochs=30, random_state=0)
    >>> tagger.fit(X, Y).predict_proba(X[:2]).shape
    (2, 6)
    >>> tagger.classes_
    array(['a', 'b', 'a1', 'a2', 'b1', 'b2'], dtype=object)
    >>> round(tagger.score(X, Y), 2) > 0.8
    True
    """

    def __init__(
        self,
        hierarchy=None,
        strategy="gmp",
        hidden_dims=(256,),
        dropout=0.2,
        level_weights=None,
        consistency_weight=0.0,
        attention_mask="hierarchy",
        pooling="max",
        parent_gate="auto",
        enforce_consistency=False,
        activation="relu",
        normalization=None,
        pos_weight=None,
        lr=1e-3,
        weight_decay=1e-4,
        batch_size=128,
        max_epochs=100,
        early_stopping=True,
        patience=10,
        validation_fraction=0.1,
        threshold=0.5,
        inconsistent="error",
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.hierarchy = hierarchy
        self.strategy = strategy
        self.hidden_dims = hidden_dims
        self.dropout = dropout
        self.level_weights = level_weights
        self.consistency_weight = consistency_weight
        self.attention_mask = attention_mask
        self.pooling = pooling
        self.parent_gate = parent_gate
        self.enforce_consistency = enforce_consistency
        self.activation = activation
        self.normalization = normalization
        self.pos_weight = pos_weight
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.threshold = threshold
        self.inconsistent = inconsistent
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- validation ---------------------------------------------------------------
    def _check_params(self) -> None:
        def choice(name, value, options):
            if value not in options:
                raise ValueError(
                    f"Unknown {name} {value!r}; valid options: {', '.join(map(repr, options))}."
                )

        choice("strategy", self.strategy, STRATEGIES)
        choice("attention_mask", self.attention_mask, ("hierarchy", "none"))
        choice("pooling", self.pooling, _POOLINGS)
        choice("parent_gate", self.parent_gate, ("auto", True, False))
        choice("activation", self.activation, tuple(ACTIVATIONS))
        choice("normalization", self.normalization, (None, "batch", "layer"))
        choice("pos_weight", self.pos_weight, (None, "balanced"))
        choice("inconsistent", self.inconsistent, ("error", "propagate"))
        dims = self.hidden_dims
        if isinstance(dims, numbers.Integral):
            dims = (dims,)
        if not all(isinstance(h, numbers.Integral) and h > 0 for h in dims):
            raise ValueError(f"hidden_dims must be positive integers, got {self.hidden_dims!r}.")
        for name, low, high in (
            ("dropout", 0.0, 1.0),
            ("validation_fraction", 0.0, 1.0),
        ):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and low <= value < high):
                raise ValueError(f"{name} must be a number in [{low}, {high}), got {value!r}.")
        for name in ("lr", "batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and value > 0):
                raise ValueError(f"{name} must be positive, got {value!r}.")
        for name in ("weight_decay", "consistency_weight"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value!r}.")

    def _gate(self) -> bool:
        if self.parent_gate == "auto":
            return self.strategy == "resatt"
        return bool(self.parent_gate)

    def _check_X(self, X, reset: bool) -> np.ndarray:
        # Arrays (a float32 memmap included: validate_data returns a view of it, no
        # copy) are validated as usual; zarr arrays and memmaps of other dtypes are
        # checked block by block and read batch by batch (``_LazyRows``).
        if _reads_lazily(X):
            return _check_lazy_X(self, X, reset)
        return validate_data(self, X, reset=reset, dtype=np.float32, ensure_min_samples=1)

    # -- fit ----------------------------------------------------------------------
    def fit(self, X, Y, sample_weight=None, X_val=None, Y_val=None) -> HierarchicalTagger:
        """Train the network on embeddings ``X`` and targets ``Y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings (a numpy memmap is read batch by batch).
        Y : targets
            Any format of DESIGN §4: leaf or full indicator (NaN/-1 unknown), label
            collections or path strings, a DataFrame with label columns, or one class
            label per sample.
        sample_weight : array-like of shape (n_samples,), default=None
        X_val, Y_val : optional validation set for early stopping.

        Returns
        -------
        self : HierarchicalTagger
        """
        self._check_params()
        if Y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = self._check_X(X, reset=True)
        y_arr = self._encode_fit_targets(Y, len(X), sample_weight)
        val = None
        if X_val is not None or Y_val is not None:
            if X_val is None or Y_val is None:
                raise ValueError("Pass both X_val and Y_val, or neither.")
            X_val = self._check_X(X_val, reset=False)
            val = (X_val, self._encode_fit_targets(Y_val, len(X_val), None, fit=False))
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net_ = self._build_net(X, y_arr, val, seed)
            self.net_.fit(X, y_arr)
        self.net_.train_split = None  # drop the references to the training data
        self.history_ = self.net_.history
        self.gates_ = self._fitted_gates()
        return self

    def _encode_fit_targets(self, Y, n_samples: int, sample_weight, fit: bool = True):
        if fit:
            self._class_target = is_class_target(Y, self.hierarchy)
        if self._class_target:
            y = np.asarray(Y)
            if y.ndim == 2:
                y = y[:, 0]
            check_classification_targets(y)
            if fit:
                self.classes_ = np.unique(y)
                if len(self.classes_) < 2:
                    raise ValueError(
                        "Only one class is present in y: a classifier needs at least two "
                        f"classes, got {self.classes_.tolist()}."
                    )
                self.hierarchy_ = Hierarchy.flat(str(c) for c in self.classes_)
            unseen = np.setdiff1d(y, self.classes_)
            if len(unseen):
                raise ValueError(f"Y_val has classes not seen in Y: {unseen.tolist()}.")
            target = np.searchsorted(self.classes_, y).astype(np.float32)
        else:
            hierarchy = as_hierarchy(self.hierarchy) if fit else self.hierarchy_
            target, hierarchy = encode_targets(Y, hierarchy, inconsistent=self.inconsistent)
            if fit:
                self.hierarchy_ = hierarchy
                self.classes_ = np.asarray(hierarchy.labels, dtype=object)
                if self.hierarchy is None and is_unnamed_indicator(Y):
                    # Columns without names: integer classes, as MLPClassifier.
                    self.classes_ = np.arange(len(hierarchy.labels))
                self._warn_unknown_labels(target)
        if len(target) != n_samples:
            raise ValueError(
                f"X has {n_samples} samples but Y has {len(target)}: give one target row "
                "per sample."
            )
        sw = _check_sample_weight(sample_weight, np.empty((n_samples, 0)), dtype=np.float32)
        return np.column_stack([target, sw]).astype(np.float32)

    def _warn_unknown_labels(self, Y_full: np.ndarray) -> None:
        dead = np.isnan(Y_full).all(axis=0)
        if dead.any():
            names = [self.hierarchy_.labels[i] for i in np.flatnonzero(dead)]
            warnings.warn(
                f"Labels with no known value in the training targets are ignored by the "
                f"loss: {names}.",
                UserWarning,
                stacklevel=3,
            )

    def _module_and_criterion(self, y_arr: np.ndarray) -> dict:
        dims = (self.hidden_dims,) if isinstance(self.hidden_dims, int) else self.hidden_dims
        trunk = dict(
            hidden_dims=tuple(int(h) for h in dims),
            dropout=float(self.dropout),
            activation=self.activation,
            normalization=self.normalization,
        )
        if self._class_target:
            return dict(
                module=ClassNet,
                module__n_classes=len(self.classes_),
                criterion=WeightedCrossEntropy,
                **{f"module__{k}": v for k, v in trunk.items()},
            )
        spec = TreeSpec.from_hierarchy(self.hierarchy_)
        self.spec_ = spec
        is_leaf = np.zeros(spec.n_labels, dtype=bool)
        is_leaf[spec.leaf_index] = True
        pos_weight = None
        if self.pos_weight == "balanced":
            T = y_arr[:, :-1]
            pos = np.nansum(T, axis=0)
            neg = np.sum(T == 0, axis=0)
            pos_weight = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0).astype(np.float32)
        head = dict(
            pooling=self.pooling,
            parent_gate=self._gate(),
            attention_mask=self.attention_mask,
        )
        return dict(
            module=HierarchicalNet,
            module__spec=spec,
            module__strategy=self.strategy,
            criterion=HierarchicalBCELoss,
            criterion__spec=spec,
            criterion__node_weight=node_weights(spec, is_leaf, self.level_weights),
            criterion__train_inner=self.strategy != "flat",
            criterion__consistency_weight=self.consistency_weight,
            criterion__pos_weight=pos_weight,
            **{f"module__{k}": v for k, v in {**trunk, **head}.items()},
        )

    def _build_net(self, X, y_arr, val, seed: int) -> TaggerNet:
        n = len(X)
        train_split = None
        if val is not None:
            valid = ArrayDataset(*val)
            train_split = lambda ds, y=None: (ds, valid)  # noqa: E731
        elif self.early_stopping:
            n_val = round(self.validation_fraction * n)
            if n_val >= 1 and n - n_val >= 1:
                perm = np.random.default_rng(seed).permutation(n)
                val_idx, tr_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
                train_split = lambda ds, y=None: (Subset(ds, tr_idx), Subset(ds, val_idx))  # noqa: E731
        callbacks = []
        if self.early_stopping:
            monitor = "valid_loss" if train_split is not None else "train_loss"
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(monitor=monitor, patience=self.patience, load_best=True),
                )
            )
        if self.verbose >= 2:
            callbacks.append(("progress", ProgressBar()))
        return TaggerNet(
            **self._module_and_criterion(y_arr),
            module__n_features=X.shape[1],
            optimizer=torch.optim.Adam,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            batch_size=int(self.batch_size),
            max_epochs=int(self.max_epochs),
            train_split=train_split,
            callbacks=callbacks,
            device=self.device,
            verbose=int(self.verbose),
            seed=seed,
        )

    def _fitted_gates(self):
        head = getattr(self.net_.module_, "head", None)
        if head is None or not getattr(head, "parent_gate", False):
            return None
        gates = [g.cpu().numpy() for g in head.gates()]
        return gates[0] if len(gates) == 1 else gates

    # -- inference ----------------------------------------------------------------
    def _forward(self, X) -> torch.Tensor:
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        if self.net_.device != self.device:  # device may change after fitting/loading
            self.net_.device = self.device
            self.net_.module_.to(self.device)
            self.net_.criterion_.to(self.device)
        return self.net_.forward(X)

    def _log_pairs(self, X) -> torch.Tensor:
        if self._class_target:
            raise AttributeError("This method applies to multi-label targets only.")
        return self._forward(X)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of every label, ``(n_samples, n_labels)`` in ``classes_`` order.

        For one-class-per-sample targets, class probabilities that sum to 1.
        """
        check_is_fitted(self)
        if self._class_target:
            return torch.softmax(self._forward(X), dim=1).numpy().astype(np.float64)
        proba = self._log_pairs(X)[:, 0].exp().numpy().astype(np.float64)
        if self.enforce_consistency:
            proba = self._lift_parents(proba)
        return proba

    def _lift_parents(self, proba: np.ndarray) -> np.ndarray:
        parent = self.spec_.parent_index
        for d in reversed(range(1, self.spec_.n_levels)):
            a, b = self.spec_.level_slices[d]
            for j in range(a, b):
                np.maximum(proba[:, parent[j]], proba[:, j], out=proba[:, parent[j]])
        return proba

    def decision_function(self, X) -> np.ndarray:
        """Logit ``log p - log(1 - p)`` of every label.

        For class targets: the class logits, or for two classes the logit of the
        second class relative to the first, shape ``(n_samples,)``.
        """
        check_is_fitted(self)
        if self._class_target:
            logits = self._forward(X).numpy().astype(np.float64)
            return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits
        pairs = self._log_pairs(X)
        return (pairs[:, 0] - pairs[:, 1]).numpy().astype(np.float64)

    def predict(self, X) -> np.ndarray:
        """0/1 tags for every node (multi-label), or one class label per sample."""
        check_is_fitted(self)
        if self._class_target:
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return super().predict(X)

    def score(self, X, y, sample_weight=None) -> float:
        """Mean over levels of macro average precision (accuracy for class targets)."""
        check_is_fitted(self)
        if self._class_target:
            return ClassifierMixin.score(self, X, y, sample_weight=sample_weight)
        return super().score(X, y)

    def attention_maps(self, X) -> Any:
        """How each parent's probability was formed from the nodes below it.

        ``resatt``: the attention weights (rows sum to 1; zero outside a parent's
        children under ``attention_mask="hierarchy"``). ``gmp``/``flat``: the
        derivative of the pooling (one-hot arg-max for max pooling, softmax for
        log-sum-exp, each child's share of ``-log(1 - p)`` for noisy-OR).
        ``top_down``: ``p(child | parent)`` at (parent, child) (rows need not sum to 1).

        Returns
        -------
        maps : ndarray of shape (n_samples, n_parents, n_children) or list of them
            For a two-level tree one array (rows: parents, i.e. level-0 nodes with
            children; columns: level-1 nodes); for deeper trees a list, shallowest
            level pair first.
        """
        check_is_fitted(self)
        if self._class_target or not self.net_.module_.head.has_maps:
            raise ValueError(
                f"strategy={self.strategy!r} has no maps between levels; use one of "
                "'flat', 'gmp', 'resatt', 'top_down'."
            )
        X = self._check_X(X, reset=False)
        module = self.net_.module_
        module.eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(X), 1024):
                xb = torch.as_tensor(X[start : start + 1024], device=self.device)
                chunks.append([m.cpu().numpy() for m in module.maps(xb)])
        maps = [np.concatenate([c[d] for c in chunks]) for d in range(len(chunks[0]))]
        return maps[0] if len(maps) == 1 else maps

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
