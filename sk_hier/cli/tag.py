"""``sk-hier tag``: which instruments play when, in audio files; CSV, JSON or a table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import CLIError
from ._tag_output import FORMATS

HELP = "tag audio files: which instrument families and instruments play when"
DESCRIPTION = """\
Tag audio files, folders (searched recursively) or glob patterns ('songs/*.wav') with
the pretrained instrument tagger that ships with sk_hier, or with --model: a model
saved by `sk-hier fit` (or sk_hier.save), or the name of another pretrained model.
The audio is embedded with the embedder the model was trained with.

A file longer than --window seconds is cut into windows of that length, one every
--hop seconds (default: back to back; the last one ends at the end of the file), and
every window gets the probability of every label. Output (CSV, JSON, or a table on a
terminal): per file (kind=clip) per label the highest probability of its windows,
and per window its own; the 'tags' column holds the labels at or above their
thresholds and the 'top' column the --top most probable labels with their
probabilities, so an answer is never empty. A warning says when the model was fit on
too few clips to be trusted, or when no label of a file passes its threshold.
--plot draws the instrument timeline of each file (one row per instrument under its
family band, probability as shade, predicted tags marked).

A .skops model loads without running code from the file: it may name only the
objects sk_hier itself saves. A pickle model (.joblib, .pkl) runs whatever code its
author put in it when loaded, so it is refused unless --allow-pickle is given: use
that only for a file you trust, or better, convert it to .skops once.
--out and --plot are checked before any work: neither may be one of the inputs.
"""
EPILOG = """examples:
  sk-hier tag song.wav --plot timeline.png
  sk-hier tag 'songs/*.flac' --window 10 --hop 5 --out tags.json
  sk-hier tag clips/ --model model.skops --threshold 0.4 --out tags.csv
  sk-hier tag model.skops song.wav          (a leading model file works too)
"""
_MODEL_SUFFIXES = (".skops", ".joblib", ".pkl", ".pickle")


def add_parser(subparsers) -> None:
    """Register ``tag`` on the ``sk-hier`` sub-command parser."""
    p = subparsers.add_parser(
        "tag",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files, folders or globs")
    p.add_argument(
        "--model",
        default=None,
        metavar="MODEL",
        help="a .skops model (a .joblib only with --allow-pickle) or a pretrained name "
        "(default: the pretrained gm-instruments)",
    )
    p.add_argument(
        "--window",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="window length for long files (default 10; 0: whole files only)",
    )
    p.add_argument(
        "--hop",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between window starts (default: --window)",
    )
    p.add_argument(
        "--top",
        type=int,
        default=3,
        metavar="K",
        help="most probable labels shown per file and window (default 3)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="T",
        help="one decision threshold for every label (default: the model's own)",
    )
    _add_output_options(p)
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
    p.set_defaults(func=run)


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="default: from --out's suffix; a table on a terminal; else csv",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="file to write (.csv or .json; default stdout); never an input",
    )
    p.add_argument(
        "--plot",
        default=None,
        metavar="FILE.png",
        help="instrument timeline picture (several files: FILE-<name>.png)",
    )


def find_audio(sources: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Audio files named by ``sources`` (files, folders searched recursively, or glob
    patterns such as ``'songs/*.wav'``), and problems.

    Returns the files, in the order given (sorted within a folder or pattern), and a
    list of ``(source, reason)`` for sources that do not exist or hold no audio: the
    others are still tagged.
    """
    from ..embeddings.audio_lists import read_audio_files, read_audio_folder

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


def windows(duration: float, window: float, hop: float | None = None) -> list:
    """``(start, end)`` of the windows of a clip (see :func:`sk_hier._timeline.windows`).

    Examples
    --------
    >>> windows(25.0, 10.0)
    [(0.0, 10.0), (10.0, 20.0), (15.0, 25.0)]
    """
    from .._timeline import windows as _windows

    return _windows(duration, window, hop)


def _split_model_argument(args: argparse.Namespace) -> None:
    """A leading model file (``sk-hier tag model.skops song.wav``) is the model."""
    first = args.audio[0]
    if args.model is None and Path(first).suffix.lower() in _MODEL_SUFFIXES:
        if len(args.audio) == 1:
            raise CLIError(f"{first} is a model file: give the audio to tag after it.")
        args.model, args.audio = first, args.audio[1:]


def _check_options(args: argparse.Namespace) -> None:
    if not args.window >= 0:
        raise CLIError(f"--window must be >= 0 seconds, got {args.window}.")
    if args.hop is not None and not args.hop > 0:
        raise CLIError(f"--hop must be > 0 seconds, got {args.hop}.")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise CLIError(f"--threshold must lie in [0, 1], got {args.threshold}.")
    if args.top < 1:
        raise CLIError(f"--top must be at least 1, got {args.top}.")
    if args.plot is not None and Path(args.plot).suffix.lower() not in (".png", ".pdf", ".svg"):
        raise CLIError(f"--plot {args.plot}: name a .png, .pdf or .svg file.")
    if args.format == "text" and args.out is not None:
        raise CLIError("--format text is for reading in a terminal; write --out as csv or json.")


def _inputs(args: argparse.Namespace) -> tuple[list[Path], list[tuple[str, str]]]:
    """Check the options, find the audio, and check ``--out`` and ``--plot`` against
    every input, all before the model is loaded or any audio embedded."""
    from .._io import check_output
    from ._tag_output import plot_paths

    _split_model_argument(args)
    _check_options(args)
    files, problems = find_audio(args.audio)
    if problems and args.on_error == "raise":
        source, reason = problems[0]
        raise CLIError(f"{source}: {reason} (use --on-error skip to tag the rest).")
    inputs = [*([args.model] if args.model else []), *args.audio, *files]
    if args.out is not None:
        check_output(args.out, inputs, option="--out")
    if args.plot is not None:
        stand_ins = [argparse.Namespace(path=str(f)) for f in files]
        for path in plot_paths(args.plot, stand_ins or [None]):
            check_output(path, [*inputs, *([args.out] if args.out else [])], option="--plot")
    return files, problems


def _model_path(model: str | None) -> tuple[Path, str]:
    """The model file, and how to name it in the output."""
    from ..pretrained import DEFAULT_MODEL, list_pretrained, pretrained_path

    if model is None or (model in list_pretrained() and not Path(model).exists()):
        name = model or DEFAULT_MODEL
        try:
            return pretrained_path(name), f"pretrained:{name}"
        except ValueError as exc:
            raise CLIError(f"{exc} Or give a model file with --model.") from None
    return Path(model), str(model)


def _embedder_from(meta: dict, model_path: Any) -> Any:
    from ..embeddings import EMBEDDERS, make_embedder

    info = (meta.get("user") or {}).get("embedder")
    if not isinstance(info, dict) or info.get("name") not in EMBEDDERS:
        raise CLIError(
            f"{model_path} does not record which embedder made its training features "
            "(metadata 'embedder' with a 'name'), so new audio cannot be embedded the "
            "same way. Train it with `sk-hier fit` on an `sk-hier embed` file, or save it "
            "with sk_hier.persistence.save(model, path, {'embedder': embedder.describe()})."
        )
    import inspect

    name = info["name"]
    accepted = inspect.signature(EMBEDDERS[name].load().__init__).parameters
    settings = {k: v for k, v in (info.get("settings") or {}).items() if k in accepted}
    return make_embedder(name, **settings)


def _model(args: argparse.Namespace) -> tuple[Any, str]:
    """The model split for tagging, and its name for the output."""
    from .._timeline import Tagger
    from ..embeddings import AudioEmbedder
    from ..persistence import load

    path, name = _model_path(args.model)
    model, meta = load(
        path, device=args.device, allow_pickle=args.allow_pickle, return_metadata=True
    )
    with_embedder = hasattr(model, "steps") and isinstance(model.steps[0][1], AudioEmbedder)
    embedder = None if with_embedder else _embedder_from(meta, path)
    n_clips = ((meta.get("user") or {}).get("training_data") or {}).get("n_clips")
    tagger = Tagger.from_model(model, embedder, args.threshold, n_clips)
    n_in = getattr(tagger.head, "n_features_in_", None)
    if n_in is not None and tagger.embedder.n_features_out_ != n_in:
        raise CLIError(
            f"The recorded embedder gives {tagger.embedder.n_features_out_} features but the "
            f"model expects {n_in}: the model metadata does not match its training features."
        )
    return tagger, name


def _n_windows(files: list[Path], args: argparse.Namespace) -> int | None:
    """Windows to tag, from the files' headers (``None`` when one cannot be read)."""
    import soundfile as sf

    try:
        durations = [sf.info(str(f)).duration for f in files]
    except Exception:  # any unreadable header (bad files come later): count files
        return None
    return sum(max(1, len(windows(d, args.window, args.hop))) for d in durations)


def _tag_all(tagger: Any, files: list[Path], args, problems: list) -> list:
    """The timeline of every file, with a progress bar over windows on a terminal."""
    from tqdm.auto import tqdm

    from ..embeddings import BadAudioError

    total = _n_windows(files, args)
    quiet = args.no_progress or not sys.stderr.isatty()
    unit = "window" if total is not None else "file"
    bar = tqdm(total=total or len(files), desc="tag", unit=unit, disable=quiet, file=sys.stderr)
    timelines = []
    try:
        for path in files:
            bar.set_postfix_str(path.name, refresh=False)
            try:
                timeline = tagger.tag_file(path, args.window, args.hop)
            except BadAudioError as exc:
                if args.on_error == "raise":
                    raise CLIError(f"{exc} (use --on-error skip to tag the rest).") from None
                problems.append((str(exc.source), exc.reason))
                continue
            bar.update(len(timeline.starts) if unit == "window" else 1)
            timelines.append(timeline)
    finally:
        bar.close()
    return timelines


def run(args: argparse.Namespace) -> int:
    """Tag ``args.audio``; returns the exit status."""
    from . import _tag_output as output

    files, problems = _inputs(args)
    tagger, model_name = _model(args)
    warnings = list(tagger.model_warnings())
    timelines = _tag_all(tagger, files, args, problems)
    warnings += [f"skipped {source}: {reason}" for source, reason in problems]
    warnings += [w for t in timelines for w in t.warnings]
    for message in warnings:
        print(f"sk-hier tag: warning: {message}", file=sys.stderr)
    if not timelines:
        raise CLIError("no audio file could be tagged; nothing written.")
    fmt = output.output_format(args.format, args.out)
    if fmt == "json":
        text = output.json_text(timelines, args.top, model_name, warnings)
    elif fmt == "text":
        text = output.text_table(timelines, args.top)
    else:
        text = output.csv_text(timelines, args.top)
    output.write(args.out, text)
    plots = output.save_plots(args.plot, timelines) if args.plot else []
    n_windows = sum(len(t.starts) for t in timelines if len(t.starts) > 1)
    n = len(timelines)
    print(
        f"sk-hier tag: tagged {n} file{'s' * (n != 1)} ({n_windows} windows) with "
        f"{model_name} ({len(timelines[0].labels)} labels); wrote {args.out or 'stdout'}"
        + "".join(f", {p}" for p in plots),
        file=sys.stderr,
    )
    return 0
