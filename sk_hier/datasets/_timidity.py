"""Rendering through TiMidity++: sample sets that are no SoundFont (GUS patches).

FreePats, a General MIDI set of Gravis UltraSound patches recorded and assembled
independently of every SoundFont the package renders with, is played by TiMidity++
(Debian: ``timidity``, ``freepats``). :class:`TimidityEngine` has the interface of the
SoundFont engine: the same parsed MIDI events, the same dropped gaps and per-track
mix, the same audibility audit; the events are written back to a plain MIDI file and
played by ``timidity`` in a subprocess, with its reverb and chorus off (augmentation
adds room sound, seeded and recorded, where it is asked for). TiMidity++ is
deterministic: one MIDI file gives the same bytes on every run.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ._smf import _track
from ._synth import _import_tinysoundfont, _SourceEngine

__all__ = ["TimidityEngine", "timidity_presets"]

# Ticks: 1000 per quarter note at 120 bpm (the default tempo), so 2000 per second.
_DIVISION = 1000
_TICKS_PER_SECOND = 2000
_TIMEOUT_S = 120  # one clip takes well under a second


def timidity_presets(cfg: Path) -> set[tuple[int, int]]:
    """``(bank, program)`` pairs a TiMidity++ configuration maps: bank 0 programs as
    ``(0, p)``, drum sets as ``(128, kit)``. Other banks are not General MIDI."""
    presets, section = set(), None
    for raw in Path(cfg).read_text(encoding="utf-8", errors="replace").splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in ("bank", "drumset") and len(words) > 1 and words[1].isdigit():
            section = (words[0], int(words[1]))
        elif words[0].isdigit() and section == ("bank", 0):
            presets.add((0, int(words[0])))
        elif words[0].isdigit() and section is not None and section[0] == "drumset":
            presets.add((128, section[1]))
    return presets


def _format0(track: bytes) -> bytes:
    """A one-track (format 0) MIDI file at this module's tick rate."""
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, _DIVISION) + track


def _raw(action, channel: int, midi) -> bytes | None:
    """The MIDI message of one parsed event (None for kinds TiMidity does not need)."""
    if isinstance(action, midi.NoteOn):
        return bytes((0x90 | channel, action.key, action.velocity))
    if isinstance(action, midi.NoteOff):
        return bytes((0x80 | channel, action.key, 0))
    if isinstance(action, midi.ControlChange):
        return bytes((0xB0 | channel, action.control, action.control_value))
    if isinstance(action, midi.ProgramChange):
        return bytes((0xC0 | channel, action.program))
    if isinstance(action, midi.PitchBend):
        bend = int(action.pitch_bend)
        return bytes((0xE0 | channel, bend & 0x7F, (bend >> 7) & 0x7F))
    return None


def events_to_smf(events: list, midi, drop: frozenset, end_s: float) -> bytes:
    """A format-0 MIDI file of time-ordered events, without the notes of ``drop``."""
    program = dict.fromkeys(range(16), 0)
    rows = []  # (tick, order, message): the order keeps the events' own order at a tick
    for order, ev in enumerate(events):
        act, ch = ev.action, ev.channel
        if isinstance(act, midi.ProgramChange):
            program[ch] = act.program
        elif isinstance(act, midi.NoteOn) and (ch == 9, program[ch]) in drop:
            continue
        msg = _raw(act, ch, midi)
        if msg is not None:
            rows.append((round(ev.t * _TICKS_PER_SECOND), order, msg))
    return _format0(_track(rows, end=round(end_s * _TICKS_PER_SECOND)))


class TimidityEngine(_SourceEngine):
    """One TiMidity++ configuration at one sample rate; MIDI bytes in, stereo out."""

    def __init__(self, cfg: Path, sample_rate: int) -> None:
        self.binary = shutil.which("timidity")
        if self.binary is None:
            raise FileNotFoundError(
                f"{cfg} is played by TiMidity++, which is not installed: install the "
                "Debian package timidity (`make setup` does)."
            )
        _, self._midi = _import_tinysoundfont()  # its MIDI parser, shared with SoundFonts
        self.path, self.sample_rate = Path(cfg), int(sample_rate)
        self._presets = timidity_presets(self.path)
        self._audits: dict[tuple[bool, int], str] = {}

    def has_preset(self, program: int, is_drum: bool) -> bool:
        """Whether the configuration maps this program (bank 0) or drum set."""
        return ((128, program) if is_drum else (0, program)) in self._presets

    def _render_events(self, events: list, duration: float, where: str, drop: frozenset):
        smf = events_to_smf(events, self._midi, drop, duration)
        return self._play(smf, round(duration * self.sample_rate), where)

    def _play(self, smf: bytes, n: int, where: str) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="sk_hier-timidity-") as tmp:
            mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
            mid.write_bytes(smf)
            cmd = [self.binary, "-c", str(self.path), "-idq", "-Ow", "--output-stereo"]
            cmd += ["--output-16bit", "-s", str(self.sample_rate), "-EFreverb=d"]
            cmd += ["-EFchorus=d", "-EFns=0", "-o", str(wav), str(mid)]
            run = subprocess.run(cmd, capture_output=True, timeout=_TIMEOUT_S, check=False)
            if run.returncode != 0 or not wav.is_file():
                err = run.stderr.decode(errors="replace").strip()[-300:]
                raise RuntimeError(f"timidity failed on {where} ({run.returncode}): {err}")
            y = _read_wav16(wav.read_bytes())
        out = np.zeros((n, 2), dtype=np.float32)
        out[: min(n, len(y))] = y[:n]
        return out

    def _audit(self, program: int, is_drum: bool) -> str:
        from ._synth import (
            _DRUM_TEST_KEYS,
            _PITCH_TEST_KEY,
            _TEST_NOTE_SECONDS,
            _TEST_VELOCITIES,
            AUDIBLE_DB,
        )

        if not self.has_preset(program, is_drum):
            return f"no {'drum kit' if is_drum else 'program'} {program}"
        ch, keys = (9, _DRUM_TEST_KEYS) if is_drum else (0, (_PITCH_TEST_KEY,))
        # One file: each velocity's test note 1 s after the previous one, every channel's
        # notes ended (CC 123) before the next.
        rows = [(0, 0, bytes((0xC0 | ch, program)))]
        off = round(_TEST_NOTE_SECONDS * _TICKS_PER_SECOND)
        for i, velocity in enumerate(_TEST_VELOCITIES):
            start = i * _TICKS_PER_SECOND
            rows += [(start, 1, bytes((0x90 | ch, k, velocity))) for k in keys]
            rows += [(start + off, 2, bytes((0x80 | ch, k, 0))) for k in keys]
            rows.append((start + _TICKS_PER_SECOND, 0, b"\xb0\x7b\x00"))
        smf = _format0(_track(rows))
        n_note = round(_TEST_NOTE_SECONDS * self.sample_rate)
        y = self._play(smf, len(_TEST_VELOCITIES) * self.sample_rate, "the audibility test")
        levels = []
        for i in range(len(_TEST_VELOCITIES)):
            seg = y[i * self.sample_rate : i * self.sample_rate + n_note]
            levels.append(10 * np.log10(float(np.mean(np.square(seg, dtype=np.float64))) + 1e-20))
        if min(levels) < AUDIBLE_DB:
            return f"inaudible: {min(levels):.0f} dBFS at some velocity (need {AUDIBLE_DB:.0f})"
        return ""


def _read_wav16(data: bytes) -> np.ndarray:
    """(n, 2) float32 of a 16-bit stereo RIFF WAVE (TiMidity's output)."""
    pos = 12
    while pos + 8 <= len(data):
        tag, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if tag == b"data":
            pcm = np.frombuffer(data[pos + 8 : pos + 8 + size], dtype="<i2")
            return (pcm.reshape(-1, 2).astype(np.float32)) / np.float32(32768.0)
        pos += 8 + size + (size & 1)
    raise RuntimeError("timidity wrote a WAV file without a data chunk.")
