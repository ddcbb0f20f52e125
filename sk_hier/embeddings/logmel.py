"""Log-mel and MFCC statistics: the fast, dependency-light default embedder."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np

from ._base import AudioEmbedder, pool_frames

__all__ = ["LogMelEmbedder", "logmel_frames"]


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


def logmel_frames(
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
    """Per-frame log-mel (dB) and MFCC features of a mono waveform.

    The same numbers as ``librosa.power_to_db(librosa.feature.melspectrogram(...))``
    and ``librosa.feature.mfcc(S=...)`` with their defaults (centred frames, zero
    padding, Hann window, Slaney mel filters), computed with ``torch.stft`` because it
    is several times faster.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Mono audio at ``sr`` Hz.
    sr, n_fft, hop_length, n_mels, fmin, fmax
        As in ``librosa.feature.melspectrogram``.
    n_mfcc : int, default=20
        MFCCs per frame (0 for none).
    top_db : float or None, default=80.0
        Floor the dB values at ``max - top_db``, as ``librosa.power_to_db``.

    Returns
    -------
    ndarray of shape (n_frames, n_mels + n_mfcc), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import logmel_frames
    >>> y = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    >>> logmel_frames(y).shape
    (44, 148)
    """
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


class LogMelEmbedder(AudioEmbedder):
    """Clip statistics of log-mel and MFCC frames: the offline default embedder.

    Each clip is resampled to ``sr``, cut into STFT frames, and each frame described
    by its log-mel spectrum (dB) and MFCCs; the frames are pooled into one vector by
    the ``pooling`` statistics. No model, no download; several thousand times faster
    than real time on one core.

    Parameters
    ----------
    sr : int, default=22050
        Analysis sample rate; inputs at other rates are resampled.
    n_fft : int, default=2048
        FFT size (93 ms at 22,050 Hz).
    hop_length : int, default=512
        Frame hop in samples.
    n_mels : int, default=128
        Mel bands.
    n_mfcc : int, default=20
        MFCCs per frame (0 for none).
    fmin, fmax : float, default=0.0, None
        Frequency range of the mel filters (``None``: ``sr / 2``).
    top_db : float or None, default=80.0
        Dynamic range kept below each clip's loudest mel bin.
    pooling : tuple of str, default=("mean", "max")
        Statistics over frames, concatenated: ``"mean"``, ``"max"``, ``"std"``,
        ``"min"``.
    batch_size : int or None, default=None
        Clips per task handed to a worker (``None``: 16).
    sample_rate : int or None, default=None
        Rate of waveform inputs (required when ``X`` holds arrays, not paths).
    n_jobs : int or None, default=None
        Parallel workers (joblib; any joblib backend).
    cache_dir : str, Path or None, default=None
        Folder of an on-disk cache keyed by audio content and these settings: a
        renamed file hits, a changed file misses.
    on_error : {"raise", "skip"}, default="raise"
        What a bad input (missing, empty, silent, corrupt, not audio) does: raise a
        ``ValueError`` naming it, or be left out with a warning (see ``skipped_``,
        ``kept_indices_``).
    progress : bool, default=False
        Show a progress bar.
    silence_threshold : float, default=1e-4
        A clip whose peak absolute amplitude is at or below this is rejected as silent.

    Attributes
    ----------
    n_features_out_ : int
        Set by ``fit``: ``len(pooling) * (n_mels + n_mfcc)``.
    kept_indices_ : ndarray of int
        Set by ``transform``: which inputs the returned rows are.
    skipped_ : list of (str, str)
        Set by ``transform``: ``(input, reason)`` of the inputs left out.

    See Also
    --------
    MusicnnEmbedder : pretrained musicnn features (953-d), slower, more musical.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import LogMelEmbedder
    >>> y = 0.5 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)
    >>> emb = LogMelEmbedder(sample_rate=22050)
    >>> X = emb.fit_transform([y, 0.5 * y])
    >>> X.shape, X.dtype, emb.n_features_out_
    ((2, 296), dtype('float32'), 296)
    """

    name = "logmel"

    def __init__(
        self,
        sr: int = 22050,
        n_fft: int = 2048,
        hop_length: int = 512,
        n_mels: int = 128,
        n_mfcc: int = 20,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float | None = 80.0,
        pooling: Sequence[str] = ("mean", "max"),
        batch_size: int | None = None,
        sample_rate: int | None = None,
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        on_error: str = "raise",
        progress: bool = False,
        silence_threshold: float = 1e-4,
    ) -> None:
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.n_mfcc = n_mfcc
        self.fmin = fmin
        self.fmax = fmax
        self.top_db = top_db
        self.pooling = pooling
        self.batch_size = batch_size
        self.sample_rate = sample_rate
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.on_error = on_error
        self.progress = progress
        self.silence_threshold = silence_threshold

    @property
    def target_sr(self) -> int:
        return int(self.sr)

    def _check_params(self) -> None:
        for name in ("sr", "n_fft", "hop_length", "n_mels"):
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and value >= 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not (isinstance(self.n_mfcc, int | np.integer) and 0 <= self.n_mfcc <= self.n_mels):
            raise ValueError(f"n_mfcc must be an int in [0, n_mels], got {self.n_mfcc!r}.")
        fmax = self.sr / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= self.sr / 2:
            raise ValueError(
                f"Need 0 <= fmin < fmax <= sr / 2; got fmin={self.fmin}, fmax={self.fmax}, "
                f"sr={self.sr}."
            )
        if self.top_db is not None and not self.top_db > 0:
            raise ValueError(f"top_db must be None or > 0, got {self.top_db!r}.")

    def _frame_feature_names(self) -> list[str]:
        return [f"logmel{i}" for i in range(self.n_mels)] + [
            f"mfcc{i}" for i in range(self.n_mfcc)
        ]

    def _settings(self) -> dict:
        return {
            "sr": int(self.sr),
            "n_fft": int(self.n_fft),
            "hop_length": int(self.hop_length),
            "n_mels": int(self.n_mels),
            "n_mfcc": int(self.n_mfcc),
            "fmin": float(self.fmin),
            "fmax": None if self.fmax is None else float(self.fmax),
            "top_db": None if self.top_db is None else float(self.top_db),
            "pooling": list(self._pooling()),
        }

    def _embed_batch(self, waveforms: list[np.ndarray], sr: int) -> list[np.ndarray]:
        pooling = self._pooling()
        return [
            pool_frames(
                logmel_frames(
                    y,
                    sr=sr,
                    n_fft=self.n_fft,
                    hop_length=self.hop_length,
                    n_mels=self.n_mels,
                    n_mfcc=self.n_mfcc,
                    fmin=self.fmin,
                    fmax=self.fmax,
                    top_db=self.top_db,
                ),
                pooling,
            )
            for y in waveforms
        ]
