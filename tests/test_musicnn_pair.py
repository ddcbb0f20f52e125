"""Both musicnn networks in one embedder, and the ``musicnn_pair`` preset."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("musicnn.configuration", reason="musicnn is not installed")

from sk_hier.embedders import EMBEDDERS
from sk_hier.embeddings import MusicnnEmbedder, make_embedder

from .conftest import f32_tol
from .test_embed_fast_path import MUSICNN_FAN_IN, assert_f32_close

PAIR = ("MTT_musicnn", "MSD_musicnn")
ALL = ("penultimate", "mean_pool", "max_pool", "tags")
SR = 16000


def _tone_mix(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = sum(0.2 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 2000, 4))
    return (y + 0.01 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    # 2 and 1 patches: the pooling runs over more than one patch.
    return [_tone_mix(6.5, seed=0), _tone_mix(3.2, seed=1)]


def test_pair_is_the_per_patch_concatenation_of_the_two_models(clips):
    # Mean pooling commutes with concatenation, so the pair equals the singles side by
    # side: the same float32 operations on the same patches, in the same batches.
    kw = dict(features=ALL, pooling=("mean",), sample_rate=SR, batch_size=2)
    pair = MusicnnEmbedder(model=PAIR, **kw).transform(clips)
    singles = [MusicnnEmbedder(model=m, **kw).transform(clips) for m in PAIR]
    expected = np.hstack(singles)
    assert pair.shape == (2, 2 * 1756) and pair.dtype == np.float32
    np.testing.assert_allclose(pair, expected, **f32_tol(np.abs(expected).max(), ulps=4))

    # The order of the models is the order of the blocks.
    swapped = MusicnnEmbedder(model=PAIR[::-1], **kw).transform(clips)
    np.testing.assert_allclose(swapped, np.hstack(singles[::-1]), **f32_tol(1.0, ulps=4))


def test_single_model_as_string_or_one_tuple_is_unchanged(clips):
    one = MusicnnEmbedder(sample_rate=SR)
    as_tuple = MusicnnEmbedder(model=("MTT_musicnn",), sample_rate=SR)
    np.testing.assert_array_equal(one.transform(clips[:1]), as_tuple.transform(clips[:1]))
    assert one._settings() == as_tuple._settings()
    assert one._settings()["model"] == "MTT_musicnn"
    assert list(one.get_feature_names_out()) == list(as_tuple.get_feature_names_out())
    assert one.get_feature_names_out()[0] == "penultimate0_mean"


def test_width_and_unique_prefixed_feature_names():
    emb = MusicnnEmbedder(model=PAIR, features=ALL, pooling=("mean", "max")).fit()
    names = list(emb.get_feature_names_out())
    assert emb.n_features_out_ == len(names) == 2 * 2 * (200 + 753 + 753 + 50)
    assert len(set(names)) == len(names)
    assert names[0] == "MTT_musicnn.penultimate0_mean"
    assert names[1756] == "MSD_musicnn.penultimate0_mean"
    assert names[-1] == "MSD_musicnn.tags49_max"
    info = emb.describe()
    assert info["n_features"] == 7024 and info["name"] == "musicnn"


@pytest.mark.parametrize(
    "model",
    [(), ["MTT_musicnn", "MTT_musicnn"], ("MTT_musicnn", "MTT_vgg"), None, 3, [PAIR]],
)
def test_bad_model_lists_name_the_allowed_models(model):
    with pytest.raises(ValueError, match=r"model must be one of .*MTT_musicnn.*MSD_musicnn"):
        MusicnnEmbedder(model=model).fit()


def test_model_parameter_is_stored_as_given():
    models = ["MSD_musicnn", "MTT_musicnn"]
    emb = MusicnnEmbedder(model=models)
    assert emb.get_params()["model"] is models
    assert emb._models() == ("MSD_musicnn", "MTT_musicnn")


def test_settings_and_cache_key_differ_from_the_single_model():
    single, pair = MusicnnEmbedder(), MusicnnEmbedder(model=PAIR)
    assert pair._settings()["model"] == list(PAIR)
    json.dumps(pair._settings())  # JSON as stored in embedding files
    assert single._settings_key() != pair._settings_key()
    swapped = MusicnnEmbedder(model=PAIR[::-1])
    assert swapped._settings_key() != pair._settings_key()


def test_cache_holds_pairs_apart(clips, tmp_path):
    kw = dict(sample_rate=SR, cache_dir=tmp_path)
    first = MusicnnEmbedder(model=PAIR, **kw).transform(clips[1:])
    single = MusicnnEmbedder(**kw).transform(clips[1:])
    again = MusicnnEmbedder(model=list(PAIR), **kw).transform(clips[1:])  # from the cache
    assert first.shape == (1, 1906) and single.shape == (1, 953)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first[:, :953], single)


def test_registry_preset_and_caller_override():
    entry = EMBEDDERS["musicnn_pair"]
    assert entry.models == () and list(EMBEDDERS).index("musicnn_pair") == 2
    emb = make_embedder("musicnn_pair", n_jobs=1, on_error="skip")
    assert isinstance(emb, MusicnnEmbedder)
    assert emb.model == PAIR and emb.features == ALL
    assert emb.n_jobs == 1 and emb.on_error == "skip"
    assert emb.fit().n_features_out_ == 3512
    assert make_embedder("musicnn_pair", features=("tags",)).fit().n_features_out_ == 100
    assert make_embedder("musicnn_pair", model="MSD_musicnn").fit().n_features_out_ == 3512 // 2
    assert entry.params["model"] == PAIR  # the preset itself is left as it was
    assert make_embedder("musicnn").model == "MTT_musicnn"  # other entries: no preset


def test_reference_path_runs_each_model(clips):
    ys = clips[1:]
    fast = MusicnnEmbedder(model=PAIR, sample_rate=SR)
    ref = MusicnnEmbedder(model=PAIR, sample_rate=SR)
    ref._reference = True
    assert_f32_close(fast.transform(ys), ref.transform(ys), MUSICNN_FAN_IN)


def test_parallel_workers_give_the_same_pairs(clips):
    kw = dict(model=PAIR, sample_rate=SR, batch_size=2)  # one clip per task
    one = MusicnnEmbedder(**kw).transform(clips)
    two = MusicnnEmbedder(n_jobs=2, **kw).transform(clips)
    np.testing.assert_array_equal(one, two)


def test_pipeline_with_a_pair_saves_and_loads(clips, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sk_hier.persistence import load, save

    pipe = make_pipeline(make_embedder("musicnn_pair", sample_rate=SR), StandardScaler())
    expected = pipe.fit(clips).transform(clips)
    loaded = load(save(pipe, tmp_path / "pipe.skops"))
    assert tuple(loaded.steps[0][1].model) == PAIR
    np.testing.assert_array_equal(loaded.transform(clips), expected)


def test_cli_embeds_with_the_pair_and_refuses_model(tmp_path, capsys):
    import soundfile as sf

    from sk_hier.cli import main
    from sk_hier.embeddings import load_embeddings

    sf.write(tmp_path / "a.wav", _tone_mix(3.2), SR, subtype="PCM_16")
    out = tmp_path / "e.npz"
    argv = ["embed", str(tmp_path / "a.wav"), "--embedder", "musicnn_pair", "--no-progress"]
    assert main([*argv, "--model", "MSD_musicnn", "--out", str(out)]) == 1
    assert "--model applies to --embedder musicnn only (musicnn_pair runs" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    e = load_embeddings(out)
    assert e.X.shape == (1, 3512) and e.embedder["settings"]["model"] == list(PAIR)
