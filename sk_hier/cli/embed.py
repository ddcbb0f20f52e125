"""``sk-hier embed``: audio (a folder, a pattern or a CSV manifest) -> an embedding file."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import CLIError

HELP = "embed audio into an .npz embedding file"
DESCRIPTION = """\
Embed audio into an .npz file with X, clip_ids, Y, labels, hierarchy and the
embedder's settings; read it back with sk_hier.embeddings.load_embeddings. The audio
comes from one of:
  a rendered dataset folder (audio/<clip_id>.wav, labels.csv, hierarchy.json);
  a CSV manifest (a 'path' column, relative to the CSV's folder, plus optional
    'clip_id' and label columns such as 'strings/violin' holding 0, 1 or empty for
    unknown);
  any other folder: every audio file in it and its sub-folders, without labels
    (clip ids are the paths inside the folder);
  audio files or quoted glob patterns such as 'songs/*.wav', without labels.
The output file is checked before any work: it may not be one of the inputs.
"""

EPILOG = """examples:
  sk-hier embed data/timgm6mb --out data/timgm6mb_logmel.npz
  sk-hier embed data/timgm6mb --embedder musicnn --n-jobs 2 --cache-dir ~/.cache/sk_hier \\
      --out data/timgm6mb_musicnn.npz
  sk-hier embed ~/Music/songs --out songs.npz
  sk-hier embed 'songs/**/*.flac' --out songs.npz
  sk-hier embed my_clips.csv --embedder musicnn --model MSD_musicnn --on-error skip \\
      --out my_clips.npz
  sk-hier embed data/timgm6mb --embedder musicnn_pair --out data/timgm6mb_pair.npz
  sk-hier embed data/timgm6mb --scheduler tcp://10.0.0.5:8786 --n-jobs -1 --out X.npz
  sk-hier embed data/timgm6mb --scheduler local --n-jobs 2 --out X.npz
"""


def add_parser(subparsers) -> None:
    """Register ``embed`` on the ``sk-hier`` sub-command parser."""
    # The registry imports no embedder: `sk-hier --help` stays fast.
    from ..embedders import EMBEDDERS, embedder_names

    p = subparsers.add_parser(
        "embed",
        help=HELP,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        nargs="+",
        metavar="SOURCE",
        help="a folder (rendered or of audio files), a CSV manifest, or audio files and "
        "quoted glob patterns",
    )
    p.add_argument(
        "--embedder",
        choices=embedder_names(),
        default="logmel",
        help="embedding model (default: logmel)",
    )
    p.add_argument(
        "--model",
        choices=EMBEDDERS["musicnn"].models,
        default=None,
        help="pretrained musicnn weights (with --embedder musicnn; default MTT_musicnn)",
    )
    p.add_argument("--n-jobs", type=int, default=None, metavar="J", help="parallel workers")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run the --n-jobs work on a Dask cluster: a scheduler address "
        "(tcp://host:8786), or 'local' for 2 worker processes on this machine "
        '(needs pip install "dask[distributed]")',
    )
    p.add_argument("--batch-size", type=int, default=None, metavar="B", help="batch size")
    p.add_argument(
        "--cache-dir",
        default=None,
        metavar="D",
        help="on-disk cache keyed by audio content and settings (plain arrays, no pickle; "
        "a damaged entry is recomputed with a warning)",
    )
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="bad audio files: stop with an error (default) or skip them with a warning",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="embedding file to write")
    p.set_defaults(func=run)


def _read_sources(sources: list[str]):
    """The clips to embed and the files they were listed in."""
    from ..embeddings.audio_lists import read_audio_dataset, read_audio_files

    if len(sources) == 1:
        data = read_audio_dataset(sources[0])
    else:
        folders = [s for s in sources if Path(s).is_dir() or s.lower().endswith(".csv")]
        if folders:
            raise CLIError(
                f"{folders[0]}: a folder or a manifest must be the only SOURCE; "
                "run sk-hier embed once per folder or manifest."
            )
        data = read_audio_files(sources)
    listed_in = []
    for source in map(Path, sources):
        if source.is_dir():
            listed_in += [source / "labels.csv", source / "hierarchy.json"]
        elif source.is_file():
            listed_in.append(source)
    return data, [*listed_in, *data.paths]


def _check_outputs(args: argparse.Namespace, inputs: list) -> None:
    """Refuse, before any work, an --out that is an input or cannot be written."""
    from .._io import check_output

    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(
            f"--out {args.out}: cannot create the folder {out.parent} ({exc.strerror or exc})."
        ) from None
    check_output(args.out, inputs, option="--out")
    if args.cache_dir is not None:
        check_output(args.cache_dir, inputs, option="--cache-dir", folder=True)


def _embedder_params(args: argparse.Namespace) -> dict:
    if args.model is not None and args.embedder != "musicnn":
        from ..embedders import EMBEDDERS

        fixed = EMBEDDERS[args.embedder].params.get("model")
        if isinstance(fixed, str):
            fixed = (fixed,)
        why = f" ({args.embedder} runs {' and '.join(fixed)})" if fixed else ""
        raise CLIError(f"--model applies to --embedder musicnn only{why}.")
    if args.n_jobs is not None and args.n_jobs == 0:
        raise CLIError("--n-jobs must be a positive number of workers, or -1 for all cores.")
    params = {
        "n_jobs": args.n_jobs,
        "cache_dir": args.cache_dir,
        "on_error": args.on_error,
        "progress": not args.no_progress,
    }
    if args.model is not None:
        params["model"] = args.model
    if args.batch_size is not None:
        if args.batch_size < 1:
            raise CLIError("--batch-size must be at least 1.")
        params["batch_size"] = args.batch_size
    return params


def run(args: argparse.Namespace) -> int:
    """Embed the audio of ``args.source`` into ``args.out``; returns the exit status."""
    import numpy as np

    from .._dask import scheduler_context
    from ..embeddings import CorruptCacheWarning, SkippedAudioWarning, make_embedder
    from ..embeddings.io import save_embeddings

    params = _embedder_params(args)
    data, inputs = _read_sources(args.source)
    _check_outputs(args, inputs)
    embedder = make_embedder(args.embedder, **params)
    with scheduler_context(args.scheduler), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The skipped files are listed below, once, in the command's own words.
        warnings.simplefilter("ignore", SkippedAudioWarning)
        X = embedder.fit(None).transform([str(p) for p in data.paths])
    shown: dict = {}  # other warnings go back through the filters, each shown once
    for w in caught:
        if issubclass(w.category, CorruptCacheWarning):
            print(f"sk-hier embed: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, registry=shown)
    kept = embedder.kept_indices_
    if embedder.skipped_:
        print(
            f"sk-hier embed: warning: skipped {len(embedder.skipped_)} of {len(data)} "
            "files that could not be embedded:",
            file=sys.stderr,
        )
        for source, reason in embedder.skipped_:
            print(f"  {source}: {reason}", file=sys.stderr)
    if len(kept) == 0:
        raise CLIError(f"no file of {' '.join(args.source)} could be embedded; nothing written.")
    ids = np.asarray(data.clip_ids, dtype=str)[kept]
    Y = data.Y[kept] if data.hierarchy is not None else None
    where = data.provenance  # per clip: source, lineage group, MIDI piece
    if where is not None:
        where = {key: [values[i] for i in kept] for key, values in where.items()}
    out = save_embeddings(
        args.out, X, ids, Y, data.hierarchy, embedder.describe(), provenance=where
    )
    print(
        f"sk-hier embed: wrote {out} ({X.shape[0]} clips x {X.shape[1]} features, "
        f"{len(data.labels)} labels, embedder {args.embedder})"
    )
    return 0
