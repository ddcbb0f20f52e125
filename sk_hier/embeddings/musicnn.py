"""The pretrained musicnn networks (Pons & Serra, 2019) in PyTorch, arranged for speed.

The weights are read at run time from the TF1 checkpoints inside the installed
``musicnn`` wheel: nothing is downloaded and TensorFlow is not needed. The
layer-for-layer port lives in :mod:`sk_hier.embeddings._musicnn_reference`; the network
here computes the same function, to float32 rounding, with less arithmetic:

* The timbral front-end filters (7 frames x 38 or 67 of the 96 mel bands, one input
  channel) are 81% of the port's multiply-adds. Along the mel axis they are
  correlations, diagonal in a real DFT of that axis: the 7 time taps are summed in the
  DFT domain, and the inverse DFT goes back to just the mel positions the max-pooling
  reads, taken a pair of positions at a time (an even and an odd part, half the work
  of a full inverse). That is about 4x fewer multiply-adds, all in dense matrix products,
  on blocks of filters and frames that stay in cache.
* The temporal filters (128, 64 and 32 frames) are matrix products of the filters with
  windows of the input read in place.
* Batch norms become affine maps at load time (the one before the dense layer is
  folded into its weights); the front-end takes its max over frequency before its relu
  and batch norm, an exact rewrite (see ``_front_block`` in the reference module).

The layers are in :mod:`sk_hier.embeddings._musicnn_layers`. torch is imported inside
the functions that use it, so importing this module is light.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

from ..embedders import EMBEDDERS
from . import _musicnn_layers as layers
from . import _musicnn_reference as ref
from ._base import AudioEmbedder, pool_frames
from ._weights import check_model as _check_model
from ._weights import checkpoint_prefix, musicnn_state_dict, packaged_weights_path

__all__ = [
    "MUSICNN_MODELS",
    "MusicnnEmbedder",
    "checkpoint_prefix",
    "load_musicnn",
    "musicnn_patches",
    "musicnn_state_dict",
    "musicnn_tags",
]

MUSICNN_MODELS = EMBEDDERS["musicnn"].models
MUSICNN_SR = ref.SR
_FEATURE_SIZES = {"penultimate": 200, "mean_pool": 753, "max_pool": 753, "tags": 50}

_modules: dict[tuple[str, bool], Any] = {}
_lock = threading.RLock()


def musicnn_tags(model: str = "MTT_musicnn") -> list[str]:
    """The 50 tag names of a musicnn model, in output order.

    Examples
    --------
    >>> from sk_hier.embeddings import musicnn_tags
    >>> musicnn_tags("MTT_musicnn")[:3]
    ['guitar', 'classical', 'slow']
    """
    _check_model(model)
    from musicnn import configuration  # plain constants; imports nothing heavy

    return list(configuration.MTT_LABELS if model.startswith("MTT") else configuration.MSD_LABELS)


# -- the fast network -------------------------------------------------------------------------
def _build_fast_module() -> type:
    import torch

    class _FastMusicnn(torch.nn.Module):
        """musicnn for inference, computed with less arithmetic (see the module notes)."""

        def __init__(self, weights: dict[str, np.ndarray]):
            super().__init__()
            for name, value in weights.items():
                self.register_buffer(name, torch.from_numpy(value.copy()))
            self.time_chunk = layers._TIME_CHUNK

        def forward(self, x) -> dict:
            if x.requires_grad and torch.is_grad_enabled():
                raise RuntimeError(
                    "The musicnn network of load_musicnn() is for inference (it reuses "
                    "buffers in place); give it inputs that do not require grad."
                )
            x = x * self.input_affine[0] + self.input_affine[1]  # bn_input
            timbral, temporal = layers.timbral_front(self, x), layers.temporal_front(self, x)
            return layers.mid_and_back(self, torch.cat([timbral, *temporal], dim=1))

    return _FastMusicnn


def load_musicnn(name: str = "MTT_musicnn") -> torch.nn.Module:
    """The pretrained musicnn network as a ``torch.nn.Module`` in eval mode.

    Parameters
    ----------
    name : {"MTT_musicnn", "MSD_musicnn"}, default="MTT_musicnn"
        Trained on MagnaTagATune or on the Million Song Dataset.

    Returns
    -------
    torch.nn.Module
        ``forward(x)`` takes ``(batch, 187, 96)`` float32 log-compressed mel patches
        (see :func:`musicnn_patches`) and returns a dict: ``"tags"`` (batch, 50)
        sigmoid probabilities (names: :func:`musicnn_tags`), ``"penultimate"``
        (batch, 200), ``"mean_pool"`` and ``"max_pool"`` (batch, 753).

    Raises
    ------
    ImportError
        When the ``musicnn`` package (the source of the weights) is not installed.

    Notes
    -----
    The module is for inference only: its weights are buffers derived from the
    checkpoint (filters in the DFT domain, batch norms folded into affine maps), it
    has no trainable parameters, and inputs that require grad are refused. Its outputs
    equal those of the layer-for-layer port to float32 rounding.

    Examples
    --------
    >>> import torch
    >>> from sk_hier.embeddings import load_musicnn
    >>> net = load_musicnn("MTT_musicnn")
    >>> with torch.no_grad():
    ...     out = net(torch.zeros(2, 187, 96))
    >>> {k: tuple(v.shape) for k, v in out.items()}
    {'tags': (2, 50), 'penultimate': (2, 200), 'mean_pool': (2, 753), 'max_pool': (2, 753)}
    """
    net = _build_fast_module()(layers.fast_weights(musicnn_state_dict(name)))
    return net.eval()


def _shared_module(name: str, reference: bool = False):
    # One network per model and process: an embedder pickled to a worker loads it once.
    with _lock:
        if (name, reference) not in _modules:
            sd = musicnn_state_dict(name)
            _modules[name, reference] = ref.load_reference(sd) if reference else load_musicnn(name)
        return _modules[name, reference]


# -- preprocessing --------------------------------------------------------------------------
def musicnn_patches(
    audio: np.ndarray,
    input_length: float = 3.0,
    input_overlap: float | None = None,
) -> np.ndarray:
    """Log-compressed mel patches of 16 kHz mono audio, as musicnn's extractor makes them.

    Parameters
    ----------
    audio : ndarray of shape (n_samples,)
        Mono audio at 16 kHz.
    input_length : float, default=3.0
        Patch length in seconds (the models were trained on 3 s: 187 frames).
    input_overlap : float or None, default=None
        Hop between patch starts in seconds, with musicnn's meaning: ``None`` gives
        back-to-back patches. A clip shorter than one patch is repeated to fill it
        (musicnn's training-time ``repeat-pad``; its extractor fails on such clips).

    Returns
    -------
    ndarray of shape (n_patches, n_frames, 96), float32
        The tail shorter than a patch is dropped, as in musicnn.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import musicnn_patches
    >>> musicnn_patches(np.random.default_rng(0).normal(0, 0.1, 10 * 16000)).shape
    (3, 187, 96)
    """
    return _patches([audio], input_length, input_overlap)[0]


def _patches(
    waveforms: list[np.ndarray],
    input_length: float,
    input_overlap: float | None,
    reference: bool = False,
) -> list[np.ndarray]:
    """Patches of each clip; the mel power as librosa's defaults, computed as in LogMel.

    In float64, as librosa computes its STFT: the float16 rounding that follows then
    lands on the same side as the reference's for all but ~1e-4 of the values (in
    float32, for ~3e-3 of them).
    """
    import torch

    from .logmel import _apply_mel, _filters, _squared_spectrum

    if reference:
        return [ref.reference_patches(w, input_length, input_overlap) for w in waveforms]
    n_frames, hop = ref.patch_geometry(input_length, input_overlap)
    blocks, _, window = _filters(ref.SR, ref.N_FFT, ref.N_MELS, 0.0, None, 0, "float64")
    out, scratch = [], {}
    with torch.inference_mode():
        for w in waveforms:
            squares = _squared_spectrum(w, ref.N_FFT, ref.HOP, window, scratch)
            mel = _apply_mel(blocks, squares, ref.N_MELS).T.numpy().astype(np.float32)
            out.append(ref.cut_patches(ref.compress(mel), n_frames, hop))
    return out


# -- the transformer -------------------------------------------------------------------------
class MusicnnEmbedder(AudioEmbedder):
    """Embeddings from the pretrained musicnn networks (PyTorch port, no TensorFlow).

    Each clip is resampled to 16 kHz and cut into back-to-back 3-s patches of
    log-compressed mel spectrogram (musicnn's own preprocessing); the network runs on
    every patch and the chosen ``features`` of each patch are concatenated, then
    pooled over the patches. The defaults, penultimate layer (200) + ``mean_pool``
    (753) averaged over patches, give the 953-d embedding of the reference data.

    Parameters
    ----------
    model : {"MTT_musicnn", "MSD_musicnn"} or tuple of them, default="MTT_musicnn"
        Pretrained weights (MagnaTagATune or Million Song Dataset), read from the
        ``musicnn`` package (``pip install --no-deps musicnn==0.1.0``). A tuple of
        distinct names runs each network on the same patches and concatenates their
        per-patch features, in the order given, before pooling (the registered
        ``"musicnn_pair"`` preset); each network adds its own embedding time.
    features : tuple of str, default=("penultimate", "mean_pool")
        Per-patch outputs to concatenate, from ``"penultimate"`` (200),
        ``"mean_pool"`` (753), ``"max_pool"`` (753) and ``"tags"`` (50).
    pooling : tuple of str, default=("mean",)
        Statistics over a clip's patches, concatenated: ``"mean"``, ``"max"``,
        ``"std"``, ``"min"``.
    input_length : float, default=3.0
        Patch length in seconds.
    input_overlap : float or None, default=None
        Hop between patch starts in seconds (musicnn's meaning); ``None``: no overlap.
    batch_size : int, default=32
        Patches per forward pass; also how many clips one worker takes at a time.
    sample_rate : int or None, default=None
        Rate of waveform inputs (required when ``X`` holds arrays, not paths).
    n_jobs : int or None, default=None
        Parallel workers (joblib); each holds its own copy of the network.
    cache_dir : str, Path or None, default=None
        Folder of an on-disk cache keyed by audio content and these settings.
    on_error : {"raise", "skip"}, default="raise"
        What a bad input (missing, empty, silent, corrupt, not audio) does: raise a
        ``ValueError`` naming it, or be left out (see ``skipped_``, ``kept_indices_``).
    progress : bool, default=False
        Show a progress bar.
    silence_threshold : float, default=1e-4
        A clip whose peak absolute amplitude is at or below this is rejected as silent.

    Attributes
    ----------
    n_features_out_ : int
        Set by ``fit``: ``len(pooling) * n_models * sum(feature sizes)``. With several
        models, feature names start with the model, e.g. ``"MSD_musicnn.tags0_mean"``.
    kept_indices_, skipped_
        Set by ``transform``; see :class:`AudioEmbedder`.

    Notes
    -----
    The torch thread count is left as the caller set it (``torch.set_num_threads``).

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import MusicnnEmbedder
    >>> y = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000 * 3) / 16000)
    >>> MusicnnEmbedder(sample_rate=16000).fit_transform([y]).shape
    (1, 953)

    Both networks, every layer:

    >>> pair = MusicnnEmbedder(
    ...     model=("MTT_musicnn", "MSD_musicnn"),
    ...     features=("penultimate", "mean_pool", "max_pool", "tags"),
    ...     sample_rate=16000,
    ... )
    >>> pair.fit_transform([y]).shape
    (1, 3512)
    >>> str(pair.get_feature_names_out()[-1])
    'MSD_musicnn.tags49_mean'
    """

    name = "musicnn"
    target_sr = MUSICNN_SR
    _default_clips_per_task = 16
    # True: the layer-for-layer port, librosa's mel and the file loading of
    # _loading_reference (the reference for tests and benchmarks); the numbers agree to
    # float32 rounding.
    _reference = False

    def __init__(
        self,
        model: str | Sequence[str] = "MTT_musicnn",
        features: Sequence[str] = ("penultimate", "mean_pool"),
        pooling: Sequence[str] = ("mean",),
        input_length: float = 3.0,
        input_overlap: float | None = None,
        batch_size: int = 32,
        sample_rate: int | None = None,
        n_jobs: int | None = None,
        cache_dir: str | os.PathLike | None = None,
        on_error: str = "raise",
        progress: bool = False,
        silence_threshold: float = 1e-4,
    ) -> None:
        self.model = model
        self.features = features
        self.pooling = pooling
        self.input_length = input_length
        self.input_overlap = input_overlap
        self.batch_size = batch_size
        self.sample_rate = sample_rate
        self.n_jobs = n_jobs
        self.cache_dir = cache_dir
        self.on_error = on_error
        self.progress = progress
        self.silence_threshold = silence_threshold

    def _features(self) -> tuple[str, ...]:
        feats = (self.features,) if isinstance(self.features, str) else tuple(self.features)
        bad = [f for f in feats if f not in _FEATURE_SIZES]
        if not feats or bad or len(set(feats)) != len(feats):
            raise ValueError(
                f"features must be distinct names from {tuple(_FEATURE_SIZES)}, got {feats!r}."
            )
        return feats

    def _models(self) -> tuple[str, ...]:
        """The model names, one or several (``model`` is kept as given, per sklearn)."""
        if isinstance(self.model, str):
            _check_model(self.model)
            return (self.model,)
        try:
            models = tuple(self.model)
        except TypeError:
            models = None
        if (
            not models
            or not all(isinstance(m, str) and m in MUSICNN_MODELS for m in models)
            or len(set(models)) != len(models)
        ):
            raise ValueError(
                f"model must be one of {MUSICNN_MODELS} or a tuple of distinct names "
                f"from them, got {self.model!r}."
            )
        return models

    def _check_params(self) -> None:
        self._models()
        self._features()
        if not (isinstance(self.input_length, int | float) and self.input_length > 0):
            raise ValueError(f"input_length must be > 0 seconds, got {self.input_length!r}.")
        if self.input_overlap is not None and not (
            isinstance(self.input_overlap, int | float) and self.input_overlap >= 0
        ):
            raise ValueError(
                f"input_overlap must be None or >= 0 seconds, got {self.input_overlap!r}."
            )
        for model in self._models():
            if packaged_weights_path(model) is None:
                checkpoint_prefix(model)  # the ImportError with the install line, early

    def _frame_feature_names(self) -> list[str]:
        names = [f"{f}{i}" for f in self._features() for i in range(_FEATURE_SIZES[f])]
        models = self._models()
        if len(models) == 1:
            return names
        return [f"{m}.{name}" for m in models for name in names]

    def _settings(self) -> dict:
        models = self._models()
        return {
            # One model is recorded as before, so the cache entries of a name and of a
            # 1-tuple of it are shared; several become a (JSON) list.
            "model": models[0] if len(models) == 1 else list(models),
            "features": list(self._features()),
            "pooling": list(self._pooling()),
            "input_length": float(self.input_length),
            "input_overlap": self.input_overlap,
            "sample_rate": MUSICNN_SR,
        }

    def _clips_per_task(self) -> int:
        # About 3 patches per 10-s clip: a batch of patches is a few clips.
        return max(1, int(self.batch_size) // 2)

    def _embed_batch(self, waveforms: list[np.ndarray], sr: int) -> list[np.ndarray]:
        import torch

        nets = [_shared_module(m, self._reference) for m in self._models()]
        patches = _patches(waveforms, self.input_length, self.input_overlap, self._reference)
        allp = np.concatenate(patches)
        feats = self._features()
        outs = []
        with torch.inference_mode():
            for s in range(0, len(allp), int(self.batch_size)):
                batch = torch.from_numpy(allp[s : s + int(self.batch_size)])
                res = [net(batch) for net in nets]  # the same patches through each network
                outs.append(torch.cat([r[f] for r in res for f in feats], dim=1).numpy())
        per_patch = np.concatenate(outs)
        bounds = np.cumsum([0] + [len(p) for p in patches])
        pooling = self._pooling()
        return [pool_frames(per_patch[a:b], pooling) for a, b in itertools.pairwise(bounds)]
