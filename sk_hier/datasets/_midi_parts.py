"""Parts of a generated clip: pitch helpers and one function per musical role
(melody, counter-melody, pads, comping, bass, drums...), each returning notes as
``(start_beat, length_beats, pitch, velocity)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._midi_style import (
    _CRASH,
    _DRUM_STYLES,
    _FILL,
    _HAT,
    _KICK,
    _OPEN,
    _PATTERNS,
    _SNARE,
    _choose,
    _Clip,
    _roles,
)
from .taxonomy import Instrument


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
