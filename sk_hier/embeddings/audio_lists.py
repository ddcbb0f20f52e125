"""The audio lists ``sk-hier embed`` reads: which files to embed, and their labels.

Audio lists come from a rendered folder (``audio/<clip_id>.wav``, ``labels.csv``,
``hierarchy.json`` and, for a multi-source render, ``sources.csv``), from a user's CSV
manifest (a ``path`` column, optionally a ``clip_id`` column and one column per
label), or, without labels, from a folder of audio files or glob patterns.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..hierarchy import Hierarchy

__all__ = [
    "AUDIO_SUFFIXES",
    "AudioDataset",
    "read_audio_dataset",
    "read_audio_files",
    "read_audio_folder",
    "read_manifest",
    "read_rendered",
]

#: File name endings (lower case) taken for audio when a folder or pattern is searched.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".opus")
# What marks a folder as rendered: with any of these, it is read as one (and a
# half-written render is reported as such instead of being embedded without labels).
_RENDERED_MARKS = ("labels.csv", "hierarchy.json", "render.json")
_RESERVED = ("path", "clip_id")


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
    provenance : dict or None
        For a multi-source render (its ``sources.csv``): ``sources``, ``groups`` and
        ``midi_ids``, one string per clip each; ``None`` otherwise.

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
    provenance: dict | None = None

    @property
    def labels(self) -> tuple:
        return () if self.hierarchy is None else self.hierarchy.labels

    def __len__(self) -> int:
        return len(self.paths)


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
    return AudioDataset(paths, ids, Y, hierarchy, _read_provenance(folder, ids))


def _read_provenance(folder: Path, ids: list[str]) -> dict | None:
    """``sources.csv`` of a multi-source render, in the order of ``ids`` (or None)."""
    path = folder / "sources.csv"
    if not path.is_file():
        return None
    header, rows = _read_csv(path)
    need = ("clip_id", "source", "group", "midi_id")
    if any(c not in header for c in need):
        raise ValueError(f"{path}: needs the columns {list(need)}; found {header}.")
    by_id = {row[header.index("clip_id")].strip(): row for row in rows}
    missing = [c for c in ids if c not in by_id]
    if missing:
        raise ValueError(
            f"{path}: no row for clips {missing[:3]} of labels.csv; the render is "
            "incomplete, run it again."
        )
    column = {
        key: header.index(name)
        for key, name in (("sources", "source"), ("groups", "group"), ("midi_ids", "midi_id"))
    }
    return {key: [by_id[c][j].strip() for c in ids] for key, j in column.items()}


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
