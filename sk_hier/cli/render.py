"""``sk-hier render``: render a labelled multi-instrument audio set into a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CLIError

EPILOG = """examples:
  sk-hier render --n-clips 3000 --seed 0 --out data/timgm6mb
  sk-hier render --midi-from data/timgm6mb --soundfont fluidr3 --out data/fluidr3
  sk-hier render --n-clips 100 --programs 0,40,42,73 --drum-kits 0 --out data/small
  sk-hier render --n-clips 3000 --soundfonts timgm6mb,csound,fluidr3 --augment light \
      --out data/mixed
  sk-hier render --midi-from data/timgm6mb --soundfonts fluidr3,musescore --each --out data/both
"""


def _int_list(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 0,40,73, got {text!r}"
        ) from None


def _add_source_args(p) -> None:
    """--soundfont, --soundfonts, --each, --augment: choices from the registries."""
    # Both registries are plain-Python modules: listing the choices loads no numpy.
    from ..datasets.augment import AUGMENT_LEVELS
    from ..datasets.soundfonts import soundfont_names

    names = soundfont_names()
    p.add_argument(
        "--soundfont",
        default="timgm6mb",
        metavar="SF",
        help=f"one source: {', '.join(names)} (default timgm6mb, ships with pretty_midi; "
        "the others come from Debian packages, `make setup` installs them) or the path "
        "of a .sf2/.sf3 file",
    )
    p.add_argument(
        "--soundfonts",
        metavar="A,B,...",
        help="several sources: each clip is rendered through one drawn per clip (N clips "
        "stay N); sources.csv records the source, lineage group and MIDI id of each clip",
    )
    p.add_argument(
        "--each",
        action="store_true",
        help="with --soundfonts: every clip through every source (ids <clip>__<source>)",
    )
    p.add_argument(
        "--augment",
        choices=tuple(AUGMENT_LEVELS),
        default="none",
        help="render-time augmentation, seeded per clip and recorded (default: none; "
        "needs pip install 'sk-hier[augment]')",
    )


def add_parser(subparsers) -> None:
    """Register ``render`` on the ``sk-hier`` sub-command parser."""
    p = subparsers.add_parser(
        "render",
        help="render labelled multi-instrument audio clips from MIDI",
        description=(
            "Compose (or take) MIDI clips and render them with a General MIDI soundfont: "
            "OUT/audio/*.wav, OUT/midi/*.mid, OUT/labels.csv (families, then instruments), "
            "OUT/hierarchy.json, OUT/render.json. Re-running with the same settings "
            "finishes an interrupted render."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--n-clips",
        type=int,
        metavar="N",
        help="number of clips (required unless --midi-from; default then: all)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the set (default: 0)")
    _add_source_args(p)
    p.add_argument(
        "--duration", type=float, default=10.0, help="clip length in seconds (default: 10)"
    )
    p.add_argument(
        "--source",
        choices=("generated", "music21"),
        default="generated",
        help="composed music (default) or excerpts of music21 corpus works",
    )
    p.add_argument("--sample-rate", type=int, default=22050, metavar="HZ", help="default: 22050")
    p.add_argument("--n-jobs", type=int, default=1, metavar="J", help="processes (-1: all)")
    p.add_argument(
        "--midi-from",
        metavar="DIR",
        help="render the MIDI of a rendered folder (or a folder of .mid files) instead "
        "of composing: the same music through another soundfont",
    )
    p.add_argument(
        "--programs",
        type=_int_list,
        metavar="P,P,...",
        help="custom taxonomy: GM programs 0-127 (default: the 26-instrument taxonomy)",
    )
    p.add_argument(
        "--drum-kits",
        type=_int_list,
        metavar="K,K,...",
        help="drum kits of a custom taxonomy (0 Standard, 25 TR-808, ...)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``sk-hier render``; returns the exit status."""
    from .._io import check_output
    from ..datasets.render import render_dataset
    from ..datasets.soundfonts import parse_soundfont_list
    from ..datasets.taxonomy import instruments_from_programs

    if args.n_clips is None and args.midi_from is None:
        raise CLIError("give --n-clips N (or --midi-from DIR to render existing MIDI).")
    if args.each and not args.soundfonts:
        raise CLIError("--each needs --soundfonts A,B,...: it renders every clip through each.")
    try:
        fonts = parse_soundfont_list(args.soundfonts) if args.soundfonts else None
    except ValueError as exc:
        raise CLIError(f"--soundfonts: {exc}") from None
    # Before any work: --out may not be a source, and must be a folder that can be made.
    given = [args.midi_from, args.soundfont, *(fonts or ())]
    sources = [s for s in given if s and Path(s).exists()]
    check_output(args.out, sources, option="--out", folder=True)
    instruments = None
    if args.programs is not None or args.drum_kits is not None:
        instruments = instruments_from_programs(args.programs or [], args.drum_kits or [])
    summary = render_dataset(
        args.out,
        n_clips=args.n_clips,
        seed=args.seed,
        soundfont=args.soundfont,
        duration=args.duration,
        source=args.source,
        sample_rate=args.sample_rate,
        n_jobs=args.n_jobs,
        progress=not args.quiet,
        instruments=instruments,
        midi_from=args.midi_from,
        soundfonts=fonts,
        each=args.each,
        augment=args.augment,
    )
    speed = f" ({summary.realtime_factor:.0f}x real time)" if summary.n_rendered else ""
    print(
        f"{summary.out_dir}: {summary.n_clips} clips, {summary.n_rendered} rendered, "
        f"{summary.n_skipped} already there, {summary.seconds:.1f} s{speed}"
    )
    return 0
