"""The files of a rendered folder: settings, labels, MIDI sources."""

from __future__ import annotations

import csv
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write, remove_own_temp_files
from .._version import __version__
from ..hierarchy import Hierarchy
from .taxonomy import Instrument, check_instruments


def package_versions(source: str) -> dict:
    """Versions of the packages that shape a render, for render.json."""
    from importlib import metadata

    out = {"sk_hier": __version__, "python": platform.python_version()}
    packages = ["tinysoundfont", "pretty_midi", "numpy"] + (
        ["music21"] if source == "music21" else []
    )
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def read_json(path: Path) -> dict:
    """Read a JSON file, with a clear error when it is unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"Cannot read {path}: {exc}. Delete the folder and render again."
        ) from exc


def instruments_to_json(instruments: Sequence[Instrument]) -> list:
    """A taxonomy as JSON-ready ``[name, family, program, is_drum]`` rows."""
    return [[i.name, i.family, i.program, i.is_drum] for i in instruments]


def instruments_from_json(items: list) -> tuple[Instrument, ...]:
    """The inverse of ``instruments_to_json``."""
    return tuple(Instrument(str(n), str(f), int(p), bool(d)) for n, f, p, d in items)


def midi_source(midi_from: str | os.PathLike, n_clips: int | None, duration, instruments):
    """Clip ids, MIDI paths and settings of a folder of MIDI files to render again."""
    src = Path(midi_from).expanduser()
    if not src.is_dir():
        raise FileNotFoundError(f"midi_from={str(midi_from)!r} is not a folder.")
    if (src / "render.json").is_file():
        meta = read_json(src / "render.json")
        if not (src / "labels.csv").is_file():
            raise ValueError(
                f"{src} holds an unfinished render (no labels.csv); finish it first by "
                "running the same render command again."
            )
        clip_ids = list(read_labels_csv(src / "labels.csv")[0])
        settings = meta["settings"]
        src_instruments = instruments_from_json(settings["instruments"])
        if instruments is not None and tuple(instruments) != src_instruments:
            raise ValueError(
                f"{src} was rendered with another taxonomy; leave instruments=None to keep it."
            )
        instruments, duration = src_instruments, float(settings["duration"])
        origin = {k: settings[k] for k in ("seed", "source", "duration", "generator")}
        mid_dir = src / "midi"
    else:
        mid_dir = src / "midi" if (src / "midi").is_dir() else src
        clip_ids = sorted(p.stem for p in mid_dir.glob("*.mid"))
        if not clip_ids:
            raise FileNotFoundError(f"No .mid files in {mid_dir}.")
        origin = {"folder": str(src.resolve())}
    if n_clips is not None:
        if n_clips > len(clip_ids):
            raise ValueError(f"n_clips={n_clips} but {src} holds only {len(clip_ids)} clips.")
        clip_ids = clip_ids[:n_clips]
    paths = []
    for cid in clip_ids:
        path = mid_dir / f"{cid}.mid"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: {src} is incomplete.")
        paths.append(str(path.resolve()))
    origin["path"] = str(src.resolve())
    return clip_ids, paths, float(duration), check_instruments(instruments), origin


#: Where the MIDI files lay: provenance, not identity. A data folder that moved
#: resumes; each clip it already holds is checked against its source MIDI instead
#: (``check_resumed_midi``).
_MIDI_LOCATION = ("folder", "path")


def _identity(settings: dict) -> dict:
    """The settings a resumed render must share (``midi_from`` without its paths)."""
    origin = settings.get("midi_from")
    if not isinstance(origin, dict):
        return settings
    kept = {k: v for k, v in origin.items() if k not in _MIDI_LOCATION}
    return {**settings, "midi_from": kept}


def check_resumed_midi(out: Path, sources: list) -> None:
    """Refuse to resume ``out`` if a clip it holds came from other MIDI than it would
    now: ``sources`` pairs each clip id with its MIDI path (None: composed)."""
    for clip_id, src in sources:
        held = out / "midi" / f"{clip_id}.mid"
        if src is not None and held.is_file() and held.read_bytes() != Path(src).read_bytes():
            raise ValueError(
                f"{out} holds {clip_id} rendered from other MIDI than {src}: it was "
                "rendered from another MIDI set. Render into another folder, or delete "
                "this one to replace it."
            )


def prepare_out_dir(out: Path, meta: dict) -> None:
    """Create ``out`` or check that it holds a render with the same settings."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"Cannot create the output folder {out}: {exc.strerror or exc}. "
            "Choose a folder you can write to."
        ) from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(f"The output folder {out} is not writable; choose another --out.")
    if (out / "render.json").is_file():
        old = _identity(read_json(out / "render.json").get("settings", {}))
        new = _identity(json.loads(json.dumps(meta["settings"])))
        diff = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        if diff:
            details = "; ".join(
                f"{k}: {_short(old.get(k))} there, {_short(new.get(k))} now" for k in diff
            )
            raise ValueError(
                f"{out} already holds a render with other settings ({details}). Render into "
                "another folder, or delete this one to replace it."
            )
    else:
        # Checked before anything is created, so a refused folder is left as it was.
        found = [
            p
            for p in out.iterdir()
            if p.name not in ("audio", "midi") or not p.is_dir() or any(p.iterdir())
        ]
        if found:
            raise ValueError(
                f"{out} is not empty and holds no render.json (it has {found[0].name!r}): "
                "render into a new or empty folder."
            )
    for sub in ("audio", "midi"):
        (out / sub).mkdir(exist_ok=True)
    # Temp files of an interrupted run; only the package's own, a user's files stay.
    for folder in (out, out / "audio", out / "midi"):
        remove_own_temp_files(folder)
    atomic_write(out / "render.json", json.dumps(meta, indent=2) + "\n")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def label_matrix(hierarchy: Hierarchy, leaf_sets: Sequence[Sequence[str]]) -> np.ndarray:
    """0/1 matrix over ``hierarchy.labels``: each leaf and all its ancestors."""
    Y = np.zeros((len(leaf_sets), len(hierarchy.labels)), dtype=int)
    for row, names in enumerate(leaf_sets):
        for name in names:
            for node in (name, *hierarchy.ancestors_of(name)):
                Y[row, hierarchy.index(node)] = 1
    return Y


def read_labels_csv(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or not rows[0] or rows[0][0] != "clip_id":
        raise ValueError(f"{path} must start with a header whose first column is 'clip_id'.")
    header, body = rows[0], [r for r in rows[1:] if r]
    ids = [r[0] for r in body]
    for lineno, r in enumerate(body, start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}, line {lineno}: {len(r)} fields, expected {len(header)}.")
        bad = [v for v in r[1:] if v not in ("0", "1", "")]
        if bad:
            raise ValueError(
                f"{path}, line {lineno}: labels must be 0, 1 or empty (unknown), got {bad[0]!r}."
            )
    dup = sorted({c for c in ids if ids.count(c) > 1}) if len(set(ids)) != len(ids) else []
    if dup:
        raise ValueError(f"{path}: duplicate clip ids {dup[:5]}.")
    # Integers unless a label is unknown (a soundfont gap): then float with NaN.
    unknown = any(v == "" for r in body for v in r[1:])
    cells = [[float(v) if v else np.nan for v in r[1:]] for r in body]
    Y = np.array(cells, dtype=float if unknown else int).reshape(len(body), -1)
    return ids, header[1:], Y
