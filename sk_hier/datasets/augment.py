"""Render-time augmentation: mix levels in the synthesiser, then an audio-effects chain.

Two stages, both seeded per clip so that the same seed gives the same bytes:

1. **Mix** (in the synthesiser, before any effect): each MIDI channel gets its own
   level, and under ``"strong"`` a level change within the clip, through MIDI
   expression (CC 11) curves; nothing is rendered twice.
2. **Effects** (`audiomentations <https://github.com/iver56/audiomentations>`_, MIT):
   random EQ, low/high-pass band-limiting, room reverb (convolution with synthetic
   impulse responses: exponentially decaying noise, made once per folder with
   numpy), limiter-style compression, additive noise at a random SNR and MP3
   compression when ``fast-mp3-augment`` is installed.

audiomentations draws from Python's ``random`` and NumPy's global generator; each
clip seeds both from its own seed and the previous states are restored afterwards,
so the output does not depend on which clips a process handled before.

NumPy is imported inside the functions, so that the command line can list the levels
without loading it.

Examples
--------
>>> from sk_hier.datasets.augment import AUGMENT_LEVELS
>>> list(AUGMENT_LEVELS)
['none', 'light', 'strong']
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "AUGMENT_LEVELS",
    "augment_audio",
    "describe_augment",
    "make_impulse_responses",
    "mix_plan",
]

#: Level name -> settings of both stages (``None``: no augmentation).
AUGMENT_LEVELS: dict[str, dict | None] = {
    "none": None,
    "light": {
        "mix_db": (-6.0, 0.0),  # per-channel level range
        "ramp_db": 0.0,  # largest level change within a clip
        "eq_db": 6.0,
        "p": {"eq": 0.5, "band": 0.2, "reverb": 0.3, "limiter": 0.3, "noise": 0.3, "mp3": 0.2},
        "snr_db": (30.0, 50.0),
        "lowpass_hz": (6000.0, 10000.0),
        "mp3_kbps": (64, 128),
    },
    "strong": {
        "mix_db": (-12.0, 0.0),
        "ramp_db": 9.0,
        "eq_db": 12.0,
        "p": {"eq": 0.8, "band": 0.5, "reverb": 0.6, "limiter": 0.5, "noise": 0.6, "mp3": 0.4},
        "snr_db": (10.0, 30.0),
        "lowpass_hz": (3000.0, 8000.0),
        "mp3_kbps": (32, 96),
    },
}
# Synthetic rooms: a few impulse responses with reverberation times (RT60) spread over
# small rooms to halls; a fixed seed makes them the same on every machine.
_IR_RT60 = (0.2, 0.35, 0.5, 0.7, 0.9, 1.2, 1.5, 2.0)
_IR_SEED = 20260
_IR_DIR = "impulse_responses"
_RAMP_STEP_S = 0.25  # expression updates per second within a level change
_MAX_CC = 127


def check_augment(level: Any) -> str:
    """Validate an augmentation level name."""
    if level is None:
        return "none"
    if level not in AUGMENT_LEVELS:
        raise ValueError(f"augment must be one of {list(AUGMENT_LEVELS)}, got {level!r}.")
    return str(level)


def _import_audiomentations():
    try:
        import audiomentations
    except ImportError as exc:
        raise ImportError(
            "augment='light'/'strong' needs audiomentations: pip install 'sk-hier[augment]'."
        ) from exc
    return audiomentations


def _mp3_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("fast_mp3_augment") is not None


def describe_augment(level: str) -> dict | None:
    """What ``level`` does, for ``render.json`` (library versions included)."""
    from importlib import metadata

    level = check_augment(level)
    settings = AUGMENT_LEVELS[level]
    if settings is None:
        return None
    _import_audiomentations()
    versions = {}
    for pkg in ("audiomentations", "numpy-audio-limiter", "fast-mp3-augment"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "level": level,
        **json_ready(settings),
        "impulse_responses": {"rt60_s": list(_IR_RT60), "seed": _IR_SEED},
        "mp3": _mp3_available(),
        "versions": versions,
    }


def mix_plan(level: str, seed: int, channels: list[int], duration: float) -> dict:
    """Per-channel expression curves ``{channel: [(seconds, cc_value), ...]}``.

    Each channel gets a level drawn in ``mix_db``; under ``"strong"`` it also moves
    linearly by up to ``ramp_db`` over a random stretch of the clip.

    Examples
    --------
    >>> plan = mix_plan("light", seed=0, channels=[0, 9], duration=2.0)
    >>> sorted(plan), all(0 <= v <= 127 for c in plan.values() for _, v in c)
    ([0, 9], True)
    """
    import numpy as np

    settings = AUGMENT_LEVELS[check_augment(level)]
    if settings is None:
        return {}
    rng = np.random.default_rng([seed, 1])
    plan = {}
    for ch in sorted(channels):
        start_db = rng.uniform(*settings["mix_db"])
        curve = [(0.0, start_db)]
        if settings["ramp_db"] > 0:
            t0, t1 = np.sort(rng.uniform(0, duration, size=2))
            end_db = min(0.0, start_db + rng.uniform(-1, 1) * settings["ramp_db"])
            times = np.arange(t0, t1, _RAMP_STEP_S)
            curve += [(t, start_db + (end_db - start_db) * (t - t0) / (t1 - t0)) for t in times]
            curve.append((t1, end_db))
        plan[ch] = [(round(float(t), 4), round(_MAX_CC * 10 ** (db / 20))) for t, db in curve]
    return plan


def make_impulse_responses(folder: str | Path, sample_rate: int) -> list[Path]:
    """Write the synthetic room impulse responses (WAV) once; return their paths."""
    import numpy as np
    import soundfile as sf

    folder = Path(folder) / _IR_DIR / str(sample_rate)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, rt60 in enumerate(_IR_RT60):
        path = folder / f"ir_{i}_rt{int(rt60 * 1000)}ms.wav"
        if not path.is_file():
            rng = np.random.default_rng([_IR_SEED, i])
            n = int(rt60 * sample_rate)
            t = np.arange(n) / sample_rate
            # -60 dB at rt60: amplitude decays as 10 ** (-3 t / rt60).
            ir = rng.standard_normal(n) * 10 ** (-3 * t / rt60)
            ir[0] = 1.0  # the direct sound
            from .._io import atomic_path

            with atomic_path(path) as tmp:
                sf.write(
                    tmp,
                    (ir / np.abs(ir).max()).astype(np.float32),
                    sample_rate,
                    format="WAV",
                    subtype="FLOAT",
                )
        paths.append(path)
    return paths


def _chain(settings: dict, ir_paths: list[Path]):
    A = _import_audiomentations()
    p = settings["p"]
    eq = settings["eq_db"]
    transforms = [
        A.SevenBandParametricEQ(min_gain_db=-eq, max_gain_db=eq, p=p["eq"]),
        A.OneOf(
            [
                A.LowPassFilter(*settings["lowpass_hz"], p=1.0),
                A.HighPassFilter(min_cutoff_freq=80.0, max_cutoff_freq=400.0, p=1.0),
            ],
            p=p["band"],
        ),
        A.ApplyImpulseResponse([str(x) for x in ir_paths], p=p["reverb"]),
        A.Limiter(p=p["limiter"]),
        A.AddGaussianSNR(*settings["snr_db"], p=p["noise"]),
    ]
    if _mp3_available():
        lo, hi = settings["mp3_kbps"]
        transforms.append(A.Mp3Compression(min_bitrate=lo, max_bitrate=hi, p=p["mp3"]))
    return A.Compose(transforms)


@contextmanager
def _seeded(seed: int):
    """Seed ``random`` and NumPy's global generator; restore both afterwards."""
    import numpy as np

    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - audiomentations draws from it
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002


def augment_audio(
    y: Any, sample_rate: int, level: str, seed: int, ir_paths: list[Path]
) -> tuple[Any, dict]:
    """Apply the effects chain of ``level``; returns the audio and what was applied.

    The output has the input's length and dtype float32.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.datasets import augment_audio
    >>> y = np.zeros(22050, np.float32)
    >>> out, record = augment_audio(y, 22050, "none", seed=0, ir_paths=[])
    >>> out.shape, record
    ((22050,), {})
    """
    import numpy as np

    settings = AUGMENT_LEVELS[check_augment(level)]
    if settings is None:
        return y, {}
    chain = _chain(settings, ir_paths)
    with _seeded(seed):
        out = chain(samples=np.asarray(y, dtype=np.float32), sample_rate=sample_rate)
    applied = {
        type(t).__name__: json_ready(
            {k: v for k, v in t.parameters.items() if k != "should_apply"}
        )
        for t in _leaves(chain.transforms)
        if getattr(t, "parameters", {}).get("should_apply")
    }
    if "ApplyImpulseResponse" in applied:  # the file name, not this folder's path
        ir = applied["ApplyImpulseResponse"].get("ir_file_path", "")
        applied["ApplyImpulseResponse"] = {"ir_file": Path(str(ir)).name}
    return np.asarray(out, dtype=np.float32)[: len(y)], applied


def _leaves(transforms: list) -> list:
    """The transforms of a chain, with those inside ``OneOf`` groups listed in place."""
    out = []
    for t in transforms:
        out += _leaves(t.transforms) if hasattr(t, "transforms") else [t]
    return out


def json_ready(value: Any) -> Any:
    """NumPy scalars and arrays, tuples and paths as plain JSON values."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, Path):
        return value.name
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)
