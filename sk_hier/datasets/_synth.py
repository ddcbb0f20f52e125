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

#: Named soundfonts; any other value of ``soundfont`` is a path to a ``.sf2`` file.
SOUNDFONTS = {
    "timgm6mb": "TimGM6mb.sf2 inside the pretty_midi package (6 MB, always available)",
    "fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2 (Debian package fluid-soundfont-gm)",
}
_FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# Mix loudness: RMS target and peak ceiling (dBFS). -20 dBFS RMS is a common level for
# music datasets; the ceiling keeps 1 dB of headroom so that 16-bit PCM never clips.
_TARGET_RMS_DB = -20.0
_PEAK_DB = -1.0


# -- soundfonts ---------------------------------------------------------------------
def resolve_soundfont(soundfont: str | os.PathLike = "timgm6mb") -> tuple[str, Path]:
    """Find a soundfont file and check that it looks like one.

    Parameters
    ----------
    soundfont : str or path-like, default="timgm6mb"
        ``"timgm6mb"`` (ships with ``pretty_midi``), ``"fluidr3"`` (Debian's
        ``fluid-soundfont-gm``), or the path of any ``.sf2`` file.

    Returns
    -------
    name : str
        ``"timgm6mb"``, ``"fluidr3"`` or the file name.
    path : Path
        The absolute path of the file.

    Raises
    ------
    FileNotFoundError
        When the file is missing, with how to get it.
    ValueError
        When the file is not a SoundFont 2 file.

    Examples
    --------
    >>> from sk_hier.datasets.render import resolve_soundfont
    >>> name, path = resolve_soundfont("timgm6mb")
    >>> name, path.name
    ('timgm6mb', 'TimGM6mb.sf2')
    """
    key = str(soundfont).lower() if isinstance(soundfont, str) else None
    if key == "timgm6mb":
        try:
            import pretty_midi
        except ImportError as exc:
            raise ImportError(
                "The 'timgm6mb' soundfont ships with pretty_midi: pip install 'sk-hier[audio]'."
            ) from exc
        name, path = "timgm6mb", Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
        hint = "reinstall pretty_midi (its wheel ships TimGM6mb.sf2)"
    elif key in ("fluidr3", "fluidr3_gm"):
        name, path = "fluidr3", _FLUIDR3
        hint = (
            "install the Debian package fluid-soundfont-gm (`make setup` does it; or "
            "`sudo apt-get install fluid-soundfont-gm`), or pass the path of a .sf2 file"
        )
    else:
        path = Path(soundfont).expanduser()
        name = path.name
        hint = f"pass an existing .sf2 file or one of {sorted(SOUNDFONTS)}"
    if not path.is_file():
        raise FileNotFoundError(f"Soundfont {str(soundfont)!r} not found at {path}: {hint}.")
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ValueError(
            f"{path} is not a SoundFont 2 file (no RIFF/sfbk header); it may be corrupt or "
            "truncated. Use a .sf2 file, e.g. soundfont='timgm6mb'."
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


class Engine:
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

    def events(self, data: bytes, where: str) -> list:
        """Time-ordered tinysoundfont events of MIDI bytes."""
        try:
            return self._midi.load_memory(data, persistent=False)
        except Exception as exc:
            raise ValueError(f"{where} is not a readable MIDI file: {exc}") from exc

    def render(self, data: bytes, duration: float | None, where: str) -> np.ndarray:
        """Render MIDI bytes to an (n_samples, 2) float32 array, sample-accurate."""
        midi = self._midi
        events = self.events(data, where)
        for ev in events:
            if isinstance(ev.action, midi.ProgramChange):
                drum = ev.channel == 9
                if not self.has_preset(ev.action.program, drum):
                    what = "drum kit" if drum else "program"
                    raise ValueError(
                        f"{where} uses {what} {ev.action.program}, which the soundfont "
                        f"{self.path.name} lacks; it would sound as another instrument. "
                        "Use a complete GM soundfont or drop that instrument."
                    )
        if duration is None:
            duration = (max((ev.t for ev in events), default=0.0)) + 1.0
        sr = self.sample_rate
        n = round(duration * sr)
        buf = bytearray(n * 8)
        view = memoryview(buf)
        sf = self.sf
        self._reset()
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
                sf.channel_note_on(ch, act.key, act.velocity / 127.0)
            elif isinstance(act, midi.NoteOff):
                sf.channel_note_off(ch, act.key)
            elif isinstance(act, midi.ControlChange):
                sf.channel_midi_control(ch, act.control, act.control_value)
            elif isinstance(act, midi.ProgramChange):
                sf.channel_set_preset_number(ch, act.program, ch == 9)
            elif isinstance(act, midi.PitchBend):
                sf.channel_set_pitch_wheel(ch, act.pitch_bend)
        if cur < n:
            sf.render(view[cur * 8 :], False)
        return np.frombuffer(buf, dtype=np.float32).reshape(n, 2)


_ENGINES: dict[tuple[str, int], Engine] = {}


def get_engine(path: Path, sample_rate: int) -> Engine:
    """The process-wide Engine of a soundfont at a sample rate."""
    key = (str(path), int(sample_rate))
    if key not in _ENGINES:
        # A large soundfont takes hundreds of MB once loaded: keep the two latest.
        while len(_ENGINES) >= 2:
            _ENGINES.pop(next(iter(_ENGINES)))
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
