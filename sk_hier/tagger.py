"""``HierarchicalTagger``: the scikit-learn estimator around a skorch network."""

from __future__ import annotations

import numbers
import warnings
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MultiOutputMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import HierarchicalClassifierMixin, settle_target_type
from ._params import (
    Interval,
    Options,
    Predicate,
    check_device,
    check_sample_weight,
    check_solver,
    validate_params,
)
from ._rows import check_lazy_X, reads_lazily
from .hierarchy import Hierarchy
from .strategies import HEAD_OPTIONS, STRATEGIES, TRUNK_ACTIVATIONS
from .targets import as_hierarchy, encode_targets, is_unnamed_indicator

__all__ = ["STRATEGIES", "HierarchicalTagger"]

#: The strategy a tagger uses unless told otherwise (the paper's rule).
DEFAULT_STRATEGY = "gmp"


def _is_dims(value: Any) -> bool:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return value > 0
    return isinstance(value, tuple | list) and all(
        isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0 for h in value
    )


def _is_weights(value: Any) -> bool:
    w = np.asarray(value, dtype=float)
    return w.ndim == 1 and len(w) > 0 and bool(np.all(np.isfinite(w) & (w >= 0)))


def _is_thresholds(value: Any) -> bool:
    t = np.asarray(value, dtype=float)
    return t.ndim == 1 and bool(np.all((t >= 0) & (t <= 1)))


_REAL, _INT = numbers.Real, numbers.Integral
_BOOL = Options(True, False)


class HierarchicalTagger(
    HierarchicalClassifierMixin, ClassifierMixin, MultiOutputMixin, BaseEstimator
):
    """Hierarchical multi-label tagger: one network trained jointly over a label tree.

    A shared MLP trunk feeds the head of one strategy (the user guide's *Strategies*
    page has the maths); every strategy
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
        Widths of the trunk's hidden layers; ``()`` puts the heads straight on the
        input (a hierarchical, jointly trained linear model).
    dropout : float, default=0.2
        Dropout after each hidden layer.
    level_weights : None, float or sequence of float, default=None
        Loss weight per level: ``None`` = leaves 1, parents 0.3; a float = the weight
        of every parent level; a sequence = one weight per depth, shallowest first.
        Parent entries of samples whose leaves are all unknown weigh 1.
    consistency_weight : float, default=0.0
        Weight of ``mean(relu(p_child - p_parent))`` added to the loss.
    attention_mask : {"hierarchy", "none"}, default="hierarchy"
        Attend only to a parent's children, or to every node below. Ignored unless
        ``strategy="resatt"``.
    pooling : {"max", "noisy_or", "logsumexp"}, default="max"
        How children pool into their parent. Ignored unless ``strategy="gmp"``.
    parent_gate : bool or "auto", default="auto"
        Gate a dedicated parent head into the pooled logit
        (``w_k * pool + (1 - w_k) * h_k(z)``). ``"auto"``: on for resatt, off for gmp.
        Ignored unless ``strategy`` is ``"gmp"`` or ``"resatt"``. (Which strategy
        reads which option: :data:`sk_hier.strategies.STRATEGIES`; values are checked
        whatever the strategy.)
    enforce_consistency : bool, default=False
        At predict time, lift each parent to at least its best child.
    activation : {"relu", "gelu", "tanh", "elu"}, default="relu"
    normalization : {None, "batch", "layer"}, default=None
        Normalisation after each hidden linear layer.
    input_dropout : float, default=0.0
        Dropout on the input features while training (a regulariser for small data).
    input_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the input features while
        training (on standardised features, a fraction of their spread).
    linear_skip : bool, default=False
        Add a linear map of the input to the trunk's output, beside the MLP, so the
        heads see a linear model plus what the MLP adds. Ignored with
        ``hidden_dims=()``, where the heads already sit on the input.
    n_ensemble : int, default=1
        Number of networks trained from different seeds (drawn from
        ``random_state``) whose probabilities are averaged: a deterministic ensemble
        inside one estimator.
    pos_weight : None or "balanced", default=None
        ``"balanced"`` weighs each label's positives by its negative/positive ratio.
    solver : {"adam", "lbfgs"}, default="adam"
        The optimiser. ``"adam"``: mini-batches, early stopping on a validation
        hold-out. ``"lbfgs"``: full-batch L-BFGS (strong Wolfe line search) run to
        convergence on every training sample; on a few hundred or thousand clips,
        and above all with ``hidden_dims=()``, it reaches the regularised optimum
        that Adam only approaches (as scikit-learn's ``MLPClassifier`` advises for
        small data). It needs a deterministic loss: no ``dropout`` in hidden
        layers, no ``input_dropout``, no ``input_noise``. ``lr``, ``batch_size``,
        ``patience`` and ``validation_fraction`` do not apply to it.
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=1e-4
        L2 regularisation. Adam's weight decay (on every parameter); with
        ``solver="lbfgs"``, the term ``weight_decay / 2 * ||W||^2`` over the weight
        matrices (not biases) added to the loss, as scikit-learn's ``alpha``. The
        flat linear tagger is then one L2 logistic regression per leaf with
        ``C = 1 / (weight_decay * n_samples * n_leaves)``.
    batch_size : int, default=128
    max_epochs : int, default=100
        Epochs; with ``solver="lbfgs"``, L-BFGS steps of up to 20 iterations each.
    early_stopping : bool, default=True
        Stop when the validation loss has not improved for ``patience`` epochs and
        restore the best weights. With ``solver="lbfgs"``: stop once the training
        objective has converged (no hold-out; ``X_val``/``Y_val`` are only scored).
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
        The fitted network wrapper (the first of ``nets_``).
    nets_ : list of skorch.NeuralNet
        The ``n_ensemble`` fitted networks.
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
        input_dropout=0.0,
        input_noise=0.0,
        linear_skip=False,
        n_ensemble=1,
        pos_weight=None,
        solver="adam",
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
        self.input_dropout = input_dropout
        self.input_noise = input_noise
        self.linear_skip = linear_skip
        self.n_ensemble = n_ensemble
        self.pos_weight = pos_weight
        self.solver = solver
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

    # Allowed values of every parameter, checked in ``fit`` (one message style).
    _parameter_constraints: ClassVar[dict] = {
        "hierarchy": [Predicate(lambda v: True, "a Hierarchy or what Hierarchy() accepts")],
        "strategy": [Predicate(lambda v: v in STRATEGIES, f"one of {list(STRATEGIES)}")],
        "hidden_dims": [
            Predicate(_is_dims, "a positive int or a tuple of positive ints (() = no trunk)")
        ],
        "dropout": [Interval(_REAL, 0, 1, closed="left")],
        "level_weights": [
            Options(None),
            Interval(_REAL, 0, None),
            Predicate(_is_weights, "a sequence of finite numbers >= 0, one per depth"),
        ],
        "consistency_weight": [Interval(_REAL, 0, None)],
        **{name: list(allowed) for name, allowed in HEAD_OPTIONS.items()},
        "enforce_consistency": [_BOOL],
        "activation": [Options(*TRUNK_ACTIVATIONS)],
        "normalization": [Options(None, "batch", "layer")],
        "input_dropout": [Interval(_REAL, 0, 1, closed="left")],
        "input_noise": [Interval(_REAL, 0, None)],
        "linear_skip": [_BOOL],
        "n_ensemble": [Interval(_INT, 1, None)],
        "pos_weight": [Options(None, "balanced")],
        "solver": [Options("adam", "lbfgs")],
        "lr": [Interval(_REAL, 0, None, closed="neither")],
        "weight_decay": [Interval(_REAL, 0, None)],
        "batch_size": [Interval(_INT, 1, None)],
        "max_epochs": [Interval(_INT, 1, None)],
        "early_stopping": [_BOOL],
        "patience": [Interval(_INT, 1, None)],
        "validation_fraction": [Interval(_REAL, 0, 1, closed="left")],
        "threshold": [
            Interval(_REAL, 0, 1),
            Predicate(_is_thresholds, "an array of values in [0, 1], one per label"),
        ],
        "inconsistent": [Options("error", "propagate")],
        "device": [
            Predicate(
                lambda v: isinstance(v, str) or type(v).__name__ == "device",
                "a torch device name such as 'cpu' or 'cuda:0'",
            )
        ],
        "random_state": [
            Options(None),
            Interval(_INT, 0, 2**32 - 1),
            Predicate(lambda v: isinstance(v, np.random.RandomState), "a RandomState"),
        ],
        "verbose": [Interval(_INT, 0, None), _BOOL],
    }

    @property
    def _strategy(self):
        return STRATEGIES[self.strategy]

    def _check_X(self, X, reset: bool) -> np.ndarray:
        # Arrays (a float32 memmap included: validate_data returns a view of it, no
        # copy) are validated as usual; zarr arrays and memmaps of other dtypes are
        # checked block by block and read batch by batch (``_LazyRows``).
        if reads_lazily(X):
            return check_lazy_X(self, X, reset)
        return validate_data(self, X, reset=reset, dtype=np.float32, ensure_min_samples=1)

    # -- fit ----------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, X_val=None, Y_val=None) -> HierarchicalTagger:
        """Train the network on embeddings ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings (a numpy memmap is read batch by batch).
        y : targets
            Any accepted format (see the user guide's *Targets* section): leaf or full
            indicator (NaN/-1 unknown), label collections or path strings, a DataFrame
            with label columns, or one class label per sample.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample in the loss.
        X_val, Y_val : optional validation set for early stopping.

        Returns
        -------
        self : HierarchicalTagger
        """
        validate_params(self, self._parameter_constraints)
        check_device(self.device)
        check_solver(self)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = self._check_X(X, reset=True)
        self.target_type_ = settle_target_type(y, self.hierarchy)
        self._warn_ignored_strategy()
        y_arr = self._encode_fit_targets(y, len(X), sample_weight)
        val = None
        if X_val is not None or Y_val is not None:
            if X_val is None or Y_val is None:
                raise ValueError("Pass both X_val and Y_val, or neither.")
            X_val = self._check_X(X_val, reset=False)
            val = (X_val, self._encode_fit_targets(Y_val, len(X_val), None, fit=False))
        self._check_batch_norm(len(X), val)
        rng = check_random_state(self.random_state)
        seeds = [int(rng.randint(np.iinfo(np.int32).max)) for _ in range(self.n_ensemble)]
        self.nets_ = [self._fit_net(X, y_arr, val, seed) for seed in seeds]
        self.history_ = self.net_.history
        self.gates_ = self._fitted_gates()
        return self

    def _fit_net(self, X, y_arr, val, seed: int):
        import torch

        from ._net import build_net

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net, spec = build_net(self, X, y_arr, val, seed)
            net.fit(X, y_arr)
        if spec is not None:
            self.spec_ = spec
        net.train_split = None  # drop the references to the training data
        return net

    def _warn_ignored_strategy(self) -> None:
        # The default must stay silent, or every estimator check would warn.
        if self._class_model and self.strategy != DEFAULT_STRATEGY:
            warnings.warn(
                f"strategy={self.strategy!r} has no effect on one-class-per-sample targets: "
                "the tagger fits a softmax classifier (as MLPClassifier). Give multi-label "
                "targets over a hierarchy to train a hierarchical strategy.",
                UserWarning,
                stacklevel=3,
            )

    def _check_batch_norm(self, n_samples: int, val) -> None:
        if self.normalization != "batch":
            return
        n_train = n_samples
        if val is None and self.early_stopping and self.solver == "adam":
            n_train -= round(self.validation_fraction * n_samples)
        if n_train < 2:
            raise ValueError(
                f"normalization='batch' needs at least 2 training samples, got {n_train} "
                "after the validation split; give more samples or use normalization='layer'."
            )

    def _encode_fit_targets(self, y, n_samples: int, sample_weight, fit: bool = True):
        if self._class_model:
            target = self._encode_classes(y, fit)
        else:
            hierarchy = as_hierarchy(self.hierarchy) if fit else self.hierarchy_
            target, hierarchy = encode_targets(y, hierarchy, inconsistent=self.inconsistent)
            if fit:
                self.hierarchy_ = hierarchy
                self.classes_ = np.asarray(hierarchy.labels, dtype=object)
                if self.hierarchy is None and is_unnamed_indicator(y):
                    # Columns without names: integer classes, as MLPClassifier.
                    self.classes_ = np.arange(len(hierarchy.labels))
                self._warn_unknown_labels(target)
        if len(target) != n_samples:
            raise ValueError(
                f"X has {n_samples} samples but y has {len(target)}: give one target row "
                "per sample."
            )
        sw = check_sample_weight(sample_weight, n_samples)
        sw = np.ones(n_samples) if sw is None else sw
        return np.column_stack([target, sw]).astype(np.float32)

    def _encode_classes(self, y, fit: bool) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2:
            y = y[:, 0]
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
            raise ValueError(f"Y_val has classes not seen in y: {unseen.tolist()}.")
        return np.searchsorted(self.classes_, y).astype(np.float32)

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

    def _fitted_gates(self):
        """Learned parent gates, averaged over the ensemble's networks."""
        if self._class_model or not self._strategy.is_gated(self.get_params()):
            return None
        per_net = [[g.cpu().numpy() for g in net.module_.head.gates()] for net in self._nets]
        gates = [np.mean(level, axis=0) for level in zip(*per_net)]
        return gates[0] if len(gates) == 1 else gates

    # -- inference ----------------------------------------------------------------
    @property
    def _nets(self) -> list:
        if "nets_" not in self.__dict__:
            raise AttributeError(f"This {type(self).__name__} is not fitted yet.")
        return self.nets_

    @property
    def net_(self):
        """The fitted skorch net (the first of ``nets_``), derived so it is stored once."""
        return self._nets[0]

    def __setstate__(self, state: dict) -> None:
        # Models saved before ensembling existed hold one ``net_``.
        if "net_" in state:
            state.setdefault("nets_", [state.pop("net_")])
        super().__setstate__(state)

    def _on_device(self) -> list:
        """The fitted torch modules, moved first if ``device`` changed since fitting."""
        check_is_fitted(self)
        for net in self._nets:
            if net.device != self.device:  # device may change after fitting/loading
                check_device(self.device)
                net.device = self.device
                net.module_.to(self.device)
                net.criterion_.to(self.device)
        return [net.module_ for net in self._nets]

    def _forward(self, X):
        """The networks' output; for an ensemble, the log of the averaged probabilities.

        Multi-label: ``(n, 2, n_labels)`` log pairs; classes: log-probabilities (any
        logits' softmax gives the same probabilities).
        """
        import math

        import torch

        self._on_device()
        X = self._check_X(X, reset=False)
        outs = [net.forward(X) for net in self._nets]
        if len(outs) == 1:
            return outs[0]
        if self._class_model:
            outs = [o.log_softmax(dim=1) for o in outs]
        return torch.logsumexp(torch.stack(outs), dim=0) - math.log(len(outs))

    def _log_pairs(self, X):
        if self._class_model:
            raise AttributeError("This method applies to multi-label targets only.")
        return self._forward(X)

    def predict_proba(self, X) -> np.ndarray:
        """Probability of every label, ``(n_samples, n_labels)`` in ``classes_`` order.

        For one-class-per-sample targets, class probabilities that sum to 1.
        """
        check_is_fitted(self)
        if self._class_model:
            return self._forward(X).softmax(dim=1).numpy().astype(np.float64)
        proba = self._log_pairs(X)[:, 0].exp().numpy().astype(np.float64)
        if self.enforce_consistency:
            proba = self.spec_.lift_parents(proba)
        return proba

    def decision_function(self, X) -> np.ndarray:
        """Logit ``log p - log(1 - p)`` of every label.

        For class targets: the class logits, or for two classes the logit of the
        second class relative to the first, shape ``(n_samples,)``.
        """
        check_is_fitted(self)
        if self._class_model:
            logits = self._forward(X).numpy().astype(np.float64)
            return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits
        pairs = self._log_pairs(X)
        return (pairs[:, 0] - pairs[:, 1]).numpy().astype(np.float64)

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
        if self._class_model or not self._strategy.has_maps:
            with_maps = [name for name, st in STRATEGIES.items() if st.has_maps]
            raise ValueError(
                f"strategy={self.strategy!r} has no maps between levels; use one of {with_maps}."
            )
        modules = self._on_device()
        X = self._check_X(X, reset=False)
        per_net = [self._maps_of(module, X) for module in modules]
        maps = [np.mean(level, axis=0) for level in zip(*per_net)]  # ensemble average
        return maps[0] if len(maps) == 1 else maps

    def _maps_of(self, module, X) -> list:
        import torch

        module.eval()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(X), 1024):
                xb = torch.as_tensor(np.asarray(X[start : start + 1024]), device=self.device)
                chunks.append([m.cpu().numpy() for m in module.maps(xb)])
        return [np.concatenate([c[d] for c in chunks]) for d in range(len(chunks[0]))]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
