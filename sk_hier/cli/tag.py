"""``sk-hier tag``: tag audio files with a saved model; a CSV of probabilities and tags."""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import CLIError

HELP = "tag audio files with a saved model (CSV of probabilities and tags)"
DESCRIPTION = """\
Tag audio files (or every audio file under a folder) with a model saved by
`sk-hier fit` (or sk_hier.persistence.save with the embedder in its metadata). The
audio is embedded with the embedder recorded in the model. Output: one CSV row per
file (kind=clip) with the probability of every label and a 'tags' column of the
predicted labels joined by ';'. A file longer than --window seconds is also cut into
windows of that length (the last one ends at the end of the file), each with its own
row (kind=window); the file's row then holds, per label, the highest probability of
its windows (a label is in the file if it is in any window).

A .skops model loads without running code from the file: it may name only the
objects sk_hier itself saves. A pickle model (.joblib, .pkl) runs whatever code its
author put in it when loaded, so it is refused unless --allow-pickle is given: use
that only for a file you trust, or better, convert it to .skops once.
--out is checked before any work: it must not be one of the inputs.
"""
EPILOG = """examples:
  sk-hier tag model.skops song.wav
  sk-hier tag model.skops clips/ more.flac --window 5 --threshold 0.4 --out tags.csv
"""
_FIXED_COLUMNS = ("path", "start", "end", "kind")


def add_parser(subparsers) -> None:
    """Register ``tag`` on the ``sk-hier`` sub-command parser."""
    p = subparsers.add_parser(
        "tag",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "model",
        metavar="MODEL.skops",
        help="model saved by `sk-hier fit` (.skops; a .joblib only with --allow-pickle)",
    )
    p.add_argument("audio", nargs="+", metavar="AUDIO_OR_DIR", help="audio files or folders")
    p.add_argument(
        "--window",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="window length for long files (default 10; 0: whole files only)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="T",
        help="one decision threshold for every label (default: the model's own)",
    )
    p.add_argument("--device", default=None, help="torch device for the model (cpu, cuda:0)")
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="a bad or missing audio file: stop with an error (default) or skip it",
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="load a pickle model (.joblib, .pkl): loading one runs code chosen by whoever "
        "wrote it, so only for files you trust (refused by default)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE.csv",
        help="CSV to write (default stdout); never one of the inputs",
    )
    p.set_defaults(func=run)


def find_audio(sources: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files named by ``sources`` (files, folders searched recursively, or glob
    patterns such as ``'songs/*.wav'``), and problems.

    Returns the files, in the order given (sorted within a folder or pattern), and a
    list of ``(source, reason)`` for sources that do not exist or hold no audio: the
    others are still tagged.
    """
    from ..embeddings.io import read_audio_files, read_audio_folder

    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for source in sources:
        if not Path(source).exists() and not any(c in source for c in "*?["):
            problems.append((source, "no such file or folder"))
            continue
        try:
            found = (
                read_audio_folder(source) if Path(source).is_dir() else read_audio_files([source])
            )
        except (OSError, ValueError) as exc:
            problems.append((source, str(exc)))
            continue
        files += [Path(p) for p in found.paths if Path(p) not in files]
    return files, problems


def windows(duration: float, window: float) -> list[tuple[float, float]]:
    """``(start, end)`` of the windows of a clip: back to back, the last one ending at
    the end of the clip; none when the clip fits in one window (or ``window == 0``).

    Examples
    --------
    >>> windows(25.0, 10.0)
    [(0.0, 10.0), (10.0, 20.0), (15.0, 25.0)]
    >>> windows(8.0, 10.0)
    []
    """
    if window <= 0 or duration <= window:
        return []
    starts = list(np.arange(0.0, duration - window, window))
    return [(float(s), float(s) + window) for s in starts] + [(duration - window, duration)]


def _embedder_from(meta: dict, model_path: str) -> Any:
    from ..embeddings import EMBEDDERS, make_embedder

    info = (meta.get("user") or {}).get("embedder")
    if not isinstance(info, dict) or info.get("name") not in EMBEDDERS:
        raise CLIError(
            f"{model_path} does not record which embedder made its training features "
            "(metadata 'embedder' with a 'name'), so new audio cannot be embedded the "
            "same way. Train it with `sk-hier fit` on an `sk-hier embed` file, or save it "
            "with sk_hier.persistence.save(model, path, {'embedder': embedder.describe()})."
        )
    name = info["name"]
    accepted = inspect.signature(EMBEDDERS[name].__init__).parameters
    settings = {k: v for k, v in (info.get("settings") or {}).items() if k in accepted}
    settings.update(progress=False, on_error="skip", n_jobs=None, cache_dir=None)
    embedder = make_embedder(name, **settings)
    embedder.set_params(sample_rate=embedder.target_sr)  # we hand it loaded waveforms
    return embedder.fit(None)


def _fitted_tree_and_thresholds(model: Any, threshold: float | None) -> tuple[tuple, np.ndarray]:
    final = model[-1] if hasattr(model, "steps") else model
    inner = getattr(final, "estimator_", final)  # TunedThresholds
    inner = inner[-1] if hasattr(inner, "steps") else inner
    hierarchy = getattr(final, "hierarchy_", None)
    if hierarchy is None:
        hierarchy = getattr(inner, "hierarchy_", None)
    if hierarchy is None or getattr(inner, "_class_target", False):
        raise CLIError(
            f"{type(model).__name__} is not a fitted multi-label tagger (no label tree); "
            "tag needs a model trained on multi-label targets."
        )
    labels = tuple(hierarchy.labels)
    if threshold is not None:
        thr = np.full(len(labels), threshold)
    elif getattr(final, "thresholds_", None) is not None:
        thr = np.asarray(final.thresholds_, dtype=float)
    elif hasattr(final, "_thresholds"):
        thr = np.asarray(final._thresholds(), dtype=float)
    else:
        thr = np.full(len(labels), float(getattr(final, "threshold", 0.5)))
    return labels, thr


def _columns(labels: tuple) -> list[str]:
    reserved = {*_FIXED_COLUMNS, "tags"}
    return [f"p_{name}" if name in reserved else name for name in labels]


def _inputs(args: argparse.Namespace) -> tuple[list[Path], list[tuple[str, str]]]:
    """Check the options, find the audio, and check ``--out`` against every input,
    all before the model is loaded or any audio embedded."""
    from .._io import check_output

    if not args.window >= 0:
        raise CLIError(f"--window must be >= 0 seconds, got {args.window}.")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise CLIError(f"--threshold must lie in [0, 1], got {args.threshold}.")
    files, problems = find_audio(args.audio)
    if problems and args.on_error == "raise":
        source, reason = problems[0]
        raise CLIError(f"{source}: {reason} (use --on-error skip to tag the rest).")
    if args.out is not None:
        check_output(args.out, [args.model, *args.audio, *files], option="--out")
    return files, problems


def _model(args: argparse.Namespace) -> tuple[Any, tuple, np.ndarray, Any]:
    """The model, its labels and thresholds, and the embedder recorded with it."""
    from ..persistence import load

    model, meta = load(
        args.model, device=args.device, allow_pickle=args.allow_pickle, return_metadata=True
    )
    labels, thr = _fitted_tree_and_thresholds(model, args.threshold)
    embedder = _embedder_from(meta, args.model)
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and embedder.n_features_out_ != n_in:
        raise CLIError(
            f"The recorded embedder gives {embedder.n_features_out_} features but the model "
            f"expects {n_in}: the model metadata does not match its training features."
        )
    return model, labels, thr, embedder


def _embed(path: Path, embedder: Any, window: float) -> tuple[float, list, Any]:
    """``(duration, window spans, X)`` of one file; ``BadAudioError`` if it has no audio."""
    from ..embeddings import BadAudioError, SkippedAudioWarning, load_audio

    audio, sr = load_audio(path, sr=embedder.target_sr)
    duration = len(audio) / sr
    spans = windows(duration, window)
    pieces = [audio[round(a * sr) : round(b * sr)] for a, b in spans]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedAudioWarning)
        X = embedder.transform(pieces or [audio])
    if len(embedder.kept_indices_) == 0:
        reason = embedder.skipped_[0][1] if embedder.skipped_ else "cannot be embedded"
        raise BadAudioError(str(path), reason)
    return duration, spans, X


def run(args: argparse.Namespace) -> int:
    """Tag ``args.audio`` with ``args.model``; returns the exit status."""
    from tqdm.auto import tqdm

    from ..embeddings import BadAudioError

    files, problems = _inputs(args)
    model, labels, thr, embedder = _model(args)
    rows: list[list[Any]] = []
    n_windows = 0
    bar = tqdm(files, desc="tag", unit="file", disable=args.no_progress, file=sys.stderr)
    try:
        for path in bar:
            try:
                duration, spans, X = _embed(path, embedder, args.window)
            except BadAudioError as exc:
                if args.on_error == "raise":
                    raise CLIError(f"{exc} (use --on-error skip to tag the rest).") from None
                problems.append((str(exc.source), exc.reason))
                continue
            P = np.full((len(spans) or 1, len(labels)), np.nan)
            P[embedder.kept_indices_] = model.predict_proba(X)
            clip = np.nanmax(P, axis=0) if spans else P[0]
            rows.append(_row(path, 0.0, duration, "clip", clip, labels, thr))
            for (a, b), p in zip(spans, P):
                rows.append(_row(path, a, b, "window", p, labels, thr))
            n_windows += len(spans)
    finally:
        bar.close()

    for source, reason in problems:
        print(f"sk-hier tag: warning: skipped {source}: {reason}", file=sys.stderr)
    if not rows:
        raise CLIError("no audio file could be tagged; nothing written.")
    _write_csv(args.out, [*_FIXED_COLUMNS, *_columns(labels), "tags"], rows)
    n_files = sum(r[3] == "clip" for r in rows)
    print(
        f"sk-hier tag: tagged {n_files} file{'s' * (n_files != 1)} ({n_windows} windows) "
        f"with {len(labels)} labels; wrote {args.out or 'stdout'}",
        file=sys.stderr,
    )
    return 0


def _row(path, start, end, kind, proba, labels, thr) -> list:
    known = ~np.isnan(proba)
    tags = ";".join(name for name, p, t, k in zip(labels, proba, thr, known) if k and p >= t)
    probs = ["" if not k else f"{p:.6g}" for p, k in zip(proba, known)]
    return [str(path), f"{start:.3f}", f"{end:.3f}", kind, *probs, tags]


def _write_csv(out: str | None, header: list, rows: list) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if out is None:
        sys.stdout.write(buffer.getvalue())
        return
    from .._io import atomic_write

    try:
        atomic_write(out, buffer.getvalue())
    except OSError as exc:  # e.g. the folder changed since the check at the start
        raise CLIError(f"--out {out}: cannot be written ({exc.strerror or exc}).") from None
