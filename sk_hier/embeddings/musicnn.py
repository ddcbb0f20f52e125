"""The pretrained musicnn networks (Pons & Serra, 2019) in PyTorch, arranged for speed.

The weights are read at run time from the TF1 checkpoints inside the installed
``musicnn`` wheel: nothing is downloaded and TensorFlow is not needed. The
layer-for-layer port lives in :mod:`sk_hier.embeddings._musicnn_reference`; the network
here computes the same function, to float32 rounding, with less arithmetic:

* The timbral front-end filters (7 frames x 38 or 67 of the 96 mel bands, one input
  channel) are 81% of the port's multiply-adds. Along the mel axis they are
  correlations, diagonal in a real DFT of that axis: the 7 time taps are summed in the
  DFT domain (a batched matrix product, one small matrix per pair of DFT coordinates),
  and one matrix product per filter bank goes back to just the mel positions the
  max-pooling reads (59 and 30). That is 2.6x fewer multiply-adds, all in dense matrix
  products.
* Batch norms become affine maps at load time (the one before the dense layer is
  folded into its weights); the front-end takes its max over frequency before its relu
  and batch norm, an exact rewrite (see ``_front_block`` in the reference module).

torch is imported inside the functions that use it, so importing this module is light.
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
_N_BINS = ref.N_MELS // 2 + 1  # real-DFT bins over the 96 mel bands
_TIME_CHUNK = 16  # frames per step of the timbral front-end: its work set stays in cache

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


# -- weights of the fast network ----------------------------------------------------------------
def _pack(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """Real-DFT coordinates (last axis: 49 bins) -> the 96 used here, in 48 pairs.

    Re 0, Re 48 (Im 0 and Im 48 of a real signal are 0), then Re b, Im b for b = 1..47.
    """
    mid = np.stack([re[..., 1:-1], im[..., 1:-1]], axis=-1).reshape(*re.shape[:-1], -1)
    return np.concatenate([re[..., :1], re[..., -1:], mid], axis=-1)


def _timbral_weights(sd: dict) -> dict[str, np.ndarray]:
    """The timbral filter banks f74 and f77 in the real-DFT domain of the mel axis.

    With ``X_b(t)`` the DFT of input row ``t`` over the 96 mel bands and ``W_b`` that
    of a filter's row, a correlation over the mel axis is ``X_b * conj(W_b)`` in the
    DFT domain; the result is exact at the mel positions where the filter does not
    wrap around, which are precisely the positions of the "valid" convolution.
    """
    n = ref.N_MELS
    bins = np.arange(_N_BINS)
    angle = 2 * np.pi * np.outer(np.arange(n), bins) / n
    cos, sin = np.cos(angle), np.sin(angle)
    kernels, inverses, tails = [], [], []
    for conv in ("f74", "f77"):
        a, b = ref.bn_affine(sd, f"bn_{conv}")
        # Channels whose batch norm flips sign take a min over frequency: computed as
        # a max of the negated filter (see the reference's _front_block).
        s = np.where(a < 0, -1.0, 1.0)
        w = sd[f"{conv}.weight"][:, 0].astype(np.float64) * s[:, None, None]  # (O, 7, k)
        w_re = np.einsum("odk,kb->obd", w, cos[: w.shape[2]])
        w_im = np.einsum("odk,kb->obd", w, -sin[: w.shape[2]])
        # X conj(W) = (Xr Wr + Xi Wi) + i (Xi Wr - Xr Wi): per group, rows (out coord,
        # filter), columns (in coord, tap). Group 0 maps (Xr 0, Xr 48) to (Re 0, Re 48).
        g = np.zeros((_N_BINS - 1, 2, w.shape[0], 2, w.shape[1]))
        g[1:, 0, :, 0], g[1:, 0, :, 1] = w_re[:, 1:-1].swapaxes(0, 1), w_im[:, 1:-1].swapaxes(0, 1)
        g[1:, 1, :, 0], g[1:, 1, :, 1] = -g[1:, 0, :, 1], g[1:, 0, :, 0]
        g[0, 0, :, 0], g[0, 1, :, 1] = w_re[:, 0], w_re[:, -1]
        kernels.append(g)
        # Inverse real DFT at the n - k + 1 valid positions; bins 0 and n/2 count once.
        f = 2 * np.pi * np.arange(n - w.shape[2] + 1)[:, None] * bins / n
        c = np.where((bins == 0) | (bins == n // 2), 1.0, 2.0) / n
        inverses.append(_pack(c * np.cos(f), -c * np.sin(f)))
        tails.append((sd[f"{conv}.bias"] * s, s, a, b))
    names = ("timbral_bias", "timbral_sign", "timbral_scale", "timbral_shift")
    return {
        **{name: np.concatenate(t) for name, t in zip(names, zip(*tails))},
        "dft": _pack(cos, -sin),
        # (group, out coord, bank, filter, in coord, tap) -> one (816, 14) matrix per group
        "timbral_kernel": np.concatenate(kernels, axis=2).reshape(_N_BINS - 1, -1, 14),
        "idft74": inverses[0],
        "idft77": inverses[1],
    }


def _other_weights(sd: dict) -> dict[str, np.ndarray]:
    """Temporal front-end, mid-end and back-end, batch norms as affine maps."""
    out: dict[str, np.ndarray] = {}
    a, b = ref.bn_affine(sd, "bn_input")
    out["input_affine"] = np.array([a[0], b[0]])
    for name in ref.TEMPORAL:
        a, b = ref.bn_affine(sd, f"bn_{name}")
        s = np.where(a < 0, -1.0, 1.0)
        out[f"{name}_weight"] = sd[f"{name}.weight"] * s[:, None, None, None]
        out[f"{name}_bias"], out[f"{name}_sign"] = sd[f"{name}.bias"] * s, s
        out[f"{name}_scale"], out[f"{name}_shift"] = a, b
    for name in ("mid1", "mid2", "mid3"):
        out[f"{name}_weight"], out[f"{name}_bias"] = sd[f"{name}.weight"], sd[f"{name}.bias"]
        out[f"{name}_scale"], out[f"{name}_shift"] = ref.bn_affine(sd, f"bn_{name}")
    # bn_pool is affine and feeds the dense layer directly: fold it into its weights.
    # TF feeds the dense layer the interleaved (max, mean) pairs; the fast network
    # concatenates [max, mean], so the columns are reordered to match.
    a, b = ref.bn_affine(sd, "bn_pool")
    w = sd["dense.weight"].astype(np.float64)
    order = np.concatenate([np.arange(0, w.shape[1], 2), np.arange(1, w.shape[1], 2)])
    out["dense_weight"] = (w * a)[:, order]
    out["dense_bias"] = sd["dense.bias"] + w @ b
    out["dense_scale"], out["dense_shift"] = ref.bn_affine(sd, "bn_dense")
    out["out_weight"], out["out_bias"] = sd["out.weight"], sd["out.bias"]
    return out


def _fast_weights(sd: dict) -> dict[str, np.ndarray]:
    """All buffers of the fast network, float32 (derived in float64)."""
    weights = {**_timbral_weights(sd), **_other_weights(sd)}
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}


# -- the fast network -------------------------------------------------------------------------
def _affine_relu(z: Any, net: Any, prefix: str) -> Any:
    """Front-end tail on the max-pooled responses: restore the sign, relu, batch norm."""
    import torch

    sign, scale, shift = (
        getattr(net, f"{prefix}_{k}")[:, None] for k in ("sign", "scale", "shift")
    )
    return torch.relu_(z.mul_(sign)).mul_(scale).add_(shift)


def _timbral_front(net: Any, x: Any) -> Any:
    """``(B, T, 96)`` normalised input -> ``(B, 408, T)`` timbral features (f74, f77)."""
    import torch

    F = torch.nn.functional
    n_batch, n_time, _ = x.shape
    n_groups, n_rows, _ = net.timbral_kernel.shape
    n_out, step = n_rows // 4, net.time_chunk
    # The 7-tap filters see 3 zero frames beyond each end, as in TF's padding; more zero
    # frames make whole steps (a product on 11 columns costs 8x as much per column as
    # on 16), and their outputs are dropped.
    n_padded = -(-n_time // step) * step
    spec = F.pad(x, (0, 0, 3, 3 + n_padded - n_time)) @ net.dft  # DFT coordinates
    # Per group, the 14 inputs (coordinate, tap) of each output frame: (48, 14, B, T).
    taps = spec.transpose(1, 2).unfold(2, 7, 1).reshape(n_batch, n_groups, 2, n_padded, 7)
    taps = taps.transpose(3, 4).reshape(n_batch, n_groups, 14, n_padded).permute(1, 2, 0, 3)
    out = x.new_empty(n_batch, 2, n_out, n_padded)
    # A patch per thread and step: the threads share each product, and synchronise
    # no more often than one thread would.
    per = max(1, min(n_batch, torch.get_num_threads()))
    # Buffers reused across steps: fresh multi-MB tensors cost page faults every step.
    y, z74, z77 = (
        x.new_empty(k * n_out * per * step)
        for k in (4 * n_groups, len(net.idft74), len(net.idft77))
    )
    for i in range(0, n_batch, per):
        p, n = min(per, n_batch - i), min(per, n_batch - i) * step
        for s in range(0, n_padded, step):
            # Rows (coordinate, bank, filter) of each group, columns (patch, frame).
            yc = y[: n_groups * n_rows * n].view(n_groups, n_rows, n)
            cols = taps[:, :, i : i + p, s : s + step].reshape(n_groups, 14, n)
            torch.bmm(net.timbral_kernel, cols, out=yc)
            yc = yc.view(2 * n_groups, 2, n_out * n)
            for bank, (idft, z) in enumerate(((net.idft74, z74), (net.idft77, z77))):
                zc = z[: len(idft) * n_out * n].view(len(idft), n_out * n)
                torch.mm(idft, yc[:, bank], out=zc)
                out[i : i + p, bank, :, s : s + step] = (
                    zc.amax(0).view(n_out, p, step).transpose(0, 1)
                )
    z = out.view(n_batch, 2 * n_out, n_padded)[..., :n_time].add_(net.timbral_bias[:, None])
    return _affine_relu(z, net, "timbral")


def _temporal_front(net: Any, x: Any) -> list:
    """``(B, T, 96)`` normalised input -> three ``(B, 51, T)`` temporal feature maps."""
    import torch

    F = torch.nn.functional
    x4 = x.unsqueeze(1)
    outs = []
    for name, length in ref.TEMPORAL.items():
        weight, bias = getattr(net, f"{name}_weight"), getattr(net, f"{name}_bias")
        pad = (0, 0, (length - 1) // 2, length // 2)  # TF "same": the odd pad at the end
        # A patch at a time: its (51, T, 96) responses stay in cache for the max.
        z = torch.cat([F.conv2d(F.pad(p, pad), weight, bias).amax(3) for p in x4.split(1)])
        outs.append(_affine_relu(z, net, name))
    return outs


def _mid_and_back(net: Any, front: Any) -> dict:
    """Front-end features -> the output dict (mid-end, pooling, dense layers)."""
    import torch

    F = torch.nn.functional
    maps = [front]
    for name in ("mid1", "mid2", "mid3"):
        w, b, scale, shift = (
            getattr(net, f"{name}_{k}") for k in ("weight", "bias", "scale", "shift")
        )
        v = torch.relu_(F.conv1d(maps[-1], w, b, padding=3))
        v = v.mul_(scale[:, None]).add_(shift[:, None])
        maps.append(v if name == "mid1" else v.add_(maps[-1]))  # residual from mid2 on
    mid = torch.cat(maps, dim=1)  # (B, 753, T)
    max_pool, mean_pool = mid.amax(dim=2), mid.mean(dim=2)
    dense = F.linear(torch.cat([max_pool, mean_pool], dim=1), net.dense_weight, net.dense_bias)
    pen = torch.relu_(dense).mul_(net.dense_scale).add_(net.dense_shift)
    tags = torch.sigmoid(F.linear(pen, net.out_weight, net.out_bias))
    return {"tags": tags, "penultimate": pen, "mean_pool": mean_pool, "max_pool": max_pool}


def _build_fast_module() -> type:
    import torch

    class _FastMusicnn(torch.nn.Module):
        """musicnn for inference, computed with less arithmetic (see the module notes)."""

        def __init__(self, weights: dict[str, np.ndarray]):
            super().__init__()
            for name, value in weights.items():
                self.register_buffer(name, torch.from_numpy(value.copy()))
            self.time_chunk = _TIME_CHUNK

        def forward(self, x) -> dict:
            if x.requires_grad and torch.is_grad_enabled():
                raise RuntimeError(
                    "The musicnn network of load_musicnn() is for inference (it reuses "
                    "buffers in place); give it inputs that do not require grad."
                )
            x = x * self.input_affine[0] + self.input_affine[1]  # bn_input
            front = torch.cat([_timbral_front(self, x), *_temporal_front(self, x)], dim=1)
            return _mid_and_back(self, front)

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
    net = _build_fast_module()(_fast_weights(musicnn_state_dict(name)))
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
    out = []
    with torch.inference_mode():
        for w in waveforms:
            squares = _squared_spectrum(w, ref.N_FFT, ref.HOP, window)
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
    # True: the layer-for-layer port and librosa's mel (the reference for tests and
    # benchmarks); the numbers agree to float32 rounding.
    _reference = False

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
        if packaged_weights_path(self.model) is None:
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
        import torch

        net = _shared_module(self.model, self._reference)
        patches = _patches(waveforms, self.input_length, self.input_overlap, self._reference)
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
