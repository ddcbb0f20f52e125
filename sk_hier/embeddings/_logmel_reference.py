"""The log-mel frames as first written: the reference the fast path is checked against.

:func:`sk_hier.embeddings.logmel_frames` computes the same numbers with a banded mel
projection and fewer passes over the spectrogram; this module keeps the direct
version for ``tests/test_embed_fast_path.py`` and ``benchmarks/embed_speed.py``.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=8)
def _filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, n_mfcc: int):
    import librosa
    import scipy.fft
    import torch

    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    # librosa.feature.mfcc applies an orthonormal DCT-II over the mel axis.
    dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    window = torch.hann_window(n_fft, periodic=True)  # librosa's "hann", fftbins=True
    return (
        torch.from_numpy(mel.astype(np.float32)),
        torch.from_numpy(np.ascontiguousarray(dct, dtype=np.float32)),
        window,
    )


def reference_logmel_frames(
    y: np.ndarray,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    n_mfcc: int = 20,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """``(n_frames, n_mels + n_mfcc)`` log-mel and MFCC frames; see ``logmel_frames``."""
    import torch

    mel, dct, window = _filters(sr, n_fft, n_mels, float(fmin), fmax, n_mfcc)
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    with torch.inference_mode():
        spec = torch.stft(
            yt,
            n_fft,
            hop_length,
            window=window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spec.real.square() + spec.imag.square()  # (n_freq, n_frames)
        db = 10.0 * torch.log10(torch.clamp(mel @ power, min=1e-10))
        if top_db is not None:
            db = torch.maximum(db, db.max() - top_db)
        feats = torch.cat([db, dct @ db]) if n_mfcc else db
        return feats.T.contiguous().numpy()
