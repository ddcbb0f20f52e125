"""Log-mel and MFCC statistics: the fast, dependency-light default embedder."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._base import AudioEmbedder, pool_frames
from ._logmel_reference import reference_logmel_frames

__all__ = ["LogMelEmbedder", "logmel_frames"]


# Mel bands per dense block of the banded mel projection: each block multiplies only
# the FFT bins its bands cover (a mel filterbank is ~2% non-zero at the defaults).
_BANDS_PER_BLOCK = 8


def _mel_blocks(
    mel: np.ndarray, bands_per_block: int = _BANDS_PER_BLOCK, dtype: str = "float32"
) -> list[tuple]:
    """A mel filterbank as dense blocks over the spectrum coordinates its bands cover.

    The coordinates are those of :func:`_squared_spectrum`: the squared real and
    imaginary parts of each bin, interleaved, so each weight appears twice and the
    projection adds the two squares as it sums over bins.

    Parameters
    ----------
    mel : ndarray of shape (n_mels, n_freq)
        Filterbank, e.g. from ``librosa.filters.mel``.
    bands_per_block : int, default=8
        Consecutive bands per block.
    dtype : str, default="float32"
        Of the weights.

    Returns
    -------
    list of (band_start, band_stop, coord_start, coord_stop, torch.Tensor)
        Blocks whose bands have no non-zero weight are left out (their output is 0).
    """
    import torch

    blocks = []
    for b0 in range(0, mel.shape[0], bands_per_block):
        rows = mel[b0 : b0 + bands_per_block]
        cols = np.flatnonzero(rows.any(axis=0))
        if cols.size:
            w = np.repeat(rows[:, cols[0] : cols[-1] + 1], 2, axis=1).astype(dtype)
            blocks.append((b0, b0 + len(rows), 2 * cols[0], 2 * cols[-1] + 2, torch.from_numpy(w)))
    return blocks


def _apply_mel(blocks: list[tuple], squares: Any, n_mels: int) -> Any:
    """``(n_frames, 2 * n_freq)`` squared spectrum -> ``(n_mels, n_frames)`` mel power."""
    import torch

    out = squares.new_zeros(n_mels, squares.shape[0])
    for b0, b1, c0, c1, w in blocks:
        torch.mm(w, squares[:, c0:c1].T, out=out[b0:b1])
    return out


def _squared_spectrum(
    y: np.ndarray, n_fft: int, hop_length: int, window: Any, scratch: dict | None = None
) -> Any:
    """``(n_frames, 2 * (n_fft // 2 + 1))`` squared real and imaginary STFT parts.

    The frames of ``torch.stft(..., center=True, pad_mode="constant")``, in the
    precision of ``window`` (float32 or float64). The spectrum stays frame-major and
    interleaved, as the FFT writes it: squaring it is then one contiguous pass, and
    the mel projection (:func:`_mel_blocks`) adds the two parts. With ``scratch`` (a
    dict kept across the clips of a batch), the windowed frames reuse one buffer:
    fresh multi-megabyte tensors cost page faults at every clip.
    """
    import torch

    dtype = np.float64 if window.dtype == torch.float64 else np.float32
    yt = torch.from_numpy(np.ascontiguousarray(y, dtype=dtype))
    frames = torch.nn.functional.pad(yt, (n_fft // 2, n_fft // 2)).unfold(0, n_fft, hop_length)
    out = None
    if scratch is not None:
        buffer = scratch.get(window.dtype)
        if buffer is None or len(buffer) < frames.numel():
            buffer = scratch[window.dtype] = window.new_empty(frames.numel())
        out = buffer[: frames.numel()].view(frames.shape)
    spec = torch.view_as_real(torch.fft.rfft(torch.mul(frames, window, out=out)))
    return spec.square_().view(len(spec), -1)


@functools.lru_cache(maxsize=8)
def _filters(
    sr: int,
    n_fft: int,
    n_mels: int,
    fmin: float,
    fmax: float | None,
    n_mfcc: int,
    dtype: str = "float32",
):
    import librosa
    import scipy.fft
    import torch

    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    # librosa.feature.mfcc applies an orthonormal DCT-II over the mel axis.
    dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    # librosa's "hann" window is the periodic one (fftbins=True).
    window = torch.hann_window(n_fft, periodic=True, dtype=getattr(torch, dtype))
    return (
        _mel_blocks(mel, dtype=dtype),
        torch.from_numpy(np.ascontiguousarray(dct, dtype=dtype)),
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
    padding, Hann window, Slaney mel filters), computed with one real FFT per frame
    and a banded mel projection (each group of bands multiplies only the FFT bins it
    covers), because that is several times faster.

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

    with torch.inference_mode():
        bands = _logmel_bands(y, sr, n_fft, hop_length, n_mels, n_mfcc, fmin, fmax, top_db)
        return bands.T.contiguous().numpy()


def _logmel_bands(
    y: np.ndarray,
    sr: int,
    n_fft: int,
    hop_length: int,
    n_mels: int,
    n_mfcc: int,
    fmin: float,
    fmax: float | None,
    top_db: float | None,
    scratch: dict | None = None,
) -> Any:
    """The features of :func:`logmel_frames` band-major, ``(n_mels + n_mfcc, n_frames)``.

    A torch tensor; call under ``torch.inference_mode()``. Pooling reads its transpose
    in place (frames are then columns of a Fortran-ordered array), sparing a copy.
    ``scratch``: see :func:`_squared_spectrum`.
    """
    import torch

    blocks, dct, window = _filters(sr, n_fft, n_mels, float(fmin), fmax, n_mfcc)
    squares = _squared_spectrum(y, n_fft, hop_length, window, scratch)
    db = _apply_mel(blocks, squares, n_mels).clamp_(min=1e-10).log10_().mul_(10.0)
    if top_db is not None:
        db = db.clamp_(min=(db.max() - top_db).item())  # the floor in float32
    return torch.cat([db, dct @ db]) if n_mfcc else db


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
    # True: the direct computation of _logmel_reference and the file loading of
    # _loading_reference (tests and benchmarks); the numbers agree to float32 rounding.
    _reference = False

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
        import torch

        pooling = self._pooling()
        args = (self.n_fft, self.hop_length, self.n_mels, self.n_mfcc)
        args += (self.fmin, self.fmax, self.top_db)
        if self._reference:
            return [pool_frames(reference_logmel_frames(y, sr, *args), pooling) for y in waveforms]
        scratch: dict = {}  # buffers reused by the batch's clips
        with torch.inference_mode():
            # Band-major features, pooled through a transposed view: no copy.
            return [
                pool_frames(_logmel_bands(y, sr, *args, scratch).numpy().T, pooling)
                for y in waveforms
            ]
