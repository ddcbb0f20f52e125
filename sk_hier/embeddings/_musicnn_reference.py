"""The layer-for-layer PyTorch port of musicnn and its own preprocessing: the reference.

:mod:`sk_hier.embeddings.musicnn` runs a faster, algebraically rearranged network and
a banded mel projection; this module keeps the direct port they are checked against
(``tests/test_embed_fast_path.py``, ``benchmarks/embed_speed.py``), and the pieces
both paths share: the TF checkpoint -> state_dict conversion, batch norms as affine
maps and the patch geometry.

The architecture follows ``musicnn/models.py`` of musicnn 0.1.0 (ISC license) layer
for layer. Layout notes for the port. TensorFlow works in NHWC with H = time (187
frames) and W = mel bands (96); here the input is NCHW with the same H and W. The
mid-end convolutions span all features at once, so they are 1-D convolutions over
time on ``(batch, features, time)``. TF's ``padding="same"`` puts the odd extra pad
row at the end (bottom), which ``F.pad`` reproduces; PyTorch's symmetric
``padding=`` would shift the temporal filters by one frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization's default
INSTALL_HINT = "pip install --no-deps musicnn==0.1.0"

# TF variable scope -> module attribute, in the order the TF graph created them.
CONV2D = {
    "conv2d": "f74",
    "conv2d_1": "f77",
    "conv2d_2": "s1",
    "conv2d_3": "s2",
    "conv2d_4": "s3",
}
CONV1D = {"conv2d_5": "mid1", "conv2d_6": "mid2", "conv2d_7": "mid3"}
BN = {
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
DENSE = {"dense": "dense", "dense_1": "out"}
# The temporal front-end filters: module name -> length in frames (one band wide).
TEMPORAL = {"s1": 128, "s2": 64, "s3": 32}


def convert_checkpoint(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF checkpoint variables -> a PyTorch state_dict of the reference module (numpy).

    Parameters
    ----------
    weights : dict of str to ndarray
        The model variables of a musicnn checkpoint, by TF name.

    Returns
    -------
    dict of str to ndarray
        C-contiguous arrays keyed like :func:`build_reference_module`'s parameters.

    Raises
    ------
    ValueError
        When a variable the architecture needs is missing.
    """
    sd: dict[str, np.ndarray] = {}

    def get(name: str) -> np.ndarray:
        if name not in weights:
            raise ValueError(
                f"The musicnn checkpoint has no variable {name!r}; it is not a musicnn "
                f"model this port knows. Reinstall with: {INSTALL_HINT}"
            )
        return weights[name]

    for tf_name, mod in CONV2D.items():
        # (kh, kw, in, out) -> (out, in, kh, kw)
        sd[f"{mod}.weight"] = get(f"{tf_name}/kernel").transpose(3, 2, 0, 1)
        sd[f"{mod}.bias"] = get(f"{tf_name}/bias")
    for tf_name, mod in CONV1D.items():
        # (7, in, 1, out): a kernel spanning every feature -> Conv1d (out, in, 7)
        sd[f"{mod}.weight"] = get(f"{tf_name}/kernel")[:, :, 0, :].transpose(2, 1, 0)
        sd[f"{mod}.bias"] = get(f"{tf_name}/bias")
    for tf_name, mod in BN.items():
        sd[f"{mod}.weight"] = get(f"{tf_name}/gamma")
        sd[f"{mod}.bias"] = get(f"{tf_name}/beta")
        sd[f"{mod}.running_mean"] = get(f"{tf_name}/moving_mean")
        sd[f"{mod}.running_var"] = get(f"{tf_name}/moving_variance")
        sd[f"{mod}.num_batches_tracked"] = np.array(0, dtype=np.int64)
    for tf_name, mod in DENSE.items():
        sd[f"{mod}.weight"] = get(f"{tf_name}/kernel").T  # (in, out) -> (out, in)
        sd[f"{mod}.bias"] = get(f"{tf_name}/bias")
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def bn_affine(sd: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Batch norm ``name`` of a converted state_dict as ``v -> a * v + b`` (float64)."""
    gamma, beta, mean, var = (
        sd[f"{name}.{k}"].astype(np.float64)
        for k in ("weight", "bias", "running_mean", "running_var")
    )
    a = gamma / np.sqrt(var + BN_EPS)
    return a, beta - a * mean


# -- the reference network ------------------------------------------------------------------
def _add_layers(net: Any, nn: Any, n_classes: int, n_mid: int, n_dense: int) -> None:
    """Create the layers of musicnn on ``net``, named as :func:`convert_checkpoint` keys."""

    def bn(n: int, dim: int = 2) -> Any:
        return (nn.BatchNorm2d if dim == 2 else nn.BatchNorm1d)(n, eps=BN_EPS)

    net.bn_input = bn(1)
    # Front-end, timbral: filters spanning 38 and 67 of the 96 mel bands.
    net.f74, net.bn_f74 = nn.Conv2d(1, 204, (7, 38)), bn(204)
    net.f77, net.bn_f77 = nn.Conv2d(1, 204, (7, 67)), bn(204)
    # Front-end, temporal: long filters over time, one band wide.
    for name, length in TEMPORAL.items():
        setattr(net, name, nn.Conv2d(1, 51, (length, 1)))
        setattr(net, f"bn_{name}", bn(51))
    # Mid-end: 1-D convolutions over time across all features.
    net.mid1, net.bn_mid1 = nn.Conv1d(561, n_mid, 7, padding=3), bn(n_mid, 1)
    net.mid2, net.bn_mid2 = nn.Conv1d(n_mid, n_mid, 7, padding=3), bn(n_mid, 1)
    net.mid3, net.bn_mid3 = nn.Conv1d(n_mid, n_mid, 7, padding=3), bn(n_mid, 1)
    n_pool = 561 + 3 * n_mid
    net.bn_pool = bn(2 * n_pool, 1)
    net.dense, net.bn_dense = nn.Linear(2 * n_pool, n_dense), bn(n_dense, 1)
    net.out = nn.Linear(n_dense, n_classes)


def build_reference_module() -> type:
    """The reference ``nn.Module`` class (defined on first use: torch is imported lazily).

    Returns
    -------
    type
        A ``torch.nn.Module`` subclass; ``forward(x)`` takes ``(batch, 187, 96)``
        patches and returns the dict described in :func:`~sk_hier.embeddings.load_musicnn`.
    """
    import torch

    nn = torch.nn
    F = torch.nn.functional

    class _Musicnn(nn.Module):
        """musicnn: musically motivated front-end, dense mid-end, pooling back-end."""

        def __init__(self, n_classes: int = 50, n_mid: int = 64, n_dense: int = 200):
            super().__init__()
            _add_layers(self, nn, n_classes, n_mid, n_dense)
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
            blocks = [
                self._front_block(self.f74, self.bn_f74, timbral_in),
                self._front_block(self.f77, self.bn_f77, timbral_in),
            ]
            for name, length in TEMPORAL.items():
                conv, norm = getattr(self, name), getattr(self, f"bn_{name}")
                blocks.append(self._front_block(conv, norm, self._same_time(x, length)))
            return torch.cat(blocks, dim=1)

        def _mid(self, front):
            m1 = self.bn_mid1(F.relu(self.mid1(front)))
            m2 = self.bn_mid2(F.relu(self.mid2(m1))) + m1
            m3 = self.bn_mid3(F.relu(self.mid3(m2))) + m2
            return torch.cat([front, m1, m2, m3], dim=1)  # (B, 753, T)

        def forward(self, x) -> dict:
            x = self.bn_input(x.unsqueeze(1))  # (B, 1, T, 96)
            # The front-end's feature maps are ~10 MB per patch: a few patches at a
            # time keep them in reused memory and in cache.
            step = self.front_chunk
            front = torch.cat([self._front(x[i : i + step]) for i in range(0, len(x), step)])
            mid = self._mid(front)
            max_pool = mid.amax(dim=2)
            mean_pool = mid.mean(dim=2)
            # TF flattens the (features, 2) stack of [max, mean]: interleaved.
            pooled = torch.stack([max_pool, mean_pool], dim=2).flatten(1)
            pen = self.bn_dense(F.relu(self.dense(self.bn_pool(pooled))))
            tags = torch.sigmoid(self.out(pen))
            return {"tags": tags, "penultimate": pen, "mean_pool": mean_pool, "max_pool": max_pool}

    return _Musicnn


def load_reference(state_dict: dict[str, np.ndarray]) -> Any:
    """The reference network with the given converted weights, in eval mode.

    Parameters
    ----------
    state_dict : dict of str to ndarray
        Output of :func:`convert_checkpoint`.

    Returns
    -------
    torch.nn.Module
    """
    import torch

    net = build_reference_module()()
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state_dict.items()})
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


# -- preprocessing -----------------------------------------------------------------------------
def patch_geometry(input_length: float, input_overlap: float | None) -> tuple[int, int]:
    """Frames per patch and hop between patch starts, as musicnn's extractor computes them.

    Raises
    ------
    ValueError
        When the overlap gives a hop below one frame.
    """
    import librosa

    n_frames = int(librosa.time_to_frames(input_length, sr=SR, n_fft=N_FFT, hop_length=HOP)) + 1
    if input_overlap:
        hop = int(librosa.time_to_frames(input_overlap, sr=SR, n_fft=N_FFT, hop_length=HOP))
    else:
        hop = n_frames
    if hop < 1:
        raise ValueError(f"input_overlap={input_overlap} gives a patch hop below one frame.")
    return n_frames, hop


def cut_patches(rep: np.ndarray, n_frames: int, hop: int) -> np.ndarray:
    """``(n_frames_total, 96)`` -> ``(n_patches, n_frames, 96)``; short clips repeat."""
    if rep.shape[0] < n_frames:
        # musicnn's training-time "repeat-pad" (its extractor fails on such clips).
        rep = np.tile(rep, (int(np.ceil(n_frames / rep.shape[0])), 1))[:n_frames]
    starts = range(0, rep.shape[0] - n_frames + 1, hop)
    return np.stack([rep[s : s + n_frames] for s in starts])


def compress(mel_power: np.ndarray) -> np.ndarray:
    """musicnn's input compression of a mel power spectrogram, float32.

    musicnn stores float16 spectrograms; the multiplication is done in float32, since
    ``10000 * S`` overflows float16 on loud audio.
    """
    S = mel_power.astype(np.float16).astype(np.float32)
    return np.log10(10000.0 * S + 1.0).astype(np.float32)


def reference_log_mel(audio: np.ndarray) -> np.ndarray:
    """``(n_frames, 96)`` log-compressed mel spectrogram, through librosa as musicnn does."""
    import librosa

    S = librosa.feature.melspectrogram(
        y=audio, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS
    ).T
    return compress(S)


def reference_patches(
    audio: np.ndarray, input_length: float = 3.0, input_overlap: float | None = None
) -> np.ndarray:
    """The reference twin of :func:`~sk_hier.embeddings.musicnn_patches` (librosa's mel)."""
    n_frames, hop = patch_geometry(input_length, input_overlap)
    return cut_patches(reference_log_mel(np.asarray(audio, dtype=np.float32)), n_frames, hop)
