"""Seeded multi-instrument MIDI: generated music, or excerpts of music21 corpus works.

Every clip is a function of ``(seed, clip)`` only, so that clips can be made in any
order and in any process. Notes are kept as ``(start_beat, length_beats, pitch,
velocity)`` tuples while composing and turned into a ``pretty_midi.PrettyMIDI`` at the
end, where timing, swing and the clip window are applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .taxonomy import Instrument, check_instruments

__all__ = ["MIN_TAIL", "SOURCES", "generate_clip_midi"]

#: Version of the composition rules; a rendered folder records it, so that a folder
#: made by other rules is never extended with clips made by these.
GENERATOR_VERSION = 1

_RESOLUTION = 480  # MIDI ticks per beat

#: Sources of notes accepted by ``generate_clip_midi``.
SOURCES = ("generated", "music21")

#: A note must start at least this many seconds before the end of the clip to be kept
#: (and to count for the labels): shorter remnants are barely audible.
MIN_TAIL = 0.1

_SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
# Progressions as 0-based scale degrees, looped over the clip.
_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 0), (1, 4, 0, 0), (0, 5, 1, 4),
              (5, 3, 0, 4), (0, 3, 0, 4), (0, 2, 3, 4), (3, 4, 2, 5)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4),
              (0, 0, 3, 4), (5, 6, 0, 0)),
}  # fmt: skip
_STYLES = ("band", "jazz", "chamber", "electronic", "folk", "choral", "mixed")
_TEMPO = {
    "band": (88, 150), "jazz": (96, 190), "chamber": (60, 126), "electronic": (110, 136),
    "folk": (76, 132), "choral": (56, 100), "mixed": (60, 160),
}  # fmt: skip
# How well each family fits each style (1 = neutral). Kept within a narrow range, so
# that ensembles lean towards plausible line-ups while every instrument stays frequent.
_FAMILY_FIT = {
    "band": {"Drums": 2.5, "Bass": 2.5, "Guitar": 2, "Organ": 1.5, "Piano": 1.5,
             "Strings": 0.5, "Ensemble": 0.6, "Pipe": 0.5, "Chromatic Percussion": 0.6},
    "jazz": {"Drums": 2, "Bass": 2.5, "Piano": 2, "Reed": 2.5, "Brass": 2.5,
             "Chromatic Percussion": 1.5, "Synth Lead": 0.4, "Ensemble": 0.5},
    "chamber": {"Strings": 3, "Ensemble": 2, "Pipe": 2.5, "Reed": 2, "Brass": 1.5,
                "Drums": 0.2, "Synth Lead": 0.2, "Bass": 0.4, "Synth Pad": 0.5},
    "electronic": {"Drums": 2.5, "Bass": 2.5, "Synth Lead": 3, "Synth Pad": 2.5,
                   "Synth Effects": 2, "Strings": 0.4, "Reed": 0.5, "Brass": 0.6},
    "folk": {"Guitar": 2.5, "Pipe": 2.5, "Strings": 2, "Ethnic": 2.5, "Reed": 1.5,
             "Chromatic Percussion": 1.5, "Synth Lead": 0.3, "Drums": 0.6},
    "choral": {"Ensemble": 3, "Organ": 2.5, "Strings": 1.5, "Brass": 1.5, "Drums": 0.2,
               "Synth Lead": 0.3, "Bass": 0.5, "Guitar": 0.5},
    "mixed": {},
}  # fmt: skip
# Finer fits by (family, program range): a TR-808 belongs with synths, a jazz kit with
# a walking bass, a distortion guitar in a band, and so on.
_PROGRAM_FIT = (
    (True, range(24, 26), {"electronic": 2.0, "band": 0.6, "jazz": 0.3}),
    (True, range(32, 48), {"jazz": 2.5, "electronic": 0.3}),
    (True, range(0, 24), {"electronic": 0.6}),
    (False, range(38, 40), {"electronic": 1.8, "jazz": 0.4, "folk": 0.4}),
    (False, range(29, 32), {"band": 1.8, "jazz": 0.3, "folk": 0.3}),
    (False, range(24, 26), {"folk": 1.5, "electronic": 0.6}),
    (False, range(4, 6), {"jazz": 1.4, "electronic": 1.4}),
    (False, range(19, 21), {"choral": 1.5, "band": 0.5, "jazz": 0.5}),
    (False, range(16, 19), {"choral": 0.5}),
)

# Comfortable written ranges (MIDI pitch) and roles by family; a few programs differ.
_FAMILY_RANGE = {
    "Piano": (36, 96), "Chromatic Percussion": (53, 96), "Organ": (36, 88),
    "Guitar": (40, 84), "Bass": (28, 55), "Strings": (55, 100), "Ensemble": (48, 84),
    "Brass": (52, 84), "Reed": (50, 86), "Pipe": (60, 96), "Synth Lead": (48, 91),
    "Synth Pad": (45, 84), "Synth Effects": (45, 84), "Ethnic": (52, 88),
    "Percussive": (48, 84), "Sound Effects": (48, 84),
}  # fmt: skip
_PROGRAM_RANGE = {
    8: (60, 108), 9: (76, 108), 12: (45, 96), 13: (65, 108), 14: (60, 77), 41: (48, 88),
    42: (36, 74), 43: (28, 55), 47: (40, 55), 57: (40, 72), 58: (28, 58), 60: (41, 77),
    64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69), 68: (58, 91), 69: (52, 81),
    70: (34, 72), 71: (50, 89), 72: (74, 104), 44: (55, 96), 45: (55, 96), 78: (60, 79),
    119: (48, 72),
}  # fmt: skip
# Keys without a sample zone in one of the two GM soundfonts this package names: a note
# there would be silent yet labelled, so it moves an octave (FluidR3_GM: violin 94;
# TimGM6mb: alto sax 64). Ranges above already stop below such gaps at their tops.
_DEAD_KEYS = {40: (94,), 65: (64,)}
_FAMILY_ROLES = {
    "Piano": {"comp": 3, "arpeggio": 2, "melody": 1},
    "Chromatic Percussion": {"arpeggio": 3, "melody": 2, "comp": 1},
    "Organ": {"pad": 3, "comp": 2, "melody": 0.5},
    "Guitar": {"strum": 3, "arpeggio": 2, "melody": 1},
    "Bass": {"bass": 1},
    "Strings": {"melody": 3, "pad": 1},
    "Ensemble": {"pad": 1},
    "Brass": {"melody": 3, "stabs": 1, "pad": 0.5},
    "Reed": {"melody": 1},
    "Pipe": {"melody": 1},
    "Synth Lead": {"melody": 3, "arpeggio": 1},
    "Synth Pad": {"pad": 1},
    "Synth Effects": {"pad": 1},
    "Ethnic": {"melody": 2, "arpeggio": 1},
    "Percussive": {"hits": 1},
    "Sound Effects": {"hits": 1},
    "Drums": {"drums": 1},
}
_PROGRAM_ROLES = {
    6: {"arpeggio": 3, "comp": 2, "melody": 1},
    24: {"arpeggio": 3, "strum": 2, "melody": 1},
    29: {"power": 3, "melody": 1},
    30: {"power": 3, "melody": 1},
    42: {"bass": 2, "melody": 2, "pad": 1},
    43: {"bass": 1},
    45: {"arpeggio": 1},
    46: {"arpeggio": 1},
    47: {"hits": 1},
    57: {"melody": 2, "bass": 1, "pad": 1},
    58: {"bass": 1},
    60: {"pad": 2, "melody": 1},
    70: {"bass": 1, "melody": 1},
}
_DRUM_STYLES = {
    "band": ("rock", "pop", "halftime", "shuffle"),
    "jazz": ("jazz", "latin"),
    "chamber": ("perc",),
    "electronic": ("four", "trap", "pop"),
    "folk": ("perc", "pop"),
    "choral": ("perc",),
    "mixed": ("rock", "pop", "four", "halftime", "jazz", "trap", "latin", "perc"),
}
# Drum patterns on a 16th-note grid of one 4/4 bar: {GM drum key: steps}.
_KICK, _SNARE, _HAT, _OPEN, _RIDE, _CRASH, _CLAP = 36, 38, 42, 46, 51, 49, 39
_PATTERNS = {
    "rock": {_KICK: (0, 8, 10), _SNARE: (4, 12), _HAT: (0, 2, 4, 6, 8, 10, 12, 14)},
    "pop": {_KICK: (0, 6, 8), _SNARE: (4, 12), _HAT: tuple(range(16))},
    "halftime": {_KICK: (0, 3, 10), _SNARE: (8,), _HAT: (0, 2, 4, 6, 8, 10, 12, 14)},
    "shuffle": {_KICK: (0, 8), _SNARE: (4, 12), _HAT: (0, 3, 4, 7, 8, 11, 12, 15)},
    "four": {_KICK: (0, 4, 8, 12), _CLAP: (4, 12), _OPEN: (2, 6, 10, 14), _HAT: (0, 4, 8, 12)},
    "trap": {_KICK: (0, 7, 10), _CLAP: (8,), _HAT: tuple(range(16))},
    "jazz": {_RIDE: (0, 4, 7, 8, 12, 15), 44: (4, 12), _KICK: (0,), 37: (10,)},
    "latin": {_KICK: (0, 6, 8, 14), 37: (3, 6, 10, 12), _HAT: (0, 2, 4, 6, 8, 10, 12, 14)},
    "perc": {70: (0, 2, 4, 6, 8, 10, 12, 14), 54: (4, 12), 63: (0, 6), 64: (10,)},
}
_FILL = ((_SNARE, 0), (_SNARE, 1), (48, 2), (45, 3))  # toms down on the last beat


@dataclass
class _Clip:
    """The shared musical frame of one clip."""

    rng: np.random.Generator
    style: str
    tonic: int
    mode: str
    bpm: float
    meter: int  # beats per bar
    n_bars: int
    chords: list  # (start_beat, length_beats, root_pc, pitch classes)
    level: float  # overall dynamic, 0..1
    shape: tuple  # (velocity factor at start, at end)
    swing: float  # delay of off-beat eighths, in beats
    has_bass: bool = False

    @property
    def n_beats(self) -> int:
        return self.n_bars * self.meter

    def scale(self, lo: int, hi: int) -> np.ndarray:
        pcs = {(self.tonic + i) % 12 for i in _SCALES[self.mode]}
        return np.array([p for p in range(lo, hi + 1) if p % 12 in pcs])

    def chord_at(self, beat: float) -> tuple:
        for chord in self.chords:
            if chord[0] <= beat < chord[0] + chord[1]:
                return chord
        return self.chords[-1]

    def velocity(self, beat: float, offset: float) -> int:
        frac = beat / max(self.n_beats, 1)
        factor = self.shape[0] + (self.shape[1] - self.shape[0]) * frac
        accent = 6 if beat % self.meter == 0 else 0
        v = 127 * self.level * factor + offset + accent + self.rng.normal(0, 5)
        return int(np.clip(round(v), 36, 127))


def _register(inst: Instrument) -> tuple[int, int]:
    return _PROGRAM_RANGE.get(inst.program) or _FAMILY_RANGE.get(inst.family, (48, 84))


def _roles(inst: Instrument) -> dict:
    if inst.is_drum:
        return {"drums": 1}
    return _PROGRAM_ROLES.get(inst.program) or _FAMILY_ROLES.get(inst.family, {"melody": 1})


def _fit(inst: Instrument, style: str) -> float:
    fit = _FAMILY_FIT[style].get("Drums" if inst.is_drum else inst.family, 1.0)
    for is_drum, programs, fits in _PROGRAM_FIT:
        if inst.is_drum == is_drum and inst.program in programs:
            fit *= fits.get(style, 1.0)
    return fit


def _choose(rng: np.random.Generator, pool: Sequence, weights: Sequence[float]):
    w = np.asarray(weights, dtype=float)
    return pool[int(rng.choice(len(pool), p=w / w.sum()))]


def _pick_instruments(
    rng: np.random.Generator, instruments: tuple, style: str, k: int
) -> list[Instrument]:
    """k distinct instruments: at most one drum kit and one bass-family instrument."""
    chosen: list[Instrument] = []
    weights = np.array([_fit(i, style) for i in instruments])
    for _ in range(k):
        if weights.sum() <= 0:
            break
        j = int(rng.choice(len(instruments), p=weights / weights.sum()))
        inst = instruments[j]
        chosen.append(inst)
        weights[j] = 0.0
        for m, other in enumerate(instruments):
            # Two kits would share MIDI channel 10; two bass lines would fight.
            if (inst.is_drum and other.is_drum) or (
                inst.family == "Bass" and other.family == "Bass"
            ):
                weights[m] = 0.0
    return chosen


def _make_frame(rng: np.random.Generator, duration: float, style: str | None = None) -> _Clip:
    style = style or _STYLES[int(rng.integers(len(_STYLES)))]
    mode = _choose(rng, ("major", "minor", "dorian", "mixolydian"), (5, 4, 1, 1))
    lo, hi = _TEMPO[style]
    bpm = float(rng.integers(lo, hi + 1))
    meter = 3 if rng.random() < (0.3 if style in ("folk", "chamber") else 0.1) else 4
    n_bars = math.ceil(duration * bpm / 60 / meter) + 1
    kind = "major" if mode in ("major", "mixolydian") else "minor"
    prog = _PROGRESSIONS[kind][int(rng.integers(len(_PROGRESSIONS[kind])))]
    # Slow 4/4 often changes chord every half bar.
    per_bar = 2 if (bpm < 90 and meter == 4 and rng.random() < 0.3) else 1
    tonic = int(rng.integers(12))
    scale = _SCALES[mode]
    chords, length = [], meter / per_bar
    for i in range(n_bars * per_bar):
        deg = prog[i % len(prog)]
        tones = [deg, deg + 2, deg + 4] + ([deg + 6] if style == "jazz" else [])
        pcs = [(tonic + scale[t % 7]) % 12 for t in tones]
        if kind == "minor" and deg == 4:
            pcs[1] = (pcs[1] + 1) % 12  # harmonic-minor dominant: a leading tone
        chords.append((i * length, length, pcs[0], tuple(pcs)))
    shape = _choose(rng, ((1.0, 1.0), (0.8, 1.1), (1.1, 0.8), (0.85, 0.95)), (4, 2, 2, 1))
    swing = float(rng.uniform(0.08, 0.17)) if style == "jazz" or rng.random() < 0.05 else 0.0
    level = float(rng.uniform(0.5, 0.85))
    return _Clip(rng, style, tonic, mode, bpm, meter, n_bars, chords, level, shape, swing)


# -- pitch helpers --------------------------------------------------------------------
def _nearest(pc: int, centre: float, lo: int, hi: int) -> int:
    """The pitch of class ``pc`` in [lo, hi] closest to ``centre``."""
    cands = [p for p in range(lo, hi + 1) if p % 12 == pc]
    if not cands:
        return int(np.clip(round(centre), lo, hi))
    return min(cands, key=lambda p: (abs(p - centre), p))


def _snap(pitch: int, pcs: Sequence[int], lo: int, hi: int) -> int:
    """The chord tone in [lo, hi] closest to ``pitch``."""
    cands = [p for p in range(lo, hi + 1) if p % 12 in pcs]
    return min(cands, key=lambda p: (abs(p - pitch), p)) if cands else pitch


def _voicing(pcs: Sequence[int], centre: float, lo: int, hi: int, n: int) -> list[int]:
    notes = sorted({_nearest(pc, centre, lo, hi) for pc in pcs})
    if n > len(notes) and notes[0] + 12 <= hi and notes[0] + 12 not in notes:
        notes.append(notes[0] + 12)
    return sorted(notes)[:n]


def _fold(pitch: int, lo: int, hi: int) -> int:
    """Move a pitch by octaves into [lo, hi] (ranges are at least an octave wide)."""
    while pitch < lo:
        pitch += 12
    while pitch > hi:
        pitch -= 12
    return max(pitch, lo)


def _rhythm(rng: np.random.Generator, meter: int, density: float) -> list[tuple]:
    """One bar of ``(onset, length)`` in beats; ``density`` in 0..1 splits beats."""
    out, beat = [], 0
    while beat < meter:
        r = rng.random()
        if beat + 2 <= meter and r < 0.35 * (1 - density):
            out.append((float(beat), 2.0))
            beat += 2
            continue
        if r < 0.35 * (1 - density) + 0.08:
            beat += 1  # a rest
            continue
        if rng.random() < density:
            sub = 0.25 if rng.random() < density * 0.5 else 0.5
            out += [(beat + s, sub) for s in np.arange(0, 1, sub).tolist()]
        else:
            out.append((float(beat), 1.0))
        beat += 1
    return out


# -- roles: each returns notes as (start_beat, length_beats, pitch, velocity) --------
def _melody(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    rng = clip.rng
    density = float(rng.uniform(0.15, 0.85))
    pool = clip.scale(lo, hi)
    idx = int(np.searchsorted(pool, lo + 0.55 * (hi - lo)))
    notes: list[tuple] = []
    phrase = [_rhythm(rng, clip.meter, density) for _ in range(2)]
    steps = (-3, -2, -1, 0, 1, 2, 3, 4, -4)
    step_p = (1, 3, 6, 2, 6, 3, 1, 0.5, 0.5)
    for bar in range(clip.n_bars):
        if bar % 2 == 0 and bar and rng.random() < 0.5:
            phrase = [_rhythm(rng, clip.meter, density) for _ in range(2)]  # a new idea
        cells = phrase[bar % 2] or [(0.0, float(clip.meter))]
        if bar % 4 == 3 and rng.random() < 0.4:
            cells = [(0.0, float(clip.meter))]  # a held note closes the phrase
        for on, ln in cells:
            beat = bar * clip.meter + on
            idx = int(np.clip(idx + _choose(rng, steps, step_p), 0, len(pool) - 1))
            if abs(idx - len(pool) / 2) > len(pool) / 3:  # drift back to the middle
                idx += -1 if idx > len(pool) / 2 else 1
            pitch = int(pool[idx])
            if on % 2 == 0:  # strong beats land on a chord tone
                pitch = _snap(pitch, clip.chord_at(beat)[3], lo, hi)
                idx = int(np.clip(np.searchsorted(pool, pitch), 0, len(pool) - 1))
            notes.append((beat, ln * 0.92, pitch, clip.velocity(beat, vel)))
    return notes


def _counter(clip: _Clip, lo: int, hi: int, vel: float, melody: list) -> list[tuple]:
    """A second voice: the melody a third below, or slow guide tones."""
    rng = clip.rng
    if melody and rng.random() < 0.5:
        pool = clip.scale(0, 127)
        out = []
        for beat, ln, pitch, _ in melody:
            j = int(np.searchsorted(pool, pitch)) - 2
            out.append((beat, ln, _fold(int(pool[max(j, 0)]), lo, hi), clip.velocity(beat, vel)))
        return out
    centre, out = lo + 0.45 * (hi - lo), []
    for start, length, _, pcs in clip.chords:
        pc = pcs[1] if rng.random() < 0.7 else pcs[-1]
        out.append((start, length * 0.95, _nearest(pc, centre, lo, hi), clip.velocity(start, vel)))
    return out


def _pad(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    centre = max(lo + 0.4 * (hi - lo), 55 if clip.has_bass else 48)
    n = int(clip.rng.integers(3, 5))
    out = []
    for start, length, _, pcs in clip.chords:
        v = clip.velocity(start, vel)
        out += [(start, length * 0.98, p, v) for p in _voicing(pcs, centre, lo, hi, n)]
    return out


_COMP = (
    (0.0, 2.0), (0.0, 1.0, 2.0, 3.0), (0.0, 1.5, 2.5, 3.5), (0.5, 1.5, 2.5, 3.5),
    (0.0, 0.75, 1.5, 2.5, 3.0), (0.0, 2.5),
)  # fmt: skip


def _comp(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    rng = clip.rng
    pattern = _COMP[int(rng.integers(len(_COMP)))]
    legato = float(rng.uniform(0.4, 0.95))
    centre = max(lo + 0.35 * (hi - lo), 57 if clip.has_bass else 52)
    left_hand = not clip.has_bass and lo <= 40
    out = []
    for bar in range(clip.n_bars):
        for i, on in enumerate(pattern):
            if on >= clip.meter:
                continue
            beat = bar * clip.meter + on
            nxt = (
                pattern[i + 1]
                if i + 1 < len(pattern) and pattern[i + 1] < clip.meter
                else clip.meter
            )
            _, _, root, pcs = clip.chord_at(beat)
            v = clip.velocity(beat, vel)
            for p in _voicing(pcs, centre, lo, hi, 4):
                out.append((beat, (nxt - on) * legato, p, v))
            if left_hand and on == 0:
                out.append((beat, clip.meter * 0.9, _nearest(root, 40, lo, hi), v))
    return out


def _strum(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    rng = clip.rng
    # Down strums on beats, up strums (fewer strings, softer) on some off-beats.
    ups = {0.5, 1.5, 2.5, 3.5} if rng.random() < 0.5 else {1.5, 3.5}
    out = []
    for bar in range(clip.n_bars):
        for on in np.arange(0, clip.meter, 0.5).tolist():
            if on % 1 and on not in ups:
                continue
            beat = bar * clip.meter + on
            _, _, root, pcs = clip.chord_at(beat)
            low = _nearest(root, lo + 5, lo, hi)
            shape = sorted({low} | {_nearest(pc, low + 9, lo, hi) for pc in pcs}
                           | {_nearest(pc, low + 16, lo, hi) for pc in pcs})  # fmt: skip
            up = bool(on % 1)
            strings = shape[::-1][:3] if up else shape[:6]
            v = clip.velocity(beat, vel - (10 if up else 0))
            for k, p in enumerate(strings):
                out.append((beat + 0.03 * k, 0.45, p, v))
    return out


def _arpeggio(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    rng = clip.rng
    sub = 0.25 if rng.random() < 0.4 else 0.5
    order = _choose(rng, ("up", "updown", "alberti", "random"), (3, 2, 1, 1))
    base = max(lo, int(lo + 0.25 * (hi - lo)))
    ring = float(rng.uniform(1.0, 2.5))
    out = []
    for start, length, _, pcs in clip.chords:
        tones = sorted({_nearest(pc, base + 4, lo, hi) for pc in pcs})
        tones += [p + 12 for p in tones if p + 12 <= hi]
        if order == "updown":
            tones = tones + tones[-2:0:-1]
        elif order == "alberti":
            tones = [tones[0], tones[-1], tones[len(tones) // 2], tones[-1]]
        for k, on in enumerate(np.arange(0, length, sub).tolist()):
            p = (
                tones[int(rng.integers(len(tones)))]
                if order == "random"
                else tones[k % len(tones)]
            )
            out.append((start + on, sub * ring, p, clip.velocity(start + on, vel)))
    return out


def _power(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    rng = clip.rng
    chug = rng.random() < 0.6
    out = []
    for start, length, root, _ in clip.chords:
        r = _nearest(root, lo + 6, lo, hi)
        shape = [r, r + 7] + ([r + 12] if rng.random() < 0.5 else [])
        onsets = np.arange(0, length, 0.5).tolist() if chug else [0.0]
        for on in onsets:
            ln = 0.3 if chug else length * 0.95
            v = clip.velocity(start + on, vel)
            out += [(start + on, ln, p, v) for p in shape if p <= hi]
    return out


def _stabs(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    pattern = ((0.0, 2.5), (1.5, 3.5), (0.0, 1.5, 3.0))[int(clip.rng.integers(3))]
    centre = lo + 0.5 * (hi - lo)
    out = []
    for bar in range(clip.n_bars):
        for on in pattern:
            if on < clip.meter:
                beat = bar * clip.meter + on
                v = clip.velocity(beat, vel)
                out += [
                    (beat, 0.3, p, v) for p in _voicing(clip.chord_at(beat)[3], centre, lo, hi, 3)
                ]
    return out


def _hits(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    rng = clip.rng
    out = []
    for beat in range(clip.n_beats):
        if beat % clip.meter == 0 or rng.random() < 0.3:
            pcs = clip.chord_at(beat)[3]
            pitch = _nearest(pcs[int(rng.integers(len(pcs)))], (lo + hi) / 2, lo, hi)
            out.append((float(beat), 0.8, pitch, clip.velocity(beat, vel)))
    return out


def _bass(clip: _Clip, lo: int, hi: int, vel: float) -> list[tuple]:
    rng = clip.rng
    kinds = ("whole", "half", "pulse", "fifth", "octave", "walking", "synco")
    weights = (1, 2, 2, 2, 1, 3 if clip.style == "jazz" else 0.3, 1.5)
    kind = _choose(rng, kinds, weights)
    out = []
    for start, length, root, pcs in clip.chords:
        r = _nearest(root, lo + 7, lo, hi)
        fifth = _nearest(pcs[2], r + 7, lo, hi)
        if kind == "whole":
            seq = [(0.0, length, r)]
        elif kind == "half":
            seq = [
                (on, min(2.0, length - on), p) for on, p in ((0.0, r), (2.0, fifth)) if on < length
            ]
        elif kind == "pulse":
            seq = [(on, 0.45, r) for on in np.arange(0, length, 0.5).tolist()]
        elif kind == "fifth":
            seq = [(on, 0.9, (r, fifth)[k % 2]) for k, on in enumerate(range(int(length)))]
        elif kind == "octave":
            seq = [
                (on, 0.4, r + 12 * (k % 2))
                for k, on in enumerate(np.arange(0, length, 0.5).tolist())
            ]
        elif kind == "walking":
            nxt = clip.chord_at(start + length)[2]
            target = _nearest(nxt, r, lo, hi)
            walk = [r] + [_nearest(pc, r + 5, lo, hi) for pc in pcs[1:]]
            approach = target + (1 if target < r else -1)  # a chromatic step into the next root
            walk = [*(walk + walk)[: max(int(length) - 1, 1)], approach]
            seq = [(float(k), 0.9, p) for k, p in enumerate(walk[: int(length)])]
        else:
            seq = [(on, 0.6, r) for on in (0.0, 1.5, 2.5, 3.0) if on < length]
        v = clip.velocity(start, vel)
        out += [(start + on, ln, _fold(p, lo, hi), v) for on, ln, p in seq]
    return out


def _drums(clip: _Clip, vel: float) -> list[tuple]:
    rng = clip.rng
    if clip.meter == 3:
        style = "waltz" if rng.random() < 0.6 else "perc"
        pattern = {_KICK: (0,), _SNARE: (4, 8), _HAT: (0, 2, 4, 6, 8, 10)}
        if style == "perc":
            pattern = {k: tuple(s for s in v if s < 12) for k, v in _PATTERNS["perc"].items()}
    else:
        options = _DRUM_STYLES[clip.style]
        style = options[int(rng.integers(len(options)))]
        pattern = _PATTERNS[style]
    steps = clip.meter * 4
    fills = rng.random() < 0.5
    out = []
    for bar in range(clip.n_bars):
        fill = fills and bar % 4 == 3
        for key, hits in pattern.items():
            for s in hits:
                if fill and s >= steps - 4:
                    continue
                beat = bar * clip.meter + s / 4
                accent = 8 if s % 4 == 0 else (-12 if key in (_HAT, _OPEN, 70, 54) else 0)
                out.append((beat, 0.25, key, clip.velocity(beat, vel + accent)))
        if fill:
            for key, k in _FILL:
                beat = bar * clip.meter + clip.meter - 1 + k / 4
                out.append((beat, 0.25, key, clip.velocity(beat, vel + 4)))
        if bar % 4 == 0 and rng.random() < 0.5 and style not in ("perc", "jazz"):
            out.append((float(bar * clip.meter), 1.0, _CRASH, clip.velocity(bar, vel)))
    return out


_ROLE_FUNCS = {
    "melody": _melody, "pad": _pad, "comp": _comp, "strum": _strum, "arpeggio": _arpeggio,
    "power": _power, "stabs": _stabs, "hits": _hits, "bass": _bass,
}  # fmt: skip
_ROLE_LEVEL = {
    "melody": 6, "counter": -4, "pad": -10, "comp": -6, "strum": -6, "arpeggio": -8,
    "power": -2, "stabs": 0, "hits": -2, "bass": 0, "drums": 0,
}  # fmt: skip


def _assign_roles(clip: _Clip, chosen: list[Instrument]) -> list[tuple]:
    """One role per instrument: at most one bass line and one lead melody."""
    rng = clip.rng
    roles: dict[str, str] = {i.name: "drums" for i in chosen if i.is_drum}
    pitched = [i for i in chosen if not i.is_drum]
    bass = [i for i in pitched if "bass" in _roles(i)]
    primary = [i for i in bass if max(_roles(i), key=_roles(i).get) == "bass"]
    if primary:
        roles[primary[0].name] = "bass"
    elif bass and len(pitched) >= 3 and rng.random() < 0.6:
        roles[bass[int(rng.integers(len(bass)))].name] = "bass"
    rest = [i for i in pitched if i.name not in roles]
    leads = [i for i in rest if _roles(i).get("melody", 0) > 0]
    if leads:
        share = [_roles(i)["melody"] / sum(_roles(i).values()) for i in leads]
        roles[_choose(rng, leads, share).name] = "melody"
    taken = set(roles.values())
    for inst in rest:
        if inst.name in roles:
            continue
        options = {
            r: w for r, w in _roles(inst).items() if not (r in ("melody", "bass") and r in taken)
        } or {"counter": 1.0}
        roles[inst.name] = _choose(rng, list(options), list(options.values()))
        taken.add(roles[inst.name])
    out = [(i, roles[i.name]) for i in chosen]
    # A lone chord instrument sometimes plays its own tune on top.
    if len(pitched) == 1 and roles[pitched[0].name] in ("comp", "arpeggio", "strum"):
        if rng.random() < 0.5:
            out.append((pitched[0], "melody"))
    return out


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


def _music21(rng, instruments, duration, k) -> tuple:
    works = _music21_works()
    clip = _make_frame(
        rng, duration, style=_choose(rng, ("chamber", "choral", "mixed"), (3, 2, 1))
    )
    target = float(rng.uniform(0.3, 0.75))  # seconds per typical note
    clip.meter = 4
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
            break
    else:  # pragma: no cover - every work has notes
        raise RuntimeError("No music21 excerpt with notes found in 8 tries.")
    clip.n_bars = math.ceil(span / 4) + 1
    drums = [i for i in instruments if i.is_drum]
    pitched = tuple(i for i in instruments if not i.is_drum)
    add_drums = bool(drums) and (not pitched or (k >= 2 and rng.random() < 0.3))
    chosen = _pick_instruments(rng, pitched, clip.style, k - add_drums) if pitched else []
    # Highest part to the highest-sounding instrument, and so on down.
    excerpt.sort(key=lambda part: -float(np.median([p for _, _, p in part])))
    chosen.sort(key=lambda i: -sum(_register(i)))
    if len(chosen) <= len(excerpt):
        keep = sorted({0, len(excerpt) - 1} if len(chosen) >= 2 else {0})
        middle = [j for j in range(1, len(excerpt) - 1)]
        rng.shuffle(middle)
        keep = sorted(keep + middle[: len(chosen) - len(keep)])
        if len(chosen) == 1:
            keep = [int(rng.integers(len(excerpt)))]
    else:  # more instruments than parts: double parts
        keep = [j % len(excerpt) for j in range(len(chosen))]
        keep.sort()
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
