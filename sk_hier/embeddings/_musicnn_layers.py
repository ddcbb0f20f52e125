"""The layers of the fast musicnn network: weights derived at load time, and the forward steps.

:mod:`sk_hier.embeddings.musicnn` assembles them into the module ``load_musicnn``
returns; the layer-for-layer port they must agree with is
:mod:`sk_hier.embeddings._musicnn_reference`.

Timbral front-end (7 frames x 38 or 67 of the 96 mel bands; 81% of the port's
multiply-adds). Along the mel axis the filters are correlations, diagonal in a real DFT
of that axis. With ``X_b`` the DFT of an input row and ``W_b`` that of a filter row,
the correlation at mel position ``p`` is ``sum_b w_b Re(X_b conj(W_b) e^{i t_b p})``
(``t_b = 2 pi b / 96``; ``w_b`` = 1/96 at bins 0 and 48, 2/96 elsewhere), exact at the
positions where the filter does not wrap around: those of the "valid" convolution.

* The 7 time taps are summed in the DFT domain: per pair of DFT coordinates, one small
  matrix product (a batched matrix product over the 48 pairs).
* The inverse DFT is taken at positions ``c + q`` around the centre ``c`` of the valid
  positions: the rotation ``e^{i t_b c}`` is folded into the first product, and then
  ``E(q) = sum_b w_b A_b cos(t_b q)`` is even in ``q`` and
  ``O(q) = sum_b w_b B_b sin(t_b q)`` odd, with ``A_b + i B_b`` the rotated
  coefficients. The responses at ``c - q`` and ``c + q`` are ``E + O`` and ``E - O``,
  so their max is ``E + |O|``: two matrix products of half the size of a full inverse.
  ``c`` is a half-integer (pairs of positions), so bin 48 only enters ``O``; an odd
  count of valid positions leaves one position, computed directly as one more row.
* Filters are taken a block at a time and frames a chunk at a time, so that the
  products' operands and results stay in the core's cache.

Temporal front-end (128, 64 and 32 frames, one band wide): each output frame is one
matrix product of the filters with a contiguous window of the input, a batched matrix
product over frames that reads the input in place (no unfolded copy). Batch norms
become affine maps at load time; the front-end takes its max over frequency before its
relu and batch norm, an exact rewrite (see ``_front_block`` in the reference module).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _musicnn_reference as ref

_N_BINS = ref.N_MELS // 2 + 1  # real-DFT bins over the 96 mel bands
_N_GROUPS = ref.N_MELS // 2  # pairs of DFT coordinates: (Re 0, Re 48), (Re b, Im b)
_TIMBRAL = {"f74": 38, "f77": 67}  # filter bank -> width in mel bands
_FILTER_BLOCK = 102  # timbral filters per product (of 204): their work set stays in cache
_TIME_CHUNK = 64  # frames per step of the front-end, for the same reason


def _pack(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """Real-DFT coordinates (last axis: 49 bins) -> the 96 used here, in 48 pairs.

    Re 0, Re 48 (Im 0 and Im 48 of a real signal are 0), then Re b, Im b for b = 1..47.
    """
    mid = np.stack([re[..., 1:-1], im[..., 1:-1]], axis=-1).reshape(*re.shape[:-1], -1)
    return np.concatenate([re[..., :1], re[..., -1:], mid], axis=-1)


def _n_pairs(width: int) -> int:
    """Pairs of valid mel positions of a timbral filter ``width`` bands wide."""
    return (ref.N_MELS - width + 1) // 2


def _timbral_bank(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One timbral filter bank ``(O, 7, k)`` as the two steps of the DFT-domain front-end.

    Returns
    -------
    kernel : ndarray of shape (O // block, 48, 2 * block, 14)
        Per filter block and pair of input coordinates: rows (A or B, filter), columns
        (input coordinate, tap). Pair 0 gives ``A_0`` and ``B_48``, pair b ``A_b, B_b``.
    even, odd : ndarray of shape (P or P + 1, 48)
        ``E`` from the ``A`` rows and ``O`` from the ``B`` rows, at ``q = 1/2 .. P - 1/2``;
        with an odd count of valid positions, a last row gives the one left over
        (``E + odd row`` is its response).
    """
    n, (n_out, _, width) = ref.N_MELS, w.shape
    n_valid, n_pairs = n - width + 1, _n_pairs(width)
    theta = 2 * np.pi * np.arange(_N_BINS) / n
    # V_b = conj(W_b) e^{i theta_b c}, c = n_pairs - 1/2: A + iB = X V.
    angle = np.outer(np.arange(width) + n_pairs - 0.5, theta)
    v_re = np.einsum("odk,kb->bod", w, np.cos(angle))
    v_im = np.einsum("odk,kb->bod", w, np.sin(angle))
    g = np.zeros((_N_GROUPS, 2, n_out, 2, w.shape[1]))
    g[1:, 0, :, 0], g[1:, 0, :, 1] = v_re[1:-1], -v_im[1:-1]  # A = Xr Vr - Xi Vi
    g[1:, 1, :, 0], g[1:, 1, :, 1] = v_im[1:-1], v_re[1:-1]  # B = Xr Vi + Xi Vr
    g[0, 0, :, 0], g[0, 1, :, 1] = v_re[0], v_im[-1]  # A_0 from Xr 0, B_48 from Xr 48
    block = _FILTER_BLOCK
    kernel = g.reshape(_N_GROUPS, 2, n_out // block, block, -1).transpose(2, 0, 1, 3, 4)
    q = np.arange(n_pairs + n_valid % 2) + 0.5
    weight = np.where((theta == 0) | (theta == np.pi), 1.0, 2.0) / n
    b_of_odd = np.r_[_N_GROUPS, 1:_N_GROUPS]  # the B rows: B_48, B_1 .. B_47
    even = weight[:-1] * np.cos(np.outer(q, theta[:-1]))
    odd = weight[b_of_odd] * np.sin(np.outer(q, theta[b_of_odd]))
    odd[n_pairs:] *= -1  # the position left over is c + q: E - O
    return kernel.reshape(n_out // block, _N_GROUPS, 2 * block, -1), even, odd


def timbral_weights(sd: dict) -> dict[str, np.ndarray]:
    """The timbral filter banks f74 and f77 in the DFT domain (see the module notes)."""
    n = ref.N_MELS
    angle = 2 * np.pi * np.outer(np.arange(n), np.arange(_N_BINS)) / n
    out: dict[str, np.ndarray] = {"dft": _pack(np.cos(angle), -np.sin(angle))}
    tails = []
    for conv, width in _TIMBRAL.items():
        a, b = ref.bn_affine(sd, f"bn_{conv}")
        # Channels whose batch norm flips sign take a min over frequency: computed as
        # a max of the negated filter (see the reference's _front_block).
        s = np.where(a < 0, -1.0, 1.0)
        w = sd[f"{conv}.weight"][:, 0].astype(np.float64) * s[:, None, None]  # (O, 7, k)
        if w.shape[2] != width:
            raise ValueError(f"musicnn filter bank {conv} is {w.shape[2]} bands wide, not {width}")
        out[f"{conv}_kernel"], out[f"{conv}_even"], out[f"{conv}_odd"] = _timbral_bank(w)
        tails.append((sd[f"{conv}.bias"] * s, s, a, b))
    names = ("timbral_bias", "timbral_sign", "timbral_scale", "timbral_shift")
    return {**out, **{name: np.concatenate(t) for name, t in zip(names, zip(*tails))}}


def other_weights(sd: dict) -> dict[str, np.ndarray]:
    """Temporal front-end, mid-end and back-end, batch norms as affine maps."""
    out: dict[str, np.ndarray] = {}
    a, b = ref.bn_affine(sd, "bn_input")
    out["input_affine"] = np.array([a[0], b[0]])
    for name in ref.TEMPORAL:
        a, b = ref.bn_affine(sd, f"bn_{name}")
        s = np.where(a < 0, -1.0, 1.0)
        out[f"{name}_weight"] = sd[f"{name}.weight"][:, 0, :, 0] * s[:, None]  # (51, length)
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


def fast_weights(sd: dict) -> dict[str, np.ndarray]:
    """All buffers of the fast network, float32 (derived in float64)."""
    weights = {**timbral_weights(sd), **other_weights(sd)}
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}


# -- forward ---------------------------------------------------------------------------------
def _affine_relu(z: Any, net: Any, prefix: str) -> Any:
    """Front-end tail on the max-pooled responses: restore the sign, relu, batch norm."""
    import torch

    sign, scale, shift = (
        getattr(net, f"{prefix}_{k}")[:, None] for k in ("sign", "scale", "shift")
    )
    return torch.relu_(z.mul_(sign)).mul_(scale).add_(shift)


def _timbral_max(net: Any, conv: str, cols: Any, out: Any, buffers: list) -> None:
    """Max over the valid mel positions of one bank, for one chunk of columns.

    ``cols``: (48, 14, n) DFT-coordinate taps; ``out``: (filters, n) view written.
    ``buffers``: flat tensors reused for the intermediate results, since fresh
    megabyte-sized tensors cost page faults at every step.
    """
    import torch

    kernels, even, odd = (getattr(net, f"{conv}_{k}") for k in ("kernel", "even", "odd"))
    n_pairs, n_rows, n = _n_pairs(_TIMBRAL[conv]), len(even), cols.shape[2]
    block = kernels.shape[2] // 2
    y, e, o, m = buffers
    for j, kernel in enumerate(kernels):
        # Rows A and B of each pair of DFT coordinates, columns (filter, frame).
        yc = y[: _N_GROUPS * 2 * block * n].view(_N_GROUPS, 2 * block, n)
        torch.bmm(kernel, cols, out=yc)
        yc = yc.view(_N_GROUPS, 2, block * n)
        ec, oc = e[: n_rows * block * n].view(n_rows, -1), o[: n_rows * block * n].view(n_rows, -1)
        torch.mm(even, yc[:, 0], out=ec)
        torch.mm(odd, yc[:, 1], out=oc)
        oc[:n_pairs].abs_()
        mc = m[: block * n]
        torch.amax(ec.add_(oc), 0, out=mc)
        out[j * block : (j + 1) * block] = mc.view(block, n)


def timbral_front(net: Any, x: Any) -> Any:
    """``(B, T, 96)`` normalised input -> ``(B, 408, T)`` timbral features (f74, f77)."""
    import torch

    F = torch.nn.functional
    n_batch, n_time, _ = x.shape
    n_filters = [len(net.timbral_bias) // len(_TIMBRAL)] * len(_TIMBRAL)
    # A patch per thread and step: the threads share each product, and synchronise
    # no more often than one thread would; the products keep their size.
    per = max(1, min(n_batch, torch.get_num_threads()))
    step = max(16, net.time_chunk // per)
    # The 7-tap filters see 3 zero frames beyond each end, as in TF's padding; more zero
    # frames make whole steps, and their outputs are dropped.
    n_padded = -(-n_time // step) * step
    spec = F.pad(x, (0, 0, 3, 3 + n_padded - n_time)) @ net.dft  # DFT coordinates
    # Per pair, the 14 inputs (coordinate, tap) of each output frame: (48, 14, B, T).
    taps = spec.transpose(1, 2).unfold(2, 7, 1).reshape(n_batch, _N_GROUPS, 2, n_padded, 7)
    taps = taps.transpose(3, 4).reshape(n_batch, _N_GROUPS, 14, n_padded).permute(1, 2, 0, 3)
    out = x.new_empty(-(-n_batch // per), n_padded // step, sum(n_filters), per * step)
    n_cols, block = per * step, net.f74_kernel.shape[2] // 2
    n_rows = max(len(getattr(net, f"{conv}_even")) for conv in _TIMBRAL)
    buffers = [x.new_empty(k * block * n_cols) for k in (2 * _N_GROUPS, n_rows, n_rows, 1)]
    for i in range(0, n_batch, per):
        p = min(per, n_batch - i)
        for s in range(0, n_padded, step):
            cols = taps[:, :, i : i + p, s : s + step].reshape(_N_GROUPS, 14, p * step)
            dest = out[i // per, s // step, :, : p * step]  # columns (patch, frame)
            for conv, rows in zip(_TIMBRAL, dest.split(n_filters)):
                _timbral_max(net, conv, cols, rows, buffers)
    # (chunk of patches, step, filter, patch, frame) -> (patch, filter, frame)
    out = out.view(*out.shape[:3], per, step).permute(0, 3, 2, 1, 4)
    z = out.reshape(-1, sum(n_filters), n_padded)[:n_batch, :, :n_time]
    return _affine_relu(z.add_(net.timbral_bias[:, None]), net, "timbral")


def temporal_front(net: Any, x: Any) -> list:
    """``(B, T, 96)`` normalised input -> three ``(B, 51, T)`` temporal feature maps."""
    import torch

    F = torch.nn.functional
    n_batch, n_time, _ = x.shape
    step = net.time_chunk
    outs = []
    for name, length in ref.TEMPORAL.items():
        weight, bias = getattr(net, f"{name}_weight"), getattr(net, f"{name}_bias")
        pad = (0, 0, (length - 1) // 2, length // 2)  # TF "same": the odd pad at the end
        # Frame t reads input rows t .. t + length - 1: a contiguous (length, 96) block.
        windows = F.pad(x, pad).unfold(1, length, 1).transpose(2, 3)  # (B, T, length, 96)
        z = x.new_empty(n_batch, n_time, len(weight))
        for i in range(n_batch):
            for s in range(0, n_time, step):
                # (frames, 51, 96) responses, max over the mel bands while in cache
                torch.amax(weight @ windows[i, s : s + step], 2, out=z[i, s : s + step])
        outs.append(_affine_relu(z.transpose(1, 2).add_(bias[:, None]), net, name))
    return outs


def mid_and_back(net: Any, front: Any) -> dict:
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
