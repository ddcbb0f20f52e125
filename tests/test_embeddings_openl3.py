"""OpenL3Embedder: framing, batching and pooling, with a stand-in model."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import soundfile as sf

from sk_hier.embeddings import OpenL3Embedder, openl3_frames


class FakeModel:
    """Keras-like: ``predict(x, verbose=0)``; records the batch shapes it saw."""

    def __init__(self, size: int = 512):
        self.size = size
        self.batches: list[tuple] = []

    def predict(self, x, verbose=0):
        assert x.ndim == 3 and x.shape[1:] == (1, 48000) and x.dtype == np.float32
        self.batches.append(x.shape)
        # Window energy and mean in the first two dimensions; a ramp elsewhere.
        out = np.zeros((len(x), self.size), np.float32)
        out[:, 0] = np.sqrt((x**2).mean(axis=(1, 2)))
        out[:, 1] = x.mean(axis=(1, 2))
        out[:, 2:] = np.arange(self.size - 2) / self.size
        return out


def test_framing_follows_openl3():
    # 2 s at 48 kHz, centred: 24,000 zeros in front, end padded to a whole hop.
    frames = openl3_frames(np.ones(96000, np.float32), hop_size=0.1, center=True)
    assert frames.shape == (1 + (120000 - 48000) // 4800, 1, 48000)
    assert frames[0, 0, :24000].sum() == 0 and frames[0, 0, 24000:].min() == 1
    np.testing.assert_array_equal(frames[1, 0, :-4800], frames[0, 0, 4800:])
    assert openl3_frames(np.ones(1000), center=False).shape == (1, 1, 48000)
    uncentred = openl3_frames(np.ones(96000), hop_size=0.5, center=False)
    assert uncentred.shape == (3, 1, 48000)


def test_fake_model_batching_and_pooling():
    model = FakeModel()
    ys = [np.full(48000, 0.5), np.full(96000, 0.25)]
    emb = OpenL3Embedder(model=model, sample_rate=48000, batch_size=7).fit()
    assert emb.n_features_out_ == 1024
    X = emb.transform(ys)
    n_windows = [len(openl3_frames(y)) for y in ys]
    # Windows of all clips go through the model together, at most batch_size at a time.
    assert [b[0] for b in model.batches] == [7] * (sum(n_windows) // 7) + [sum(n_windows) % 7]
    assert X.shape == (2, 1024)
    frames = openl3_frames(ys[1])
    energies = np.sqrt((frames**2).mean(axis=(1, 2)))
    np.testing.assert_allclose(X[1, 0], energies.mean(), rtol=1e-5)  # mean pooling
    np.testing.assert_allclose(X[1, 512], energies.max(), rtol=1e-5)  # then max pooling


def test_callable_model_and_resampling():
    def model(x):
        return np.tile(x.mean(axis=2), (1, 512))

    y = 0.5 * np.sin(np.arange(22050) / 5)
    X = OpenL3Embedder(model=model, sample_rate=22050, pooling=("mean",)).transform([y])
    assert X.shape == (1, 512)


def test_wrong_model_output_shape_is_reported():
    with pytest.raises(ValueError, match=r"returned shape \(6, 128\).*expected \(6, 512\)"):
        OpenL3Embedder(model=FakeModel(size=128), sample_rate=48000).transform([np.ones(48000)])


def test_files_and_errors(tmp_path):
    sf.write(tmp_path / "a.wav", 0.3 * np.sin(np.arange(16000) / 3), 16000)
    emb = OpenL3Embedder(model=FakeModel(), on_error="skip")
    with pytest.warns(UserWarning, match="missing.wav"):
        X = emb.transform([tmp_path / "a.wav", tmp_path / "missing.wav"])
    assert X.shape == (1, 1024) and emb.kept_indices_.tolist() == [0]
    with pytest.raises(ValueError, match="embedding_size"):
        OpenL3Embedder(model=FakeModel(), embedding_size=100).fit()


@pytest.mark.skipif(importlib.util.find_spec("openl3") is not None, reason="openl3 installed")
def test_without_openl3_the_error_says_how_to_install():
    with pytest.raises(ImportError, match="pip install openl3"):
        OpenL3Embedder().fit()
    with pytest.raises(ImportError, match="pip install openl3"):
        OpenL3Embedder(sample_rate=48000).transform([np.ones(48000)])
