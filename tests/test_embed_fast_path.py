"""The fast embedding paths against the reference paths they replace.

``sk_hier.embeddings._musicnn_reference`` and ``_logmel_reference`` keep the direct
computations; the embedders run rearranged ones (the timbral front-end of musicnn in
the DFT domain of the mel axis, a banded mel projection). They must agree to float32
rounding.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sk_hier.embeddings import LogMelEmbedder, logmel_frames
from sk_hier.embeddings._logmel_reference import reference_logmel_frames

REPO = Path(__file__).resolve().parents[1]
TF_REFERENCE = REPO / "tests" / "data" / "musicnn_mtt_tf_reference.npz"

# -- tolerances --------------------------------------------------------------------------
# Tolerances follow from float32 arithmetic, not from one machine's results. A float32
# sum of n products carries a rounding error of about eps * sqrt(n) times the size of
# its terms (errors of random sign add like a random walk; eps * n is the rarely
# approached worst case), and a network carries it forward at the scale of its
# activations, which the largest |value| of each output measures. Two correct
# implementations (TensorFlow's and ours; a fast path and the reference) differ by two
# such errors, from different summation orders and kernels (AVX2, AVX-512, oneDNN, MKL,
# the thread count). The longest sum on any path to the musicnn outputs is the first
# mid-end convolution's, 561 features x 7 frames; for log-mel it is the FFT's n_fft
# samples. K = 8 leaves room for the errors of both sides and their growth over a
# network's depth: the largest seen is 1.4 eps * sqrt(n) * max (musicnn's max_pool
# against TensorFlow with oneDNN limited to AVX2), while real faults (a frame of padding
# on the wrong side, batch-norm epsilon 1e-5, a shifted mel filter) move outputs by 1e-3
# to 1e-1 of their scale, far beyond 8 * sqrt(3927) * eps ~ 6e-5.
EPS32 = float(np.finfo(np.float32).eps)  # 2**-23 ~ 1.19e-7
K = 8
MUSICNN_FAN_IN = 561 * 7
# musicnn rounds its mel power to float16 before log10(10000 * S + 1): one float16 step
# is at most 2**-10 of the value, so where two float32 computations of S round to
# neighbouring float16 values the inputs differ by up to log10(1 + 2**-10) ~ 4.2e-4.
FLOAT16_STEP = float(np.log10(1 + 2.0**-10))


def assert_f32_close(actual, expected, fan_in: int, err_msg: str = "") -> None:
    """``actual == expected`` up to float32 rounding over sums of ``fan_in`` terms."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(
        actual,
        expected,
        rtol=K * EPS32,
        atol=K * EPS32 * np.sqrt(fan_in) * scale,
        err_msg=err_msg,
    )


def _clip(seconds: float, sr: int, seed: int, gain: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    partials = rng.uniform(80, 4000, 5)
    rate = rng.uniform(0.1, 2, 5)
    y = sum(
        0.2 * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * r * t))
        for f, r in zip(partials, rate)
    )
    y = gain * (y + 0.01 * rng.normal(size=t.size))
    return np.clip(y, -1, 1).astype(np.float32)


CLIPS = {
    "tones": lambda sr: _clip(10.0, sr, 0),
    "short": lambda sr: _clip(2.0, sr, 1),
    "odd length": lambda sr: _clip(7.3, sr, 2),
    "loud, clipped": lambda sr: _clip(5.0, sr, 3, gain=30.0),
    "noise": lambda sr: np.random.default_rng(4).normal(0, 0.1, 4 * sr).astype(np.float32),
}


# -- musicnn -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def musicnn_nets():
    pytest.importorskip("musicnn.configuration", reason="musicnn is not installed")
    from sk_hier.embeddings import _musicnn_reference as reference
    from sk_hier.embeddings import load_musicnn
    from sk_hier.embeddings.musicnn import musicnn_state_dict

    return {
        model: (load_musicnn(model), reference.load_reference(musicnn_state_dict(model)))
        for model in ("MTT_musicnn", "MSD_musicnn")
    }


@pytest.mark.parametrize("model", ["MTT_musicnn", "MSD_musicnn"])
def test_musicnn_network_equals_reference(musicnn_nets, model):
    import torch

    fast, ref = musicnn_nets[model]
    rng = np.random.default_rng(0)
    inputs = {
        "TF reference patches": np.load(TF_REFERENCE)["batch"],
        # log10(10000 S + 1) of mel power lies in [0, ~8]
        "uniform": rng.uniform(0, 6, (3, 187, 96)).astype(np.float32),
        "silence": np.zeros((1, 187, 96), np.float32),
    }
    for name, x in inputs.items():
        with torch.inference_mode():
            a, b = fast(torch.from_numpy(x)), ref(torch.from_numpy(x))
        assert a.keys() == b.keys()
        for key in a:
            assert_f32_close(a[key], b[key], MUSICNN_FAN_IN, err_msg=f"{model}, {name}, {key}")


@pytest.mark.parametrize("name", list(CLIPS))
def test_musicnn_patches_equal_reference_up_to_float16_rounding(name):
    pytest.importorskip("librosa")
    from sk_hier.embeddings import musicnn_patches
    from sk_hier.embeddings._musicnn_reference import reference_patches

    y = CLIPS[name](16000)
    for overlap in (None, 1.0):
        fast, ref = musicnn_patches(y, input_overlap=overlap), reference_patches(y, 3.0, overlap)
        assert fast.shape == ref.shape and fast.dtype == ref.dtype == np.float32
        # Both compute the mel power to float32 accuracy or better (the fast path in
        # float64, as librosa's STFT); then float16 rounding either agrees or is one step
        # apart, which happens in ~1e-4 of the places.
        slack = 4 * EPS32 * np.abs(ref).max()  # log10 and the float32 casts
        np.testing.assert_allclose(fast, ref, rtol=0, atol=FLOAT16_STEP + slack)
        assert np.mean(fast != ref) < 1e-3


def test_musicnn_embedder_equals_reference():
    pytest.importorskip("musicnn.configuration", reason="musicnn is not installed")
    from sk_hier.embeddings import MusicnnEmbedder

    ys = [CLIPS[name](22050) for name in CLIPS]
    fast = MusicnnEmbedder(sample_rate=22050)
    ref = MusicnnEmbedder(sample_rate=22050)
    ref._reference = True
    # The default features are means over frames and patches: the rare float16 step
    # between the two preprocessings (see above) is averaged down below float32 noise.
    assert_f32_close(fast.transform(ys), ref.transform(ys), MUSICNN_FAN_IN)


# -- log-mel -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n_mfcc": 0, "top_db": None},
        {"sr": 16000, "n_fft": 512, "hop_length": 160, "n_mels": 40, "n_mfcc": 13},
        {"fmin": 200.0, "fmax": 6000.0, "n_mels": 64, "hop_length": 256},
    ],
    ids=["defaults", "no-mfcc-no-floor", "16k-small-fft", "band-limited"],
)
def test_logmel_frames_equal_reference(params):
    sr = params.get("sr", 22050)
    for name, make in CLIPS.items():
        y = make(sr)
        fast, ref = logmel_frames(y, **params), reference_logmel_frames(y, **params)
        assert fast.shape == ref.shape and fast.dtype == np.float32
        assert_f32_close(fast, ref, params.get("n_fft", 2048), err_msg=name)


def test_logmel_embedder_equals_reference_and_is_deterministic():
    ys = [CLIPS[name](22050) for name in CLIPS]
    for params in ({}, {"pooling": ("mean", "std", "min", "max"), "n_mels": 96}):
        fast = LogMelEmbedder(sample_rate=22050, **params)
        ref = LogMelEmbedder(sample_rate=22050, **params)
        ref._reference = True
        X = fast.transform(ys)
        assert_f32_close(X, ref.transform(ys), 2048)
        np.testing.assert_array_equal(X, fast.transform(ys))


def test_banded_mel_projection_equals_dense_filterbank():
    import librosa
    import torch

    from sk_hier.embeddings.logmel import _apply_mel, _mel_blocks

    mel = librosa.filters.mel(sr=22050, n_fft=2048, n_mels=128, fmin=300.0, fmax=5000.0)
    squares = np.random.default_rng(0).uniform(0, 1, (50, 2 * mel.shape[1])).astype(np.float32)
    banded = _apply_mel(_mel_blocks(mel), torch.from_numpy(squares), len(mel)).numpy()
    power = squares[:, 0::2] + squares[:, 1::2]  # interleaved real and imaginary squares
    assert_f32_close(banded, mel @ power.T, mel.shape[1])


def test_importing_the_embedders_does_not_import_torch():
    # Startup time: the command line and the package import without torch.
    code = (
        "import sys, sk_hier.embeddings, sk_hier.embeddings.musicnn, "
        "sk_hier.embeddings.logmel; print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


def test_musicnn_network_odd_batch_at_two_threads(musicnn_nets):
    # Two threads take two patches per step: an odd batch leaves a step with one.
    import torch

    fast, ref = musicnn_nets["MTT_musicnn"]
    x = np.random.default_rng(1).uniform(0, 6, (3, 187, 96)).astype(np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.inference_mode():
            a, b = fast(torch.from_numpy(x)), ref(torch.from_numpy(x))
    finally:
        torch.set_num_threads(threads)
    for key in a:
        assert_f32_close(a[key], b[key], MUSICNN_FAN_IN, err_msg=key)


# -- loading -------------------------------------------------------------------------------
def test_pcm16_wav_decodes_to_libsndfile_floats(tmp_path):
    import soundfile as sf

    from sk_hier.embeddings._base import _decode

    pcm = np.concatenate([np.arange(-32768, 32768), [0, 1, -1]]).astype(np.int16)
    for channels in (1, 2):
        path = str(tmp_path / f"full_scale_{channels}.wav")
        sf.write(path, np.stack([pcm, pcm[::-1]], axis=1)[:, :channels], 22050, "PCM_16")
        audio, sr = _decode(path, path)
        expected = sf.read(path, dtype="float32", always_2d=True)[0]
        assert sr == 22050 and audio.dtype == np.float32
        np.testing.assert_array_equal(audio, expected)


def test_reference_loading_gives_the_same_audio_and_errors(tmp_path):
    import soundfile as sf

    from sk_hier.embeddings import BadAudioError
    from sk_hier.embeddings._base import _Item, _load_item
    from sk_hier.embeddings._loading_reference import load_item

    good = tmp_path / "tone.wav"
    sf.write(good, _clip(2.0, 22050, 5), 22050, subtype="PCM_16")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_bytes(b"not audio at all")
    sf.write(tmp_path / "silent.wav", np.zeros(1000), 22050)
    for emb in (LogMelEmbedder(), LogMelEmbedder(sr=16000)):
        item = _Item(0, str(good), path=str(good))
        _, _, now = _load_item(item, emb, None, [])
        key, _, before = load_item(item, emb, None, [])
        np.testing.assert_array_equal(now, before)
        assert key is not None  # the reference path hashed every file
    for name in ("empty.wav", "text.wav", "silent.wav", "missing.wav"):
        item = _Item(0, str(tmp_path / name), path=str(tmp_path / name))
        reasons = []
        for load in (_load_item, load_item):
            with pytest.raises(BadAudioError) as info:
                load(item, LogMelEmbedder(), None, [])
            # libsndfile's own message (in brackets) names a path or a BytesIO
            reasons.append(info.value.reason.split(" [")[0])
        assert reasons[0] == reasons[1], name
