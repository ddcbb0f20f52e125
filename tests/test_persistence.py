"""save / load: round trips, metadata, format versions, trust and devices."""

from __future__ import annotations

import json
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import skops.io as sio
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sk_hier import BottomUpClassifier, HierarchicalTagger, TopDownClassifier
from sk_hier.persistence import FORMAT_VERSION, load, read_metadata, save
from sk_hier.thresholds import TunedThresholds

from .conftest import FAST

TINY = {**FAST, "max_epochs": 4}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # Tiny solves: BLAS threads only contend for the 2 shared cores (10x slower here).
    with threadpool_limits(1):
        yield


class Shift(TransformerMixin, BaseEstimator):
    """A user's own transformer: not on sk_hier's trusted list."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X) + 1.0


@pytest.fixture
def tagger(data):
    X, Y, tree = data
    return HierarchicalTagger(tree, strategy="resatt", **TINY).fit(X, Y)


def _load(path, **kwargs):
    # Pickle files are this suite's own: accept them knowingly.
    return load(path, allow_pickle=str(path).endswith((".joblib", ".pkl")), **kwargs)


def _same_predictions(a, b, X):
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


@pytest.mark.parametrize("suffix", [".skops", ".joblib", ".pkl"])
def test_tagger_round_trip_is_identical(tagger, data, tmp_path, suffix):
    X = data[0]
    path = save(tagger, tmp_path / f"tagger{suffix}")
    again = _load(path)
    _same_predictions(tagger, again, X)
    np.testing.assert_array_equal(tagger.attention_maps(X[:5]), again.attention_maps(X[:5]))
    assert again.get_params() == tagger.get_params()
    assert again.hierarchy_ == tagger.hierarchy_
    assert list(again.classes_) == list(tagger.classes_)
    assert len(again.history_) == len(tagger.history_)
    np.testing.assert_array_equal(again.gates_, tagger.gates_)
    # Nothing but the model is left in the folder (the write is atomic).
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("suffix", [".skops", ".joblib"])
def test_ensemble_and_trunk_shapes_round_trip(data, tmp_path, suffix):
    X, Y, tree = data
    params = dict(TINY, n_ensemble=2, linear_skip=True, input_noise=0.1, input_dropout=0.1)
    model = HierarchicalTagger(tree, strategy="gmp", parent_gate=True, **params).fit(X, Y)
    again = _load(save(model, tmp_path / f"ensemble{suffix}"))
    _same_predictions(model, again, X)
    assert len(again.nets_) == 2 and again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.gates_, model.gates_)


def test_skops_file_holds_no_pickled_net(tagger, tmp_path):
    path = save(tagger, tmp_path / "tagger.skops")
    with zipfile.ZipFile(path) as archive:
        schema = archive.read("schema.json").decode()
    assert "__cuda_dependent_attributes__" not in schema
    untrusted = sio.get_untrusted_types(file=path)
    assert "sk_hier._net.TaggerNet" in untrusted and "builtins.eval" not in untrusted


def test_loaded_net_keeps_optimizer_state_and_rng_is_untouched(tagger, tmp_path):
    path = save(tagger, tmp_path / "tagger.skops")
    state = torch.random.get_rng_state()
    again = load(path)
    assert torch.equal(torch.random.get_rng_state(), state)
    a = tagger.net_.optimizer_.state_dict()["state"]
    b = again.net_.optimizer_.state_dict()["state"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k]["exp_avg"], b[k]["exp_avg"])
    # A loaded tagger can be fitted again.
    X = np.random.default_rng(0).normal(size=(50, tagger.n_features_in_)).astype(np.float32)
    again.set_params(max_epochs=1).fit(X, (X[:, :5] > 0).astype(int))


@pytest.mark.parametrize("suffix", [".skops", ".joblib"])
@pytest.mark.parametrize("cls", [BottomUpClassifier, TopDownClassifier])
def test_baseline_round_trip(data, tmp_path, suffix, cls):
    X, Y, tree = data
    model = cls(LogisticRegression(max_iter=500), hierarchy=tree, threshold=0.4).fit(X, Y)
    again = _load(save(model, tmp_path / f"m{suffix}"))
    _same_predictions(model, again, X)


@pytest.mark.parametrize("suffix", [".skops", ".joblib"])
def test_pipeline_and_tuned_thresholds_round_trip(data, tmp_path, suffix):
    X, Y, tree = data
    pipe = make_pipeline(StandardScaler(), HierarchicalTagger(tree, **TINY)).fit(X, Y)
    again = _load(save(pipe, tmp_path / f"pipe{suffix}"))
    _same_predictions(pipe, again, X)
    tuned = TunedThresholds(HierarchicalTagger(tree, **TINY), cv=2).fit(X, Y)
    again = _load(save(tuned, tmp_path / f"tuned{suffix}"))
    _same_predictions(tuned, again, X)
    np.testing.assert_array_equal(again.thresholds_, tuned.thresholds_)


def test_metadata_is_recorded_and_read_without_the_model(tagger, tmp_path):
    info = {"embedder": {"name": "logmel", "settings": {"n_mels": 16}}, "note": "x"}
    path = save(tagger, tmp_path / "tagger.skops", metadata=info)
    meta = read_metadata(path)
    assert meta["format"] == "sk_hier-model" and meta["format_version"] == FORMAT_VERSION
    assert meta["user"] == info
    assert meta["model_class"] == "sk_hier.tagger.HierarchicalTagger"
    assert meta["torch_version"] == torch.__version__ and meta["serializer"] == "skops"
    for key in ("sk_hier_version", "sklearn_version", "skorch_version", "created"):
        assert meta[key]
    model, meta2 = load(path, return_metadata=True)
    assert meta2 == meta and isinstance(model, HierarchicalTagger)
    jpath = save(tagger, tmp_path / "tagger.joblib", metadata=info)
    assert read_metadata(jpath, allow_pickle=True)["user"] == info
    with pytest.raises(ValueError, match="pickle file.*allow_pickle=True"):
        read_metadata(jpath)


def _with_format_version(path, version):
    with zipfile.ZipFile(path) as src:
        entries = {n: src.read(n) for n in src.namelist()}
    meta = json.loads(entries["sk_hier_metadata.json"])
    meta.update(format_version=version, sk_hier_version="9.0.0")
    entries["sk_hier_metadata.json"] = json.dumps(meta).encode()
    with zipfile.ZipFile(path, "w") as dst:
        for name, content in entries.items():
            dst.writestr(name, content)


@pytest.mark.parametrize("version, advice", [(99, "Upgrade sk_hier"), (0, "save it again")])
def test_incompatible_format_version_is_a_clear_error(tagger, tmp_path, version, advice):
    path = save(tagger, tmp_path / "tagger.skops")
    _with_format_version(path, version)
    with pytest.raises(ValueError, match=f"format version {version}") as err:
        load(path)
    msg = str(err.value)
    assert "sk_hier 9.0.0" in msg and f"reads format version {FORMAT_VERSION}" in msg
    assert advice in msg
    with pytest.raises(ValueError, match="format version"):
        read_metadata(path)


def test_incompatible_format_version_in_a_pickle(tagger, tmp_path):
    path = save(tagger, tmp_path / "tagger.joblib")
    data = joblib.load(path)
    data["sk_hier_metadata"]["format_version"] = 2
    joblib.dump(data, path)
    with pytest.raises(ValueError, match="format version 2.*Upgrade"):
        load(path, allow_pickle=True)


def test_files_that_are_not_sk_hier_models(tagger, tmp_path):
    plain = tmp_path / "plain.skops"
    sio.dump(StandardScaler().fit([[0.0], [1.0]]), plain)
    with pytest.raises(ValueError, match="not an sk_hier model file"):
        load(plain)
    junk = tmp_path / "junk.skops"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a .skops file"):
        load(junk)
    other = tmp_path / "other.joblib"
    joblib.dump(tagger, other)
    with pytest.raises(ValueError, match="not an sk_hier model file"):
        load(other, allow_pickle=True)
    with pytest.raises(FileNotFoundError, match="No model file"):
        load(tmp_path / "missing.skops")


def test_bad_save_arguments(tagger, tmp_path):
    with pytest.raises(ValueError, match="extension"):
        save(tagger, tmp_path / "model.bin")
    with pytest.raises(ValueError, match="not fitted"):
        save(HierarchicalTagger(), tmp_path / "model.skops")
    with pytest.raises(ValueError, match="JSON"):
        save(tagger, tmp_path / "model.skops", metadata={"x": object()})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(tagger, tmp_path / "no" / "model.skops")
    assert list(tmp_path.iterdir()) == []


def test_untrusted_types_stop_the_load_unless_trusted(data, tmp_path):
    X, Y, tree = data
    pipe = make_pipeline(Shift(), BottomUpClassifier(LogisticRegression(), hierarchy=tree))
    path = save(pipe.fit(X, Y), tmp_path / "pipe.skops")
    name = f"{Shift.__module__}.Shift"
    with pytest.raises(ValueError, match="does not trust") as err:
        load(path)
    assert name in str(err.value)
    _same_predictions(pipe, load(path, trusted=[name]), X)


def test_device_after_load(data, tmp_path):
    X, Y, tree = data
    tuned = TunedThresholds(HierarchicalTagger(tree, **TINY), cv=2).fit(X, Y)
    for suffix in (".skops", ".joblib"):
        again = _load(save(tuned, tmp_path / f"t{suffix}"), device="cpu")
        assert again.estimator_.device == "cpu" and again.estimator.device == "cpu"
        assert again.estimator_.net_.device == "cpu"
        _same_predictions(tuned, again, X)
    with pytest.raises(ValueError, match="not a torch device"):
        load(tmp_path / "t.skops", device="gpu-please")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA fallback")
def test_cuda_model_on_a_machine_without_cuda(tagger, data, tmp_path):
    X = data[0]
    expected = tagger.predict_proba(X)
    tagger.device = tagger.net_.device = "cuda"  # as if fitted on a GPU
    for suffix in (".skops", ".joblib"):
        path = save(tagger, tmp_path / f"gpu{suffix}")
        with pytest.raises(ValueError, match="CUDA is not available"):
            _load(path, device="cuda:0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # skorch warns on its own for pickles
            with pytest.warns(UserWarning, match="loaded on 'cpu'"):
                again = _load(path)
        assert again.device == "cpu"
        np.testing.assert_array_equal(again.predict_proba(X), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_load_onto_cuda(tagger, data, tmp_path):
    X = data[0]
    again = load(save(tagger, tmp_path / "t.skops"), device="cuda:0")
    assert again.device == "cuda:0"
    assert next(again.net_.module_.parameters()).device.type == "cuda"
    np.testing.assert_allclose(again.predict_proba(X), tagger.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("method", ["sigmoid", "temperature", "isotonic"])
def test_calibrator_round_trip(data, tmp_path, method):
    from sk_hier import HierarchicalCalibrator

    X, Y, tree = data
    model = HierarchicalCalibrator(HierarchicalTagger(tree, **TINY), method=method, cv=2).fit(X, Y)
    again = load(save(model, tmp_path / "calibrated.skops"))
    _same_predictions(model, again, X)
