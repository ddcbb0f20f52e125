"""Style tables of the MIDI generator: scales, tempi, instrument fit and ranges,
roles and drum patterns, and the frame (key, tempo, chords) of one clip."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .taxonomy import Instrument

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
