"""Soundfonts and the synthesiser: MIDI bytes in, stereo float32 out.

One ``tinysoundfont.Synth`` per (soundfont, sample rate) is kept in each process and
reset between clips, so a clip sounds the same whichever clips the process rendered
before it; tinysoundfont itself is bit-exact across runs and processes.
"""

from __future__ import annotations

import hashlib
import io
import os
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ._smf import smf_bytes
from .soundfonts import SOUNDFONTS, canonical_name

# Mix loudness: RMS target and peak ceiling (dBFS). -20 dBFS RMS is a common level for
# music datasets; the ceiling keeps 1 dB of headroom so that 16-bit PCM never clips.
_TARGET_RMS_DB = -20.0
_PEAK_DB = -1.0
# An instrument is audible in a source when one note at each test velocity reaches this
# RMS level (dBFS, raw synth output): the taxonomy's notes measure -12..-35 dBFS in every
# registered source, while a broken velocity layer (MuseScore General's piano near
# velocity 100 in tinysoundfont) falls to about -60.
AUDIBLE_DB = -50.0
_TEST_VELOCITIES = (48, 80, 100, 112)
_TEST_NOTE_SECONDS = 0.4
_DRUM_TEST_KEYS = (36, 38, 42)  # kick, snare, closed hi-hat
_PITCH_TEST_KEY = 60


# -- soundfonts ---------------------------------------------------------------------
def resolve_soundfont(soundfont: str | os.PathLike = "timgm6mb") -> tuple[str, Path]:
    """Find a soundfont file and check that it looks like one.

    Parameters
    ----------
    soundfont : str or path-like, default="timgm6mb"
        A registered name (see :data:`~sk_hier.datasets.soundfonts.SOUNDFONTS`:
        ``"timgm6mb"``, ``"fluidr3"``, ``"csound"``, ...), or the path of a ``.sf2`` /
        ``.sf3`` file.

    Returns
    -------
    name : str
        The registry name, or the file name for a path.
    path : Path
        The absolute path of the file.

    Raises
    ------
    FileNotFoundError
        When the file is missing, with how to get it.
    ValueError
        When the file is not a SoundFont file.

    Examples
    --------
    >>> from sk_hier.datasets.render import resolve_soundfont
    >>> name, path = resolve_soundfont("timgm6mb")
    >>> name, path.name
    ('timgm6mb', 'TimGM6mb.sf2')
    """
    name = canonical_name(soundfont) if isinstance(soundfont, str) else None
    if name is not None:
        source = SOUNDFONTS[name]
        path = source.find()
        if path is None:
            raise FileNotFoundError(
                f"Soundfont {name!r} ({source.title}) is not installed: {source.install_hint()}."
            )
    else:
        path = Path(soundfont).expanduser()
        name = path.name
        if not path.is_file():
            raise FileNotFoundError(
                f"Soundfont {str(soundfont)!r} not found at {path}: pass an existing "
                f".sf2/.sf3 file or one of {', '.join(SOUNDFONTS)}."
            )
    if path.suffix == ".cfg":  # a TiMidity++ configuration (GUS patches): no RIFF header
        return name, path.resolve()
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ValueError(
            f"{path} is not a SoundFont file (no RIFF/sfbk header); it may be corrupt or "
            "truncated. Use a .sf2/.sf3 file, e.g. soundfont='timgm6mb'."
        )
    return name, path.resolve()


_HASHES: dict[tuple, str] = {}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, cached per process by path, size and mtime."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def _import_tinysoundfont():
    try:
        import tinysoundfont
        from tinysoundfont import midi as tsf_midi
    except ImportError as exc:
        raise ImportError(
            "Rendering audio needs tinysoundfont: pip install --no-deps tinysoundfont "
            "(--no-deps because its pyaudio requirement is only for live playback and "
            "often fails to build)."
        ) from exc
    return tinysoundfont, tsf_midi


class _SourceEngine:
    """What every engine shares: MIDI parsing, the preset check, the audibility audit
    (measured once per instrument) and the outline of ``render``. A subclass sets
    ``path``, ``sample_rate``, ``_midi`` (tinysoundfont's MIDI module) and ``_audits``
    (a dict), and implements ``has_preset``, ``_audit`` and ``_render_events``."""

    path: Path
    sample_rate: int

    def events(self, data: bytes, where: str) -> list:
        """Time-ordered tinysoundfont events of MIDI bytes."""
        try:
            return self._midi.load_memory(data, persistent=False)
        except Exception as exc:
            raise ValueError(f"{where} is not a readable MIDI file: {exc}") from exc

    def gaps(self, instruments) -> dict[str, str]:
        """Instruments this source cannot voice audibly: name -> what is wrong.

        A missing preset is a gap; so is one whose test note (each of a few velocities,
        0.4 s) stays below :data:`AUDIBLE_DB`: such an instrument would be silence
        labelled as present. Measured once per engine and instrument.
        """
        out = {}
        for inst in instruments:
            key = (inst.is_drum, inst.program)
            if key not in self._audits:
                self._audits[key] = self._audit(inst.program, inst.is_drum)
            if self._audits[key]:
                out[inst.name] = self._audits[key]
        return out

    def _check_presets(self, events: list, where: str, drop: frozenset) -> None:
        for ev in events:
            if isinstance(ev.action, self._midi.ProgramChange):
                drum = ev.channel == 9
                program = ev.action.program
                if (drum, program) not in drop and not self.has_preset(program, drum):
                    what = "drum kit" if drum else "program"
                    raise ValueError(
                        f"{where} uses {what} {program}, which the soundfont "
                        f"{self.path.name} lacks; it would sound as another instrument. "
                        "Use a complete GM soundfont or drop that instrument."
                    )

    def render(
        self,
        data: bytes,
        duration: float | None,
        where: str,
        *,
        drop: frozenset = frozenset(),
        mix: dict | None = None,
    ) -> np.ndarray:
        """Render MIDI bytes to an (n_samples, 2) float32 array, sample-accurate.

        ``drop`` holds ``(is_drum, program)`` keys whose notes are not played (a gap of
        this soundfont); ``mix`` maps a channel to its expression (CC 11) curve,
        ``[(seconds, value 0..127), ...]``, for per-track levels that move in time.
        """
        events = self.events(data, where)
        self._check_presets(events, where, drop)
        if mix:
            events = _with_mix(events, mix, self._midi)
        if duration is None:
            duration = (max((ev.t for ev in events), default=0.0)) + 1.0
        return self._render_events(events, duration, where, drop)

    def _render_events(self, events: list, duration: float, where: str, drop: frozenset):
        raise NotImplementedError


class Engine(_SourceEngine):
    """One loaded soundfont at one sample rate; renders MIDI bytes to stereo float32."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        tsf, self._midi = _import_tinysoundfont()
        self.path = path
        self.sample_rate = sample_rate
        self.synth = tsf.Synth(samplerate=sample_rate)
        try:
            sfid = self.synth.sfload(str(path))
        except Exception as exc:  # tinysoundfont raises a bare Exception on bad files
            raise ValueError(
                f"Could not load the soundfont {path}: {exc}. The file may be corrupt; "
                "use another .sf2 file, e.g. soundfont='timgm6mb'."
            ) from exc
        self.sfid = sfid
        self.sf = self.synth.soundfonts[sfid]
        self._presets: dict[tuple[int, int], bool] = {}
        self._audits: dict[tuple[bool, int], str] = {}
        self._flush = memoryview(bytearray(int(0.2 * sample_rate) * 8))

    def has_preset(self, program: int, is_drum: bool) -> bool:
        """Whether the soundfont has this program (bank 0) or drum kit (bank 128)."""
        key = (128 if is_drum else 0, program)
        if key not in self._presets:
            self._presets[key] = self.synth.sfpreset_name(self.sfid, *key) is not None
        return self._presets[key]

    def _reset(self) -> None:
        # Quick-release every voice, let the releases finish, then set every channel to
        # the GM power-on state, so nothing of the previous clip reaches this one.
        self.sf.reset()
        self.sf.render(self._flush, False)
        for ch in range(16):
            self.sf.channel_set_preset_number(ch, 0, ch == 9)

    def _audit(self, program: int, is_drum: bool) -> str:
        if not self.has_preset(program, is_drum):
            return f"no {'drum kit' if is_drum else 'program'} {program}"
        n = round(_TEST_NOTE_SECONDS * self.sample_rate)
        ch = 9 if is_drum else 0
        keys = _DRUM_TEST_KEYS if is_drum else (_PITCH_TEST_KEY,)
        quietest = np.inf
        for velocity in _TEST_VELOCITIES:
            self._reset()
            self.sf.channel_set_preset_number(ch, program, is_drum)
            for k in keys:
                self.sf.channel_note_on(ch, k, velocity / 127.0)
            buf = bytearray(n * 8)
            self.sf.render(memoryview(buf), False)
            y = np.frombuffer(buf, dtype=np.float32)
            level = 10 * np.log10(float(np.mean(np.square(y, dtype=np.float64))) + 1e-20)
            quietest = min(quietest, level)
        self._reset()
        if quietest < AUDIBLE_DB:
            return f"inaudible: {quietest:.0f} dBFS at some velocity (need {AUDIBLE_DB:.0f})"
        return ""

    def _render_events(self, events: list, duration: float, where: str, drop: frozenset):
        n = round(duration * self.sample_rate)
        buf = bytearray(n * 8)
        self._reset()
        self._play(events, memoryview(buf), n, drop)
        return np.frombuffer(buf, dtype=np.float32).reshape(n, 2)

    def _play(self, events: list, view: memoryview, n: int, drop: frozenset) -> None:
        midi, sf, sr = self._midi, self.sf, self.sample_rate
        program = dict.fromkeys(range(16), 0)
        cur = 0
        for ev in events:
            idx = min(round(ev.t * sr), n)
            if idx > cur:
                sf.render(view[cur * 8 : idx * 8], False)
                cur = idx
            if cur >= n:
                break
            act, ch = ev.action, ev.channel
            if isinstance(act, midi.NoteOn):
                if (ch == 9, program[ch]) not in drop:
                    sf.channel_note_on(ch, act.key, act.velocity / 127.0)
            elif isinstance(act, midi.NoteOff):
                sf.channel_note_off(ch, act.key)
            elif isinstance(act, midi.ControlChange):
                sf.channel_midi_control(ch, act.control, act.control_value)
            elif isinstance(act, midi.ProgramChange):
                program[ch] = act.program
                sf.channel_set_preset_number(ch, act.program, ch == 9)
            elif isinstance(act, midi.PitchBend):
                sf.channel_set_pitch_wheel(ch, act.pitch_bend)
        if cur < n:
            sf.render(view[cur * 8 :], False)


_EXPRESSION = 11  # MIDI CC 11: expression, a per-channel level under the channel volume


class _MixEvent:
    """A tinysoundfont-like event: ``t``, ``channel``, ``action``."""

    __slots__ = ("action", "channel", "t")

    def __init__(self, t: float, channel: int, action) -> None:
        self.t, self.channel, self.action = t, channel, action


def _with_mix(events: list, mix: dict, midi) -> list:
    """Events with expression changes merged in; the mix events come first at a tie."""
    extra = [
        _MixEvent(float(t), int(ch), midi.ControlChange(_EXPRESSION, int(v)))
        for ch, curve in mix.items()
        for t, v in curve
    ]
    merged = [(ev.t, 1, i, ev) for i, ev in enumerate(events)]
    merged += [(ev.t, 0, i, ev) for i, ev in enumerate(extra)]
    return [ev for *_, ev in sorted(merged, key=lambda x: x[:3])]


_ENGINES: dict[tuple[str, int], Any] = {}


def get_engine(path: Path, sample_rate: int) -> Any:
    """The process-wide engine of a source at a sample rate: :class:`Engine` for a
    SoundFont, ``TimidityEngine`` for a TiMidity++ configuration (``.cfg``)."""
    key = (str(path), int(sample_rate))
    if key not in _ENGINES:
        # A large soundfont takes hundreds of MB once loaded: keep the two latest.
        while len(_ENGINES) >= 2:
            _ENGINES.pop(next(iter(_ENGINES)))
        if Path(path).suffix == ".cfg":
            from ._timidity import TimidityEngine

            _ENGINES[key] = TimidityEngine(Path(path), int(sample_rate))
        else:
            _ENGINES[key] = Engine(path, int(sample_rate))
    return _ENGINES[key]


def midi_bytes(midi: Any) -> tuple[bytes, str]:
    """Standard MIDI File bytes of ``midi`` and a description for error messages."""
    if isinstance(midi, bytes | bytearray):
        return bytes(midi), "the MIDI data"
    if isinstance(midi, str | os.PathLike):
        path = Path(midi)
        if not path.is_file():
            raise FileNotFoundError(f"MIDI file {path} not found.")
        return path.read_bytes(), str(path)
    buf = io.BytesIO()
    if hasattr(midi, "instruments") and hasattr(midi, "write"):  # pretty_midi.PrettyMIDI
        data = smf_bytes(midi)
        if data is not None:
            return data, "the MIDI data"
        midi.write(buf)
    elif hasattr(midi, "tracks") and hasattr(midi, "save"):  # mido.MidiFile
        midi.save(file=buf)
    else:
        raise ValueError(
            f"Cannot render a {type(midi).__name__}: pass a pretty_midi.PrettyMIDI, a "
            "mido.MidiFile, MIDI file bytes or the path of a .mid file."
        )
    return buf.getvalue(), "the MIDI data"


def to_mono(stereo: np.ndarray) -> np.ndarray:
    """Mean of the two channels of an (n, 2) float32 array."""
    # Column sum, not .mean(axis=1): the strided reduction is ~30x slower.
    return (stereo[:, 0] + stereo[:, 1]) * np.float32(0.5)


def normalize_loudness(x: np.ndarray) -> np.ndarray:
    """Scale to -20 dBFS RMS, less where needed to keep peaks below -1 dBFS."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if rms < 1e-9:
        return x
    gain = min(10 ** (_TARGET_RMS_DB / 20) / rms, 10 ** (_PEAK_DB / 20) / peak)
    return (x * gain).astype(np.float32)


def check_sample_rate(sample_rate: Any) -> int:
    """Validate a sample rate in Hz."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise ValueError(f"sample_rate must be an int (Hz), got {sample_rate!r}.")
    if not 8000 <= sample_rate <= 96000:
        raise ValueError(f"sample_rate must lie in 8000..96000 Hz, got {sample_rate}.")
    return int(sample_rate)


def wav_bytes(y: np.ndarray, sample_rate: int) -> bytes:
    """Mono 16-bit PCM WAV bytes of a float waveform in [-1, 1]."""
    pcm = np.clip(np.rint(y * np.float32(32767)), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()
