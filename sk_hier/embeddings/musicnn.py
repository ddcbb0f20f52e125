"""The pretrained musicnn networks (Pons & Serra, 2019) in PyTorch.

The architecture follows ``musicnn/models.py`` of musicnn 0.1.0 (ISC license) layer
for layer; the weights are read at run time from the TF1 checkpoints inside the
installed ``musicnn`` wheel, so nothing is downloaded and TensorFlow is not needed.

Layout notes for the port. TensorFlow works in NHWC with H = time (187 frames) and
W = mel bands (96); here the input is NCHW with the same H and W. The mid-end
convolutions span all features at once, so they are 1-D convolutions over time on
``(batch, features, time)``. TF's ``padding="same"`` puts the odd extra pad row at
the end (bottom), which ``F.pad`` reproduces; PyTorch's symmetric ``padding=`` would
shift the temporal filters by one frame.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._base import AudioEmbedder, pool_frames

__all__ = [
    "MUSICNN_MODELS",
    "MusicnnEmbedder",
    "checkpoint_prefix",
    "load_musicnn",
    "musicnn_patches",
    "musicnn_state_dict",
    "musicnn_tags",
]

MUSICNN_MODELS = ("MTT_musicnn", "MSD_musicnn")
MUSICNN_SR = 16000
_N_FFT = 512
_HOP = 256
_N_MELS = 96
_N_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, as musicnn's extractor computes it
_BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default
_INSTALL_HINT = "pip install --no-deps musicnn==0.1.0"
_FEATURE_SIZES = {"penultimate": 200, "mean_pool": 753, "max_pool": 753, "tags": 50}

_state_dicts: dict[str, dict] = {}
_modules: dict[str, Any] = {}
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


def _check_model(model: str) -> None:
    if model not in MUSICNN_MODELS:
        raise ValueError(f"Unknown musicnn model {model!r}; choose one of {MUSICNN_MODELS}.")


def checkpoint_prefix(model: str = "MTT_musicnn") -> str:
    """The checkpoint prefix of a pretrained musicnn model inside the installed wheel.

    Raises
    ------
    ImportError
        When the ``musicnn`` package is not installed.

    Examples
    --------
    >>> from sk_hier.embeddings.musicnn import checkpoint_prefix
    >>> checkpoint_prefix("MTT_musicnn").endswith(os.path.join("MTT_musicnn", ""))
    True
    """
    _check_model(model)
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The pretrained musicnn weights come from the 'musicnn' package, which is not "
            f"installed. Install it with: {_INSTALL_HINT} (--no-deps: its metadata pins "
            "an old numpy, and only its checkpoint files are used)."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / model
    if not (folder / ".index").is_file():
        raise ImportError(
            f"The musicnn package has no checkpoint for {model} (looked in {folder}); "
            f"reinstall it with: {_INSTALL_HINT}"
        )
    # The files are "<model>/.index" and "<model>/.data-00000-of-00001": an empty
    # basename, so the prefix ends with the separator.
    return os.path.join(str(folder), "")


# -- the network -------------------------------------------------------------------------
def _torch():
    import torch

    return torch


def _build_module():
    torch = _torch()
    nn = torch.nn
    F = torch.nn.functional

    def bn(n: int) -> nn.Module:
        return nn.BatchNorm2d(n, eps=_BN_EPS)

    class _Musicnn(nn.Module):
        """musicnn: musically motivated front-end, dense mid-end, pooling back-end."""

        def __init__(self, n_classes: int = 50, n_mid: int = 64, n_dense: int = 200):
            super().__init__()
            self.bn_input = bn(1)
            # Front-end, timbral: filters spanning 38 and 67 of the 96 mel bands.
            self.f74 = nn.Conv2d(1, 204, (7, 38))
            self.bn_f74 = bn(204)
            self.f77 = nn.Conv2d(1, 204, (7, 67))
            self.bn_f77 = bn(204)
            # Front-end, temporal: long filters over time, one band wide.
            self.s1 = nn.Conv2d(1, 51, (128, 1))
            self.bn_s1 = bn(51)
            self.s2 = nn.Conv2d(1, 51, (64, 1))
            self.bn_s2 = bn(51)
            self.s3 = nn.Conv2d(1, 51, (32, 1))
            self.bn_s3 = bn(51)
            # Mid-end: 1-D convolutions over time across all features.
            self.mid1 = nn.Conv1d(561, n_mid, 7, padding=3)
            self.bn_mid1 = nn.BatchNorm1d(n_mid, eps=_BN_EPS)
            self.mid2 = nn.Conv1d(n_mid, n_mid, 7, padding=3)
            self.bn_mid2 = nn.BatchNorm1d(n_mid, eps=_BN_EPS)
            self.mid3 = nn.Conv1d(n_mid, n_mid, 7, padding=3)
            self.bn_mid3 = nn.BatchNorm1d(n_mid, eps=_BN_EPS)
            n_pool = 561 + 3 * n_mid
            self.bn_pool = nn.BatchNorm1d(2 * n_pool, eps=_BN_EPS)
            self.dense = nn.Linear(2 * n_pool, n_dense)
            self.bn_dense = nn.BatchNorm1d(n_dense, eps=_BN_EPS)
            self.out = nn.Linear(n_dense, n_classes)
            self.front_chunk = 2

        @staticmethod
        def _same_time(x, k: int):
            # TF "same": total pad k - 1, the extra row at the end.
            return F.pad(x, (0, 0, (k - 1) // 2, k // 2))

        def _front_block(self, conv, norm, x):
            # conv -> relu -> batch norm -> max over frequency, as in TF, computed as
            # max -> relu -> batch norm: batch norm is a per-channel affine map a*v + b,
            # and relu and v -> a*v + b are monotonic, so the max commutes with them
            # (exactly, in floating point too) once channels with a < 0 are
            # flipped: max(a*v) = a*min(v). Taking the max first spares two passes over
            # the largest tensors of the network.
            a = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            b = norm.bias - a * norm.running_mean
            sign = torch.where(a < 0, -1.0, 1.0)
            z = F.conv2d(x, conv.weight * sign[:, None, None, None], conv.bias * sign)
            v = F.relu(z.amax(dim=3) * sign[:, None])
            return v * a[:, None] + b[:, None]

        def _front(self, x):
            timbral_in = F.pad(x, (0, 0, 3, 3))
            return torch.cat(
                [
                    self._front_block(self.f74, self.bn_f74, timbral_in),
                    self._front_block(self.f77, self.bn_f77, timbral_in),
                    self._front_block(self.s1, self.bn_s1, self._same_time(x, 128)),
                    self._front_block(self.s2, self.bn_s2, self._same_time(x, 64)),
                    self._front_block(self.s3, self.bn_s3, self._same_time(x, 32)),
                ],
                dim=1,
            )

        def forward(self, x) -> dict:
            x = self.bn_input(x.unsqueeze(1))  # (B, 1, T, 96)
            # The front-end's feature maps are ~10 MB per patch: a few patches at a
            # time keep them in reused memory and in cache.
            step = self.front_chunk
            front = torch.cat([self._front(x[i : i + step]) for i in range(0, len(x), step)])
            m1 = self.bn_mid1(F.relu(self.mid1(front)))
            m2 = self.bn_mid2(F.relu(self.mid2(m1))) + m1
            m3 = self.bn_mid3(F.relu(self.mid3(m2))) + m2
            mid = torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)
            max_pool = mid.amax(dim=2)
            mean_pool = mid.mean(dim=2)
            # TF flattens the (features, 2) stack of [max, mean]: interleaved.
            pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
            pen = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
            tags = torch.sigmoid(self.out(pen))
            return {"tags": tags, "penultimate": pen, "mean_pool": mean_pool, "max_pool": max_pool}

    return _Musicnn


# TF variable scope -> module attribute, in the order the TF graph created them.
_CONV2D = {
    "conv2d": "f74",
    "conv2d_1": "f77",
    "conv2d_2": "s1",
    "conv2d_3": "s2",
    "conv2d_4": "s3",
}
_CONV1D = {"conv2d_5": "mid1", "conv2d_6": "mid2", "conv2d_7": "mid3"}
_BN = {
    "batch_normalization": "bn_input",
    "batch_normalization_1": "bn_f74",
    "batch_normalization_2": "bn_f77",
    "batch_normalization_3": "bn_s1",
    "batch_normalization_4": "bn_s2",
    "batch_normalization_5": "bn_s3",
    "batch_normalization_6": "bn_mid1",
    "batch_normalization_7": "bn_mid2",
    "batch_normalization_8": "bn_mid3",
    "batch_normalization_9": "bn_pool",
    "batch_normalization_10": "bn_dense",
}
_DENSE = {"dense": "dense", "dense_1": "out"}


def _convert(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF checkpoint variables -> a PyTorch state_dict (numpy arrays)."""
    sd: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in weights:
            raise ValueError(
                f"The musicnn checkpoint has no variable {name!r}; it is not a musicnn "
                f"model this port knows. Reinstall with: {_INSTALL_HINT}"
            )
        return weights[name]

    for tf_name, mod in _CONV2D.items():
        # (kh, kw, in, out) -> (out, in, kh, kw)
        sd[f"{mod}.weight"] = get(f"{tf_name}/kernel").transpose(3, 2, 0, 1)
        sd[f"{mod}.bias"] = get(f"{tf_name}/bias")
    for tf_name, mod in _CONV1D.items():
        # (7, in, 1, out): a kernel spanning every feature -> Conv1d (out, in, 7)
        sd[f"{mod}.weight"] = get(f"{tf_name}/kernel")[:, :, 0, :].transpose(2, 1, 0)
        sd[f"{mod}.bias"] = get(f"{tf_name}/bias")
    for tf_name, mod in _BN.items():
        sd[f"{mod}.weight"] = get(f"{tf_name}/gamma")
        sd[f"{mod}.bias"] = get(f"{tf_name}/beta")
        sd[f"{mod}.running_mean"] = get(f"{tf_name}/moving_mean")
        sd[f"{mod}.running_var"] = get(f"{tf_name}/moving_variance")
        sd[f"{mod}.num_batches_tracked"] = np.array(0, dtype=np.int64)
    for tf_name, mod in _DENSE.items():
        sd[f"{mod}.weight"] = get(f"{tf_name}/kernel").T  # (in, out) -> (out, in)
        sd[f"{mod}.bias"] = get(f"{tf_name}/bias")
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def musicnn_state_dict(model: str = "MTT_musicnn") -> dict:
    """The converted PyTorch state_dict of a pretrained model (cached per process).

    Examples
    --------
    >>> from sk_hier.embeddings.musicnn import musicnn_state_dict
    >>> musicnn_state_dict("MTT_musicnn")["f74.weight"].shape
    (204, 1, 7, 38)
    """
    _check_model(model)
    with _lock:
        if model not in _state_dicts:
            from ._tf_bundle import read_bundle

            _state_dicts[model] = _convert(read_bundle(checkpoint_prefix(model)))
    return _state_dicts[model]


def load_musicnn(name: str = "MTT_musicnn"):
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
    The module is for inference: the front-end applies its batch norms with the
    stored statistics after the frequency max-pooling (an exact rewrite, see the
    source), so ``train()`` would not make them use batch statistics.

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
    torch = _torch()
    sd = musicnn_state_dict(name)
    net = _build_module()()
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in sd.items()})
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _shared_module(name: str):
    # One network per model and process: an embedder pickled to a worker loads it once.
    with _lock:
        if name not in _modules:
            _modules[name] = load_musicnn(name)
        return _modules[name]


# -- preprocessing --------------------------------------------------------------------------
def _log_mel(audio: np.ndarray) -> np.ndarray:
    import librosa

    S = librosa.feature.melspectrogram(
        y=audio, sr=MUSICNN_SR, hop_length=_HOP, n_fft=_N_FFT, n_mels=_N_MELS
    ).T
    # musicnn stores float16 spectrograms; multiply in float32, since 10000 * S
    # overflows float16 on loud audio.
    S = S.astype(np.float16).astype(np.float32)
    return np.log10(10000.0 * S + 1.0).astype(np.float32)


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
    import librosa

    n_frames = (
        int(librosa.time_to_frames(input_length, sr=MUSICNN_SR, n_fft=_N_FFT, hop_length=_HOP)) + 1
    )
    if input_overlap:
        hop = int(
            librosa.time_to_frames(input_overlap, sr=MUSICNN_SR, n_fft=_N_FFT, hop_length=_HOP)
        )
    else:
        hop = n_frames
    if hop < 1:
        raise ValueError(f"input_overlap={input_overlap} gives a patch hop below one frame.")
    rep = _log_mel(np.asarray(audio, dtype=np.float32))
    if rep.shape[0] < n_frames:
        rep = np.tile(rep, (int(np.ceil(n_frames / rep.shape[0])), 1))[:n_frames]
    starts = range(0, rep.shape[0] - n_frames + 1, hop)
    return np.stack([rep[s : s + n_frames] for s in starts])


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
    model : {"MTT_musicnn", "MSD_musicnn"}, default="MTT_musicnn"
        Pretrained weights (MagnaTagATune or Million Song Dataset), read from the
        ``musicnn`` package (``pip install --no-deps musicnn==0.1.0``).
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
        Set by ``fit``: ``len(pooling) * sum(feature sizes)``.
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
    """

    name = "musicnn"
    target_sr = MUSICNN_SR
    _default_clips_per_task = 16

    def __init__(
        self,
        model: str = "MTT_musicnn",
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

    def _check_params(self) -> None:
        _check_model(self.model)
        self._features()
        if not (isinstance(self.input_length, int | float) and self.input_length > 0):
            raise ValueError(f"input_length must be > 0 seconds, got {self.input_length!r}.")
        if self.input_overlap is not None and not (
            isinstance(self.input_overlap, int | float) and self.input_overlap >= 0
        ):
            raise ValueError(
                f"input_overlap must be None or >= 0 seconds, got {self.input_overlap!r}."
            )
        checkpoint_prefix(self.model)  # the ImportError with the install line, early

    def _frame_feature_names(self) -> list[str]:
        return [f"{f}{i}" for f in self._features() for i in range(_FEATURE_SIZES[f])]

    def _settings(self) -> dict:
        return {
            "model": self.model,
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
        torch = _torch()
        net = _shared_module(self.model)
        patches = [musicnn_patches(w, self.input_length, self.input_overlap) for w in waveforms]
        allp = np.concatenate(patches)
        feats = self._features()
        outs = []
        with torch.inference_mode():
            for s in range(0, len(allp), int(self.batch_size)):
                res = net(torch.from_numpy(allp[s : s + int(self.batch_size)]))
                outs.append(torch.cat([res[f] for f in feats], dim=1).numpy())
        per_patch = np.concatenate(outs)
        bounds = np.cumsum([0] + [len(p) for p in patches])
        pooling = self._pooling()
        return [pool_frames(per_patch[a:b], pooling) for a, b in itertools.pairwise(bounds)]
