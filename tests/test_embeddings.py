"""Audio embedders: LogMelEmbedder and the shared machinery (validation, cache, jobs)."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_hier.embeddings import (
    BadAudioError,
    LogMelEmbedder,
    SkippedAudioWarning,
    load_audio,
    logmel_frames,
    make_embedder,
    pool_frames,
)

SR = 22050


def _write_wav(path: Path, seconds: float = 1.0, sr: int = SR, seed: int = 0, **kw) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + 0.05 * rng.normal(size=t.size)
    sf.write(path, y.astype(np.float32), sr, subtype=kw.get("subtype", "PCM_16"))
    return path


@pytest.fixture
def wavs(tmp_path) -> list[Path]:
    return [
        _write_wav(tmp_path / f"clip{i}.wav", seconds=1.0 + 0.25 * i, seed=i) for i in range(4)
    ]


@pytest.fixture
def bad_files(tmp_path) -> dict[str, tuple[Path, str]]:
    """Each bad-file kind -> (path, words the error must contain)."""
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage" + bytes(40))
    (d / "notes.wav").write_text("this is a text file, not audio\n")
    sf.write(d / "zeros.wav", np.zeros(SR, np.float32), SR)
    sf.write(d / "quiet.wav", np.full(SR, 1e-6, np.float32), SR, subtype="FLOAT")
    _write_wav(d / "header_only.wav", seconds=0.0)
    (d / "folder.wav").mkdir()
    return {
        "missing": (d / "missing.wav", "file not found"),
        "empty": (d / "empty.wav", "empty file"),
        "corrupt": (d / "corrupt.wav", "corrupt or truncated WAV"),
        "non-audio": (d / "notes.wav", "not an audio file"),
        "silent": (d / "zeros.wav", "silent (all zeros"),
        "below floor": (d / "quiet.wav", "silent (peak amplitude"),
        "no samples": (d / "header_only.wav", "no audio samples"),
        "folder": (d / "folder.wav", "is a folder"),
    }


# -- LogMel features ---------------------------------------------------------------------------
def test_logmel_frames_match_librosa():
    import librosa

    y = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)
    feats = logmel_frames(y, sr=SR, n_mfcc=13)
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR))
    mfcc = librosa.feature.mfcc(S=S, n_mfcc=13)
    assert feats.shape == (S.shape[1], 128 + 13)
    np.testing.assert_allclose(feats[:, :128], S.T, atol=1e-3)
    np.testing.assert_allclose(feats[:, 128:], mfcc.T, atol=1e-2)


def test_logmel_shape_determinism_and_names(wavs):
    emb = LogMelEmbedder().fit()
    assert emb.n_features_out_ == 2 * (128 + 20) == 296
    names = emb.get_feature_names_out()
    assert names[0] == "logmel0_mean" and names[-1] == "mfcc19_max"
    X = emb.transform(wavs)
    assert X.shape == (4, 296) and X.dtype == np.float32
    np.testing.assert_array_equal(X, LogMelEmbedder().transform([str(p) for p in wavs]))
    np.testing.assert_array_equal(emb.kept_indices_, np.arange(4))
    assert emb.skipped_ == []
    assert not np.allclose(X[0], X[1])


def test_pooling_and_settings():
    y = np.random.default_rng(1).normal(0, 0.1, SR)
    emb = LogMelEmbedder(n_mels=40, n_mfcc=0, pooling=("mean", "std", "max"), sample_rate=SR)
    X = emb.fit_transform([y])
    frames = logmel_frames(y.astype(np.float32), n_mels=40, n_mfcc=0)
    np.testing.assert_allclose(X[0], pool_frames(frames, ("mean", "std", "max")), rtol=1e-6)
    assert X.shape == (1, 120)
    with pytest.raises(ValueError, match="pooling must be"):
        LogMelEmbedder(pooling=("mean", "median")).fit()
    with pytest.raises(ValueError, match="n_mfcc"):
        LogMelEmbedder(n_mfcc=200).fit()
    with pytest.raises(ValueError, match="on_error"):
        LogMelEmbedder(on_error="ignore").fit()


def test_waveforms_resampled_like_files(tmp_path):
    path = _write_wav(tmp_path / "a.wav", sr=16000, subtype="FLOAT")
    y, sr = sf.read(path, dtype="float32")
    from_file = LogMelEmbedder().transform([path])
    from_wave = LogMelEmbedder(sample_rate=sr).transform([y])
    np.testing.assert_allclose(from_file, from_wave, rtol=1e-6)
    stereo = np.stack([y, y], axis=1)  # (samples, channels) mixes down to the same
    np.testing.assert_allclose(LogMelEmbedder(sample_rate=sr).transform([stereo]), from_wave)
    two_d = LogMelEmbedder(sample_rate=sr).transform(np.stack([y, 0.5 * y]))
    assert two_d.shape == (2, 296)


def test_integer_waveforms_are_scaled_like_pcm_files(tmp_path):
    path = _write_wav(tmp_path / "a.wav")  # 16-bit PCM
    pcm, sr = sf.read(path, dtype="int16")
    np.testing.assert_allclose(
        LogMelEmbedder(sample_rate=sr).transform([pcm]), LogMelEmbedder().transform([path])
    )


def test_input_errors(wavs):
    with pytest.raises(ValueError, match="set sample_rate"):
        LogMelEmbedder().transform([np.ones(SR)])
    with pytest.raises(ValueError, match="not a single path"):
        LogMelEmbedder().transform(str(wavs[0]))
    with pytest.raises(ValueError, match="single 1-D waveform"):
        LogMelEmbedder(sample_rate=SR).transform(np.ones(SR))
    with pytest.raises(ValueError, match="Input 1 is a dict"):
        LogMelEmbedder().transform([wavs[0], {"a": 1}])


def test_sklearn_integration(wavs):
    emb = LogMelEmbedder(n_mels=32, n_mfcc=5)
    assert clone(emb).get_params() == emb.get_params()
    pipe = make_pipeline(emb, StandardScaler())
    Z = pipe.fit_transform(wavs)
    assert Z.shape == (4, 74)
    assert LogMelEmbedder().__sklearn_tags__().requires_fit is False
    assert make_embedder("logmel", n_mels=32).n_mels == 32
    with pytest.raises(ValueError, match="Unknown embedder"):
        make_embedder("vggish")


# -- bad files --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind",
    ["missing", "empty", "corrupt", "non-audio", "silent", "below floor", "no samples", "folder"],
)
def test_each_bad_file_kind_raises_naming_the_file(bad_files, wavs, kind):
    path, words = bad_files[kind]
    with pytest.raises(ValueError) as info:
        LogMelEmbedder().transform([wavs[0], path, wavs[1]])
    assert isinstance(info.value, BadAudioError)
    assert str(path) in str(info.value)
    assert words in str(info.value), str(info.value)
    with pytest.raises(BadAudioError) as direct:
        load_audio(path)
    assert str(path) in str(direct.value)


def test_bad_waveforms():
    with pytest.raises(BadAudioError, match=r"input 1 \(waveform\): holds NaN"):
        LogMelEmbedder(sample_rate=SR).transform([np.ones(SR), np.full(SR, np.nan)])
    with pytest.raises(BadAudioError, match="silent"):
        LogMelEmbedder(sample_rate=SR).transform([np.zeros(SR)])
    quiet = np.full(SR, 1e-6)
    assert LogMelEmbedder(sample_rate=SR, silence_threshold=0).transform([quiet]).shape == (1, 296)


def test_skip_mode_reports_and_keeps_order(bad_files, wavs):
    inputs = [wavs[0], bad_files["corrupt"][0], wavs[1], bad_files["missing"][0], wavs[2]]
    emb = LogMelEmbedder(on_error="skip")
    with pytest.warns(SkippedAudioWarning, match="2 of 5 inputs") as record:
        X = emb.transform(inputs)
    message = str(record[0].message)
    assert str(bad_files["corrupt"][0]) in message and str(bad_files["missing"][0]) in message
    np.testing.assert_array_equal(emb.kept_indices_, [0, 2, 4])
    assert [s for s, _ in emb.skipped_] == [str(inputs[1]), str(inputs[3])]
    assert "file not found" in emb.skipped_[1][1]
    np.testing.assert_array_equal(X, LogMelEmbedder().transform([wavs[0], wavs[1], wavs[2]]))
    with pytest.warns(SkippedAudioWarning):
        empty = LogMelEmbedder(on_error="skip").transform([bad_files["empty"][0]])
    assert empty.shape == (0, 296)


# -- cache ----------------------------------------------------------------------------------------
def _count_calls(monkeypatch) -> list:
    calls = []
    original = LogMelEmbedder._embed_batch

    def counting(self, waveforms, sr):
        calls.append(len(waveforms))
        return original(self, waveforms, sr)

    monkeypatch.setattr(LogMelEmbedder, "_embed_batch", counting)
    return calls


def _cache_entries(cache: Path) -> int:
    return sum(1 for _ in cache.rglob("*.npz"))


def test_cache_hits_by_content_and_misses_on_change(tmp_path, wavs, monkeypatch):
    calls = _count_calls(monkeypatch)
    cache = tmp_path / "cache"
    emb = LogMelEmbedder(cache_dir=cache)
    X1 = emb.transform(wavs[:2])
    assert sum(calls) == 2 and _cache_entries(cache) == 2
    X2 = emb.transform(wavs[:2])
    assert sum(calls) == 2  # both hits
    np.testing.assert_array_equal(X1, X2)

    renamed = tmp_path / "renamed.wav"
    shutil.move(wavs[0], renamed)
    X3 = emb.transform([renamed])
    assert sum(calls) == 2  # same content, new name: a hit
    np.testing.assert_array_equal(X3[0], X1[0])

    _write_wav(wavs[1], seconds=1.25, seed=99)  # same name, new content
    X4 = emb.transform([wavs[1]])
    assert sum(calls) == 3  # a miss
    assert not np.allclose(X4[0], X1[1])

    LogMelEmbedder(cache_dir=cache, n_mels=64).transform([renamed])
    assert sum(calls) == 4  # other settings: a miss
    assert _cache_entries(cache) == 4


def test_failed_files_leave_no_cache_entry(tmp_path, bad_files, wavs):
    cache = tmp_path / "cache"
    with pytest.raises(BadAudioError):
        LogMelEmbedder(cache_dir=cache).transform([bad_files["corrupt"][0]])
    with pytest.warns(SkippedAudioWarning):
        LogMelEmbedder(cache_dir=cache, on_error="skip").transform(
            [bad_files["silent"][0], bad_files["non-audio"][0], wavs[0]]
        )
    assert _cache_entries(cache) == 1


def test_cached_waveforms(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch)
    y = np.random.default_rng(0).normal(0, 0.1, SR)
    emb = LogMelEmbedder(sample_rate=SR, cache_dir=tmp_path)
    emb.transform([y])
    emb.transform([y.copy()])
    assert sum(calls) == 1
    LogMelEmbedder(sample_rate=16000, cache_dir=tmp_path).transform([y])
    assert sum(calls) == 2  # the rate is part of a waveform's identity


# -- jobs and progress -------------------------------------------------------------------------
def test_n_jobs_2_equals_n_jobs_1(wavs, bad_files):
    inputs = [*wavs, bad_files["silent"][0]]
    kw = dict(batch_size=1, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedAudioWarning)
        one = LogMelEmbedder(n_jobs=1, **kw)
        two = LogMelEmbedder(n_jobs=2, **kw)
        X1, X2 = one.transform(inputs), two.transform(inputs)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(one.kept_indices_, two.kept_indices_)
    assert one.skipped_ == two.skipped_


def test_n_jobs_2_raises_naming_the_file(wavs, bad_files):
    path = bad_files["corrupt"][0]
    with pytest.raises(BadAudioError, match=str(path).replace("\\", "\\\\")):
        LogMelEmbedder(n_jobs=2, batch_size=1).transform([*wavs, path])


def test_progress_bar(wavs, capsys):
    LogMelEmbedder(progress=True).transform(wavs)
    assert "embed (logmel)" in capsys.readouterr().err


def test_load_audio_resamples(tmp_path):
    path = _write_wav(tmp_path / "a.wav", seconds=0.5)
    y, sr = load_audio(path, sr=16000)
    assert sr == 16000 and y.shape == (8000,) and y.dtype == np.float32
    y0, sr0 = load_audio(os.fspath(path))
    assert sr0 == SR and y0.shape == (SR // 2,)
