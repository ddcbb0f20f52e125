"""Embedding files (``.npz``) and the audio lists ``sk-hier embed`` reads.

An embedding file holds ``X`` (n, d) float32, ``clip_ids`` (n,), ``Y`` (n, n_labels)
float with NaN for unknown, ``labels`` (the hierarchy's labels, the columns of ``Y``),
``hierarchy`` (JSON text of the tree, or ``null``) and ``embedder`` (JSON text: name
and settings). Only plain arrays and strings are stored, so loading needs no pickle.

Audio lists come from a rendered folder (``audio/<clip_id>.wav``, ``labels.csv``,
``hierarchy.json``), from a user's CSV manifest (a ``path`` column, optionally a
``clip_id`` column and one column per label), or, without labels, from a folder of
audio files or glob patterns.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_path
from ..hierarchy import Hierarchy

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioDataset",
    "EmbeddingSet",
    "load_embeddings",
    "read_audio_dataset",
    "read_audio_files",
    "read_audio_folder",
    "read_manifest",
    "read_rendered",
    "save_embeddings",
]

#: File name endings (lower case) taken for audio when a folder or pattern is searched.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".opus")
# What marks a folder as rendered: with any of these, it is read as one (and a
# half-written render is reported as such instead of being embedded without labels).
_RENDERED_MARKS = ("labels.csv", "hierarchy.json", "render.json")

_KEYS = ("X", "clip_ids", "Y", "labels", "hierarchy", "embedder")
_RESERVED = ("path", "clip_id")


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

    def __len__(self) -> int:
        return len(self.X)


@dataclass
class AudioDataset:
    """Audio files with clip ids and (optional) labels, ready to embed.

    Attributes
    ----------
    paths : list of Path
    clip_ids : list of str
    Y : ndarray of shape (n_clips, n_labels), float32
        0/1 with NaN for unknown, columns in ``hierarchy.labels`` order; shape
        (n_clips, 0) without labels.
    hierarchy : Hierarchy or None

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import AudioDataset
    >>> ds = AudioDataset(["a.wav"], ["a"], np.zeros((1, 0)), None)
    >>> len(ds), ds.labels
    (1, ())
    """

    paths: list
    clip_ids: list
    Y: np.ndarray
    hierarchy: Hierarchy | None

    @property
    def labels(self) -> tuple:
        return () if self.hierarchy is None else self.hierarchy.labels

    def __len__(self) -> int:
        return len(self.paths)


# -- embedding files ----------------------------------------------------------------------
def save_embeddings(
    path: str | os.PathLike,
    X: Any,
    clip_ids: Any,
    Y: Any = None,
    hierarchy: Hierarchy | None = None,
    embedder: dict | None = None,
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
    )


# -- audio lists -----------------------------------------------------------------------------
def _cell(value: str, where: str) -> float:
    text = value.strip().lower()
    if text in ("", "nan", "na", "?", "-1"):
        return np.nan
    if text in ("1", "1.0", "true", "yes"):
        return 1.0
    if text in ("0", "0.0", "false", "no"):
        return 0.0
    raise ValueError(f"{where}: label values must be 0, 1 or empty (unknown), got {value!r}.")


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise FileNotFoundError(f"No such CSV file: {path}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text CSV file.") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path}: empty CSV file; it needs a header row.")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ValueError(f"{path}: duplicate column name(s) {dup}.")
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path}, line {i}: {len(row)} fields for {len(header)} columns in the header."
            )
    return header, rows[1:]


def _label_matrix(
    header: list[str], rows: list[list[str]], columns: list[str], hierarchy: Hierarchy, path: Path
) -> np.ndarray:
    Y = np.full((len(rows), len(hierarchy.labels)), np.nan, dtype=np.float32)
    for col in columns:
        j_in = header.index(col)
        j_out = hierarchy.index(col.strip("/").split("/")[-1])
        for i, row in enumerate(rows):
            Y[i, j_out] = _cell(row[j_in], f"{path}, line {i + 2}, column {col!r}")
    return Y


def read_manifest(path: str | os.PathLike) -> AudioDataset:
    """Read a CSV manifest of the user's own audio.

    Columns: ``path`` (required; relative paths are resolved against the CSV's folder),
    ``clip_id`` (optional; default: the path as written), and any number of label
    columns holding 0, 1 or empty (unknown). Label column names may be paths such as
    ``strings/violin``, which define the tree; plain names are roots (flat labels).
    ``Y`` covers every label of the tree, NaN where no column gives it (a parent
    without its own column is completed from its children when a tagger reads it).

    Examples
    --------
    >>> import os, tempfile
    >>> from sk_hier.embeddings import read_manifest
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "clips.csv"), "w") as f:
    ...     _ = f.write("path,strings/violin,strings/cello\\na.wav,1,0\\nb.wav,0,\\n")
    >>> ds = read_manifest(os.path.join(folder, "clips.csv"))
    >>> ds.labels, ds.clip_ids
    (('strings', 'violin', 'cello'), ['a.wav', 'b.wav'])
    >>> ds.Y
    array([[nan,  1.,  0.],
           [nan,  0., nan]], dtype=float32)
    """
    path = Path(path)
    header, rows = _read_csv(path)
    if "path" not in header:
        raise ValueError(
            f"{path}: a manifest needs a 'path' column (audio file paths, relative to "
            f"the CSV's folder or absolute); found columns {header}."
        )
    if not rows:
        raise ValueError(f"{path}: the manifest lists no audio files.")
    jp = header.index("path")
    base = path.resolve().parent
    paths, ids = [], []
    for i, row in enumerate(rows, start=2):
        p = row[jp].strip()
        if not p:
            raise ValueError(f"{path}, line {i}: empty 'path'.")
        paths.append(Path(p) if os.path.isabs(p) else base / p)
        ids.append(row[header.index("clip_id")].strip() if "clip_id" in header else p)
    if len(set(ids)) != len(ids):
        dup = sorted({c for c in ids if ids.count(c) > 1})[:5]
        raise ValueError(f"{path}: clip ids must be unique; repeated: {dup}.")
    columns = [h for h in header if h not in _RESERVED]
    if not columns:
        return AudioDataset(paths, ids, np.zeros((len(rows), 0), dtype=np.float32), None)
    if any(not c.strip("/") for c in columns):
        raise ValueError(f"{path}: a label column has an empty name.")
    names = [c.strip("/").split("/")[-1] for c in columns]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{path}: several columns name the label(s) {dup}; keep one each.")
    hierarchy = Hierarchy.from_paths([c.strip("/") for c in columns])
    return AudioDataset(
        paths, ids, _label_matrix(header, rows, columns, hierarchy, path), hierarchy
    )


def read_rendered(folder: str | os.PathLike) -> AudioDataset:
    """Read a rendered dataset folder: ``audio/<clip_id>.wav``, ``labels.csv``,
    ``hierarchy.json``.

    ``labels.csv`` has a ``clip_id`` column and one 0/1 column per label of the
    hierarchy (empty cells are unknown).

    Examples
    --------
    >>> import os, tempfile
    >>> from sk_hier.hierarchy import Hierarchy
    >>> from sk_hier.embeddings import read_rendered
    >>> d = tempfile.mkdtemp()
    >>> with open(os.path.join(d, "hierarchy.json"), "w") as f:
    ...     _ = f.write(Hierarchy({"brass": ["trumpet"]}).to_json())
    >>> with open(os.path.join(d, "labels.csv"), "w") as f:
    ...     _ = f.write("clip_id,brass,trumpet\\nc0,1,1\\n")
    >>> ds = read_rendered(d)
    >>> ds.clip_ids, [p.name for p in ds.paths], ds.Y.tolist()
    (['c0'], ['c0.wav'], [[1.0, 1.0]])
    """
    folder = Path(folder)
    hier_path, labels_path = folder / "hierarchy.json", folder / "labels.csv"
    for p in (hier_path, labels_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{folder} is not a complete rendered dataset folder: {p.name} is missing "
                "(expected audio/<clip_id>.wav, labels.csv and hierarchy.json; finish an "
                "interrupted render by running it again). For your own audio give a CSV "
                "manifest with a 'path' column, or a folder without these files."
            )
    try:
        hierarchy = Hierarchy.from_json(hier_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"{hier_path}: not a valid hierarchy ({exc}).") from None
    header, rows = _read_csv(labels_path)
    if "clip_id" not in header:
        raise ValueError(f"{labels_path}: needs a 'clip_id' column; found {header}.")
    columns = [h for h in header if h != "clip_id"]
    missing = [lab for lab in hierarchy.labels if lab not in columns]
    extra = [c for c in columns if c not in hierarchy]
    if missing or extra:
        raise ValueError(
            f"{labels_path}: label columns do not match hierarchy.json: missing {missing}, "
            f"unknown {extra}."
        )
    jc = header.index("clip_id")
    ids = [row[jc].strip() for row in rows]
    if len(set(ids)) != len(ids) or "" in ids:
        raise ValueError(f"{labels_path}: clip ids must be unique and non-empty.")
    paths = [folder / "audio" / f"{c}.wav" for c in ids]
    Y = _label_matrix(header, rows, columns, hierarchy, labels_path)
    return AudioDataset(paths, ids, Y, hierarchy)


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _unlabelled(paths: list[Path], ids: list[str]) -> AudioDataset:
    return AudioDataset(paths, ids, np.zeros((len(paths), 0), dtype=np.float32), None)


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()


def read_audio_folder(folder: str | os.PathLike) -> AudioDataset:
    """Every audio file under ``folder``, without labels.

    The folder is searched recursively for names ending in one of
    :data:`AUDIO_SUFFIXES` (any case); files are sorted by path and their clip ids
    are their paths relative to ``folder``, with ``/`` separators.

    Raises
    ------
    FileNotFoundError
        If ``folder`` is not a folder.
    ValueError
        If it holds no audio file.

    Examples
    --------
    >>> import os, tempfile
    >>> from sk_hier.embeddings import read_audio_folder
    >>> d = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(d, "live"))
    >>> for name in ("b.wav", "a.flac", os.path.join("live", "c.WAV"), "cover.jpg"):
    ...     open(os.path.join(d, name), "wb").close()
    >>> ds = read_audio_folder(d)
    >>> ds.clip_ids, ds.Y.shape, ds.hierarchy
    (['a.flac', 'b.wav', 'live/c.WAV'], (3, 0), None)
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder.")
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if _is_audio(p))
    if not found:
        raise ValueError(
            f"{folder} holds no audio file (searched it and its sub-folders for "
            f"{', '.join(AUDIO_SUFFIXES)}); give a folder of audio files, a rendered "
            "folder (labels.csv, hierarchy.json) or a CSV manifest with a 'path' column."
        )
    return _unlabelled([folder / f for f in found], found)


def read_audio_files(patterns: Iterable[str | os.PathLike]) -> AudioDataset:
    """Audio files named by paths or glob patterns, without labels.

    A pattern (``*``, ``?``, ``[...]``; ``**`` crosses folders) gives the audio files
    it matches, sorted; a plain path gives itself. Clip ids are the paths as matched
    (as written, relative or absolute); a file named twice is taken once.

    Raises
    ------
    FileNotFoundError
        If a path does not exist or a pattern matches no audio file.
    ValueError
        If a path is not an audio file (by its suffix, see :data:`AUDIO_SUFFIXES`).

    Examples
    --------
    >>> import os, tempfile
    >>> from sk_hier.embeddings import read_audio_files
    >>> d = tempfile.mkdtemp()
    >>> for name in ("b.wav", "a.wav", "notes.txt"):
    ...     open(os.path.join(d, name), "wb").close()
    >>> ds = read_audio_files([os.path.join(d, "*")])
    >>> [os.path.basename(c) for c in ds.clip_ids], ds.labels
    (['a.wav', 'b.wav'], ())
    """
    ids: list[str] = []
    for pattern in map(os.fspath, patterns):
        if _has_magic(pattern) and not os.path.exists(pattern):
            matched = sorted(m for m in glob.glob(pattern, recursive=True) if _is_audio(Path(m)))
            if not matched:
                raise FileNotFoundError(
                    f"the pattern {pattern!r} matches no audio file "
                    f"({', '.join(AUDIO_SUFFIXES)}); check the folder and the pattern."
                )
        elif not os.path.exists(pattern):
            raise FileNotFoundError(f"{pattern} does not exist.")
        elif not _is_audio(Path(pattern)):
            raise ValueError(
                f"{pattern} is not an audio file (names end in {', '.join(AUDIO_SUFFIXES)}); "
                "give audio files, a folder of them, a quoted pattern such as "
                "'songs/*.wav', a rendered folder or a CSV manifest."
            )
        else:
            matched = [pattern]
        ids += [m for m in matched if m not in ids]
    if not ids:
        raise ValueError("no audio file given.")
    return _unlabelled([Path(i) for i in ids], ids)


def read_audio_dataset(source: str | os.PathLike) -> AudioDataset:
    """Audio to embed, from whichever ``source`` is.

    A rendered folder (it holds ``labels.csv`` / ``hierarchy.json``) is read by
    :func:`read_rendered`; a CSV file by :func:`read_manifest`; any other folder by
    :func:`read_audio_folder` (every audio file in it, no labels); an audio file or a
    glob pattern by :func:`read_audio_files`.

    Examples
    --------
    >>> import os, tempfile
    >>> from sk_hier.embeddings import read_audio_dataset
    >>> csv = os.path.join(tempfile.mkdtemp(), "clips.csv")
    >>> with open(csv, "w") as f:
    ...     _ = f.write("path,violin\\na.wav,1\\n")
    >>> ds = read_audio_dataset(csv)
    >>> ds.labels, ds.Y.tolist()
    (('violin',), [[1.0]])
    """
    source = Path(source)
    if source.is_dir():
        if any((source / mark).exists() for mark in _RENDERED_MARKS):
            return read_rendered(source)
        return read_audio_folder(source)
    if source.suffix.lower() == ".csv" and source.exists():
        return read_manifest(source)
    if source.suffix.lower() == ".csv":
        raise FileNotFoundError(f"{source} does not exist.")
    if not source.exists() and not _has_magic(os.fspath(source)):
        raise FileNotFoundError(
            f"{source} does not exist (give a folder, a rendered folder, a CSV manifest, "
            "an audio file or a quoted pattern such as 'songs/*.wav')."
        )
    return read_audio_files([source])
