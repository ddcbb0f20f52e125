"""Audio loading as the reference paths had it: read the bytes, hash them, decode from memory.

Until files were decoded from their path and hashed only for a cache, every input file
was read into memory, hashed for its cache key whether a cache was in use or not, and
decoded from a ``BytesIO`` (soundfile then reads it through a Python callback per
block). The reference paths (``_reference = True`` on an embedder, as
``tests/test_embed_fast_path.py`` and ``benchmarks/embed_speed.py`` set it) keep that
loading (and its validation, in two passes over the samples), so that the side-by-side
benchmark compares the fast paths with the implementation as it was, loading included.
The samples and errors are the same.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ._base import BadAudioError, _describe_unreadable, _read_bytes, _resample
from ._cache import content_key


def _decode_bytes(data: bytes, source: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if len(data) == 0:
        raise BadAudioError(source, "empty file (0 bytes)")
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            sr = int(f.samplerate)
            audio = f.read(dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise BadAudioError(source, f"{_describe_unreadable(data[:12])} [{exc}]") from None
    return audio, sr


def _validate(audio: np.ndarray, sr: int, source: str, silence_threshold: float) -> np.ndarray:
    """Mono float32 samples, or an error saying why the clip is unusable (as it was)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        # (samples, channels): mix down, as librosa.load(mono=True) does.
        audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if audio.ndim != 1:
        raise BadAudioError(source, f"expected a 1-D waveform, got shape {audio.shape}")
    if audio.size == 0:
        raise BadAudioError(source, "no audio samples (zero duration)")
    if not np.all(np.isfinite(audio)):
        raise BadAudioError(source, "holds NaN or infinite samples")
    peak = float(np.max(np.abs(audio)))
    if peak <= silence_threshold:
        level = "all zeros" if peak == 0 else f"peak amplitude {peak:.2g}"
        raise BadAudioError(
            source,
            f"silent ({level}, at or below silence_threshold={silence_threshold:g}); "
            "check the file, or lower silence_threshold if it is meant to be this quiet",
        )
    if sr <= 0:
        raise BadAudioError(source, f"invalid sample rate {sr}")
    return np.ascontiguousarray(audio)


def load_item(
    it: Any, embedder: Any, cache: Any, problems: list[str]
) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """``(content key, cached vector or None, audio at target_sr or None)`` of one input.

    The loading of ``_base._load_item`` as it was; raises BadAudioError for an input
    that cannot be embedded.
    """
    if it.path is not None:
        data = _read_bytes(it.path)
        key = content_key(data)
    else:
        sr = int(embedder.sample_rate)
        audio = np.asarray(it.waveform, dtype=np.float32)
        key = content_key(audio, sr)
    if cache is not None:
        vector, problem = cache.load(key)
        if vector is not None:
            return key, vector, None
        if problem is not None:
            problems.append(problem)
    if it.path is not None:
        audio, sr = _decode_bytes(data, it.source)
    audio = _validate(audio, sr, it.source, embedder.silence_threshold)
    return key, None, _resample(audio, sr, embedder.target_sr)
