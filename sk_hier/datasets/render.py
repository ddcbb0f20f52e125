"""Multi-instrument audio rendered offline from MIDI with a General MIDI soundfont.

Notes come from :func:`generate_clip_midi` (or a folder of MIDI files), sound from
``tinysoundfont`` with a GM soundfont, labels from the MIDI itself: leaf = instrument,
parent = its GM family. One ``Synth`` per soundfont is kept in each process and reset
between clips, so a clip sounds the same whichever clips a process rendered before it:
the output does not depend on ``n_jobs``.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..hierarchy import Hierarchy
from ._folder import (
    check_resumed_midi,
    instruments_to_json,
    midi_source,
    package_versions,
    prepare_out_dir,
    read_labels_csv,
)
from ._midi_gen import GENERATOR_VERSION, MIN_TAIL, SOURCES, generate_clip_midi
from ._render_jobs import assign_sources, group_of, run_jobs, write_tables
from ._synth import (
    check_sample_rate,
    get_engine,
    midi_bytes,
    normalize_loudness,
    resolve_soundfont,
    sha256_of,
    to_mono,
)
from .augment import check_augment, describe_augment, make_impulse_responses
from .soundfonts import SOUNDFONTS, parse_soundfont_list
from .taxonomy import Instrument, check_instruments, make_instrument_hierarchy

__all__ = [
    "SOUNDFONTS",
    "RenderSummary",
    "generate_clip_midi",
    "labels_from_midi",
    "load_rendered",
    "render_dataset",
    "render_midi",
    "resolve_soundfont",
]

_FORMAT = 1  # layout version of a rendered folder
_CLIP_ID = "clip_{:06d}"


# -- one clip -----------------------------------------------------------------------


def render_midi(
    midi: Any,
    soundfont: str | os.PathLike = "timgm6mb",
    sample_rate: int = 22050,
    *,
    duration: float | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Render MIDI to a mono waveform with a GM soundfont.

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI, mido.MidiFile, bytes or path
        The music. Channel 10 plays drum kits (bank 128).
    soundfont : str or path-like, default="timgm6mb"
        ``"timgm6mb"``, ``"fluidr3"`` or the path of a ``.sf2`` file.
    sample_rate : int, default=22050
        Output sample rate in Hz.
    duration : float, default=None
        Length in seconds; ``None`` renders to the last MIDI event plus 1 s of decay.
    normalize : bool, default=True
        Scale the mix to -20 dBFS RMS, lowered where needed so that peaks stay below
        -1 dBFS. ``False`` returns the synthesiser's raw level.

    Returns
    -------
    ndarray of shape (n_samples,), float32
        The mono mix (mean of the two synthesiser channels).

    Raises
    ------
    ValueError
        For unreadable MIDI, a corrupt soundfont, or a program or drum kit the
        soundfont lacks (it would sound as another instrument and break the labels).

    Examples
    --------
    >>> from sk_hier.datasets.render import generate_clip_midi, render_midi
    >>> midi, labels = generate_clip_midi(seed=0, duration=2.0)
    >>> y = render_midi(midi, "timgm6mb", duration=2.0)
    >>> y.shape, y.dtype.name, bool(abs(y).max() < 1)
    ((44100,), 'float32', True)
    """
    sample_rate = check_sample_rate(sample_rate)
    if duration is not None and not (isinstance(duration, int | float) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}.")
    _, path = resolve_soundfont(soundfont)
    data, where = midi_bytes(midi)
    stereo = get_engine(path, sample_rate).render(data, duration, where)
    mono = to_mono(stereo)
    return normalize_loudness(mono) if normalize else mono


def labels_from_midi(
    midi: Any,
    instruments: Sequence[Instrument] | None = None,
    duration: float | None = None,
) -> tuple[str, ...]:
    """The instruments that play in a MIDI file: what a rendered clip is labelled with.

    An instrument counts when it has a note with non-zero velocity that starts at least
    0.1 s before ``duration`` (the end of the rendered window). Drum tracks (channel 10)
    are matched by kit program, others by GM program.

    Parameters
    ----------
    midi : pretty_midi.PrettyMIDI, bytes or path
        The music.
    instruments : sequence of Instrument, default=None
        The taxonomy; ``None`` is the default one.
    duration : float, default=None
        The rendered window in seconds; ``None`` counts every note.

    Returns
    -------
    tuple of str
        Leaf names in taxonomy order.

    Raises
    ------
    ValueError
        When a track plays a program that is not in the taxonomy: its sound would be
        in the audio without a label.

    Examples
    --------
    >>> from sk_hier.datasets.render import generate_clip_midi, labels_from_midi
    >>> midi, labels = generate_clip_midi(seed=1, duration=3.0)
    >>> labels_from_midi(midi, duration=3.0) == labels
    True
    """
    import pretty_midi

    instruments = check_instruments(instruments)
    if not hasattr(midi, "instruments"):
        data, where = midi_bytes(midi)
        try:
            midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
        except Exception as exc:
            raise ValueError(f"{where} is not a readable MIDI file: {exc}") from exc
    by_key = {i.key: i for i in instruments}
    present = set()
    for track in midi.instruments:
        end = np.inf if duration is None else duration - MIN_TAIL
        if not any(n.velocity > 0 and n.start < end for n in track.notes):
            continue
        key = (bool(track.is_drum), int(track.program))
        if key not in by_key:
            kind = "drum kit" if track.is_drum else "program"
            raise ValueError(
                f"Track {track.name!r} plays {kind} {track.program}, which is not in the "
                "taxonomy; pass instruments= that include it (see "
                "instruments_from_programs)."
            )
        present.add(key)
    return tuple(i.name for i in instruments if i.key in present)


# -- a folder of clips --------------------------------------------------------------


@dataclass(frozen=True)
class RenderSummary:
    """What :func:`render_dataset` did.

    Attributes
    ----------
    out_dir : Path
        The rendered folder.
    n_clips : int
        Clips listed in ``labels.csv``.
    n_rendered : int
        Clips rendered by this call.
    n_skipped : int
        Complete clips found from an earlier call with the same settings.
    audio_seconds : float
        Seconds of audio rendered by this call.
    seconds : float
        Wall-clock time of the call.

    Examples
    --------
    >>> from pathlib import Path
    >>> from sk_hier.datasets import RenderSummary
    >>> RenderSummary(Path("clips"), 10, 10, 0, 100.0, 2.0).n_rendered
    10
    """

    out_dir: Path
    n_clips: int
    n_rendered: int
    n_skipped: int
    audio_seconds: float
    seconds: float

    @property
    def realtime_factor(self) -> float:
        """Audio seconds rendered per wall-clock second."""
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0


def render_dataset(
    out_dir: str | os.PathLike,
    n_clips: int | None = None,
    seed: int = 0,
    *,
    soundfont: str | os.PathLike = "timgm6mb",
    duration: float = 10.0,
    source: str = "generated",
    sample_rate: int = 22050,
    n_jobs: int | None = 1,
    progress: bool = True,
    instruments: Sequence[Instrument] | None = None,
    midi_from: str | os.PathLike | None = None,
    soundfonts: Sequence[str] | str | None = None,
    each: bool = False,
    augment: str = "none",
) -> RenderSummary:
    """Render a labelled set of multi-instrument clips into a folder.

    Clip ``i`` is composed by ``generate_clip_midi(seed, instruments, duration,
    clip=i, source=source)``, so any subset can be rendered anywhere and the result is
    the same for every ``n_jobs``; the MIDI never depends on the soundfont. Files are
    written atomically. Running again on the same folder with the same settings
    finishes an interrupted render (or adds clips when ``n_clips`` grows) and skips
    complete clips; a folder holding a different render is refused.

    The folder holds::

        audio/<clip_id>.wav   mono 16-bit PCM, -20 dBFS RMS, peaks below -1 dBFS
        midi/<clip_id>.mid    what was rendered
        labels.csv            clip_id, then one 0/1 column per label of the hierarchy
                              (families first, then instruments; max rule holds);
                              an empty cell is unknown (an instrument the clip's
                              soundfont cannot voice, and its family unless another
                              of its instruments is heard)
        sources.csv           clip_id, midi_id, source, lineage group, unknown labels
        hierarchy.json        Hierarchy.to_json() of the taxonomy
        render.json           settings (soundfonts, their gaps, augmentation) and
                              package versions
        augment/<clip_id>.json  with ``augment``: the mix levels and effects applied

    Parameters
    ----------
    out_dir : path-like
        Output folder, created when missing.
    n_clips : int, default=None
        Number of clips, ids ``clip_000000`` onwards. Required unless ``midi_from`` is
        given (then ``None`` means all of its clips).
    seed : int, default=0
        Seed of the set; ignored with ``midi_from``.
    soundfont : str or path-like, default="timgm6mb"
        A registered source (:data:`~sk_hier.datasets.soundfonts.SOUNDFONTS`) or a
        ``.sf2``/``.sf3`` path.
    duration : float, default=10.0
        Clip length in seconds (with ``midi_from`` a rendered folder's own duration
        wins).
    source : {"generated", "music21"}, default="generated"
        Where notes come from; see :func:`generate_clip_midi`.
    sample_rate : int, default=22050
        Sample rate of the WAV files.
    n_jobs : int, default=1
        Parallel processes (joblib; -1 = all cores).
    progress : bool, default=True
        Show a progress bar.
    instruments : sequence of Instrument, default=None
        The taxonomy; ``None`` is ``DEFAULT_INSTRUMENTS``.
    midi_from : path-like, default=None
        Render the MIDI of another folder instead of composing: a rendered folder
        (its clip ids, labels, taxonomy and duration are kept, the MIDI files are
        copied byte for byte) or a folder of ``.mid`` files (labelled from their
        programs). This gives the same music through another soundfont.
    soundfonts : sequence of str or str, default=None
        Several sources (``"a,b,c"`` or a list; replaces ``soundfont``): each clip is
        rendered through one source drawn per clip (seeded), so N clips stay N clips.
    each : bool, default=False
        With ``soundfonts``: render every clip through every source instead, with
        clip ids ``<midi_id>__<source>``.
    augment : {"none", "light", "strong"}, default="none"
        Render-time augmentation (per-track mix levels, EQ, band-limiting, reverb,
        compression, noise, MP3), seeded per clip; see :mod:`sk_hier.datasets.augment`.

    Returns
    -------
    RenderSummary

    See Also
    --------
    load_rendered : read the folder back.

    Examples
    --------
    >>> import tempfile
    >>> from sk_hier.datasets.render import load_rendered, render_dataset
    >>> tmp = tempfile.mkdtemp()
    >>> summary = render_dataset(tmp, n_clips=2, seed=0, duration=1.0, progress=False)
    >>> paths, Y, hierarchy, clip_ids = load_rendered(tmp)
    >>> clip_ids.tolist(), Y.shape
    (['clip_000000', 'clip_000001'], (2, 38))
    >>> sorted(p.name for p in summary.out_dir.iterdir())
    ['audio', 'hierarchy.json', 'labels.csv', 'midi', 'render.json', 'sources.csv']
    >>> import shutil; shutil.rmtree(tmp)
    """
    t0 = time.perf_counter()
    sample_rate = check_sample_rate(sample_rate)
    _check_args(n_clips, seed, duration, source, n_jobs)
    augment = check_augment(augment)
    clip_ids, midi_paths, duration, instruments, origin = _clips(
        out_dir, n_clips, duration, instruments, midi_from
    )
    fonts, gaps = _load_sources(
        soundfonts if soundfonts is not None else [soundfont], sample_rate, instruments
    )
    plan = assign_sources(clip_ids, [n for n, _ in fonts], int(seed), bool(each))
    out = Path(out_dir).expanduser()
    meta = _render_meta(fonts, gaps, augment, each, midi_from, origin, locals())
    meta["n_clips"] = len(plan)
    check_resumed_midi(out, [(cid, midi_paths[i]) for cid, _, i, _ in plan])
    prepare_out_dir(out, meta)
    jobs = _jobs(out, plan, midi_paths, fonts, gaps, augment, locals())
    desc = f"render ({', '.join(n for n, _ in fonts)})"
    results = run_jobs(jobs, n_jobs, desc, progress)
    write_tables(out, make_instrument_hierarchy(instruments), plan, results, meta)
    n_rendered = results[2]
    return RenderSummary(
        out_dir=out,
        n_clips=len(plan),
        n_rendered=n_rendered,
        n_skipped=len(plan) - n_rendered,
        audio_seconds=n_rendered * float(duration),
        seconds=time.perf_counter() - t0,
    )


def _load_sources(names: Sequence, sample_rate: int, instruments) -> tuple[list, dict]:
    """Resolve and load every soundfont now (a missing or corrupt one fails before any
    work), and find the instruments each cannot voice: ``(name, path)`` list, gaps."""
    if isinstance(names, str):
        names = parse_soundfont_list(names)
    fonts = [resolve_soundfont(n) for n in names]
    if not fonts:
        raise ValueError("soundfonts is empty; give at least one, e.g. ['timgm6mb'].")
    if len({n for n, _ in fonts}) != len(fonts):
        raise ValueError(f"A soundfont is listed twice in {list(names)}; list each once.")
    gaps = {name: get_engine(path, sample_rate).gaps(instruments) for name, path in fonts}
    return fonts, gaps


def _render_meta(fonts, gaps, augment, each, midi_from, origin, args) -> dict:
    """render.json before the work: settings (compared on a rerun) and provenance."""
    source, seed, instruments = args["source"], args["seed"], args["instruments"]

    def describe(name, path):
        return {"name": name, "file": path.name, "sha256": sha256_of(path)}

    settings = {
        "format": _FORMAT,
        "source": source if midi_from is None else "midi",
        "seed": int(seed) if midi_from is None or len(fonts) > 1 or augment != "none" else None,
        "duration": float(args["duration"]),
        "generator": GENERATOR_VERSION if midi_from is None else None,
        "midi_from": origin,
        "sample_rate": args["sample_rate"],
        "instruments": instruments_to_json(instruments),
        "tinysoundfont": package_versions(source)["tinysoundfont"],
    }
    # Keys that older folders lack are written only when used, so those folders resume.
    if len(fonts) == 1:
        settings["soundfont"] = describe(*fonts[0])
    else:
        settings["soundfonts"] = [{**describe(n, p), "group": group_of(n)} for n, p in fonts]
        settings["assignment"] = "each" if each else "one drawn per clip"
    if augment != "none":
        settings["augment"] = describe_augment(augment)
    if any(gaps.values()):
        settings["gaps"] = {name: g for name, g in gaps.items() if g}
    return {
        "settings": settings,
        "complete": False,
        "n_clips": None,
        "soundfont_path": (str(fonts[0][1]) if len(fonts) == 1 else {n: str(p) for n, p in fonts}),
        "versions": package_versions(source),
    }


def _jobs(out: Path, plan, midi_paths, fonts, gaps, augment, args) -> list[dict]:
    """One job per output clip."""
    paths = dict(fonts)
    keys = {i.name: i.key for i in args["instruments"]}
    ir_paths = []
    if augment != "none":
        (out / "augment").mkdir(exist_ok=True)
        ir_paths = make_impulse_responses(out / "augment", args["sample_rate"])
    common = {
        "out_dir": str(out),
        "seed": int(args["seed"]),
        "source": args["source"],
        "duration": float(args["duration"]),
        "instruments": args["instruments"],
        "sample_rate": args["sample_rate"],
        "augment": augment,
        "ir_paths": ir_paths,
    }
    return [
        {
            **common,
            "clip_id": cid,
            "index": i,
            "midi_src": midi_paths[i],
            "soundfont": str(paths[name]),
            "soundfont_name": name,
            "gap_names": tuple(gaps[name]),
            "drop": frozenset(keys[g] for g in gaps[name]),
        }
        for cid, _, i, name in plan
    ]


def _check_args(n_clips: Any, seed: Any, duration: Any, source: Any, n_jobs: Any) -> None:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int)):
        raise ValueError(f"n_jobs must be an int or None, got {n_jobs!r}.")
    if n_clips is not None and (
        isinstance(n_clips, bool) or not isinstance(n_clips, int | np.integer) or n_clips < 1
    ):
        raise ValueError(f"n_clips must be a positive int, got {n_clips!r}.")
    if not (isinstance(duration, int | float) and 0.5 <= duration <= 600):
        raise ValueError(f"duration must be a number of seconds in [0.5, 600], got {duration!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")


def _clips(out_dir, n_clips, duration, instruments, midi_from):
    """Clip ids, MIDI sources (None: compose), duration, taxonomy and MIDI origin."""
    if midi_from is None:
        if n_clips is None:
            raise ValueError("n_clips is required unless midi_from is given.")
        clip_ids = [_CLIP_ID.format(i) for i in range(int(n_clips))]
        return clip_ids, [None] * len(clip_ids), duration, check_instruments(instruments), None
    if Path(midi_from).expanduser().resolve() == Path(out_dir).expanduser().resolve():
        raise ValueError(
            f"out_dir {out_dir} is also midi_from: render into another folder, so the "
            "source MIDI is never written over."
        )
    return midi_source(midi_from, n_clips, duration, instruments)


def load_rendered(
    path: str | os.PathLike,
) -> tuple[np.ndarray, np.ndarray, Hierarchy, np.ndarray]:
    """Read a folder written by :func:`render_dataset`.

    Parameters
    ----------
    path : path-like
        The rendered folder.

    Returns
    -------
    paths : ndarray of str, shape (n_clips,)
        WAV file of each clip.
    Y : ndarray of int, shape (n_clips, n_labels)
        0/1 labels over ``hierarchy.labels`` (families first, then instruments); float
        with NaN for unknown labels when a soundfont could not voice an instrument.
    hierarchy : Hierarchy
        The taxonomy.
    clip_ids : ndarray of str, shape (n_clips,)

    Raises
    ------
    FileNotFoundError
        When the folder, ``labels.csv``, ``hierarchy.json`` or a WAV file is missing.
    ValueError
        When ``labels.csv`` does not match the hierarchy (columns, values, max rule).

    Examples
    --------
    >>> import tempfile
    >>> from sk_hier.datasets.render import load_rendered, render_dataset
    >>> tmp = tempfile.mkdtemp()
    >>> _ = render_dataset(tmp, n_clips=1, seed=3, duration=1.0, progress=False)
    >>> paths, Y, hierarchy, clip_ids = load_rendered(tmp)
    >>> paths[0].endswith("clip_000000.wav"), Y.shape[1] == len(hierarchy.labels)
    (True, True)
    >>> import shutil; shutil.rmtree(tmp)
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Rendered folder {root} not found.")
    for name in ("labels.csv", "hierarchy.json"):
        if not (root / name).is_file():
            raise FileNotFoundError(
                f"{root} has no {name}: not a rendered folder, or an interrupted render "
                "(run the same render command again to finish it)."
            )
    try:
        hierarchy = Hierarchy.from_json((root / "hierarchy.json").read_text())
    except ValueError as exc:
        raise ValueError(f"{root / 'hierarchy.json'} is not a valid hierarchy: {exc}") from exc
    ids, columns, Y = read_labels_csv(root / "labels.csv")
    expected = list(hierarchy.labels)
    if columns != expected:
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        what = f"missing {missing}" if missing else f"unknown {extra}" if extra else "out of order"
        raise ValueError(
            f"The columns of {root / 'labels.csv'} do not match hierarchy.json ({what}); "
            f"expected clip_id followed by {expected}."
        )
    # The max rule: a family is present exactly when one of its instruments is (an
    # unknown family or instrument, from a soundfont gap, is checked as far as known).
    for parent in hierarchy.inner:
        kids = [hierarchy.index(c) for c in hierarchy.children_of(parent)]
        fam = Y[:, hierarchy.index(parent)]
        heard = np.nan_to_num(Y[:, kids], nan=0.0).max(axis=1)
        unsure = np.isnan(Y[:, kids]).any(axis=1) if Y.dtype.kind == "f" else False
        bad = np.flatnonzero((fam == 1) & (heard == 0) & ~unsure | (fam == 0) & (heard == 1))
        if bad.size:
            raise ValueError(
                f"{root / 'labels.csv'}: {parent!r} disagrees with its instruments for clip "
                f"{ids[bad[0]]!r}; the file was edited or is corrupt."
            )
    paths = [str(root / "audio" / f"{cid}.wav") for cid in ids]
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{p} is listed in labels.csv but missing.")
    return np.array(paths, dtype=str), Y, hierarchy, np.array(ids, dtype=str)
