"""Embedding files and the audio lists that ``sk-hier embed`` reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sk_hier.embeddings import (
    load_embeddings,
    read_audio_dataset,
    read_manifest,
    read_rendered,
    save_embeddings,
)
from sk_hier.hierarchy import Hierarchy

TREE = {"strings": ["violin", "cello"], "brass": ["trumpet"]}


def test_npz_round_trip(tmp_path):
    h = Hierarchy(TREE)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3, 5))
    Y = np.array([[1, 0, 1, 1, 0], [np.nan, 1, np.nan, np.nan, 1], [0, 0, 0, 0, 0]])
    info = {"name": "logmel", "settings": {"n_mels": 128}}
    path = save_embeddings(tmp_path / "sub" / "e.npz", X, ["a", "b", "c"], Y, h, info)
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    e = load_embeddings(path)
    assert e.X.dtype == np.float32 and e.X.shape == (3, 5) and len(e) == 3
    np.testing.assert_allclose(e.X, X.astype(np.float32))
    np.testing.assert_array_equal(e.Y, Y.astype(np.float32))  # NaN == NaN here
    assert e.clip_ids.tolist() == ["a", "b", "c"]
    assert e.labels == h.labels and e.hierarchy == h
    assert e.embedder == info
    # Plain arrays only: loading never needs pickle.
    with np.load(path, allow_pickle=False) as raw:
        assert json.loads(str(raw["embedder"])) == info


def test_unlabelled_round_trip(tmp_path):
    save_embeddings(tmp_path / "e.npz", np.ones((2, 3)), ["x", "y"])
    e = load_embeddings(tmp_path / "e.npz")
    assert e.Y.shape == (2, 0) and e.labels == () and e.hierarchy is None


def test_save_errors(tmp_path):
    h = Hierarchy(TREE)
    f = tmp_path / "e.npz"
    with pytest.raises(ValueError, match="2-D"):
        save_embeddings(f, np.ones(3), ["a"])
    with pytest.raises(ValueError, match="clip_ids has 1 entries for 2 rows"):
        save_embeddings(f, np.ones((2, 3)), ["a"])
    with pytest.raises(ValueError, match="unique"):
        save_embeddings(f, np.ones((2, 3)), ["a", "a"])
    with pytest.raises(ValueError, match=r"expected \(2, 5\)"):
        save_embeddings(f, np.ones((2, 3)), ["a", "b"], np.ones((2, 3)), h)
    with pytest.raises(ValueError, match="needs its hierarchy"):
        save_embeddings(f, np.ones((2, 3)), ["a", "b"], np.ones((2, 5)))
    assert not f.exists()


def test_load_errors(tmp_path):
    h = Hierarchy(TREE)
    with pytest.raises(FileNotFoundError, match="sk-hier embed"):
        load_embeddings(tmp_path / "none.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a readable"):
        load_embeddings(tmp_path / "text.npz")
    np.savez(tmp_path / "partial.npz", X=np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"missing key\(s\) \['clip_ids', 'Y'"):
        load_embeddings(tmp_path / "partial.npz")
    good = dict(
        X=np.ones((2, 2), np.float32),
        clip_ids=np.array(["a", "b"]),
        Y=np.zeros((2, 5), np.float32),
        labels=np.array(h.labels),
        hierarchy=np.array(h.to_json()),
        embedder=np.array("{}"),
    )
    np.savez(tmp_path / "shape.npz", **{**good, "Y": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="Y has shape"):
        load_embeddings(tmp_path / "shape.npz")
    np.savez(tmp_path / "labels.npz", **{**good, "labels": np.array(h.labels[::-1])})
    with pytest.raises(ValueError, match="do not match the stored hierarchy"):
        load_embeddings(tmp_path / "labels.npz")


def test_manifest_with_path_labels(tmp_path):
    (tmp_path / "sub").mkdir()
    csv = tmp_path / "sub" / "m.csv"
    csv.write_text(
        "path,strings/violin,strings/cello,brass/trumpet,percussion\n"
        "a.wav,1,0,0,\n"
        f"{tmp_path / 'abs.wav'},0,,1,1\n"
    )
    ds = read_manifest(csv)
    assert ds.paths == [tmp_path / "sub" / "a.wav", tmp_path / "abs.wav"]
    assert ds.clip_ids == ["a.wav", str(tmp_path / "abs.wav")]
    assert ds.labels == ("strings", "brass", "percussion", "violin", "cello", "trumpet")
    nan = np.nan
    expected = [[nan, nan, nan, 1, 0, 0], [nan, nan, 1, 0, nan, 1]]
    np.testing.assert_array_equal(ds.Y, np.array(expected, np.float32))


def test_manifest_variants_and_errors(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text("clip_id,path\nc1,x.wav\nc2,y.wav\n")
    ds = read_manifest(m)
    assert ds.clip_ids == ["c1", "c2"] and ds.hierarchy is None and ds.Y.shape == (2, 0)
    assert read_audio_dataset(m).clip_ids == ["c1", "c2"]
    m.write_text("file,label\nx.wav,1\n")
    with pytest.raises(ValueError, match="needs a 'path' column"):
        read_manifest(m)
    m.write_text("path,violin\nx.wav,2\n")
    with pytest.raises(ValueError, match=r"line 2, column 'violin'.*0, 1 or empty"):
        read_manifest(m)
    m.write_text("path,violin\nx.wav,1\nx.wav,0\n")
    with pytest.raises(ValueError, match="unique"):
        read_manifest(m)
    m.write_text("path,violin\nx.wav\n")
    with pytest.raises(ValueError, match="1 fields for 2 columns"):
        read_manifest(m)
    m.write_text("path\n")
    with pytest.raises(ValueError, match="lists no audio files"):
        read_manifest(m)
    with pytest.raises(FileNotFoundError):
        read_audio_dataset(tmp_path / "none.csv")
    (tmp_path / "a.wav").write_bytes(b"")
    one = read_audio_dataset(tmp_path / "a.wav")  # a single audio file, no labels
    assert one.paths == [tmp_path / "a.wav"] and one.hierarchy is None
    (tmp_path / "notes.txt").write_text("not audio")
    with pytest.raises(ValueError, match="notes.txt is not an audio file"):
        read_audio_dataset(tmp_path / "notes.txt")


def _rendered(folder, h, rows):
    (folder / "audio").mkdir(parents=True)
    (folder / "hierarchy.json").write_text(h.to_json())
    lines = ["clip_id," + ",".join(h.labels)] + [",".join(r) for r in rows]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")


def test_rendered_folder(tmp_path):
    h = Hierarchy(TREE)
    _rendered(tmp_path, h, [["c0", "1", "0", "1", "0", "0"], ["c1", "1", "1", "", "1", "1"]])
    ds = read_rendered(tmp_path)
    assert ds.clip_ids == ["c0", "c1"] and ds.hierarchy == h
    assert ds.paths == [tmp_path / "audio" / "c0.wav", tmp_path / "audio" / "c1.wav"]
    assert np.isnan(ds.Y[1, 2]) and ds.Y[0].tolist() == [1, 0, 1, 0, 0]
    assert read_audio_dataset(tmp_path).clip_ids == ["c0", "c1"]


def test_rendered_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="hierarchy.json is missing"):
        read_rendered(tmp_path)
    h = Hierarchy(TREE)
    _rendered(tmp_path, h, [])
    (tmp_path / "labels.csv").write_text("clip_id,strings,violin\nc0,1,1\n")
    with pytest.raises(ValueError, match=r"missing \['brass', 'cello', 'trumpet'\]"):
        read_rendered(tmp_path)


def test_plain_folder_and_patterns(tmp_path, monkeypatch):
    from sk_hier.embeddings import AUDIO_SUFFIXES, read_audio_files, read_audio_folder

    songs = tmp_path / "songs"
    (songs / "b" / "deep").mkdir(parents=True)
    for name in ["z.wav", "b/deep/a.FLAC", "b/y.mp3", "a.ogg", "cover.jpg", "b/list.csv"]:
        (songs / name).write_bytes(b"")
    ds = read_audio_folder(songs)
    assert ds.clip_ids == ["a.ogg", "b/deep/a.FLAC", "b/y.mp3", "z.wav"]
    assert ds.paths == [songs / c for c in ds.clip_ids]
    assert ds.hierarchy is None and ds.labels == () and ds.Y.shape == (4, 0)
    assert read_audio_dataset(songs).clip_ids == ds.clip_ids  # not rendered: plain
    assert ".wav" in AUDIO_SUFFIXES and ".csv" not in AUDIO_SUFFIXES
    monkeypatch.chdir(tmp_path)
    assert read_audio_dataset("songs/**/*.*").clip_ids == [
        "songs/a.ogg",
        "songs/b/deep/a.FLAC",
        "songs/b/y.mp3",
        "songs/z.wav",
    ]
    both = read_audio_files(["songs/z.wav", "songs/*.wav", "songs/a.ogg"])
    assert both.clip_ids == ["songs/z.wav", "songs/a.ogg"]  # each file once
    with pytest.raises(FileNotFoundError, match="matches no audio file"):
        read_audio_files(["songs/*.aiff"])
    with pytest.raises(FileNotFoundError, match="nothing.wav does not exist"):
        read_audio_dataset("songs/nothing.wav")
    (tmp_path / "none").mkdir()
    with pytest.raises(ValueError, match="holds no audio file"):
        read_audio_folder(tmp_path / "none")
    (songs / "render.json").write_text("{}")  # a half-written render is not plain
    with pytest.raises(FileNotFoundError, match="not a complete rendered dataset folder"):
        read_audio_dataset(songs)


def test_provenance_round_trip_and_checks(tmp_path):
    where = {
        "sources": ["fluidr3", "timgm6mb"],
        "groups": ["fluid", "timgm"],
        "midi_ids": ["m", "m"],
    }
    path = save_embeddings(tmp_path / "e.npz", np.ones((2, 3)), ["a", "b"], provenance=where)
    e = load_embeddings(path)
    assert e.sources.tolist() == where["sources"] and e.groups.tolist() == where["groups"]
    assert e.midi_ids.tolist() == ["m", "m"]
    assert (
        load_embeddings(save_embeddings(tmp_path / "p.npz", np.ones((1, 2)), ["a"])).groups is None
    )
    with pytest.raises(ValueError, match="exactly the keys"):
        save_embeddings(
            tmp_path / "x.npz", np.ones((2, 3)), ["a", "b"], provenance={"groups": ["g", "g"]}
        )
    with pytest.raises(ValueError, match="one entry per clip"):
        save_embeddings(
            tmp_path / "x.npz", np.ones((2, 3)), ["a", "b"], provenance={**where, "groups": ["g"]}
        )
    # A file with only part of the provenance is refused, not half read.
    with np.load(path, allow_pickle=False) as raw:
        arrays = {k: raw[k] for k in raw.files if k != "midi_ids"}
    np.savez(tmp_path / "half.npz", **arrays)
    with pytest.raises(ValueError, match="provenance must be all of"):
        load_embeddings(tmp_path / "half.npz")


def test_rendered_folder_reads_its_sources_csv(tmp_path):
    h = Hierarchy(TREE)
    _rendered(tmp_path, h, [["c0", "1", "0", "1", "0", "0"], ["c1", "1", "1", "", "1", "1"]])
    (tmp_path / "sources.csv").write_text(
        "clip_id,midi_id,source,group,unknown\nc1,m1,fluidr3,fluid,\nc0,m0,timgm6mb,timgm,\n"
    )
    ds = read_rendered(tmp_path)
    assert ds.provenance == {
        "sources": ["timgm6mb", "fluidr3"],
        "groups": ["timgm", "fluid"],
        "midi_ids": ["m0", "m1"],
    }
    (tmp_path / "sources.csv").write_text("clip_id,midi_id,source,group\nc0,m0,timgm6mb,timgm\n")
    with pytest.raises(ValueError, match=r"no row for clips \['c1'\]"):
        read_rendered(tmp_path)
