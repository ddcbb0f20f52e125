"""The embedder registry: one source of names for the API, the command line and docs."""

from __future__ import annotations

import numpy as np
import pytest

from sk_hier.cli import build_parser
from sk_hier.embedders import EMBEDDERS, EmbedderEntry, register_embedder
from sk_hier.embeddings import AudioEmbedder, make_embedder


class RMSEmbedder(AudioEmbedder):
    """A toy embedder: the root mean square of the waveform."""

    name, target_sr = "rms", 8000

    def __init__(
        self,
        pooling=("mean",),
        batch_size=None,
        sample_rate=None,
        n_jobs=None,
        cache_dir=None,
        on_error="raise",
        progress=False,
        silence_threshold=1e-4,
    ):
        self.pooling, self.batch_size, self.sample_rate = pooling, batch_size, sample_rate
        self.n_jobs, self.cache_dir, self.on_error = n_jobs, cache_dir, on_error
        self.progress, self.silence_threshold = progress, silence_threshold

    def _frame_feature_names(self):
        return ["rms"]

    def _settings(self):
        return {"pooling": list(self.pooling)}

    def _embed_batch(self, waveforms, sr):
        return [np.sqrt(np.mean(y**2, keepdims=True)) for y in waveforms]


@pytest.fixture
def toy():
    entry = register_embedder(EmbedderEntry("toy", f"{__name__}:RMSEmbedder", "a toy"))
    yield entry
    del EMBEDDERS["toy"]


def test_registered_embedder_is_made_and_offered(toy):
    emb = make_embedder("toy", sample_rate=8000)
    assert isinstance(emb, RMSEmbedder)
    np.testing.assert_allclose(emb.fit_transform([np.ones(800)]).ravel(), [1.0])
    args = build_parser().parse_args(["embed", "x.csv", "--embedder", "toy", "--out", "x.npz"])
    assert args.embedder == "toy"


def test_names_and_errors():
    assert list(EMBEDDERS)[:4] == ["logmel", "musicnn", "musicnn_pair", "openl3"]
    assert EMBEDDERS["musicnn"].models[0] == "MTT_musicnn"
    with pytest.raises(ValueError, match="Unknown embedder 'vggish'; choose one of"):
        make_embedder("vggish")
    with pytest.raises(ValueError, match="already registered"):
        register_embedder(EMBEDDERS["logmel"])
