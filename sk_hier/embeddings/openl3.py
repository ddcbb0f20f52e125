"""An adapter for OpenL3 embeddings (Cramer et al., 2019), used when ``openl3`` is installed.

The framing follows ``openl3.core._preprocess_audio_batch`` (openl3 0.4): 1-s windows
at 48 kHz, ``hop_size`` apart, the first sample at the centre of the first window when
``center=True``, the end zero-padded so every sample is seen. The windows go to the
model (the Keras model of ``openl3.models.load_audio_embedding_model``, whose kapre
front-end takes raw audio) in batches of ``batch_size``, and the window embeddings are
pooled over the clip.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._base import AudioEmbedder, pool_frames

__all__ = ["OpenL3Embedder", "openl3_frames"]

OPENL3_SR = 48000
_INSTALL_HINT = "pip install openl3"
_models: dict[tuple, Any] = {}
_lock = threading.Lock()


def openl3_frames(audio: np.ndarray, hop_size: float = 0.1, center: bool = True) -> np.ndarray:
    """1-s analysis windows of 48 kHz mono audio, as openl3 frames them.

    Parameters
    ----------
    audio : ndarray of shape (n_samples,)
        Mono audio at 48 kHz.
    hop_size : float, default=0.1
        Seconds between window starts.
    center : bool, default=True
        Pad half a window in front, so the first window is centred on the first sample.

    Returns
    -------
    ndarray of shape (n_windows, 1, 48000), float32

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import openl3_frames
    >>> openl3_frames(np.ones(48000), hop_size=0.5).shape
    (2, 1, 48000)
    """
    audio = np.asarray(audio, dtype=np.float32)
    frame_len = OPENL3_SR
    hop_len = int(hop_size * OPENL3_SR)
    if hop_len < 1:
        raise ValueError(f"hop_size={hop_size} s is shorter than one sample at 48 kHz.")
    if center:
        audio = np.pad(audio, (frame_len // 2, 0))
    n = audio.size
    if n < frame_len:
        pad = frame_len - n
    else:
        pad = int(np.ceil((n - frame_len) / hop_len)) * hop_len - (n - frame_len)
    if pad > 0:
        audio = np.pad(audio, (0, pad))
    n_frames = 1 + (audio.size - frame_len) // hop_len
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame_len)[::hop_len][:n_frames]
    return np.ascontiguousarray(frames)[:, None, :]


def _load_openl3(input_repr: str, content_type: str, embedding_size: int):
    key = (input_repr, content_type, embedding_size)
    with _lock:
        if key not in _models:
            try:
                import openl3
            except ImportError:
                raise ImportError(
                    "OpenL3Embedder needs the 'openl3' package (and TensorFlow), which is "
                    f"not installed. Install it with: {_INSTALL_HINT}. Or use "
                    "LogMelEmbedder / MusicnnEmbedder, which need neither."
                ) from None
            _models[key] = openl3.models.load_audio_embedding_model(
                input_repr, content_type, embedding_size
            )
        return _models[key]


class OpenL3Embedder(AudioEmbedder):
    """OpenL3 audio embeddings, pooled over 1-s windows (needs ``pip install openl3``).

    Parameters
    ----------
    input_repr : {"mel256", "mel128", "linear"}, default="mel256"
        OpenL3's input representation.
    content_type : {"music", "env"}, default="music"
        Which OpenL3 training data the model comes from.
    embedding_size : {512, 6144}, default=512
        Window embedding size.
    hop_size : float, default=0.1
        Seconds between windows.
    center : bool, default=True
        Centre the first window on the first sample (openl3's default).
    pooling : tuple of str, default=("mean", "max")
        Statistics over a clip's windows, concatenated.
    batch_size : int, default=32
        Windows per model call.
    model : object or None, default=None
        A loaded model: an object with a Keras-style ``predict(x, verbose=0)`` or a
        callable, mapping ``(n, 1, 48000)`` windows to ``(n, embedding_size)``.
        ``None`` loads OpenL3's own model for the settings above.
    sample_rate, n_jobs, cache_dir, on_error, progress, silence_threshold
        As in :class:`LogMelEmbedder`.

    Attributes
    ----------
    n_features_out_ : int
        Set by ``fit``: ``len(pooling) * embedding_size``.
    kept_indices_, skipped_
        Set by ``transform``: which inputs the rows are; what was left out and why.

    Examples
    --------
    A stand-in model shows the mechanics without OpenL3 installed:

    >>> import numpy as np
    >>> from sk_hier.embeddings import OpenL3Embedder
    >>> def model(x):
    ...     return np.repeat(x.mean(axis=2), 512, axis=1)
    >>> y = 0.5 * np.sin(np.arange(48000) / 10)
    >>> OpenL3Embedder(model=model, sample_rate=48000).fit_transform([y]).shape
    (1, 1024)
    """

    name = "openl3"
    target_sr = OPENL3_SR
    _default_clips_per_task = 8

    def __init__(
        self,
        input_repr: str = "mel256",
        content_type: str = "music",
        embedding_size: int = 512,
        hop_size: float = 0.1,
        center: bool = True,
        pooling: Sequence[str] = ("mean", "max"),
        batch_size: int = 32,
        model: Any = None,
        sample_rate: int | None = None,
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        on_error: str = "raise",
        progress: bool = False,
        silence_threshold: float = 1e-4,
    ) -> None:
        self.input_repr = input_repr
        self.content_type = content_type
        self.embedding_size = embedding_size
        self.hop_size = hop_size
        self.center = center
        self.pooling = pooling
        self.batch_size = batch_size
        self.model = model
        self.sample_rate = sample_rate
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.on_error = on_error
        self.progress = progress
        self.silence_threshold = silence_threshold

    def _check_params(self) -> None:
        if self.input_repr not in ("mel256", "mel128", "linear"):
            raise ValueError(
                f"input_repr must be 'mel256', 'mel128' or 'linear', got {self.input_repr!r}."
            )
        if self.content_type not in ("music", "env"):
            raise ValueError(f"content_type must be 'music' or 'env', got {self.content_type!r}.")
        if self.embedding_size not in (512, 6144):
            raise ValueError(f"embedding_size must be 512 or 6144, got {self.embedding_size!r}.")
        if not (isinstance(self.hop_size, int | float) and self.hop_size * OPENL3_SR >= 1):
            raise ValueError(
                f"hop_size must be a positive number of seconds, got {self.hop_size!r}."
            )
        if self.model is None:
            _load_openl3(self.input_repr, self.content_type, self.embedding_size)

    def _frame_feature_names(self) -> list[str]:
        return [f"openl3_{i}" for i in range(self.embedding_size)]

    def _settings(self) -> dict:
        model = self.model
        return {
            "input_repr": self.input_repr,
            "content_type": self.content_type,
            "embedding_size": int(self.embedding_size),
            "hop_size": float(self.hop_size),
            "center": bool(self.center),
            "pooling": list(self._pooling()),
            # A user-given model is not OpenL3's: keep its results apart in the cache.
            "model": None
            if model is None
            else f"{type(model).__module__}.{type(model).__qualname__}",
        }

    def _predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        out = model.predict(x, verbose=0) if hasattr(model, "predict") else model(x)
        out = np.asarray(out, dtype=np.float32)
        if out.shape != (len(x), self.embedding_size):
            raise ValueError(
                f"The OpenL3 model returned shape {out.shape} for {len(x)} windows; "
                f"expected ({len(x)}, {self.embedding_size}) (embedding_size)."
            )
        return out

    def _embed_batch(self, waveforms: list[np.ndarray], sr: int) -> list[np.ndarray]:
        model = self.model
        if model is None:
            model = _load_openl3(self.input_repr, self.content_type, self.embedding_size)
        frames = [openl3_frames(w, self.hop_size, self.center) for w in waveforms]
        windows = np.concatenate(frames)
        step = int(self.batch_size)
        per_window = np.concatenate(
            [self._predict(model, windows[s : s + step]) for s in range(0, len(windows), step)]
        )
        bounds = np.cumsum([0] + [len(f) for f in frames])
        pooling = self._pooling()
        return [pool_frames(per_window[a:b], pooling) for a, b in itertools.pairwise(bounds)]
