"""Embedding files (``.npz``): what ``sk-hier embed`` writes and the benchmark reads.

An embedding file holds ``X`` (n, d) float32, ``clip_ids`` (n,), ``Y`` (n, n_labels)
float with NaN for unknown, ``labels`` (the hierarchy's labels, the columns of ``Y``),
``hierarchy`` (JSON text of the tree, or ``null``) and ``embedder`` (JSON text: name
and settings). A multi-source render adds, per clip, ``sources`` (the timbre source),
``groups`` (its lineage group: the groups of ``LeaveOneGroupOut``) and ``midi_ids``
(the piece: keep one piece's renderings on one side of a split). Only plain arrays
and strings are stored, so loading needs no pickle.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..hierarchy import Hierarchy

__all__ = [
    "EmbeddingSet",
    "load_embeddings",
    "save_embeddings",
]


_KEYS = ("X", "clip_ids", "Y", "labels", "hierarchy", "embedder")
# Optional per-clip provenance of a multi-source render, all three or none.
_PROVENANCE = ("sources", "groups", "midi_ids")


@dataclass
class EmbeddingSet:
    """The contents of an embedding file.

    Attributes
    ----------
    X : ndarray of shape (n_clips, n_features), float32
    Y : ndarray of shape (n_clips, n_labels), float32
        0/1 with NaN for unknown; columns in ``labels`` order.
    clip_ids : ndarray of shape (n_clips,), str
    labels : tuple of str
        ``hierarchy.labels`` (empty when the file holds no labels).
    hierarchy : Hierarchy or None
    embedder : dict
        Name and settings of the embedder that made ``X``.
    sources, groups, midi_ids : ndarray of shape (n_clips,), str, or None
        Per clip, for a multi-source render (``None`` otherwise): the timbre source,
        its lineage group, and the MIDI piece it renders.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import EmbeddingSet
    >>> e = EmbeddingSet(np.zeros((2, 3)), np.zeros((2, 0)), np.array(["a", "b"]), (), None)
    >>> len(e)
    2
    """

    X: np.ndarray
    Y: np.ndarray
    clip_ids: np.ndarray
    labels: tuple
    hierarchy: Hierarchy | None
    embedder: dict = field(default_factory=dict)
    sources: np.ndarray | None = None
    groups: np.ndarray | None = None
    midi_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)


# -- embedding files ----------------------------------------------------------------------
def save_embeddings(
    path: str | os.PathLike,
    X: Any,
    clip_ids: Any,
    Y: Any = None,
    hierarchy: Hierarchy | None = None,
    embedder: dict | None = None,
    *,
    provenance: dict | None = None,
) -> Path:
    """Write an embedding file, atomically (a temporary file, then a rename).

    Parameters
    ----------
    path : str or path-like
        Where to write (the name is kept as given; ``.npz`` is the convention).
    X : array-like of shape (n_clips, n_features)
        Stored as float32.
    clip_ids : sequence of str, length n_clips
        Unique clip identifiers.
    Y : array-like of shape (n_clips, n_labels) or None
        0/1/NaN over ``hierarchy.labels``; ``None`` for no labels.
    hierarchy : Hierarchy or None
        The label tree (required with ``Y``).
    embedder : dict or None
        Name and settings of the embedder (e.g. ``embedder.describe()``).
    provenance : dict or None
        For a multi-source render: ``{"sources": ..., "groups": ..., "midi_ids": ...}``,
        one string per clip each (``sources.csv`` of ``sk-hier render``).

    Returns
    -------
    Path
        The file written.

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> from sk_hier.hierarchy import Hierarchy
    >>> from sk_hier.embeddings import save_embeddings, load_embeddings
    >>> h = Hierarchy({"strings": ["violin", "cello"]})
    >>> Y = np.array([[1, 1, 0], [1, np.nan, 1]])
    >>> f = os.path.join(tempfile.mkdtemp(), "emb.npz")
    >>> _ = save_embeddings(f, np.zeros((2, 4)), ["a", "b"], Y, h, {"name": "logmel"})
    >>> e = load_embeddings(f)
    >>> e.X.shape, e.labels, e.clip_ids.tolist()
    ((2, 4), ('strings', 'violin', 'cello'), ['a', 'b'])
    >>> where = {"sources": ["fluidr3", "timgm6mb"], "groups": ["fluid", "timgm"],
    ...          "midi_ids": ["m0", "m0"]}
    >>> _ = save_embeddings(f, np.zeros((2, 4)), ["a", "b"], provenance=where)
    >>> load_embeddings(f).groups.tolist()
    ['fluid', 'timgm']
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_clips, n_features), got shape {X.shape}.")
    n = X.shape[0]
    ids = np.asarray([str(c) for c in clip_ids], dtype=str)
    if ids.shape != (n,):
        raise ValueError(f"clip_ids has {ids.size} entries for {n} rows of X.")
    if len(set(ids.tolist())) != n:
        raise ValueError("clip_ids must be unique.")
    if Y is None:
        if hierarchy is not None:
            raise ValueError("A hierarchy was given without Y; pass Y over hierarchy.labels.")
        Y = np.zeros((n, 0), dtype=np.float32)
        labels: tuple = ()
    else:
        if hierarchy is None:
            raise ValueError("Y needs its hierarchy (its columns are hierarchy.labels).")
        labels = hierarchy.labels
        Y = np.asarray(Y, dtype=np.float32)
        if Y.shape != (n, len(labels)):
            raise ValueError(
                f"Y has shape {Y.shape}; expected ({n}, {len(labels)}): one row per clip, "
                "one column per label of the hierarchy."
            )
    arrays = {
        "X": X,
        "clip_ids": ids,
        "Y": Y,
        "labels": np.asarray(labels, dtype=str),
        "hierarchy": np.asarray(json.dumps(None) if hierarchy is None else hierarchy.to_json()),
        "embedder": np.asarray(json.dumps(embedder or {}, sort_keys=True, default=str)),
        **_provenance_arrays(provenance, n),
    }
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            # A file object: given a name, np.savez would add ".npz" to the temp file's.
            np.savez(f, **arrays)
    except OSError as exc:
        # Name the user's path, not the hidden temp file the error was raised on.
        raise type(exc)(
            f"{path}: cannot write the embedding file ({exc.strerror or exc})"
        ) from None
    return path


def _provenance_arrays(provenance: dict | None, n: int) -> dict:
    """The optional per-clip provenance as string arrays, checked."""
    if provenance is None:
        return {}
    if sorted(provenance) != sorted(_PROVENANCE):
        raise ValueError(
            f"provenance must have exactly the keys {list(_PROVENANCE)}; got {sorted(provenance)}."
        )
    out = {k: np.asarray([str(v) for v in provenance[k]], dtype=str) for k in _PROVENANCE}
    bad = {k: v.shape for k, v in out.items() if v.shape != (n,)}
    if bad:
        raise ValueError(f"provenance arrays need one entry per clip ({n}); got shapes {bad}.")
    return out


def load_embeddings(path: str | os.PathLike) -> EmbeddingSet:
    """Read an embedding file written by :func:`save_embeddings` / ``sk-hier embed``.

    Raises
    ------
    ValueError
        Naming the file and what is wrong: a missing key, wrong shapes, labels that do
        not match the hierarchy.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sk_hier.embeddings import load_embeddings, save_embeddings
    >>> f = save_embeddings(os.path.join(tempfile.mkdtemp(), "e.npz"), np.ones((1, 2)), ["a"])
    >>> e = load_embeddings(f)
    >>> e.X, e.Y.shape, e.hierarchy
    (array([[1., 1.]], dtype=float32), (1, 0), None)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No embedding file at {path}; make one with `sk-hier embed`.")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable .npz embedding file ({exc}).") from None
    with data:
        missing = [k for k in _KEYS if k not in data.files]
        if missing:
            raise ValueError(
                f"{path}: not an sk_hier embedding file, missing key(s) {missing} "
                f"(found {sorted(data.files)}). Write it with `sk-hier embed` or "
                "sk_hier.embeddings.save_embeddings."
            )
        X, Y = data["X"], data["Y"]
        ids, labels = data["clip_ids"], tuple(str(s) for s in data["labels"].tolist())
        hier_text, emb_text = str(data["hierarchy"][()]), str(data["embedder"][()])
        found = [k for k in _PROVENANCE if k in data.files]
        extra = {k: data[k].astype(str) for k in found}
    if found and (
        len(found) != len(_PROVENANCE) or any(v.shape != ids.shape for v in extra.values())
    ):
        raise ValueError(
            f"{path}: per-clip provenance must be all of {list(_PROVENANCE)} with one entry "
            f"per clip; found {found}. Re-create the file."
        )
    if X.ndim != 2:
        raise ValueError(f"{path}: X must be 2-D, got shape {X.shape}.")
    n = X.shape[0]
    if ids.shape != (n,):
        raise ValueError(f"{path}: clip_ids has shape {ids.shape}, expected ({n},).")
    if Y.shape != (n, len(labels)):
        raise ValueError(
            f"{path}: Y has shape {Y.shape}, expected ({n}, {len(labels)}) (rows of X by labels)."
        )
    try:
        tree = json.loads(hier_text)
        embedder = json.loads(emb_text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: the hierarchy or embedder record is not JSON ({exc})."
        ) from None
    hierarchy = None if tree is None else Hierarchy(tree)
    expected = () if hierarchy is None else hierarchy.labels
    if labels != expected:
        raise ValueError(
            f"{path}: labels {list(labels)} do not match the stored hierarchy's labels "
            f"{list(expected)}; the file is inconsistent, re-create it."
        )
    return EmbeddingSet(
        X=X.astype(np.float32, copy=False),
        Y=Y.astype(np.float32, copy=False),
        clip_ids=ids.astype(str),
        labels=labels,
        hierarchy=hierarchy,
        embedder=embedder,
        **extra,
    )
