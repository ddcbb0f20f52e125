"""The pure-numpy reader of TF1 tensor-bundle checkpoints."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sk_hier.embeddings._tf_bundle import (
    crc32c,
    is_model_variable,
    read_bundle,
    read_bundle_entries,
)

musicnn_spec = pytest.importorskip("musicnn.configuration", reason="musicnn is not installed")


# -- a minimal writer of the same format, to test the reader on crafted files ---------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
    return _varint(num << 3 | wire) + payload


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _entry(dtype: int, shape: tuple, offset: int, data: bytes) -> bytes:
    dims = b"".join(
        _field(2, 2, _varint(len(d)) + d) for d in (_field(1, 0, _varint(s)) for s in shape)
    )
    msg = _field(1, 0, _varint(dtype)) + _field(2, 2, _varint(len(dims)) + dims)
    msg += _field(4, 0, _varint(offset)) + _field(5, 0, _varint(len(data)))
    msg += _field(6, 5, struct.pack("<I", _mask(crc32c(data))))
    return msg


def _block(items: list, restart_every: int = 2) -> bytes:
    out, restarts, last = bytearray(), [], b""
    for i, (key, value) in enumerate(items):
        shared = 0
        if i % restart_every:
            while shared < min(len(key), len(last)) and key[shared] == last[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value))
        out += key[shared:] + value
        last = key
    for r in restarts:
        out += struct.pack("<I", r)
    return bytes(out + struct.pack("<I", len(restarts)))


def _write_bundle(prefix, tensors: dict, compression: int = 0) -> None:
    codes = {np.dtype("float32"): 1, np.dtype("int64"): 9, np.dtype("float16"): 19}
    data, entries = bytearray(), [(b"", _field(1, 0, _varint(1)))]  # header: num_shards 1
    for name in sorted(tensors):
        arr = np.array(tensors[name], order="C")  # ascontiguousarray makes 0-d 1-d
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        entries.append((name.encode(), _entry(codes[arr.dtype], arr.shape, len(data), raw)))
        data += raw
    index = bytearray()

    def put(block: bytes) -> bytes:
        handle = _varint(len(index)) + _varint(len(block))
        trailer = bytes([compression])
        crc = _mask(crc32c(block + trailer))
        index.extend(block + trailer + struct.pack("<I", crc))
        return handle

    # Two data blocks, so that the index block has more than one handle.
    half = len(entries) // 2
    handles = [put(_block(entries[:half])), put(_block(entries[half:]))]
    index_handle = put(_block([(entries[half - 1][0], handles[0]), (b"\xff", handles[1])]))
    meta_handle = put(_block([]))
    footer = (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", 0xDB4775248B80FB57)
    index.extend(footer)
    with open(f"{prefix}.index", "wb") as f:
        f.write(index)
    with open(f"{prefix}.data-00000-of-00001", "wb") as f:
        f.write(data)


# -- the musicnn checkpoints --------------------------------------------------------------
def _prefix(model="MTT_musicnn"):
    from sk_hier.embeddings.musicnn import checkpoint_prefix

    return checkpoint_prefix(model)


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_musicnn"])
def test_musicnn_checkpoint_variables(model):
    weights = read_bundle(_prefix(model))
    # 64 model variables: 11 batch norms x 4, 8 convolutions x 2, 2 dense layers x 2.
    assert len(weights) == 64
    assert sum(w.size for w in weights.values()) == 792_079
    assert weights["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert weights["dense/kernel"].shape == (1506, 200)
    assert all(w.dtype == np.float32 for w in weights.values())
    everything = read_bundle(_prefix(model), model_only=False)
    assert len(everything) == 150  # + 84 Adam slots + beta1_power, beta2_power
    # The data README's 792,081 counts the two scalar Adam accumulators with the model.
    not_slots = [k for k in everything if not k.endswith(("/Adam", "/Adam_1"))]
    assert sum(everything[k].size for k in not_slots) == 792_081


def test_checksums_of_the_real_checkpoint_hold():
    entries = read_bundle_entries(_prefix(), verify=True)  # the index blocks' crcs
    assert entries["dense_1/bias"]["shape"] == (50,)
    assert entries["dense_1/bias"]["dtype"] == np.float32
    weights = read_bundle(_prefix(), verify=True)  # every tensor's crc32c
    assert len(weights) == 64


def test_is_model_variable():
    assert is_model_variable("batch_normalization_3/moving_mean")
    assert not is_model_variable("dense/kernel/Adam")
    assert not is_model_variable("beta2_power")


# -- crafted bundles ------------------------------------------------------------------------
def test_round_trip_of_a_crafted_bundle(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "a/kernel": rng.normal(size=(3, 4, 5)).astype(np.float32),
        "a/kernel/Adam": np.zeros((3, 4, 5), np.float32),
        "b/bias": np.arange(7, dtype=np.int64),
        "c/half": rng.normal(size=(2, 2)).astype(np.float16),
        "scalar": np.array(2.5, np.float32),
        "global_step": np.array(10, np.int64),
    }
    prefix = tmp_path / "model.ckpt"
    _write_bundle(prefix, tensors)
    out = read_bundle(prefix, verify=True)
    assert set(out) == {"a/kernel", "b/bias", "c/half", "scalar"}
    for name, arr in out.items():
        assert arr.dtype == tensors[name].dtype and arr.shape == tensors[name].shape
        np.testing.assert_array_equal(arr, tensors[name])
    assert len(read_bundle(prefix, model_only=False)) == len(tensors)


def test_compressed_blocks_are_refused(tmp_path):
    prefix = tmp_path / "ckpt"
    _write_bundle(prefix, {"w": np.ones(3, np.float32)}, compression=1)
    with pytest.raises(ValueError, match="Snappy-compressed"):
        read_bundle(prefix)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint index"):
        read_bundle(tmp_path / "nothing")
    (tmp_path / "junk.index").write_bytes(b"x" * 100)
    with pytest.raises(ValueError, match="bad magic"):
        read_bundle(tmp_path / "junk")
    prefix = tmp_path / "ok"
    _write_bundle(prefix, {"w": np.arange(1000, dtype=np.float32)})
    data = (tmp_path / "ok.data-00000-of-00001").read_bytes()
    (tmp_path / "ok.data-00000-of-00001").write_bytes(data[:100])
    with pytest.raises(ValueError, match="past the end"):
        read_bundle(prefix)
    (tmp_path / "ok.data-00000-of-00001").write_bytes(b"\1" + data[1:])
    with pytest.raises(ValueError, match="checksum"):
        read_bundle(prefix, verify=True)
