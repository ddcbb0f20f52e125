"""Seeded multi-instrument MIDI: generated music, or excerpts of music21 corpus works.

Every clip is a function of ``(seed, clip)`` only, so that clips can be made in any
order and in any process. Notes are kept as ``(start_beat, length_beats, pitch,
velocity)`` tuples while composing and turned into a ``pretty_midi.PrettyMIDI`` at the
end, where timing, swing and the clip window are applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._midi_parts import (
    _ROLE_FUNCS,
    _ROLE_LEVEL,
    _assign_roles,
    _counter,
    _drums,
    _fold,
)
from ._midi_style import (
    _DEAD_KEYS,
    _RESOLUTION,
    MIN_TAIL,
    SOURCES,
    _choose,
    _Clip,
    _make_frame,
    _pick_instruments,
    _register,
)
from .taxonomy import Instrument, check_instruments

__all__ = ["MIN_TAIL", "SOURCES", "generate_clip_midi"]

#: Version of the composition rules; a rendered folder records it, so that a folder
#: made by other rules is never extended with clips made by these.
GENERATOR_VERSION = 1


# -- assembling a clip ------------------------------------------------------------------
def _to_midi(clip: _Clip, tracks: list[tuple], duration: float, offset: float):
    """Turn per-instrument beat notes into a PrettyMIDI cut to ``[0, duration)``.

    ``offset`` (beats) shifts the window so that clips do not all start on a downbeat.
    Instruments left without a note are dropped, so the MIDI holds only what sounds.
    """
    import pretty_midi

    rng = clip.rng
    spb = 60.0 / clip.bpm
    midi = pretty_midi.PrettyMIDI(resolution=_RESOLUTION, initial_tempo=clip.bpm)
    tps = clip.bpm * _RESOLUTION / 60.0  # ticks per second
    last_tick = int(duration * tps)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(clip.meter, 4, 0.0))
    minor = clip.mode in ("minor", "dorian")
    midi.key_signature_changes.append(
        pretty_midi.KeySignature(clip.tonic + (12 if minor else 0), 0.0)
    )
    merged: dict[str, list] = {}
    for inst, notes in tracks:
        merged.setdefault(inst.name, [inst, []])[1].extend(notes)
    for inst, notes in merged.values():
        jitter = 0.003 if inst.is_drum else 0.006
        dead = () if inst.is_drum else _DEAD_KEYS.get(inst.program, ())
        hi = _register(inst)[1]
        by_pitch: dict[int, list] = {}
        for beat, length, pitch, velocity in sorted(notes):
            if clip.swing and 0.5 <= beat % 1 < 0.625:
                beat += clip.swing
            # Times on the MIDI tick grid, so that the object and the written file
            # agree on every note (and on which notes fall inside the window).
            start = max(round(((beat - offset) * spb + rng.normal(0, jitter)) * tps), 0) / tps
            end = min(round((beat - offset + length) * spb * tps), last_tick) / tps
            if end <= 0.05 or start >= duration - MIN_TAIL - 0.01:
                continue
            if pitch in dead:
                pitch = pitch + 12 if pitch + 12 <= hi else pitch - 12
            span = [start, end, int(np.clip(velocity, 1, 127))]
            by_pitch.setdefault(int(pitch), []).append(span)
        out = pretty_midi.Instrument(inst.program, is_drum=inst.is_drum, name=inst.name)
        for pitch, spans in by_pitch.items():
            spans.sort()
            # A repeated pitch must end before it sounds again, or the note-off of the
            # first would cut the second.
            for k, span in enumerate(spans):
                if k + 1 < len(spans):
                    span[1] = min(span[1], spans[k + 1][0])
                if span[1] - span[0] >= 0.03:
                    out.notes.append(pretty_midi.Note(span[2], pitch, span[0], span[1]))
        if out.notes:
            out.notes.sort(key=lambda n: (n.start, n.pitch))
            # Mix balance and stereo position vary from clip to clip.
            out.control_changes.append(
                pretty_midi.ControlChange(7, int(rng.integers(85, 116)), 0.0)
            )
            out.control_changes.append(
                pretty_midi.ControlChange(10, int(rng.integers(24, 105)), 0.0)
            )
            midi.instruments.append(out)
    return midi


def _n_range(n_instruments: int | tuple[int, int] | None) -> tuple[int, int]:
    if n_instruments is None:
        return (1, 5)
    lo, hi = (n_instruments, n_instruments) if np.ndim(n_instruments) == 0 else n_instruments
    if not 1 <= int(lo) <= int(hi):
        raise ValueError(
            f"n_instruments must be a positive int or a (low, high) pair with "
            f"1 <= low <= high, got {n_instruments!r}."
        )
    return int(lo), int(hi)


def _generated(rng, instruments, duration, k) -> tuple:
    clip = _make_frame(rng, duration)
    chosen = _pick_instruments(rng, instruments, clip.style, k)
    roles = _assign_roles(clip, chosen)
    clip.has_bass = any(r == "bass" for _, r in roles)
    order = {"drums": 0, "bass": 1, "melody": 2}
    melody: list = []
    tracks = []
    for inst, role in sorted(roles, key=lambda ir: order.get(ir[1], 3)):
        lo, hi = _register(inst)
        vel = _ROLE_LEVEL[role] + rng.normal(0, 6)
        if role == "drums":
            notes = _drums(clip, vel)
        elif role == "counter":
            notes = _counter(clip, lo, hi, vel, melody)
        else:
            if role == "bass":
                hi = min(hi, lo + 24)
            notes = _ROLE_FUNCS[role](clip, lo, hi, vel)
            if role == "melody" and not melody:
                melody = notes
        # Now and then an instrument enters after the first bars, as in a real excerpt.
        entry = int(rng.integers(1, 3)) * clip.meter if rng.random() < 0.15 else 0
        if entry and (entry + clip.meter) * 60 / clip.bpm < duration - 1.0:
            notes = [n for n in notes if n[0] >= entry] or notes
        tracks.append((inst, notes))
    offset = float(rng.integers(clip.meter)) if rng.random() < 0.5 else 0.0
    return _to_midi(clip, tracks, duration, offset)


# -- music21 corpus ---------------------------------------------------------------------
_WORKS: list | None = None


def _music21_works() -> list[tuple[str, int | None]]:
    """Corpus works with at least four parts, in a fixed order."""
    global _WORKS
    if _WORKS is None:
        try:
            from music21 import corpus
        except ImportError as exc:
            raise ImportError(
                "source='music21' needs music21: pip install 'sk-hier[audio]'."
            ) from exc
        bundle = corpus.corpora.CoreCorpus().metadataBundle
        # Iterating the bundle itself rebuilds every entry (~12 s); its dict does not.
        entries = getattr(bundle, "_metadataEntries", None)
        works = []
        for entry in entries.values() if isinstance(entries, dict) else bundle:
            meta = entry.metadata
            if meta is not None and (vars(meta).get("numberOfParts") or 0) >= 4:
                works.append((str(entry.sourcePath), entry.number))
        if not works:
            raise OSError(
                "The music21 corpus lists no work with 4 or more parts; reinstall music21 "
                "(its wheel ships the corpus) or use source='generated'."
            )
        _WORKS = sorted(works, key=lambda w: (w[0], w[1] or 0))
    return _WORKS


def _music21_parts(path: str, number: int | None) -> tuple[list, float]:
    """Notes ``(onset, length, pitch)`` in quarter notes for each part of a work."""
    from music21 import corpus

    score = corpus.parse(path, number=number)
    parts = []
    for part in score.parts:
        notes = []
        for n in part.stripTies().flatten().notes:
            ql = float(n.quarterLength)
            if ql > 0:
                notes += [(float(n.offset), ql, int(p.midi)) for p in n.pitches]
        if notes:
            parts.append(notes)
    return parts, float(score.highestTime)


def _music21_excerpt(rng, clip, duration: float, target: float) -> tuple[list, float]:
    """Parts of a random excerpt of a random corpus work (notes in beats) and its span."""
    works = _music21_works()
    for _ in range(8):
        path, number = works[int(rng.integers(len(works)))]
        parts, total = _music21_parts(path, number)
        # The beat is the work's typical note value (a half note in Palestrina, a
        # quarter in Bach), so that every excerpt moves at a plausible pace.
        lengths = [ln for part in parts for _, ln, _ in part]
        unit = 2.0 ** round(math.log2(float(np.median(lengths))))
        clip.bpm = float(np.clip(round(60 / target), 60, 180))
        span = duration * clip.bpm / 60  # in beats
        n_beats = total / unit
        start = float(rng.integers(0, max(int(n_beats - span), 0) + 1))
        excerpt = [
            [
                (on / unit - start, ln / unit, p)
                for on, ln, p in part
                if start <= on / unit < start + span
            ]
            for part in parts
        ]
        excerpt = [part for part in excerpt if part]
        if excerpt:
            return excerpt, span
    raise RuntimeError("No music21 excerpt with notes found in 8 tries.")  # pragma: no cover


def _parts_for(rng, n_chosen: int, n_parts: int) -> list[int]:
    """Which excerpt part each chosen instrument plays (highest first)."""
    if n_chosen > n_parts:  # more instruments than parts: double parts
        return sorted(j % n_parts for j in range(n_chosen))
    keep = sorted({0, n_parts - 1} if n_chosen >= 2 else {0})
    middle = [j for j in range(1, n_parts - 1)]
    rng.shuffle(middle)  # drawn even for one instrument: the stream stays as it was
    keep = sorted(keep + middle[: n_chosen - len(keep)])
    return [int(rng.integers(n_parts))] if n_chosen == 1 else keep


def _music21(rng, instruments, duration, k) -> tuple:
    clip = _make_frame(
        rng, duration, style=_choose(rng, ("chamber", "choral", "mixed"), (3, 2, 1))
    )
    target = float(rng.uniform(0.3, 0.75))  # seconds per typical note
    clip.meter = 4
    excerpt, span = _music21_excerpt(rng, clip, duration, target)
    clip.n_bars = math.ceil(span / 4) + 1
    drums = [i for i in instruments if i.is_drum]
    pitched = tuple(i for i in instruments if not i.is_drum)
    add_drums = bool(drums) and (not pitched or (k >= 2 and rng.random() < 0.3))
    chosen = _pick_instruments(rng, pitched, clip.style, k - add_drums) if pitched else []
    # Highest part to the highest-sounding instrument, and so on down.
    excerpt.sort(key=lambda part: -float(np.median([p for _, _, p in part])))
    chosen.sort(key=lambda i: -sum(_register(i)))
    keep = _parts_for(rng, len(chosen), len(excerpt))
    tracks = []
    for inst, j in zip(chosen, keep):
        lo, hi = _register(inst)
        part = excerpt[j]
        shift = 12 * round(((lo + hi) / 2 - float(np.median([p for _, _, p in part]))) / 12)
        base = clip.level * 127 + rng.normal(0, 8)
        notes = []
        for on, ln, p in part:
            v = int(np.clip(round(base + rng.normal(0, 6)), 36, 127))
            notes.append((on, ln * 0.95, _fold(p + shift, lo, hi), v))
        tracks.append((inst, notes))
    if add_drums:
        kit = drums[int(rng.integers(len(drums)))]
        tracks.append((kit, _drums(clip, rng.normal(0, 6))))
    return _to_midi(clip, tracks, duration, 0.0)


def _labels(midi, instruments: tuple[Instrument, ...]) -> tuple[str, ...]:
    present = {(i.is_drum, i.program) for i in midi.instruments if i.notes}
    return tuple(i.name for i in instruments if i.key in present)


def generate_clip_midi(
    seed: int,
    instruments: Sequence[Instrument] | None = None,
    duration: float = 10.0,
    *,
    clip: int = 0,
    source: str = "generated",
    n_instruments: int | tuple[int, int] | None = None,
):
    """Compose one multi-instrument clip as MIDI; its labels are known by construction.

    All instruments share key, tempo, metre and chord progression, and each plays a
    role that suits it in its own register: a lead melody, a counter-line, pads,
    comping, strumming, arpeggios, a bass line, or drums on channel 10 with the kit's
    program. Ensembles lean towards plausible line-ups (a band, a jazz combo, a
    chamber group, electronic, folk, choral), yet every instrument is frequent.
    Dynamics, densities, swing and entries vary from clip to clip.

    Parameters
    ----------
    seed : int
        Seed of the whole set of clips (non-negative).
    instruments : sequence of Instrument, default=None
        The taxonomy to draw from; ``None`` is ``DEFAULT_INSTRUMENTS``.
    duration : float, default=10.0
        Length of the clip in seconds; no note starts in its last 0.1 s.
    clip : int, default=0
        Index of the clip within the set: the music depends on ``(seed, clip)`` only.
    source : {"generated", "music21"}, default="generated"
        ``"music21"`` takes a random excerpt of a work with four or more parts from the
        music21 corpus and gives its parts to instruments of matching register
        (sometimes with a drum part); it is much slower (parsing takes ~0.1-1 s).
    n_instruments : int or (int, int), default=None
        How many instruments (uniform over the range); ``None`` means 1 to 5. Fewer
        are used when the taxonomy cannot supply them (one drum kit and one bass-family
        instrument at most per clip).

    Returns
    -------
    midi : pretty_midi.PrettyMIDI
        The clip; it holds only instruments that play at least one note.
    labels : tuple of str
        Names of the instruments in ``midi``, in taxonomy order (the leaf labels; the
        families follow from the hierarchy).

    Examples
    --------
    >>> from sk_hier.datasets.render import generate_clip_midi
    >>> midi, labels = generate_clip_midi(seed=0, clip=3, duration=4.0)
    >>> len(labels) == len(midi.instruments)
    True
    >>> sorted(labels) == sorted(inst.name for inst in midi.instruments)
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    if isinstance(clip, bool) or not isinstance(clip, int | np.integer) or clip < 0:
        raise ValueError(f"clip must be a non-negative int, got {clip!r}.")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if not (isinstance(duration, int | float) and 0.5 <= duration <= 600):
        raise ValueError(f"duration must be a number of seconds in [0.5, 600], got {duration!r}.")
    instruments = check_instruments(instruments)
    lo, hi = _n_range(n_instruments)
    # One stream per (seed, clip, source): clips are independent of each other and of
    # the order or process they are made in.
    rng = np.random.default_rng([int(seed), int(clip), SOURCES.index(source)])
    k = int(rng.integers(lo, hi + 1))
    make = _generated if source == "generated" else _music21
    for _ in range(4):
        midi = make(rng, instruments, float(duration), k)
        labels = _labels(midi, instruments)
        if labels:
            return midi, labels
    raise RuntimeError(  # pragma: no cover - would need a taxonomy that cannot sound
        f"Could not compose a clip with audible notes for seed={seed}, clip={clip}."
    )
