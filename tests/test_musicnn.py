"""The PyTorch port of the pretrained musicnn networks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
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
from sk_hier.embeddings import _musicnn_reference as reference
from sk_hier.embeddings import musicnn as musicnn_mod

# The float32-derived tolerances and their reasoning live with the fast-path tests.
from tests.test_embed_fast_path import EPS32, MUSICNN_FAN_IN, assert_f32_close

REPO = Path(__file__).resolve().parents[1]
TF_REFERENCE = REPO / "tests" / "data" / "musicnn_mtt_tf_reference.npz"


def _tone_mix(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 2000, 4))
    return (y + 0.01 * rng.normal(size=t.size)).astype(np.float32)


def check_tf_parity(threads: int) -> dict:
    """Run both networks on the TensorFlow reference batch; assert; return the errors.

    Used in this process and, with other CPU code paths selected, in a fresh one.
    """
    ref = np.load(TF_REFERENCE)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        batch = torch.from_numpy(ref["batch"])
        nets = {
            "fast": load_musicnn("MTT_musicnn"),
            "reference": reference.load_reference(musicnn_mod.musicnn_state_dict("MTT_musicnn")),
        }
        errors = {}
        for name, net in nets.items():
            with torch.inference_mode():
                out = {k: v.numpy() for k, v in net(batch).items()}
            for ours, theirs in [
                ("tags", "tags"),
                ("penultimate", "pen"),
                ("mean_pool", "mean"),
                ("max_pool", "max"),
            ]:
                msg = f"{name} network, {ours}, {threads} thread(s)"
                assert_f32_close(out[ours], ref[theirs], MUSICNN_FAN_IN, err_msg=msg)
                scale = np.abs(ref[theirs]).max()
                errors[f"{name}/{ours}"] = float(np.abs(out[ours] - ref[theirs]).max() / scale)
    finally:
        torch.set_num_threads(previous)
    return errors


@pytest.mark.parametrize("threads", [1, 2])
def test_parity_with_tensorflow_reference(threads):
    errors = check_tf_parity(threads)
    assert len(errors) == 8


@pytest.mark.parametrize(
    "env",
    [
        {"ATEN_CPU_CAPABILITY": "default"},
        # oneDNN and MKL on their AVX2 code paths: the setting that once gave errors
        # of 1e-5 (penultimate) and 4e-4 (max_pool) against TensorFlow.
        {
            "ATEN_CPU_CAPABILITY": "avx2",
            "ONEDNN_MAX_CPU_ISA": "AVX2",
            "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        },
    ],
    ids=["aten-default", "avx2"],
)
def test_parity_holds_on_other_cpu_code_paths(env):
    # The kernels are chosen when torch is imported: a fresh interpreter per setting.
    code = (
        "import json; from tests.test_musicnn import check_tf_parity; "
        "print(json.dumps(check_tf_parity(1)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(errors) >= {"fast/max_pool", "reference/max_pool"}


def test_outputs_do_not_depend_on_the_batch():
    batch = torch.from_numpy(np.load(TF_REFERENCE)["batch"])
    net = load_musicnn()
    with torch.inference_mode():
        together = net(batch)
        alone = [net(batch[i : i + 1]) for i in range(len(batch))]
    for key, value in together.items():
        joined = torch.cat([a[key] for a in alone]).numpy()
        assert_f32_close(joined, value.numpy(), MUSICNN_FAN_IN, err_msg=key)


def test_fast_network_is_deterministic():
    batch = torch.from_numpy(np.load(TF_REFERENCE)["batch"])
    net = load_musicnn()
    with torch.inference_mode():
        first, second = net(batch), net(batch)
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)


def test_module_shapes_and_eval_mode():
    net = load_musicnn("MSD_musicnn")
    assert not net.training
    assert not list(net.parameters())  # weights are derived buffers, for inference
    with torch.inference_mode():
        out = net(torch.rand(3, 187, 96))
    assert out["tags"].shape == (3, 50)
    assert out["penultimate"].shape == (3, 200)
    assert out["mean_pool"].shape == out["max_pool"].shape == (3, 753)
    assert torch.all((out["tags"] > 0) & (out["tags"] < 1))
    assert len(musicnn_tags("MSD_musicnn")) == 50
    # The layer-for-layer port holds exactly the checkpoint's 792,079 model values.
    ref = reference.load_reference(musicnn_mod.musicnn_state_dict("MSD_musicnn"))
    assert not ref.training
    assert (
        sum(p.numel() for p in ref.parameters())
        + sum(b.numel() for n, b in ref.named_buffers() if not n.endswith("num_batches_tracked"))
        == 792_079
    )


def test_weights_differ_between_models_and_are_cached():
    a = musicnn_mod.musicnn_state_dict("MTT_musicnn")
    b = musicnn_mod.musicnn_state_dict("MSD_musicnn")
    assert a is musicnn_mod.musicnn_state_dict("MTT_musicnn")
    assert not np.array_equal(a["out.weight"], b["out.weight"])
    assert musicnn_mod._shared_module("MTT_musicnn") is musicnn_mod._shared_module("MTT_musicnn")


def test_patches_follow_musicnn_preprocessing():
    import librosa

    y = _tone_mix(10.0, 16000)
    patches = musicnn_patches(y)
    # 10 s at 16 kHz, hop 256: 626 frames -> back-to-back 187-frame patches at 0, 187, 374.
    assert patches.shape == (3, 187, 96) and patches.dtype == np.float32
    S = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    rep = np.log10(10000 * S.astype(np.float16).astype(np.float32) + 1)
    # Equal but where float16 rounding of the mel power fell the other way (one float16
    # step, at most 2**-10 of the value: log10(1 + 2**-10) after compression), and such
    # places are rare; tests/test_embed_fast_path.py checks both in detail.
    step = np.log10(1 + 2.0**-10) + 16 * EPS32 * np.abs(rep).max()
    np.testing.assert_allclose(patches[1], rep[187:374], rtol=0, atol=step)
    assert np.mean(patches[1] != rep[187:374]) < 1e-3
    # Overlapping patches, musicnn's input_overlap in seconds.
    assert musicnn_patches(y, input_overlap=1.0).shape[0] == len(range(0, 626 - 187 + 1, 62))
    # A clip shorter than a patch is repeated to fill it.
    short = musicnn_patches(y[:16000])
    assert short.shape == (1, 187, 96)
    np.testing.assert_array_equal(short[0, :10], short[0, 63:73])
    with pytest.raises(ValueError, match="below one frame"):
        musicnn_patches(y, input_overlap=0.001)


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
    with torch.inference_mode():
        out = load_musicnn()(torch.from_numpy(musicnn_patches(audio)))
    expected = torch.cat([out["penultimate"], out["mean_pool"]], dim=1).mean(0).numpy()
    assert_f32_close(X[0], expected, MUSICNN_FAN_IN)

    other = MusicnnEmbedder(features=("tags", "max_pool"), pooling=("mean", "max")).fit()
    assert other.n_features_out_ == 2 * (50 + 753)
    assert other.get_feature_names_out()[0] == "tags0_mean"
    assert other.transform([path]).shape == (1, 1606)


def test_embedder_batches_across_clips():
    ys = [_tone_mix(s, 16000, seed=i) for i, s in enumerate((4.0, 7.0, 2.0))]
    one = MusicnnEmbedder(sample_rate=16000, batch_size=1).transform(ys)
    many = MusicnnEmbedder(sample_rate=16000, batch_size=64).transform(ys)
    assert_f32_close(one, many, MUSICNN_FAN_IN)


def test_parameter_errors():
    with pytest.raises(ValueError, match="Unknown musicnn model"):
        MusicnnEmbedder(model="MTT_vgg").fit()
    with pytest.raises(ValueError, match="features must be"):
        MusicnnEmbedder(features=("penultimate", "cnn9")).fit()
    with pytest.raises(ValueError, match="input_length"):
        MusicnnEmbedder(input_length=0).fit()


def test_missing_musicnn_package_says_how_to_install(monkeypatch, tmp_path):
    from sk_hier.embeddings import _weights

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "musicnn" else real(name, *a),
    )
    MusicnnEmbedder().fit()  # the packaged weights need no wheel
    with pytest.raises(ImportError, match=r"pip install --no-deps musicnn==0\.1\.0"):
        musicnn_mod.checkpoint_prefix("MTT_musicnn")
    monkeypatch.setattr(_weights, "DATA_DIR", tmp_path)  # an install without them
    with pytest.raises(ImportError, match="--no-deps"):
        MusicnnEmbedder().fit()


def test_missing_checkpoint_variable_is_named():
    weights = {"conv2d/kernel": np.zeros((7, 38, 1, 204), np.float32)}
    with pytest.raises(ValueError, match="no variable 'conv2d/bias'"):
        reference.convert_checkpoint(weights)


def test_fast_network_refuses_inputs_that_need_gradients():
    x = torch.zeros(1, 187, 96, requires_grad=True)
    with pytest.raises(RuntimeError, match="for inference"):
        load_musicnn()(x)
    with torch.no_grad():
        assert load_musicnn()(x)["tags"].shape == (1, 50)
