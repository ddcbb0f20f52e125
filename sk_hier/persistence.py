"""Save and load fitted taggers, baselines and pipelines, with a format version.

Two formats, chosen by the file name:

- ``.skops`` (recommended): `skops <https://skops.readthedocs.io>`_ rebuilds objects
  without pickle. Each skorch net is stored as plain data (its constructor state, and
  its torch weights and optimizer state as numpy arrays) and rebuilt on load, so no
  pickle byte stream is ever unpickled from a ``.skops`` file. The file may name only
  what skops trusts itself and the exact objects ``save`` writes, each in the form
  ``save`` writes it: no module prefix, no other function (``sk_hier._trust``).
  Anything else stops the load with an error naming it; accept it knowingly with
  ``load(..., trusted=[...])``. Weights are checked against the network the file
  describes, and a device against this machine, before anything heavy is built.
- ``.joblib`` / ``.pkl`` / ``.pickle``: ``joblib.dump`` (pickle). Loading a pickle
  runs code chosen by whoever wrote the file: refused unless ``allow_pickle=True``.

Each file records a small metadata dict (``read_metadata``): the format version, the
versions of sk_hier, scikit-learn, skorch, torch, numpy and Python, the creation time,
the model class, and what the caller adds (``sk-hier fit`` adds the embedder).
"""

from __future__ import annotations

import copy
import datetime as _dt
import importlib
import io
import json
import os
import platform
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import _trust
from ._io import atomic_path, atomic_write, check_output
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

        # The dtype name comes from the file: look it up among torch's dtypes only.
        dtypes = {name: v for name, v in vars(torch).items() if isinstance(v, torch.dtype)}
        dtype = dtypes.get(self.dtype) if isinstance(self.dtype, str) else None
        if dtype is None:
            raise _trust.DamagedNet(f"a stored tensor has an unknown dtype {self.dtype!r}")
        if not isinstance(self.array, np.ndarray) or self.array.dtype.hasobject:
            raise _trust.DamagedNet("a stored tensor is not a numeric array")
        return torch.from_numpy(np.array(self.array)).to(dtype)


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

    def restore(self, device: str | None, source: str | os.PathLike = "the model file") -> Any:
        """The skorch net, rebuilt on ``device``; a ``ValueError`` naming ``source`` if the
        stored parts do not fit together."""
        try:
            return self._restore(device)
        except _trust.DamagedNet as exc:
            raise ValueError(
                f"{source}: {exc}; the file is damaged or was edited. Save the model again "
                "with sk_hier.save, or fit it again."
            ) from None
        except (TypeError, ValueError, RuntimeError, AttributeError, KeyError) as exc:
            raise ValueError(
                f"{source}: the network stored in it cannot be rebuilt ({type(exc).__name__}: "
                f"{exc}); the file is damaged, edited, or written by another version. Save "
                "the model again with sk_hier.save, or fit it again."
            ) from None

    def _restore(self, device: str | None) -> Any:
        import torch

        _trust.check_net_parts(self.net_class, self.state, self.weights, self.optimizers)
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
            component = getattr(net, f"{name}_", None)
            if not isinstance(component, torch.nn.Module):
                raise _trust.DamagedNet(
                    f"it stores weights for an unknown part {name!r} of the net"
                )
            _trust.load_weights(component, _unpack_value(weights), name)
            setattr(net, name + "_", component.to(net.device))
        if self.optimizers:
            net.initialize_optimizer()
            for name, opt_state in self.optimizers.items():
                optimizer = getattr(net, f"{name}_", None)
                if not isinstance(optimizer, torch.optim.Optimizer):
                    raise _trust.DamagedNet(
                        f"it stores the state of an unknown optimizer {name!r}"
                    )
                optimizer.load_state_dict(_unpack_value(opt_state))
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


def _fallback_device(model: Any, device: str | None, path: Path) -> str | None:
    """``device``, or ``"cpu"`` (with a warning) when a device saved in the model cannot
    be used here (a CUDA model on a machine without CUDA, or a device name that is not
    one)."""
    if device is not None:
        return device
    from .tagger import HierarchicalTagger

    found: set[str] = set()

    def collect(obj: Any) -> None:
        if isinstance(obj, HierarchicalTagger) or _is_net(obj):
            found.add(str(obj.device))
        elif isinstance(obj, _SavedNet) and isinstance(obj.state, dict):
            found.add(str(obj.state.get("device", "cpu")))

    _visit(model, collect, set())
    return _trust.fallback_device(found, path)


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
    return _trust.check_metadata(
        meta, path, name=_FORMAT_NAME, current=FORMAT_VERSION, readable=_READABLE_FORMATS
    )


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
        ``*.skops`` (no pickle; see the module notes) or ``*.joblib`` / ``*.pkl``
        (pickle: reading it back needs ``load(..., allow_pickle=True)``).
    metadata : dict or None, default=None
        JSON-serialisable facts to keep with the model (e.g. the embedder's
        ``describe()``); read back under ``read_metadata(path)["user"]``.

    Returns
    -------
    Path
        The file written (with the mode the umask gives a new file).

    Raises
    ------
    ValueError
        An unknown extension, an unfitted model, metadata that is not JSON, or a
        model part that skops cannot store (the message suggests ``.joblib``).
    FileNotFoundError, PermissionError
        The folder of ``path`` does not exist or cannot be written.

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
    check_output(path, option="path")
    if kind == "joblib":
        import joblib

        with atomic_path(path) as tmp:
            joblib.dump({"sk_hier_metadata": meta, "model": model}, tmp)
        return path
    atomic_write(path, _skops_bytes(model, meta, path))
    return path


def _skops_bytes(model: Any, meta: dict, path: Path) -> bytes:
    import skops.io as sio

    payload = _map_graph(model, lambda o: _SavedNet.from_net(o) if _is_net(o) else None, {})
    try:
        data = sio.dumps(payload, compression=zipfile.ZIP_DEFLATED)
    except (TypeError, NotImplementedError, AttributeError) as exc:
        raise ValueError(
            f"skops cannot store a part of this {type(model).__name__} ({exc}); "
            f"save it as {path.with_suffix('.joblib').name} instead (pickle)."
        ) from None
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_METADATA_ENTRY, json.dumps(meta, indent=1))
    return buffer.getvalue()


def read_metadata(path: str | os.PathLike, *, allow_pickle: bool = False) -> dict:
    """The metadata stored by :func:`save`, without building the model (``.skops``).

    Parameters
    ----------
    path : str or path-like
    allow_pickle : bool, default=False
        A pickle file (``.joblib``, ``.pkl``) is unpickled whole to read its metadata,
        which runs whatever code its author put in it: it is refused unless this is
        ``True``. Pass it only for files you trust.

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
    return _read(Path(path), read_model=False, allow_pickle=allow_pickle)[1]


def load(
    path: str | os.PathLike,
    device: str | None = None,
    *,
    trusted: list[str] | None = None,
    allow_pickle: bool = False,
    return_metadata: bool = False,
) -> Any:
    """Load a model written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
        A ``*.skops`` file, or a ``*.joblib`` / ``*.pkl`` file (pickle: see
        ``allow_pickle``).
    device : str or None, default=None
        Torch device for the networks inside (``"cpu"``, ``"cuda"``, ``"cuda:0"``,
        ``"mps"``), checked against this machine before anything is read: each
        :class:`~sk_hier.HierarchicalTagger` gets it as its ``device`` parameter and
        its net is moved. ``None`` keeps the saved device (``"cpu"``, with a warning,
        when the saved one does not exist here).
    trusted : list of str or None, default=None
        ``.skops`` only: further names to accept beyond the built-in list of the
        module notes, in whatever form the file rebuilds them (see
        ``skops.io.get_untrusted_types``). Only for files you know.
    allow_pickle : bool, default=False
        Loading a pickle file runs whatever code its author put in it, so one is
        refused unless this is ``True``. Pass it only for files you trust.
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
        both versions and what to do), names outside the trusted list, a pickle
        without ``allow_pickle=True``, a damaged file (a missing member, weights that
        do not fit the network), or a device this machine does not have.
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
    device = _trust.check_device(device)
    model, meta, device = _read(
        Path(path), read_model=True, device=device, trusted=trusted, allow_pickle=allow_pickle
    )
    if device is not None:
        _set_device(model, device)
    return (model, meta) if return_metadata else model


def _read(
    path: Path,
    read_model: bool,
    device: str | None = None,
    trusted: list | None = None,
    allow_pickle: bool = False,
) -> tuple[Any, dict, str | None]:
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    if _kind(path) == "joblib":
        return _read_pickle(path, allow_pickle, device)
    # One read: the checks below and the load see the same bytes.
    data = path.read_bytes() if read_model else None
    meta = _check_metadata(_skops_metadata(io.BytesIO(data) if data else path, path), path)
    if not read_model:
        return None, meta, device
    payload = _trust.read_skops(data, path, trusted or ())
    device = _fallback_device(payload, device, path)
    model = _map_graph(
        payload, lambda o: o.restore(device, path) if isinstance(o, _SavedNet) else None, {}
    )
    return model, meta, device


def _skops_metadata(source: Path | io.BytesIO, path: Path) -> Any:
    if not zipfile.is_zipfile(source):
        raise ValueError(f"{path} is not a .skops file (not a zip archive).")
    try:
        with zipfile.ZipFile(source) as archive:
            if _METADATA_ENTRY not in archive.namelist():
                return None
            return json.loads(archive.read(_METADATA_ENTRY))
    except _trust.DAMAGE as exc:
        raise _trust.damaged(path, exc) from None


def _read_pickle(path: Path, allow_pickle: bool, device: str | None) -> tuple[Any, dict, Any]:
    if not allow_pickle:
        raise ValueError(
            f"{path} is a pickle file: reading it (even its metadata) runs whatever code its "
            "author put in it, so sk_hier refuses it by default. If you trust where it comes "
            "from, pass allow_pickle=True to sk_hier.load / read_metadata (sk-hier tag "
            "--allow-pickle); better, load it once that way and save it as .skops."
        )
    import joblib

    try:
        data = joblib.load(path)
    except Exception as exc:
        raise ValueError(
            f"Could not unpickle {path} ({type(exc).__name__}: {exc}). It may have "
            "been written by other versions of sk_hier, scikit-learn or torch: load "
            "it with those and save it as .skops, or fit the model again."
        ) from None
    meta = _check_metadata(data.get("sk_hier_metadata") if isinstance(data, dict) else None, path)
    model = data["model"]
    return model, meta, _fallback_device(model, device, path)
