"""What ``sk-hier tag`` writes: CSV, JSON or a terminal table, and timeline pictures.

Every answer carries the top nodes with their probabilities beside the thresholded
tags, so a file whose labels all stay under their thresholds still says what the
model heard.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from . import CLIError

FIXED_COLUMNS = ("path", "start", "end", "kind")
FORMATS = ("csv", "json", "text")


def output_format(fmt: str | None, out: str | None) -> str:
    """``--format``, else the suffix of ``--out``, else a table on a terminal, else CSV."""
    if fmt is not None:
        return fmt
    if out is not None:
        suffix = Path(out).suffix.lower().lstrip(".")
        return suffix if suffix in ("csv", "json") else "csv"
    return "text" if sys.stdout.isatty() else "csv"


def _columns(labels: tuple) -> list[str]:
    reserved = {*FIXED_COLUMNS, "tags", "top"}
    return [f"p_{name}" if name in reserved else name for name in labels]


def _top_text(pairs: list[tuple[str, float]]) -> str:
    return ";".join(f"{name}:{p:.3f}" for name, p in pairs)


def _csv_row(path, start, end, kind, proba, tags, top) -> list:
    probs = ["" if math.isnan(p) else f"{p:.6g}" for p in proba]
    return [path, f"{start:.3f}", f"{end:.3f}", kind, *probs, ";".join(tags), _top_text(top)]


def csv_text(timelines: list, k: int) -> str:
    """One row per file (``kind=clip``: per label the highest probability of its windows)
    and, for a file cut into windows, one row per window (``kind=window``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    labels = timelines[0].labels
    writer.writerow([*FIXED_COLUMNS, *_columns(labels), "tags", "top"])
    for t in timelines:
        writer.writerow(
            _csv_row(t.path, 0.0, t.duration, "clip", t.clip_proba, t.tags(), t.top(k))
        )
        if len(t.starts) > 1:
            for i, (a, b) in enumerate(zip(t.starts, t.ends)):
                writer.writerow(
                    _csv_row(t.path, a, b, "window", t.proba[i], t.tags(i), t.top(k, i))
                )
    return buffer.getvalue()


def _number(p: float) -> float | None:
    return None if math.isnan(p) else round(float(p), 6)


def _part(t: Any, k: int, i: int | None) -> dict:
    proba = t.clip_proba if i is None else t.proba[i]
    return {
        "tags": t.tags(i),
        "top": [{"label": n, "p": round(p, 6)} for n, p in t.top(k, i)],
        "proba": {n: _number(p) for n, p in zip(t.labels, proba)},
    }


def json_text(timelines: list, k: int, model: str, warnings: list[str]) -> str:
    """Every file with its whole-file answer and, when cut, its windows."""
    first = timelines[0]
    doc = {
        "model": model,
        "labels": list(first.labels),
        "parents": {n: first.hierarchy.parent_of(n) for n in first.labels},
        "thresholds": {n: float(v) for n, v in zip(first.labels, first.thresholds)},
        "warnings": warnings,
        "files": [
            {
                "path": t.path,
                "duration": round(t.duration, 3),
                **_part(t, k, None),
                "windows": [
                    {"start": round(float(a), 3), "end": round(float(b), 3), **_part(t, k, i)}
                    for i, (a, b) in enumerate(zip(t.starts, t.ends))
                ],
            }
            for t in timelines
        ],
    }
    return json.dumps(doc, indent=1) + "\n"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def text_table(timelines: list, k: int) -> str:
    """For reading in a terminal: per window, the top nodes and the tags."""
    lines = []
    for t in timelines:
        lines.append(f"{t.path} ({_clock(t.duration)})")
        for i, (a, b) in enumerate(zip(t.starts, t.ends)):
            top = "  ".join(f"{n} {p:.2f}" for n, p in t.top(k, i))
            tags = ", ".join(t.tags(i)) or "-"
            lines.append(f"  {_clock(a):>7}-{_clock(b):<7} {top:<60} tags: {tags}")
    return "\n".join(lines) + "\n"


def write(out: str | None, text: str) -> None:
    """``text`` to ``out`` (atomically) or to stdout."""
    if out is None:
        sys.stdout.write(text)
        return
    from .._io import atomic_write

    try:
        atomic_write(out, text)
    except OSError as exc:  # e.g. the folder changed since the check at the start
        raise CLIError(f"--out {out}: cannot be written ({exc.strerror or exc}).") from None


def plot_paths(plot: str, timelines: list) -> list[Path]:
    """Where each file's timeline goes: ``--plot`` itself for one file, else
    ``<stem>-<file stem>.<suffix>`` beside it."""
    base = Path(plot)
    if len(timelines) == 1:
        return [base]
    return [base.with_name(f"{base.stem}-{Path(t.path).stem}{base.suffix}") for t in timelines]


def save_plots(plot: str, timelines: list) -> list[Path]:
    """Draw and save the timeline picture of every file; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, no display needed
    import matplotlib.pyplot as plt

    from .._io import atomic_path
    from ..plotting import plot_timeline

    written = []
    for path, timeline in zip(plot_paths(plot, timelines), timelines):
        fig = plot_timeline(timeline)
        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
        finally:
            plt.close(fig)
        written.append(path)
    return written
