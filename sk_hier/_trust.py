"""What a model file from elsewhere may name and ask for, checked before it is built.

A ``.skops`` file is a tree of nodes. Each node names an object (module + name) and
the way skops rebuilds it, its *loader*, and the loader matters as much as the name:

- ``TypeNode`` and ``FunctionNode`` only import the name;
- ``ObjectNode`` makes an instance without ``__init__`` and hands it the stored
  attributes (through the class's ``__setstate__``, which for a skorch net unpickles
  bytes from the file);
- ``ConstructorFromReduceNode`` *calls* the named object with arguments from the file.

So a module prefix ("anything under ``sklearn.``") admits a function such as
``sklearn.utils._testing.check_output`` called by a reduce node, and "torch classes
only" admits ``subprocess.Popen``, which torch re-exports under a ``torch.`` module.
Trust here is therefore exact: each name that :func:`sk_hier.save` writes, with the
loaders it is written with (:func:`allowed_types`). What skops trusts by itself
(scikit-learn estimators, numpy arrays and dtypes, containers, primitives) stays
trusted by skops, for the loaders skops trusts it with. Anything else needs the
caller's explicit ``trusted=[...]``.

The other checks here turn what a damaged or edited file would make crash deep in
zipfile, skops or torch into a ``ValueError`` naming the file: its metadata and
format version (:func:`check_metadata`), the archive (:func:`read_skops`), the classes
and weights of a stored network (:func:`check_net_parts`, :func:`load_weights`) and
the device it asks for (:func:`check_device`, :func:`fallback_device`).
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from types import BuiltinFunctionType, MappingProxyType
from typing import Any

from ._version import __version__

__all__ = [
    "DAMAGE",
    "DamagedNet",
    "allowed_types",
    "audit_schema",
    "check_device",
    "check_metadata",
    "check_net_parts",
    "damaged",
    "device_problem",
    "fallback_device",
    "load_weights",
    "read_skops",
]

OBJECT, TYPE, FUNCTION = "ObjectNode", "TypeNode", "FunctionNode"
PARTIAL, LIST, METHOD = "PartialNode", "ListNode", "MethodNode"
# A CachedNode points back at a node met earlier in the file, which was audited
# there; it builds nothing new, whatever name it carries.
_REFERENCE = "CachedNode"


def _name(obj: Any) -> str:
    # The name skops writes for a class or function (module of definition + name).
    return f"{obj.__module__}.{obj.__name__}"


def _sk_hier_parts() -> list[tuple[str, list]]:
    """sk_hier's own objects: the public estimators and what they hold."""
    from sklearn.base import BaseEstimator

    import sk_hier

    from ._calibration_maps import IdentityMap, IsotonicMap, PlattMap, TemperatureMap
    from ._net import TaggerNet
    from .baselines import _ConstantProbability
    from .heads import ClassNet, HierarchicalNet, TreeSpec
    from .hierarchy import Hierarchy
    from .losses import HierarchicalBCELoss, WeightedCrossEntropy
    from .metrics import _HierarchicalScorer
    from .persistence import _SavedNet, _TensorData
    from .strategies import STRATEGIES

    public = [getattr(sk_hier, name) for name in sk_hier.__all__]
    estimators = [c for c in public if isinstance(c, type) and issubclass(c, BaseEstimator)]
    held = [_ConstantProbability, Hierarchy, TreeSpec, _HierarchicalScorer]
    held += [IdentityMap, IsotonicMap, PlattMap, TemperatureMap]  # a calibrator's maps
    # The head classes of the strategy registry ("module:attribute"), as module classes.
    heads = [_import(strategy.head) for strategy in STRATEGIES.values()]
    modules = [HierarchicalNet, ClassNet, *(h for h in heads if isinstance(h, type))]
    return [
        (OBJECT, [*estimators, *held, *_embedder_classes(), _SavedNet, _TensorData]),
        # A saved net names its classes; restore() builds them after checking them.
        (TYPE, [TaggerNet, *modules, HierarchicalBCELoss, WeightedCrossEntropy]),
    ]


def _embedder_classes() -> list[type]:
    """The audio embedders of the registry behind ``sk-hier embed --embedder``: a
    shipped Pipeline starts with one. They hold settings only; their networks load
    from package data when first used, never from the model file."""
    from .embedders import EMBEDDERS

    return [entry.load() for entry in EMBEDDERS.values()]


def _import(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _network_parts() -> list[tuple[str, list]]:
    """The skorch and torch parts of the tagger's net, as ``HierarchicalTagger`` builds it."""
    import inspect

    import torch
    from skorch import NeuralNet
    from skorch.callbacks import (
        EarlyStopping,
        EpochTimer,
        PassthroughScoring,
        PrintLog,
        ProgressBar,
    )
    from skorch.history import History
    from skorch.setter import optimizer_setter

    net_defaults = inspect.signature(NeuralNet).parameters
    loaders = [net_defaults[k].default for k in ("dataset", "iterator_train", "iterator_valid")]
    # The callbacks log through their `sink`, by default the builtin print.
    sinks = {inspect.signature(cb).parameters["sink"].default for cb in (PrintLog, EarlyStopping)}
    return [
        (OBJECT, [EarlyStopping, EpochTimer, PassthroughScoring, PrintLog, ProgressBar]),
        (LIST, [History]),  # skorch's History is a list subclass
        (TYPE, [torch.optim.Adam, torch.optim.LBFGS, *loaders]),
        (FUNCTION, [*sinks, optimizer_setter]),
        # skorch wraps optimizer_setter in a partial; the function inside is a node
        # of its own and is audited as one.
        (PARTIAL, [functools.partial]),
    ]


def _search_parts() -> list[tuple[str, list]]:
    """What a grid search over sk_hier models holds: CV splitters and scorers."""
    from sklearn.metrics import _scorer, get_scorer, get_scorer_names
    from sklearn.model_selection import _split

    splitters = [getattr(_split, name) for name in _split.__all__]
    splitters = [c for c in splitters if isinstance(c, type)]
    scorers = [get_scorer(name) for name in get_scorer_names()]
    scorer_types = {type(s) for s in scorers}
    for private in ("_PassthroughScorer", "_MultimetricScorer"):
        if hasattr(_scorer, private):
            scorer_types.add(getattr(_scorer, private))
    # Metric functions from scikit-learn's scorer registry: pure computations.
    metrics = {s._score_func for s in scorers if callable(getattr(s, "_score_func", None))}
    return [
        (OBJECT, [*splitters, *scorer_types]),
        (TYPE, splitters),  # RepeatedKFold holds the splitter class it repeats
        (FUNCTION, sorted(metrics, key=_name)),
    ]


#: Classes that moved, by the name older files record -> their current name. The
#: old module still exposes each of them, so skops finds it under either name.
_MOVED = {"sk_hier.heads.TreeSpec": "sk_hier._tree.TreeSpec"}


@functools.lru_cache(maxsize=1)
def allowed_types() -> Mapping[str, frozenset[str]]:
    """The names a ``.skops`` file may hold beyond skops' own defaults, and their loaders.

    Returns
    -------
    table : mapping of str to frozenset of str
        Full name (``module.name``) -> the skops loaders it may be rebuilt with
        (``"ObjectNode"``, ``"TypeNode"``, ``"FunctionNode"``, ``"ListNode"``,
        ``"PartialNode"``). Built from the classes themselves, so a renamed or moved
        class follows.

    Examples
    --------
    >>> table = allowed_types()
    >>> sorted(table["sk_hier.tagger.HierarchicalTagger"])
    ['ObjectNode']
    >>> "builtins.eval" in table, any(name.startswith("subprocess") for name in table)
    (False, False)
    """
    table: dict[str, set[str]] = {}
    for role, objects in (*_sk_hier_parts(), *_network_parts(), *_search_parts()):
        for obj in objects:
            # skops writes a builtin function (print) as a TypeNode: imported, not called.
            kind = TYPE if role == FUNCTION and isinstance(obj, BuiltinFunctionType) else role
            table.setdefault(_name(obj), set()).add(kind)
    for old, new in _MOVED.items():  # files written before a class moved
        if new in table:
            table[old] = table[new]
    return MappingProxyType({name: frozenset(roles) for name, roles in table.items()})


def _nodes(schema: Any) -> Iterator[tuple[str, str]]:
    """``(name, loader)`` of every node of a skops schema, without recursion.

    Every dict with a ``__loader__`` counts as a node, wherever it sits: a superset
    of what skops builds, so nothing it builds escapes the audit.
    """
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                loader = str(item["__loader__"])
                name = f"{item.get('__module__')}.{item.get('__class__')}"
                yield name, loader
                content = item.get("content")
                if loader == METHOD and isinstance(content, dict):
                    yield f"{name}.{content.get('func')}", loader
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def audit_schema(
    schema: Any, untrusted: Iterable[str], path: str | os.PathLike, trusted: Iterable[str] = ()
) -> list[str]:
    """Check a ``.skops`` schema against :func:`allowed_types`; return the names to trust.

    Parameters
    ----------
    schema : dict
        The parsed ``schema.json`` of the file.
    untrusted : iterable of str
        What ``skops.io.get_untrusted_types`` reports for the file: the names skops
        does not trust by itself.
    path : path-like
        The file, for the messages.
    trusted : iterable of str, default=()
        Names the caller accepts knowingly, whatever their loader.

    Returns
    -------
    names : list of str
        ``untrusted``, once every node that uses one of them has passed.

    Raises
    ------
    ValueError
        A name outside the table, or a name in it rebuilt with a loader that
        ``save`` never uses for it (e.g. a class called by a reduce node).
    """
    untrusted = sorted(set(untrusted))
    user = set(trusted)
    table = allowed_types()
    unknown = [name for name in untrusted if name not in user and name not in table]
    if unknown:
        raise ValueError(
            f"{path} names {_plural(unknown, 'object')} that sk_hier does not trust: "
            f"{', '.join(unknown)}. sk_hier.save writes only sk_hier's own classes, the "
            "skorch and torch parts of its networks and what skops trusts itself; another "
            "name in a model file could run code while it loads, so the file is refused. "
            "If you know where the file comes from and what these are, accept them "
            f"knowingly: sk_hier.load(path, trusted={unknown!r})."
        )
    # Names handed to skops are trusted by it in every node: check each use here.
    checked = set(untrusted) - user
    misused = sorted(
        {
            (name, loader)
            for name, loader in _nodes(schema)
            if name in checked and loader != _REFERENCE and loader not in table[name]
        }
    )
    if misused:
        name, loader = misused[0]
        raise ValueError(
            f"{path} asks skops to rebuild {name} with {loader}, but sk_hier.save writes "
            f"it only as {' or '.join(sorted(table[name]))}: rebuilt that way it could run "
            "code from the file, so the file is refused. It was not written by "
            "sk_hier.save as it is; if you trust it nevertheless, accept the name "
            f"knowingly: sk_hier.load(path, trusted={[name]!r})."
        )
    return untrusted


def _plural(items: list, word: str) -> str:
    return f"{len(items)} {word}{'s' * (len(items) != 1)}"


# -- reading a .skops file ---------------------------------------------------------------
#: What a damaged or edited archive raises inside zipfile, json and skops.
DAMAGE = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    ImportError,
    IndexError,
    EOFError,
    RecursionError,
    zipfile.BadZipFile,
)


def damaged(path: str | os.PathLike, exc: BaseException) -> ValueError:
    """The error for a file that cannot be read as it is: what is wrong, where, what to do."""
    detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    member = re.search(r"no item named '(.+)' in the archive", str(detail))
    if member:
        what = f"the archive member {member.group(1)!r} is missing"
    elif isinstance(exc, KeyError):
        what = f"the entry {detail!r} is missing"
    else:
        what = f"{type(exc).__name__}: {detail}"
    return ValueError(
        f"{path} is damaged or incomplete ({what}). Save the model again with sk_hier.save, "
        "or get an intact copy."
    )


def read_skops(data: bytes, path: str | os.PathLike, trusted: Iterable[str] = ()) -> Any:
    """The object in the ``.skops`` bytes ``data``, after :func:`audit_schema` passed.

    Raises
    ------
    ValueError
        Names outside the trusted table, or a damaged archive (naming ``path``).
    """
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(data=data)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except DAMAGE as exc:
        raise damaged(path, exc) from None
    accepted = audit_schema(schema, untrusted, path, trusted)
    try:
        return sio.loads(data, trusted=accepted)
    except DAMAGE as exc:
        raise damaged(path, exc) from None


def check_metadata(
    meta: Any, path: str | os.PathLike, *, name: str, current: int, readable: tuple
) -> dict:
    """``meta`` if it is sk_hier metadata in a format version this sk_hier reads.

    Raises
    ------
    ValueError
        Not sk_hier metadata, a ``format_version`` that is not an integer, or one
        outside ``readable`` (naming both versions and what to do).
    """
    if not isinstance(meta, dict) or meta.get("format") != name:
        raise ValueError(
            f"{path} is not an sk_hier model file (no sk_hier metadata). Write models with "
            "sk_hier.persistence.save or `sk-hier fit`."
        )
    version = meta.get("format_version")
    written_by = meta.get("sk_hier_version", "an unknown version")
    if type(version) is not int:  # bool is an int subclass: refuse it too
        raise ValueError(
            f"{path}: its metadata gives format_version {version!r} "
            f"({type(version).__name__}), where sk_hier.save writes an integer; the file "
            "is damaged or was edited. Save the model again with sk_hier.save."
        )
    if version not in readable:
        if version > current:
            fix = f"Upgrade sk_hier (pip install 'sk-hier>={written_by}') to read it."
        else:
            fix = (
                f"Load it with sk_hier {written_by} and save it again, or fit the model "
                "again with this version."
            )
        raise ValueError(
            f"{path} holds an sk_hier model in format version {version} (written by "
            f"sk_hier {written_by}); this sk_hier ({__version__}) reads format version "
            f"{', '.join(map(str, readable))}. {fix}"
        )
    return meta


# -- what a saved net asks for ---------------------------------------------------------
class DamagedNet(ValueError):
    """A stored network whose parts do not fit together; the caller names the file."""


def check_net_parts(net_class: Any, state: Any, weights: Any, optimizers: Any) -> None:
    """Check the classes a saved net names are the kinds skorch will call, before it does.

    skorch builds ``state["module"](**module__params)`` and the like: a file could
    name any trusted callable there, so each must be the class kind it stands for.
    """
    import torch
    from skorch import NeuralNet

    if not (isinstance(net_class, type) and issubclass(net_class, NeuralNet)):
        raise DamagedNet(f"its network class {net_class!r} is not a skorch net")
    if not all(isinstance(x, dict) for x in (state, weights, optimizers)):
        raise DamagedNet("its network is not stored as sk_hier.save stores one")
    if not weights:  # an unfitted net builds nothing
        return
    kinds = {"module": torch.nn.Module, "criterion": torch.nn.Module}
    kinds["optimizer"] = torch.optim.Optimizer
    for key, kind in kinds.items():
        value = state.get(key)
        if not (isinstance(value, type) and issubclass(value, kind)):
            raise DamagedNet(f"its network's {key} {value!r} is not a {kind.__name__} class")


def load_weights(component: Any, weights: Any, name: str) -> None:
    """``load_state_dict`` after checking names and shapes, for a message that says which."""
    import torch

    expected = component.state_dict()
    if not isinstance(weights, dict):
        raise DamagedNet(f"the weights of the net's {name} are not stored as a mapping")
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise DamagedNet(
            f"the weights of the net's {name} do not fit the network its settings describe "
            f"(missing: {missing or 'none'}; unexpected: {extra or 'none'})"
        )
    for key, value in weights.items():
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else None
        if shape != tuple(expected[key].shape):
            raise DamagedNet(
                f"weight {name}.{key} has shape {shape} but the network its settings describe "
                f"needs {tuple(expected[key].shape)}"
            )
    component.load_state_dict(weights)


# -- devices ---------------------------------------------------------------------------
def device_problem(device: Any) -> str | None:
    """Why ``device`` cannot be used on this machine, or ``None`` if it can.

    Examples
    --------
    >>> device_problem("cpu") is None
    True
    >>> device_problem("gpu-please")
    "is not a torch device; use 'cpu', 'cuda', 'cuda:0' or 'mps'"
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        return "is not a torch device; use 'cpu', 'cuda', 'cuda:0' or 'mps'"
    kind = parsed.type
    if kind == "cpu":
        return None
    if kind == "cuda":
        if not torch.cuda.is_available():
            return "was asked for, but CUDA is not available on this machine"
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            return f"was asked for, but this machine has {count} CUDA device(s)"
        return None
    if kind == "mps":
        available = torch.backends.mps.is_available()
        return None if available else "was asked for, but MPS is not available on this machine"
    backend = getattr(torch, kind, None)
    if callable(getattr(backend, "is_available", None)) and backend.is_available():
        return None
    return f"was asked for, but no {kind!r} device is available on this machine"


def check_device(device: Any) -> str | None:
    """``device`` as a string, or ``None``; a ``ValueError`` if this machine lacks it."""
    if device is None:
        return None
    problem = device_problem(device)
    if problem is not None:
        raise ValueError(f"device={device!r} {problem}; load with device='cpu'.")
    return str(device)


def fallback_device(saved: Iterable[str], path: str | os.PathLike) -> str | None:
    """``"cpu"`` (with a warning) if a device a model was saved for is missing here."""
    unusable = sorted(d for d in saved if device_problem(d) is not None)
    if not unusable:
        return None
    warnings.warn(
        f"{path} was saved for device {unusable[0]!r}, which {device_problem(unusable[0])}; "
        "it is loaded on 'cpu'. Pass device= to choose.",
        UserWarning,
        stacklevel=5,  # the caller of sk_hier.load
    )
    return "cpu"
