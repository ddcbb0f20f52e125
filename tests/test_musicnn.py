"""The PyTorch port of the pretrained musicnn networks."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("musicnn.configuration", reason="musicnn is not installed")

from sk_hier.embeddings import (
    MusicnnEmbedder,
    load_musicnn,
    musicnn_patches,
    musicnn_tags,
)
from sk_hier.embeddings import musicnn as musicnn_mod

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REFERENCE = DATA / "musicnn_mtt_tf_reference.npz"


def _tone_mix(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 2000, 4))
    return (y + 0.01 * rng.normal(size=t.size)).astype(np.float32)


@pytest.mark.skipif(not REFERENCE.is_file(), reason="reference data not found")
def test_parity_with_tensorflow_reference():
    ref = np.load(REFERENCE)
    net = load_musicnn("MTT_musicnn")
    with torch.no_grad():
        out = {k: v.numpy() for k, v in net(torch.from_numpy(ref["batch"])).items()}
    errors = {
        "tags": np.abs(out["tags"] - ref["tags"]).max(),
        "pen": np.abs(out["penultimate"] - ref["pen"]).max(),
        "mean": np.abs(out["mean_pool"] - ref["mean"]).max(),
        "max": np.abs(out["max_pool"] - ref["max"]).max(),
    }
    assert errors["tags"] < 3e-6, errors
    assert errors["pen"] < 1e-5, errors
    assert errors["mean"] < 1e-5, errors
    assert errors["max"] < 4e-4, errors


@pytest.mark.skipif(not REFERENCE.is_file(), reason="reference data not found")
def test_outputs_do_not_depend_on_the_batch():
    batch = torch.from_numpy(np.load(REFERENCE)["batch"])
    net = load_musicnn()
    with torch.no_grad():
        together = net(batch)["penultimate"]
        alone = torch.cat([net(batch[i : i + 1])["penultimate"] for i in range(len(batch))])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_module_shapes_and_eval_mode():
    net = load_musicnn("MSD_musicnn")
    assert not net.training
    assert (
        sum(p.numel() for p in net.parameters())
        + sum(b.numel() for n, b in net.named_buffers() if not n.endswith("num_batches_tracked"))
        == 792_079
    )
    with torch.no_grad():
        out = net(torch.rand(3, 187, 96))
    assert out["tags"].shape == (3, 50)
    assert out["penultimate"].shape == (3, 200)
    assert out["mean_pool"].shape == out["max_pool"].shape == (3, 753)
    assert torch.all((out["tags"] > 0) & (out["tags"] < 1))
    assert len(musicnn_tags("MSD_musicnn")) == 50


def test_weights_differ_between_models_and_are_cached():
    a = musicnn_mod.musicnn_state_dict("MTT_musicnn")
    b = musicnn_mod.musicnn_state_dict("MSD_musicnn")
    assert a is musicnn_mod.musicnn_state_dict("MTT_musicnn")
    assert not np.array_equal(a["out.weight"], b["out.weight"])


def test_patches_follow_musicnn_preprocessing():
    import librosa

    y = _tone_mix(10.0, 16000)
    patches = musicnn_patches(y)
    # 10 s at 16 kHz, hop 256: 626 frames -> back-to-back 187-frame patches at 0, 187, 374.
    assert patches.shape == (3, 187, 96) and patches.dtype == np.float32
    S = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    rep = np.log10(10000 * S.astype(np.float16).astype(np.float32) + 1)
    np.testing.assert_allclose(patches[1], rep[187:374], rtol=1e-6)
    # Overlapping patches, musicnn's input_overlap in seconds.
    assert musicnn_patches(y, input_overlap=1.0).shape[0] == len(range(0, 626 - 187 + 1, 62))
    # A clip shorter than a patch is repeated to fill it.
    short = musicnn_patches(y[:16000])
    assert short.shape == (1, 187, 96)
    np.testing.assert_array_equal(short[0, :10], short[0, 63:73])


def test_loud_audio_does_not_overflow():
    y = np.clip(_tone_mix(3.0, 16000) * 50, -1, 1)
    assert np.all(np.isfinite(musicnn_patches(y)))


def test_embedder_default_is_953_mean_of_patches(tmp_path):
    y = _tone_mix(7.0, 22050)
    path = tmp_path / "clip.wav"
    sf.write(path, y, 22050, subtype="PCM_16")
    emb = MusicnnEmbedder().fit()
    assert emb.n_features_out_ == 953
    X = emb.transform([path])
    assert X.shape == (1, 953) and X.dtype == np.float32

    from sk_hier.embeddings import load_audio

    audio, _ = load_audio(path, sr=16000)
    with torch.no_grad():
        out = load_musicnn()(torch.from_numpy(musicnn_patches(audio)))
    expected = torch.cat([out["penultimate"], out["mean_pool"]], dim=1).mean(0).numpy()
    np.testing.assert_allclose(X[0], expected, atol=1e-5)

    other = MusicnnEmbedder(features=("tags", "max_pool"), pooling=("mean", "max")).fit()
    assert other.n_features_out_ == 2 * (50 + 753)
    assert other.get_feature_names_out()[0] == "tags0_mean"
    assert other.transform([path]).shape == (1, 1606)


def test_embedder_batches_across_clips(tmp_path):
    ys = [_tone_mix(s, 16000, seed=i) for i, s in enumerate((4.0, 7.0, 2.0))]
    one = MusicnnEmbedder(sample_rate=16000, batch_size=1).transform(ys)
    many = MusicnnEmbedder(sample_rate=16000, batch_size=64).transform(ys)
    np.testing.assert_allclose(one, many, atol=2e-5)


def test_parameter_errors():
    with pytest.raises(ValueError, match="Unknown musicnn model"):
        MusicnnEmbedder(model="MTT_vgg").fit()
    with pytest.raises(ValueError, match="features must be"):
        MusicnnEmbedder(features=("penultimate", "cnn9")).fit()
    with pytest.raises(ValueError, match="input_length"):
        MusicnnEmbedder(input_length=0).fit()


def test_missing_musicnn_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "musicnn" else real(name, *a),
    )
    with pytest.raises(ImportError, match=r"pip install --no-deps musicnn==0\.1\.0"):
        musicnn_mod.checkpoint_prefix("MTT_musicnn")
    with pytest.raises(ImportError, match="--no-deps"):
        MusicnnEmbedder().fit()


@pytest.mark.slow
def test_speed_under_a_quarter_second_per_ten_second_clip():
    ys = [_tone_mix(10.0, 16000, seed=i) for i in range(8)]
    emb = MusicnnEmbedder(sample_rate=16000)
    emb.transform(ys[:1])  # load the weights
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        # Best of three: the figure is about the code, not about a busy machine.
        times = []
        for _ in range(3):
            start = time.perf_counter()
            emb.transform(ys)
            times.append((time.perf_counter() - start) / len(ys))
    finally:
        torch.set_num_threads(threads)
    assert min(times) < 0.25, times
