"""Save and load fitted taggers, baselines and pipelines, with a format version.

Two formats, chosen by the file name:

- ``.skops`` (recommended): `skops <https://skops.readthedocs.io>`_, which rebuilds
  objects without running pickle. Every skorch net in the model is stored as plain
  data: its constructor state plus the torch weights (and optimizer state) as numpy
  arrays; loading builds a fresh net and loads the weights into it. So no pickle
  byte stream is ever unpickled from a ``.skops`` file (skorch's own ``__getstate__``
  would embed one).
- ``.joblib`` / ``.pkl`` / ``.pickle``: ``joblib.dump`` of the model (pickle). Loading
  a pickle runs code chosen by whoever wrote the file: load only files you trust.

Each file records a small metadata dict (``read_metadata``): the format version,
the versions of sk_hier, scikit-learn, skorch, torch, numpy and Python, the creation
time, the model class, and whatever the caller adds (``sk-hier fit`` adds the
embedder that made the training features).

**What a .skops file is trusted to contain.** ``load`` accepts, beyond the types
skops trusts itself, the types and functions of ``sk_hier``, ``sklearn``,
``skorch`` and ``numpy``, the *classes* of ``torch`` (modules, optimizers, data
loader classes: no torch functions), ``builtins.print`` (skorch's default log sink)
and ``functools.partial`` (skorch's optimizer setters; the callables inside are
checked on their own). A file may name these, but nothing else (``os``,
``subprocess``, ``builtins.eval``, your own classes ...): anything outside the list
stops the load with an error naming it, and you may accept it, after reading the
file with ``skops.io.get_untrusted_types``, with ``load(..., trusted=[...])``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import importlib
import json
import os
import platform
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__

__all__ = ["FORMAT_VERSION", "load", "read_metadata", "save"]

#: Version of the on-disk layout written by :func:`save`. Bump it when a change to
#: the package makes older files unreadable, and list the readable ones below.
FORMAT_VERSION = 1
_READABLE_FORMATS = (1,)
_FORMAT_NAME = "sk_hier-model"
_METADATA_ENTRY = "sk_hier_metadata.json"  # an extra member of the .skops zip archive
_SKOPS_SUFFIXES = (".skops",)
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_TRUSTED_PREFIXES = ("sk_hier.", "sklearn.", "skorch.", "numpy.")
_TRUSTED_NAMES = {
    "builtins.print": "skorch's PrintLog writes the epoch table with it",
    "functools.partial": "skorch's optimizer setters; the callables inside are checked",
}


# -- torch values as plain data ---------------------------------------------------------
class _TensorData:
    """A torch tensor as a numpy array plus its torch dtype name (skops-friendly)."""

    def __init__(self, array: np.ndarray, dtype: str) -> None:
        self.array = array
        self.dtype = dtype

    @classmethod
    def from_tensor(cls, tensor: Any) -> _TensorData:
        import torch

        t = tensor.detach().cpu()
        dtype = str(t.dtype).removeprefix("torch.")
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds it exactly
            t = t.float()
        return cls(t.numpy().copy(), dtype)

    def to_tensor(self) -> Any:
        import torch

        return torch.from_numpy(np.array(self.array)).to(getattr(torch, self.dtype))


def _pack_value(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return _TensorData.from_tensor(value)
    if isinstance(value, dict):
        return {k: _pack_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and type(value) in (list, tuple):
        return type(value)(_pack_value(v) for v in value)
    return value


def _unpack_value(value: Any) -> Any:
    if isinstance(value, _TensorData):
        return value.to_tensor()
    if isinstance(value, dict):
        return {k: _unpack_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and type(value) in (list, tuple):
        return type(value)(_unpack_value(v) for v in value)
    return value


def _components(net: Any) -> tuple[list, list]:
    modules = list(getattr(net, "_modules", ["module"])) + list(
        getattr(net, "_criteria", ["criterion"])
    )
    return modules, list(getattr(net, "_optimizers", ["optimizer"]))


class _SavedNet:
    """A skorch net as data: its attributes without the torch objects, plus their
    ``state_dict`` s as numpy arrays. ``restore`` rebuilds the net from them."""

    def __init__(self, net_class: type, state: dict, weights: dict, optimizers: dict) -> None:
        self.net_class = net_class
        self.state = state
        self.weights = weights
        self.optimizers = optimizers

    @classmethod
    def from_net(cls, net: Any) -> _SavedNet:
        import torch

        state = dict(vars(net))
        modules, optimizers = _components(net)
        weights, optim = {}, {}
        for name in modules:
            obj = state.pop(name + "_", None)
            if isinstance(obj, torch.nn.Module):
                weights[name] = _pack_value(dict(obj.state_dict()))
        for name in optimizers:
            obj = state.pop(name + "_", None)
            if obj is not None:
                optim[name] = _pack_value(obj.state_dict())
        return cls(type(net), _pack_value(state), weights, optim)

    def restore(self, device: str | None) -> Any:
        import torch

        net = self.net_class.__new__(self.net_class)
        state = _unpack_value(self.state)
        if device is not None:
            state["device"] = device
        net.__dict__.update(state)
        if not self.weights:  # an unfitted net: nothing to rebuild
            return net
        # Building the modules draws initial weights: keep the caller's RNG untouched.
        with torch.random.fork_rng(devices=[]):
            net.initialize_module()
            net.initialize_criterion()
        for name, weights in self.weights.items():
            component = getattr(net, name + "_")
            component.load_state_dict(_unpack_value(weights))
            setattr(net, name + "_", component.to(net.device))
        if self.optimizers:
            net.initialize_optimizer()
            for name, opt_state in self.optimizers.items():
                getattr(net, name + "_").load_state_dict(_unpack_value(opt_state))
        return net


# -- walking a model ------------------------------------------------------------------
def _walkable(obj: Any) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(obj, BaseEstimator) or type(obj).__module__.startswith("sk_hier.")


def _map_graph(obj: Any, convert, memo: dict) -> Any:
    """``obj`` with every part for which ``convert`` returns a value replaced by it.

    Containers and estimators that hold a replaced part are shallow-copied, so the
    given object is never changed; everything else is shared.
    """
    key = id(obj)
    if key in memo:
        return memo[key]
    new = convert(obj)
    if new is None:
        new = obj
        if type(obj) in (list, tuple):
            items = [_map_graph(x, convert, memo) for x in obj]
            if any(a is not b for a, b in zip(items, obj)):
                new = type(obj)(items)
        elif type(obj) is dict:
            items = {k: _map_graph(v, convert, memo) for k, v in obj.items()}
            if any(items[k] is not v for k, v in obj.items()):
                new = items
        elif _walkable(obj) and hasattr(obj, "__dict__"):
            attrs = {k: _map_graph(v, convert, memo) for k, v in vars(obj).items()}
            changed = {k: v for k, v in attrs.items() if v is not vars(obj)[k]}
            if changed:
                new = copy.copy(obj)
                new.__dict__.update(changed)
    memo[key] = new
    return new


def _visit(obj: Any, fn, seen: set) -> None:
    """Call ``fn`` on ``obj`` and on every estimator, net and container inside it."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    fn(obj)
    if type(obj) in (list, tuple):
        children = obj
    elif type(obj) is dict:
        children = obj.values()
    elif _walkable(obj) and hasattr(obj, "__dict__"):
        children = list(vars(obj).values())
    else:
        return
    for child in children:
        _visit(child, fn, seen)


def _is_net(obj: Any) -> bool:
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(obj, NeuralNet)


def _set_device(model: Any, device: str) -> None:
    from .tagger import HierarchicalTagger

    def move(obj: Any) -> None:
        if isinstance(obj, HierarchicalTagger):
            obj.device = device  # the tagger moves its net on the next call
        elif _is_net(obj):
            modules, _ = _components(obj)
            for name in modules:
                component = getattr(obj, name + "_", None)
                if component is not None:
                    setattr(obj, name + "_", component.to(device))
            obj.device = device

    _visit(model, move, set())


def _check_device(device: str | None) -> str | None:
    if device is None:
        return None
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:0'."
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for, but CUDA is not available on this machine; "
            "load with device='cpu'."
        )
    return str(device)


# -- metadata -------------------------------------------------------------------------
def _versions() -> dict:
    import sklearn

    out = {"sk_hier_version": __version__, "sklearn_version": sklearn.__version__}
    for name in ("skorch", "torch"):
        try:
            out[f"{name}_version"] = importlib.import_module(name).__version__
        except ImportError:  # pragma: no cover - both are dependencies
            out[f"{name}_version"] = None
    out["numpy_version"] = np.__version__
    out["python_version"] = platform.python_version()
    return out


def _make_metadata(model: Any, serializer: str, user: dict | None) -> dict:
    if user is None:
        user = {}
    if not isinstance(user, dict):
        raise ValueError(f"metadata must be a dict, got {type(user).__name__}.")
    try:
        json.dumps(user)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"metadata must be JSON-serialisable (str, numbers, lists, dicts): {exc}."
        ) from None
    return {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "serializer": serializer,
        "user": user,
    }


def _check_metadata(meta: Any, path: Path) -> dict:
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_NAME:
        raise ValueError(
            f"{path} is not an sk_hier model file (no sk_hier metadata). Write models with "
            "sk_hier.persistence.save or `sk-hier fit`."
        )
    version = meta.get("format_version")
    if version not in _READABLE_FORMATS:
        written_by = meta.get("sk_hier_version", "an unknown version")
        readable = ", ".join(map(str, _READABLE_FORMATS))
        if isinstance(version, int) and version > FORMAT_VERSION:
            fix = f"Upgrade sk_hier (pip install 'sk-hier>={written_by}') to read it."
        else:
            fix = (
                f"Load it with sk_hier {written_by} and save it again, or fit the model "
                "again with this version."
            )
        raise ValueError(
            f"{path} holds an sk_hier model in format version {version} (written by "
            f"sk_hier {written_by}); this sk_hier ({__version__}) reads format version "
            f"{readable}. {fix}"
        )
    return meta


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _SKOPS_SUFFIXES:
        return "skops"
    if suffix in _PICKLE_SUFFIXES:
        return "joblib"
    raise ValueError(
        f"Cannot tell the format of {path} from its extension {suffix!r}: name it "
        f"'*.skops' (recommended, no pickle) or one of {', '.join(_PICKLE_SUFFIXES)} (joblib)."
    )


# -- public API ----------------------------------------------------------------------
def save(model: Any, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Save a fitted model with its metadata, atomically (a temporary file, then a rename).

    Parameters
    ----------
    model : estimator
        A fitted :class:`~sk_hier.HierarchicalTagger`, baseline,
        :class:`~sk_hier.thresholds.TunedThresholds`, Pipeline or search holding them.
    path : str or path-like
        ``*.skops`` (no pickle; see the module notes) or ``*.joblib`` / ``*.pkl``.
    metadata : dict or None, default=None
        JSON-serialisable facts to keep with the model (e.g. the embedder's
        ``describe()``); read back under ``read_metadata(path)["user"]``.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        An unknown extension, an unfitted model, metadata that is not JSON, or a
        model part that skops cannot store (the message suggests ``.joblib``).

    See Also
    --------
    load : the reverse.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sk_hier import BottomUpClassifier
    >>> from sk_hier.datasets import make_hierarchical_multilabel
    >>> from sk_hier.persistence import load, read_metadata, save
    >>> X, Y, tree = make_hierarchical_multilabel(100, {"a": ["a1", "a2"]}, 8, random_state=0)
    >>> model = BottomUpClassifier(LogisticRegression(), hierarchy=tree).fit(X, Y)
    >>> path = save(model, os.path.join(tempfile.mkdtemp(), "model.skops"), {"note": "demo"})
    >>> read_metadata(path)["user"]
    {'note': 'demo'}
    >>> (load(path).predict_proba(X) == model.predict_proba(X)).all()
    np.True_
    """
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    path = Path(path)
    kind = _kind(path)
    try:
        check_is_fitted(model)
    except NotFittedError:
        raise ValueError(
            f"{type(model).__name__} is not fitted: save() stores fitted models; call fit first."
        ) from None
    except TypeError as exc:
        raise ValueError(f"save() needs a fitted scikit-learn estimator: {exc}") from None
    meta = _make_metadata(model, kind, metadata)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"Cannot write {path}: folder {path.parent} does not exist.")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if kind == "skops":
            import skops.io as sio

            payload = _map_graph(
                model, lambda o: _SavedNet.from_net(o) if _is_net(o) else None, {}
            )
            try:
                sio.dump(payload, tmp, compression=zipfile.ZIP_DEFLATED)
            except (TypeError, NotImplementedError, AttributeError) as exc:
                raise ValueError(
                    f"skops cannot store a part of this {type(model).__name__} ({exc}); "
                    f"save it as {path.with_suffix('.joblib').name} instead (pickle)."
                ) from None
            with zipfile.ZipFile(tmp, "a", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(_METADATA_ENTRY, json.dumps(meta, indent=1))
        else:
            import joblib

            joblib.dump({"sk_hier_metadata": meta, "model": model}, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata stored by :func:`save`, without building the model (``.skops``).

    For pickle files the whole file is unpickled: trust it first.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``format``, ``format_version``, ``sk_hier_version``, ``sklearn_version``,
        ``skorch_version``, ``torch_version``, ``numpy_version``, ``python_version``,
        ``created`` (ISO 8601, UTC), ``model_class``, ``serializer`` and ``user`` (what
        the caller passed to ``save``).

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sk_hier import BottomUpClassifier
    >>> from sk_hier.persistence import read_metadata, save
    >>> model = BottomUpClassifier(LogisticRegression()).fit([[0.0], [1.0]], [[0], [1]])
    >>> meta = read_metadata(save(model, os.path.join(tempfile.mkdtemp(), "m.skops")))
    >>> meta["format_version"], meta["model_class"]
    (1, 'sk_hier.baselines.BottomUpClassifier')
    """
    return _read(Path(path), read_model=False)[1]


def load(
    path: str | os.PathLike,
    device: str | None = None,
    *,
    trusted: list[str] | None = None,
    return_metadata: bool = False,
) -> Any:
    """Load a model written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        A ``*.skops`` file, or a ``*.joblib`` / ``*.pkl`` file (pickle: load only
        files you trust).
    device : str or None, default=None
        Torch device for the networks inside (``"cpu"``, ``"cuda"``, ``"cuda:0"``):
        each :class:`~sk_hier.HierarchicalTagger` gets it as its ``device``
        parameter and its net is moved. ``None`` keeps the saved device (``"cpu"``,
        with a warning, when a CUDA model meets a machine without CUDA).
    trusted : list of str or None, default=None
        ``.skops`` only: further type names to accept beyond the built-in list of
        the module notes (see ``skops.io.get_untrusted_types``).
    return_metadata : bool, default=False
        Also return the metadata dict (as :func:`read_metadata`).

    Returns
    -------
    model : estimator
    metadata : dict
        Only with ``return_metadata=True``.

    Raises
    ------
    ValueError
        Not an sk_hier model file, a format version this sk_hier cannot read (naming
        both versions and what to do), types outside the trusted list, or a CUDA
        device on a machine without CUDA.
    FileNotFoundError
        No file at ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> from sk_hier import HierarchicalTagger
    >>> from sk_hier.datasets import make_hierarchical_multilabel
    >>> from sk_hier.persistence import load, save
    >>> X, Y, tree = make_hierarchical_multilabel(100, {"a": ["a1", "a2"]}, 8, random_state=0)
    >>> tagger = HierarchicalTagger(tree, max_epochs=3, random_state=0).fit(X, Y)
    >>> path = save(tagger, os.path.join(tempfile.mkdtemp(), "tagger.skops"))
    >>> again = load(path, device="cpu")
    >>> bool((again.predict_proba(X) == tagger.predict_proba(X)).all()), again.device
    (True, 'cpu')
    """
    device = _check_device(device)
    model, meta, device = _read(Path(path), read_model=True, device=device, trusted=trusted)
    if device is not None:
        _set_device(model, device)
    return (model, meta) if return_metadata else model


def _fallback_device(model: Any, device: str | None) -> str | None:
    """``device``, or ``"cpu"`` (with a warning) for a CUDA model on a machine without CUDA."""
    if device is not None:
        return device
    import torch

    from .tagger import HierarchicalTagger

    found: set[str] = set()

    def collect(obj: Any) -> None:
        if isinstance(obj, HierarchicalTagger) or _is_net(obj):
            found.add(str(obj.device))
        elif isinstance(obj, _SavedNet):
            found.add(str(obj.state.get("device", "cpu")))

    _visit(model, collect, set())
    cuda = sorted(d for d in found if d.startswith("cuda"))
    if cuda and not torch.cuda.is_available():
        warnings.warn(
            f"The model was saved for device {cuda[0]!r} but CUDA is not available here; "
            "it is loaded on 'cpu'. Pass device= to choose.",
            UserWarning,
            stacklevel=4,
        )
        return "cpu"
    return None


def _read(
    path: Path, read_model: bool, device: str | None = None, trusted: list | None = None
) -> tuple[Any, dict, str | None]:
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    kind = _kind(path)
    if kind == "joblib":
        import joblib

        try:
            data = joblib.load(path)
        except Exception as exc:
            raise ValueError(
                f"Could not unpickle {path} ({type(exc).__name__}: {exc}). It may have "
                "been written by other versions of sk_hier, scikit-learn or torch: load "
                "it with those and save it as .skops, or fit the model again."
            ) from None
        meta = _check_metadata(
            data.get("sk_hier_metadata") if isinstance(data, dict) else None, path
        )
        model = data["model"]
        return model, meta, _fallback_device(model, device)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a .skops file (not a zip archive).")
    with zipfile.ZipFile(path) as archive:
        try:
            meta = json.loads(archive.read(_METADATA_ENTRY))
        except KeyError:
            meta = None
    meta = _check_metadata(meta, path)
    if not read_model:
        return None, meta, device
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    allowed = set(trusted or ())
    rejected = [t for t in untrusted if t not in allowed and not _is_trusted(t)]
    if rejected:
        raise ValueError(
            f"{path} names types outside sk_hier's trusted list: {rejected}. If you trust "
            "this file, pass them on: load(path, trusted=[...]) (see "
            "skops.io.get_untrusted_types)."
        )
    payload = sio.load(path, trusted=list(untrusted))
    device = _fallback_device(payload, device)
    model = _map_graph(
        payload, lambda o: o.restore(device) if isinstance(o, _SavedNet) else None, {}
    )
    return model, meta, device


def _is_trusted(name: str) -> bool:
    if name in _TRUSTED_NAMES or name.startswith(_TRUSTED_PREFIXES):
        return True
    if not name.startswith("torch."):
        return False
    # torch: classes only (modules, optimizers, loaders), never a function.
    module, _, attr = name.rpartition(".")
    try:
        return isinstance(getattr(importlib.import_module(module), attr), type)
    except (ImportError, AttributeError):
        return False
