"""The pretrained tagger that ships in the package: its weights, card, safe loading,
quality on freshly rendered clips, timelines and their picture."""

from __future__ import annotations

import pickle
import warnings
import zipfile

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sk_hier import Hierarchy
from sk_hier.embeddings import _weights
from sk_hier.pretrained import (
    MIN_TRUSTED_CLIPS,
    Timeline,
    list_pretrained,
    load_pretrained,
    model_card,
    pretrained_path,
    tag_audio,
)

pytestmark = pytest.mark.audio
NAME = "gm-instruments"


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: threads only contend
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pipeline():
    return load_pretrained(NAME)


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A 25-s rendered clip: three 10-s windows at hop 10, five at hop 4 (and the end)."""
    from sk_hier.datasets import load_rendered, render_dataset

    folder = tmp_path_factory.mktemp("song")
    render_dataset(folder, n_clips=1, seed=77, duration=25.0, progress=False)
    paths, Y, hierarchy, _ = load_rendered(folder)
    return paths[0], Y[0], hierarchy


# -- the musicnn weights ------------------------------------------------------------------
def test_musicnn_weights_ship_as_plain_arrays_with_their_licence():
    path = _weights.packaged_weights_path("MTT_musicnn")
    assert path is not None and path.stat().st_size < 5e6
    with np.load(path, allow_pickle=False) as data:  # numbers only: no object arrays
        kinds = {data[k].dtype.kind for k in data.files}
        floats = {data[k].dtype for k in data.files if data[k].dtype.kind == "f"}
    assert kinds <= {"f", "i"} and floats == {np.dtype(np.float32)}
    notice = _weights.LICENSE_FILE.read_text()
    assert "ISC" in notice and "Permission to use, copy, modify" in notice


def test_packaged_weights_equal_the_wheel_checkpoint(tmp_path, monkeypatch):
    pytest.importorskip("musicnn")
    packaged = _weights.packaged_state_dict("MTT_musicnn")
    wheel = _weights.wheel_state_dict("MTT_musicnn")
    assert sorted(packaged) == sorted(wheel)
    for key, value in wheel.items():
        np.testing.assert_array_equal(packaged[key], np.asarray(value, packaged[key].dtype))
    # Without the packaged file, the network's weights come from the wheel.
    monkeypatch.setattr(_weights, "DATA_DIR", tmp_path)
    monkeypatch.setattr(_weights, "_loaded", {})
    monkeypatch.setattr(_weights, "_state_dicts", {})
    assert _weights.packaged_weights_path("MTT_musicnn") is None
    fallback = _weights.musicnn_state_dict("MTT_musicnn")
    assert all(np.array_equal(fallback[k], wheel[k]) for k in wheel)


def test_missing_or_damaged_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(_weights, "DATA_DIR", tmp_path)
    monkeypatch.setattr(_weights, "_loaded", {})
    assert _weights.packaged_state_dict("MTT_musicnn") is None
    (tmp_path / "MTT_musicnn.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="MTT_musicnn.npz holds no readable musicnn weights"):
        _weights.packaged_state_dict("MTT_musicnn")
    evil = tmp_path / "MSD_musicnn.npz"
    np.savez(evil, w=np.array([object()], dtype=object))  # an object array needs pickle
    with pytest.raises(ValueError, match="Object arrays.*Reinstall sk_hier"):
        _weights.packaged_state_dict("MSD_musicnn")


# -- the card -----------------------------------------------------------------------------
def test_the_model_ships_with_its_card():
    assert NAME in list_pretrained()
    assert pretrained_path(NAME).stat().st_size <= 5e6
    card = model_card(NAME)
    for key in ("training_data", "taxonomy", "held_out", "in_domain", "thresholds",
                "intended_use", "limits", "licences", "strategy"):  # fmt: skip
        assert card[key], key
    assert card["taxonomy"]["n_instruments"] == 26 and card["taxonomy"]["n_families"] == 12
    sources = [s["name"] for s in card["training_data"]["sources"]]
    assert set(card["licences"]["soundfonts"]) == set(sources)
    assert card["training_data"]["n_clips"] >= MIN_TRUSTED_CLIPS
    assert set(card["held_out"]["ap"]) <= set(card["thresholds"]["values"])
    assert 0 < card["in_domain"]["floor"]["leaf_map"] < 1
    with pytest.raises(ValueError, match="No pretrained model named 'nope'.*gm-instruments"):
        model_card("nope")


# -- loading ------------------------------------------------------------------------------
def test_loading_unpickles_nothing_and_goes_through_skops(monkeypatch):
    import joblib
    import skops.io
    import skorch.utils  # noqa: F401  (defines its pickle.Unpickler subclass at import)
    import torch

    load_pretrained(NAME)  # every module the load path imports is now imported

    def refuse(*args, **kwargs):
        raise AssertionError("the shipped model must load without pickle")

    calls = []
    real = skops.io.loads
    monkeypatch.setattr(skops.io, "loads", lambda *a, **k: calls.append(1) or real(*a, **k))
    for module, name in ((pickle, "loads"), (pickle, "load"), (joblib, "load"),
                         (torch, "load")):  # fmt: skip
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    model = load_pretrained(NAME)
    assert calls, "skops did not build the model"
    assert [name for name, _ in model.steps] == ["embed", "scale", "tagger"]
    assert model.model_card_["name"] == NAME


def test_the_file_names_only_trusted_objects():
    import skops.io as sio

    from sk_hier._trust import allowed_types

    untrusted = sio.get_untrusted_types(file=str(pretrained_path(NAME)))
    assert untrusted and set(untrusted) <= set(allowed_types())
    with zipfile.ZipFile(pretrained_path(NAME)) as archive:
        assert not [n for n in archive.namelist() if n.endswith((".pkl", ".pt", ".joblib"))]


def test_pipeline_takes_embeddings_after_its_first_step(pipeline):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, pipeline[0].n_features_out_)).astype(np.float32)
    P = pipeline[1:].predict_proba(X)
    assert P.shape == (4, 38) and ((P >= 0) & (P <= 1)).all()
    # The embedder holds settings only: the network loads from package data when used.
    heavy = [k for k, v in vars(pipeline[0]).items() if hasattr(v, "state_dict")]
    assert heavy == []


def _installed(source: str) -> bool:
    from sk_hier.datasets.render import resolve_soundfont

    try:
        resolve_soundfont(source)
    except (FileNotFoundError, ValueError):
        return False
    return True


def _fresh_leaf_map(tmp_path, sources: list[str], floor: dict) -> list[float]:
    """Leaf mAP of the shipped model on clips of a new seed through each source."""
    from sk_hier.datasets import load_rendered, render_dataset
    from sk_hier.metrics import level_average_precision

    model = load_pretrained(NAME)
    first, out = None, []
    for source in sources:
        folder = tmp_path / source
        kw = {"soundfont": source, "progress": False}
        if first is None:  # a seed no training or test clip of the build used
            render_dataset(folder, floor["n_clips"], seed=90210, duration=floor["duration"], **kw)
            first = folder
        else:  # the same music through the other sources
            render_dataset(folder, midi_from=first, **kw)
        paths, Y, hierarchy, _ = load_rendered(folder)
        P = model.predict_proba(list(paths))
        out.append(level_average_precision(Y, P, hierarchy, level="leaf"))
    return out


def _card_sources() -> list[str]:
    return [
        s["name"] for s in model_card(NAME)["training_data"]["sources"] if _installed(s["name"])
    ]


def test_in_domain_floor_on_fresh_clips(tmp_path):
    """A new seed (no training clip) through each installed training source."""
    floor = model_card(NAME)["in_domain"]["floor"]
    sources = _card_sources()
    assert sources, "no training source of the card is installed here"
    scores = _fresh_leaf_map(tmp_path, sources, floor)
    assert min(scores) >= floor["leaf_map"], dict(zip(sources, scores))


# -- timelines ----------------------------------------------------------------------------
def test_tag_audio_gives_a_timeline_with_hops(pipeline, song):
    path, _, hierarchy = song
    t = tag_audio(pipeline, path, window=10.0, hop=4.0)
    assert isinstance(t, Timeline) and t.duration == pytest.approx(25.0)
    np.testing.assert_allclose(t.starts, [0, 4, 8, 12, 15])
    np.testing.assert_allclose(t.ends - t.starts, 10.0)
    assert t.proba.shape == (5, 38) and t.labels == hierarchy.labels
    np.testing.assert_array_equal(t.clip_proba, t.proba.max(axis=0))
    top = t.top(4, window=2)
    assert [p for _, p in top] == sorted(t.proba[2], reverse=True)[:4]
    assert set(t.tags(2)) == {n for n, p, th in zip(t.labels, t.proba[2], t.thresholds) if p >= th}
    frame = t.to_frame()
    assert frame.columns.names == ["family", "instrument"] and frame.shape == (5, 38)
    assert ("Strings", "Violin") in frame.columns or frame.columns.nlevels == 2
    fam = hierarchy.parent_of(hierarchy.leaves[0])
    np.testing.assert_array_equal(frame[(fam, "")].to_numpy(), t.proba[:, hierarchy.index(fam)])


def test_a_model_of_too_few_clips_warns(pipeline, song, monkeypatch):
    path = song[0]
    card = dict(pipeline.model_card_, training_data={"n_clips": 40})
    monkeypatch.setattr(pipeline, "model_card_", card)
    with pytest.warns(UserWarning, match="fit on 40 clips"):
        tag_audio(pipeline, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = tag_audio(pipeline, path, threshold=1.0)
    messages = [str(w.message) for w in caught]
    assert any("no label passes its threshold; the most probable are" in m for m in messages)
    assert t.tags() == [] and len(t.top(3)) == 3


def test_plot_timeline_draws_one_row_per_label_and_marks_tags(pipeline, song):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection, QuadMesh

    from sk_hier.plotting import plot_timeline

    t = tag_audio(pipeline, song[0], window=10.0, hop=5.0)
    fig = plot_timeline(t)
    ax = fig.axes[0]
    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 2  # instruments, family bands
    names = [x.get_text() for x in ax.get_yticklabels()]
    h = t.hierarchy
    assert sorted(names) == sorted(h.labels) and names[0] == h.levels[0][0]
    bold = [x.get_text() for x in ax.get_yticklabels() if x.get_fontweight() == "bold"]
    assert bold == list(h.levels[0])
    marks = next(c for c in ax.collections if isinstance(c, PathCollection))
    n_tags = sum(len(t.tags(i)) for i in range(len(t.starts)))
    assert len(marks.get_offsets()) == n_tags
    assert ax.get_xlim() == (0.0, pytest.approx(25.0))
    plt.close(fig)


# -- display of the taxonomy ----------------------------------------------------------------
def test_hierarchy_prints_as_an_indented_tree():
    h = Hierarchy({"strings": ["violin", "cello"], "brass": ["trumpet"]})
    assert str(h).splitlines() == [
        "Hierarchy: 5 labels, 2 levels",
        "strings",
        "  violin",
        "  cello",
        "brass",
        "  trumpet",
    ]
    html = Hierarchy({"a<b": ["c"]})._repr_html_()
    assert "a&lt;b" in html and "<b>Hierarchy</b>" in html
    assert html.count("<ul>") == html.count("</ul>") and html.count("<li>") == html.count("</li>")


def test_a_class_target_model_is_not_taken_for_a_tagger():
    from sk_hier import HierarchicalTagger
    from sk_hier._timeline import _fitted_tree_and_thresholds

    X = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    model = HierarchicalTagger(hidden_dims=(4,), max_epochs=1).fit(X, ["a", "b"] * 10)
    with pytest.raises(ValueError, match="not a fitted multi-label tagger"):
        _fitted_tree_and_thresholds(model, None)
