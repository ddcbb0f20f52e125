"""The embedding cache cannot run code, and a damaged entry is recomputed, never fatal."""

from __future__ import annotations

import io
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sk_hier.cli import main
from sk_hier.embeddings import CorruptCacheWarning, LogMelEmbedder, load_embeddings
from sk_hier.embeddings._cache import CACHE_FORMAT

SR = 22050
# Small settings keep each clip cheap; the cache logic does not depend on them.
SETTINGS = {"n_mels": 32, "n_mfcc": 5}


def _tone(path: Path, seed: int, seconds: float = 0.5) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t) + 0.02 * rng.normal(size=t.size)
    sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture
def wavs(tmp_path) -> list[Path]:
    folder = tmp_path / "wav"
    folder.mkdir()
    return [_tone(folder / f"{i}.wav", i) for i in range(3)]


class _Payload:
    """Unpickling this creates the folder ``marker``: the proof that pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _payload(marker: Path) -> bytes:
    data = pickle.dumps(_Payload(marker))
    pickle.loads(data)  # the payload works: the test below could fail
    assert marker.is_dir()
    marker.rmdir()
    return data


def _object_npz(marker: Path) -> bytes:
    """A well-formed .npz whose members are object arrays (pickle inside)."""
    buf = io.BytesIO()
    payload = np.array([_Payload(marker)], dtype=object)
    np.savez(buf, embedding=payload, check=payload)
    return buf.getvalue()


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / CACHE_FORMAT).rglob("*.npz"))


def _old_joblib_entry(cache: Path, payload: bytes) -> Path:
    """Where joblib.Memory kept the embeddings before: never read any more."""
    folder = cache / "joblib" / "sk_hier" / "embeddings" / "_base" / "_embedding_for" / "0a1b"
    folder.mkdir(parents=True)
    (folder / "output.pkl").write_bytes(payload)
    (folder / "metadata.json").write_text("{}")
    return folder / "output.pkl"


def _tolerance(X: np.ndarray) -> float:
    # Recomputing one clip alone instead of in a batch may take other FFT / BLAS paths:
    # allow float32 rounding growing with the sqrt of the n_fft-term sums, at X's scale.
    return 8 * np.finfo(np.float32).eps * np.sqrt(2048) * float(np.abs(X).max())


def _count_calls(monkeypatch) -> list:
    calls: list[int] = []
    original = LogMelEmbedder._embed_batch

    def counting(self, waveforms, sr):
        calls.append(len(waveforms))
        return original(self, waveforms, sr)

    monkeypatch.setattr(LogMelEmbedder, "_embed_batch", counting)
    return calls


# -- nothing in a cache folder runs --------------------------------------------------------
@pytest.mark.parametrize("kind", ["raw pickle", "object-array npz"])
def test_payload_in_every_entry_never_runs_python_api(tmp_path, wavs, kind):
    cache, marker = tmp_path / "cache", tmp_path / "PWNED"
    fresh = LogMelEmbedder(**SETTINGS).transform(wavs)
    LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs)
    entries = _entries(cache)
    assert len(entries) == len(wavs)
    payload = _payload(marker) if kind == "raw pickle" else _object_npz(marker)
    for entry in entries:
        entry.write_bytes(payload)
    _old_joblib_entry(cache, _payload(marker))
    with pytest.warns(CorruptCacheWarning) as record:
        X = LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs)
    assert not marker.exists()
    (message,) = [str(w.message) for w in record if w.category is CorruptCacheWarning]
    assert all(str(entry) in message for entry in entries)
    np.testing.assert_allclose(X, fresh, rtol=0, atol=_tolerance(fresh))
    # The entries were replaced by good ones: the next run is quiet and hits.
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptCacheWarning)
        again = LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs)
    np.testing.assert_array_equal(again, X)
    assert not marker.exists()


def test_payload_in_every_entry_never_runs_command_line(tmp_path, wavs, capsys):
    cache, marker = tmp_path / "cache", tmp_path / "PWNED"
    argv = ["embed", str(wavs[0].parent), "--cache-dir", str(cache), "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "first.npz")]) == 0
    entries = _entries(cache)
    assert len(entries) == len(wavs)
    for entry in entries:
        entry.write_bytes(_payload(marker))
    _old_joblib_entry(cache, _payload(marker))
    capsys.readouterr()
    code = main([*argv, "--out", str(tmp_path / "second.npz")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert not marker.exists()
    assert err.startswith("sk-hier embed: warning: embedding cache: 3 entries")
    assert all(str(entry) in err for entry in entries) and "Traceback" not in err
    first, second = (
        load_embeddings(tmp_path / "first.npz"),
        load_embeddings(tmp_path / "second.npz"),
    )
    assert second.clip_ids.tolist() == first.clip_ids.tolist()
    np.testing.assert_allclose(second.X, first.X, rtol=0, atol=_tolerance(first.X))


def test_payload_with_n_jobs_2_never_runs(tmp_path, wavs):
    # Entries are read in worker processes there; the problems still reach the caller.
    cache, marker = tmp_path / "cache", tmp_path / "PWNED"
    LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs)
    for entry in _entries(cache):
        entry.write_bytes(_payload(marker))
    with pytest.warns(CorruptCacheWarning, match=f"{len(wavs)} entries"):
        LogMelEmbedder(cache_dir=cache, n_jobs=2, batch_size=1, **SETTINGS).transform(wavs)
    assert not marker.exists()


# -- damaged entries are recomputed --------------------------------------------------------
def _damage(entry: Path, kind: str, other: Path) -> None:
    data = entry.read_bytes()
    if kind == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        entry.write_bytes(b"")
    elif kind == "flipped byte":
        # Inside the float data of the first member: the zip CRC or the checksum fails.
        i = data.index(b"\x93NUMPY") + 200
        entry.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif kind == "wrong shape":
        buf = io.BytesIO()
        np.savez(buf, embedding=np.zeros(3, np.float32), check=np.asarray("0" * 64))
        entry.write_bytes(buf.getvalue())
    elif kind == "another clip's entry":
        entry.write_bytes(other.read_bytes())
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["truncated", "empty", "flipped byte", "wrong shape", "another clip's entry"]
)
def test_damaged_entry_is_recomputed_with_a_warning(tmp_path, wavs, monkeypatch, kind):
    cache = tmp_path / "cache"
    fresh = LogMelEmbedder(**SETTINGS).transform(wavs)
    calls = _count_calls(monkeypatch)
    LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs)
    assert sum(calls) == len(wavs)
    target = LogMelEmbedder(cache_dir=cache, **SETTINGS)._cache().path
    from sk_hier.embeddings._cache import content_key

    entries = [target(content_key(p.read_bytes())) for p in wavs]
    _damage(entries[1], kind, entries[0])
    with pytest.warns(CorruptCacheWarning) as record:
        X = LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs)
    assert sum(calls) == len(wavs) + 1  # only the damaged entry was recomputed
    (message,) = [str(w.message) for w in record if w.category is CorruptCacheWarning]
    assert str(entries[1]) in message and "1 entry" in message
    assert str(entries[0]) not in message
    np.testing.assert_allclose(X, fresh, rtol=0, atol=_tolerance(fresh))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptCacheWarning)
        LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs)
    assert sum(calls) == len(wavs) + 1  # replaced: a hit now


def test_truncated_entry_through_the_command_line(tmp_path, wavs, capsys):
    cache = tmp_path / "cache"
    argv = ["embed", str(wavs[0].parent), "--cache-dir", str(cache), "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "a.npz")]) == 0
    entry = _entries(cache)[0]
    entry.write_bytes(entry.read_bytes()[:100])
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "b.npz")]) == 0
    err = capsys.readouterr().err
    assert "sk-hier embed: warning: embedding cache: 1 entry" in err and str(entry) in err
    a, b = load_embeddings(tmp_path / "a.npz"), load_embeddings(tmp_path / "b.npz")
    np.testing.assert_allclose(b.X, a.X, rtol=0, atol=_tolerance(a.X))


# -- the cache's own promises --------------------------------------------------------------
def test_entries_are_plain_arrays_and_follow_the_umask(tmp_path, wavs):
    cache = tmp_path / "cache"
    old = os.umask(0o022)
    try:
        X = LogMelEmbedder(cache_dir=cache, **SETTINGS).transform(wavs[:1])
    finally:
        os.umask(old)
    (entry,) = _entries(cache)
    assert entry.stat().st_mode & 0o777 == 0o644
    with np.load(entry, allow_pickle=False) as data:
        assert sorted(data.files) == ["check", "embedding"]
        np.testing.assert_array_equal(data["embedding"], X[0])
    assert not list(cache.rglob("*.pkl")) and not list(cache.rglob("*sk_hier-tmp"))


def test_unwritable_cache_dir_fails_before_the_work(tmp_path, wavs, monkeypatch):
    calls = _count_calls(monkeypatch)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(PermissionError, match=f"cache_dir {blocker}"):
        LogMelEmbedder(cache_dir=blocker, **SETTINGS).transform(wavs)
    assert calls == []
