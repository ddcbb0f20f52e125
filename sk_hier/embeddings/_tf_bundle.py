"""A reader of TensorFlow 1 "tensor bundle" checkpoints, in plain numpy.

A checkpoint with prefix ``P`` is two files: ``P.index``, an SSTable (the LevelDB
table format) mapping each tensor name to a ``BundleEntryProto`` record, and
``P.data-00000-of-00001``, the raw little-endian tensor bytes the records point into.
Reading both by hand keeps TensorFlow and protobuf out of the dependencies: the
pretrained musicnn weights ship in this format.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["crc32c", "is_model_variable", "read_bundle", "read_bundle_entries"]

# LevelDB's table magic number, the last 8 bytes of every SSTable file.
_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER_SIZE = 5  # 1 compression byte + 4 bytes of masked crc32c

# TensorFlow's DataType enum (tensorflow/core/framework/types.proto) -> numpy dtype.
_DTYPES = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}

# Names of optimizer state that training leaves next to the model variables.
_OPTIMIZER_SUFFIXES = ("/Adam", "/Adam_1", "/Momentum", "/RMSProp", "/RMSProp_1")
_OPTIMIZER_NAMES = ("beta1_power", "beta2_power", "global_step")


# -- crc32c (Castagnoli), used by both LevelDB blocks and bundle entries -----------
def _crc32c_table() -> np.ndarray:
    poly = 0x82F63B78
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table[i] = crc
    return table


_CRC_TABLE = [int(v) for v in _crc32c_table()]


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``; pure Python, so meant for checks, not bulk data.

    Examples
    --------
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _unmask_crc(masked: int) -> int:
    # LevelDB and TensorFlow store crcs "masked" so that a crc of data holding crcs
    # does not degenerate: masked = rotate_right(crc, 15) + 0xa282ead8.
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# -- protobuf wire format, just enough of it ----------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)`` of one serialized message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = bytes(buf[pos : pos + length])
            if len(value) != length:
                raise ValueError("truncated length-delimited field")
            pos += length
        elif wire == 5:
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _parse_shape(buf: bytes) -> tuple[int, ...]:
    # TensorShapeProto: repeated Dim dim = 2 (Dim: int64 size = 1); bool unknown_rank = 3.
    dims = []
    for field, _, value in _proto_fields(buf):
        if field == 2:
            size = 0
            for f, _, v in _proto_fields(value):
                if f == 1:
                    size = v - (1 << 64) if v >= 1 << 63 else v
            dims.append(size)
        elif field == 3 and value:
            raise ValueError("tensor with unknown rank")
    return tuple(dims)


def _parse_entry(buf: bytes) -> dict:
    # BundleEntryProto: dtype = 1, shape = 2, shard_id = 3, offset = 4, size = 5,
    # crc32c = 6 (fixed32), slices = 7.
    entry = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0, "crc32c": None}
    for field, _, value in _proto_fields(buf):
        if field == 1:
            entry["dtype"] = value
        elif field == 2:
            entry["shape"] = _parse_shape(value)
        elif field == 3:
            entry["shard_id"] = value
        elif field == 4:
            entry["offset"] = value
        elif field == 5:
            entry["size"] = value
        elif field == 6:
            entry["crc32c"] = value
        elif field == 7:
            entry["sliced"] = True
    return entry


# -- SSTable ------------------------------------------------------------------------
def _read_block(data: bytes, offset: int, size: int, where: Path, verify: bool) -> bytes:
    end = offset + size
    if end + _BLOCK_TRAILER_SIZE > len(data):
        raise ValueError(f"{where}: a block runs past the end of the file (truncated?)")
    block = data[offset:end]
    compression = data[end]
    if compression != 0:
        kind = {1: "Snappy", 2: "Zstd"}.get(compression, f"type {compression}")
        raise ValueError(
            f"{where}: block at offset {offset} is {kind}-compressed; only uncompressed "
            "tensor bundles are supported (re-save the checkpoint without compression)."
        )
    if verify:
        stored = struct.unpack_from("<I", data, end + 1)[0]
        if crc32c(data[offset : end + 1]) != _unmask_crc(stored):
            raise ValueError(f"{where}: checksum mismatch in block at offset {offset}")
    return block


def _block_entries(block: bytes, where: Path) -> Iterator[tuple[bytes, bytes]]:
    if len(block) < 4:
        raise ValueError(f"{where}: block too short")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise ValueError(f"{where}: corrupt block (bad restart count)")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + value_len > limit:
            raise ValueError(f"{where}: corrupt block entry at byte {pos}")
        # Keys are prefix-compressed: each one shares ``shared`` bytes with the last.
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + value_len]
        pos += value_len


def _read_table(path: Path, verify: bool) -> Iterator[tuple[bytes, bytes]]:
    data = path.read_bytes()
    if len(data) < _FOOTER_SIZE:
        raise ValueError(f"{path}: too short to be a checkpoint index ({len(data)} bytes)")
    footer = data[-_FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise ValueError(f"{path}: not a TensorFlow checkpoint index (bad magic number)")
    _meta_offset, pos = _varint(footer, 0)
    _meta_size, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    index = _read_block(data, index_offset, index_size, path, verify)
    for _, handle in _block_entries(index, path):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        yield from _block_entries(_read_block(data, offset, size, path, verify), path)


def _resolve_prefix(prefix: str | Path) -> str:
    # A string, not a Path: a folder whose files are ``.index``/``.data-...`` (an empty
    # basename, as in the musicnn wheel) has the prefix ``folder/``, and Path drops
    # the trailing separator. Accept the folder itself too.
    text = os.fspath(prefix)
    if os.path.isdir(text) and os.path.isfile(os.path.join(text, ".index")):
        return os.path.join(text, "")
    return text


def read_bundle_entries(prefix: str | Path, verify: bool = False) -> dict[str, dict]:
    """The metadata of every tensor in a checkpoint: dtype, shape, offset, size.

    Parameters
    ----------
    prefix : str or Path
        The checkpoint prefix: ``P`` for the files ``P.index`` and
        ``P.data-00000-of-00001``. A folder holding ``.index`` is accepted too.
    verify : bool, default=False
        Check the crc32c of every index block.

    Returns
    -------
    dict
        ``{name: {"dtype": np.dtype, "shape": tuple, "shard_id": int, "offset": int,
        "size": int, "crc32c": int | None}}`` in the index's (sorted) order.

    Examples
    --------
    >>> from sk_hier.embeddings._tf_bundle import read_bundle_entries
    >>> from sk_hier.embeddings.musicnn import checkpoint_prefix
    >>> entries = read_bundle_entries(checkpoint_prefix("MTT_musicnn"))
    >>> entries["dense_1/kernel"]["shape"]
    (200, 50)
    """
    prefix = _resolve_prefix(prefix)
    index = Path(f"{prefix}.index")
    if not index.is_file():
        raise FileNotFoundError(
            f"No checkpoint index at {index}: pass the prefix P of P.index and "
            "P.data-00000-of-00001."
        )
    entries = {}
    for key, value in _read_table(index, verify):
        if key == b"":
            # The empty key holds the BundleHeaderProto: num_shards = 1, endianness = 2.
            header = {f: v for f, _, v in _proto_fields(value)}
            if header.get(2, 0) != 0:
                raise ValueError(f"{index}: big-endian checkpoints are not supported")
            continue
        name = key.decode("utf-8")
        entry = _parse_entry(value)
        if entry["dtype"] not in _DTYPES:
            raise ValueError(
                f"{index}: tensor {name!r} has TensorFlow dtype code {entry['dtype']}, "
                "which this reader does not support."
            )
        entry["dtype"] = _DTYPES[entry["dtype"]]
        entries[name] = entry
    return entries


def is_model_variable(name: str) -> bool:
    """Whether ``name`` is a model variable rather than optimizer state.

    Examples
    --------
    >>> is_model_variable("conv2d/kernel"), is_model_variable("conv2d/kernel/Adam_1")
    (True, False)
    """
    return name not in _OPTIMIZER_NAMES and not name.endswith(_OPTIMIZER_SUFFIXES)


def read_bundle(
    prefix: str | Path, model_only: bool = True, verify: bool = False
) -> dict[str, np.ndarray]:
    """Read a TF1 tensor-bundle checkpoint into numpy arrays.

    Parameters
    ----------
    prefix : str or Path
        The checkpoint prefix ``P`` of ``P.index`` and ``P.data-00000-of-00001``
        (not the ``checkpoint`` text file, which usually names its author's paths).
    model_only : bool, default=True
        Leave out optimizer state (Adam slots, ``beta1_power``, ``global_step``).
    verify : bool, default=False
        Check the crc32c of index blocks and of every tensor read (slow in pure
        Python: about a second per 3 MB).

    Returns
    -------
    dict of str to ndarray
        Tensor name -> array of the stored dtype and shape (a writable copy).

    Examples
    --------
    >>> from sk_hier.embeddings._tf_bundle import read_bundle
    >>> from sk_hier.embeddings.musicnn import checkpoint_prefix
    >>> weights = read_bundle(checkpoint_prefix("MTT_musicnn"))
    >>> len(weights), sum(w.size for w in weights.values())
    (64, 792079)
    """
    prefix = _resolve_prefix(prefix)
    entries = read_bundle_entries(prefix, verify=verify)
    shards = {e["shard_id"] for e in entries.values()}
    n_shards = max(shards, default=0) + 1
    out = {}
    buffers: dict[int, bytes] = {}
    for name, entry in entries.items():
        if model_only and not is_model_variable(name):
            continue
        if entry.get("sliced"):
            raise ValueError(f"tensor {name!r} is stored in slices; not supported")
        shard = entry["shard_id"]
        if shard not in buffers:
            path = Path(f"{prefix}.data-{shard:05d}-of-{n_shards:05d}")
            if not path.is_file():
                raise FileNotFoundError(f"Checkpoint data file missing: {path}")
            buffers[shard] = path.read_bytes()
        buf = buffers[shard]
        dtype, shape = entry["dtype"], entry["shape"]
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if entry["size"] != expected:
            raise ValueError(
                f"tensor {name!r}: {entry['size']} bytes stored, {expected} expected "
                f"for shape {shape} and dtype {dtype}"
            )
        start, end = entry["offset"], entry["offset"] + entry["size"]
        if end > len(buf):
            raise ValueError(f"tensor {name!r} lies past the end of its data file (truncated?)")
        raw = buf[start:end]
        if verify and entry["crc32c"] is not None:
            if crc32c(raw) != _unmask_crc(entry["crc32c"]):
                raise ValueError(f"tensor {name!r}: checksum mismatch (corrupt data file)")
        out[name] = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return out
