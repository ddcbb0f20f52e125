"""``sk-hier fit`` and ``sk-hier tag`` on tiny embedding files and WAVs."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from threadpoolctl import threadpool_limits

from sk_hier import HierarchicalTagger
from sk_hier._io import TEMP_SUFFIX
from sk_hier.cli import main
from sk_hier.cli.tag import windows
from sk_hier.datasets import make_hierarchical_multilabel
from sk_hier.embeddings import LogMelEmbedder, save_embeddings
from sk_hier.hierarchy import Hierarchy
from sk_hier.persistence import load, read_metadata, save
from sk_hier.thresholds import TunedThresholds

TREE = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
SR = 22050
# A small log-mel: 2 x (16 + 4) = 40 features, so that the synthetic training
# embeddings have the width of the real embeddings of the WAVs tagged below.
EMBEDDER = LogMelEmbedder(n_mels=16, n_mfcc=4)
FAST = ["--param", "max_epochs=4", "hidden_dims=(16,)", "--seed", "0"]


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # Tiny solves: BLAS threads only contend for the 2 shared cores (10x slower here).
    with threadpool_limits(1):
        yield


def _tone(path: Path, seconds: float, freq: float = 440.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), SR, subtype="PCM_16")
    return path


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def emb_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("emb")
    info = EMBEDDER.describe()
    X, Y, tree = make_hierarchical_multilabel(
        120, TREE, n_features=info["n_features"], random_state=0
    )
    Y = Y.astype(np.float32)
    Y[:10, 2] = np.nan  # some unknown targets
    ids = [f"c{i}" for i in range(len(X))]
    return save_embeddings(folder / "train.npz", X, ids, Y, tree, info)


@pytest.fixture(scope="module")
def model_file(emb_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "model.skops"
    assert main(["fit", str(emb_file), *FAST, "--out", str(out)]) == 0
    return out


@pytest.fixture
def wavs(tmp_path) -> Path:
    folder = tmp_path / "wavs"
    folder.mkdir()
    _tone(folder / "short.wav", 1.0)
    _tone(folder / "long.wav", 2.5, 660.0)
    return folder


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- fit ------------------------------------------------------------------------------
def test_fit_saves_a_tagger_with_the_embedder_recorded(emb_file, tmp_path, capsys):
    out = tmp_path / "m.skops"
    code, stdout, err = _run(capsys, "fit", emb_file, "--strategy", "resatt", *FAST, "--out", out)
    assert code == 0, err
    assert "4 epochs" in stdout and "training score" in stdout and str(out) in stdout
    model = load(out)
    assert isinstance(model, HierarchicalTagger)
    assert model.strategy == "resatt" and model.max_epochs == 4 and model.random_state == 0
    assert model.hidden_dims == (16,) and model.hierarchy_ == Hierarchy(TREE)
    meta = read_metadata(out)["user"]
    assert meta["embedder"] == EMBEDDER.describe()
    assert meta["training_data"]["n_clips"] == 120 and "sk-hier fit" in meta["command"]


def test_fit_with_tuned_thresholds(emb_file, tmp_path, capsys):
    out = tmp_path / "tuned.joblib"
    code, stdout, err = _run(
        capsys, "fit", emb_file, *FAST, "--tune-thresholds", "--cv", 2, "--out", out
    )
    assert code == 0, err
    assert "tuned" in stdout
    model = load(out, allow_pickle=True)  # this test's own pickle
    assert isinstance(model, TunedThresholds) and model.thresholds_.shape == (5,)


@pytest.mark.parametrize(
    "param, message",
    [
        (
            "max_epoch=3",
            "Unknown HierarchicalTagger parameter 'max_epoch'. Did you mean 'max_epochs'",
        ),
        ("lr", "expects KEY=VALUE"),
        ("hierarchy={}", "comes from the embedding file"),
        ("random_state=1", "use --seed"),
        ("lr=-1", "lr must be"),
        ("strategy=gmp", "use --strategy"),
    ],
)
def test_fit_bad_params_are_clear_errors(emb_file, tmp_path, capsys, param, message):
    out = tmp_path / "m.skops"
    code, _, err = _run(capsys, "fit", emb_file, "--param", param, "--out", out)
    assert code == 1
    assert message in err and "Traceback" not in err
    if "Unknown" in message:
        assert "Valid parameters:" in err and "hidden_dims" in err
    assert not out.exists()


def test_fit_bad_inputs(emb_file, tmp_path, capsys):
    code, _, err = _run(capsys, "fit", tmp_path / "none.npz", "--out", tmp_path / "m.skops")
    assert code == 1 and "No embedding file" in err
    unlabelled = save_embeddings(tmp_path / "u.npz", np.ones((3, 40)), ["a", "b", "c"])
    code, _, err = _run(capsys, "fit", unlabelled, "--out", tmp_path / "m.skops")
    assert code == 1 and "holds no labels" in err
    code, _, err = _run(capsys, "fit", emb_file, "--out", tmp_path / "m.onnx")
    assert code == 1 and "*.skops" in err


# -- tag ------------------------------------------------------------------------------
def test_windows():
    assert windows(25.0, 10.0) == [(0.0, 10.0), (10.0, 20.0), (15.0, 25.0)]
    assert windows(20.0, 10.0) == [(0.0, 10.0), (10.0, 20.0)]
    assert windows(10.0, 10.0) == [] and windows(30.0, 0) == []


def test_tag_files_and_windows(model_file, wavs, tmp_path, capsys):
    out = tmp_path / "tags.csv"
    code, _, err = _run(
        capsys, "tag", model_file, wavs / "short.wav", wavs / "long.wav",
        "--window", 1, "--out", out, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "tagged 2 files (3 windows)" in err
    rows = _read(out)
    labels = list(Hierarchy(TREE).labels)
    assert list(rows[0]) == ["path", "start", "end", "kind", *labels, "tags", "top"]
    assert [(Path(r["path"]).name, r["kind"]) for r in rows] == [
        ("short.wav", "clip"),
        ("long.wav", "clip"),
        ("long.wav", "window"),
        ("long.wav", "window"),
        ("long.wav", "window"),
    ]
    assert [(r["start"], r["end"]) for r in rows[2:]] == [
        ("0.000", "1.000"),
        ("1.000", "2.000"),
        ("1.500", "2.500"),
    ]
    assert rows[1]["end"] == "2.500"
    P = np.array([[float(r[name]) for name in labels] for r in rows])
    assert ((P >= 0) & (P <= 1)).all()
    np.testing.assert_allclose(P[1], P[2:].max(axis=0))  # the file = its best window
    threshold = load(model_file).threshold
    for r, p in zip(rows, P):
        expected = [name for name, v in zip(labels, p) if v >= threshold]
        assert r["tags"] == ";".join(expected)
        # Never an empty answer: the three most probable labels, whatever the tags.
        top = [item.split(":") for item in r["top"].split(";")]
        assert [name for name, _ in top] == [labels[i] for i in np.argsort(-p, kind="stable")[:3]]
        np.testing.assert_allclose([float(v) for _, v in top], np.sort(p)[::-1][:3], atol=5e-4)


def test_tag_a_folder_to_stdout_with_a_threshold(model_file, wavs, capsys):
    code, out, err = _run(capsys, "tag", model_file, wavs, "--threshold", 0, "--no-progress")
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert [Path(r["path"]).name for r in rows] == ["long.wav", "short.wav"]  # window 10 s
    assert all(r["tags"] == "strings;brass;violin;cello;trumpet" for r in rows)


def test_tag_uses_tuned_thresholds(emb_file, wavs, tmp_path, capsys):
    model_path = tmp_path / "tuned.skops"
    assert (
        main(
            [
                "fit",
                str(emb_file),
                *FAST,
                "--tune-thresholds",
                "--cv",
                "2",
                "--out",
                str(model_path),
            ]
        )
        == 0
    )
    out = tmp_path / "tags.csv"
    code, _, err = _run(
        capsys, "tag", model_path, wavs / "short.wav", "--out", out, "--no-progress"
    )
    assert code == 0, err
    thr = load(model_path).thresholds_
    row = _read(out)[0]
    p = np.array([float(row[n]) for n in Hierarchy(TREE).labels])
    assert row["tags"] == ";".join(n for n, v, t in zip(Hierarchy(TREE).labels, p, thr) if v >= t)


def test_tag_bad_audio_is_a_clear_error(model_file, wavs, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEjunk")
    out = tmp_path / "tags.csv"
    code, _, err = _run(
        capsys, "tag", model_file, wavs / "short.wav", bad, "--out", out, "--no-progress"
    )
    assert code == 1 and "broken.wav" in err and "Traceback" not in err
    assert not out.exists()
    code, _, err = _run(capsys, "tag", model_file, tmp_path / "gone.wav", "--no-progress")
    assert code == 1 and "gone.wav: no such file or folder" in err
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR), SR)
    code, _, err = _run(capsys, "tag", model_file, silent, "--no-progress")
    assert code == 1 and "silent.wav" in err and "silent" in err


def test_tag_skips_bad_audio_when_asked(model_file, wavs, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"junk")
    out = tmp_path / "tags.csv"
    code, _, err = _run(
        capsys, "tag", model_file, wavs / "short.wav", bad, tmp_path / "gone.wav",
        "--on-error", "skip", "--out", out, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "skipped" in err and "broken.wav" in err and "gone.wav" in err
    assert [Path(r["path"]).name for r in _read(out)] == ["short.wav"]


def test_tag_bad_model_and_options(model_file, wavs, tmp_path, capsys, data):
    X, Y, tree = data
    no_embedder = save(HierarchicalTagger(tree, max_epochs=2).fit(X, Y), tmp_path / "x.skops")
    code, _, err = _run(capsys, "tag", no_embedder, wavs, "--no-progress")
    assert code == 1 and "does not record which embedder" in err
    code, _, err = _run(capsys, "tag", tmp_path / "none.skops", wavs)
    assert code == 1 and "No model file" in err
    code, _, err = _run(capsys, "tag", model_file, wavs, "--threshold", 2)
    assert code == 1 and "--threshold must lie in [0, 1]" in err
    code, _, err = _run(capsys, "tag", model_file, tmp_path / "empty_dir_missing")
    assert code == 1 and "no such file or folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, "tag", model_file, tmp_path / "empty")
    assert code == 1 and "holds no audio file" in err


def test_embed_fit_tag_end_to_end(tmp_path, capsys):
    # A manifest of tiny WAVs with label columns -> sk-hier embed -> fit -> tag.
    rng = np.random.default_rng(0)
    lines = ["path,strings/violin,strings/cello,brass/trumpet"]
    for i in range(12):
        _tone(tmp_path / f"clip{i}.wav", 0.5, float(rng.uniform(150, 900)))
        lines.append(f"clip{i}.wav,{i % 2},{(i // 2) % 2},{int(i % 3 == 0)}")
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    emb = tmp_path / "emb.npz"
    code, _, err = _run(capsys, "embed", tmp_path / "manifest.csv", "--out", emb, "--no-progress")
    assert code == 0, err
    model = tmp_path / "model.skops"
    code, _, err = _run(capsys, "fit", emb, *FAST, "--out", model)
    assert code == 0, err
    code, out, err = _run(capsys, "tag", model, tmp_path / "clip0.wav", "--no-progress")
    assert code == 0, err
    rows = list(csv.DictReader(out.splitlines()))
    assert len(rows) == 1 and {"violin", "cello", "trumpet", "tags"} <= set(rows[0])


# -- outputs: checked before any work, never over an input, the user's umask -------------
@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def unwritable(tmp_path, monkeypatch) -> Path:
    """A folder this process cannot write to (os.access is told so when run as root)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: make the permission check see 0555
        real = os.access
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: Path(p) != folder and real(p, mode, **kw)
        )
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def junk_model(tmp_path) -> Path:
    # Loading it would fail: an error about --out shows the check came first.
    path = tmp_path / "junk.skops"
    path.write_bytes(b"not a model")
    return path


def test_tag_never_writes_over_an_input(junk_model, wavs, capsys):
    audio = wavs / "short.wav"
    before = audio.read_bytes()
    for out in (audio, junk_model):
        code, _, err = _run(capsys, "tag", junk_model, audio, "--out", out, "--no-progress")
        assert code == 1 and f"--out {out} is also an input" in err, err
        assert "not a zip" not in err  # refused before the model was opened
    assert audio.read_bytes() == before
    # A folder given as input counts with the files found in it.
    code, _, err = _run(capsys, "tag", junk_model, wavs, "--out", wavs / "long.wav")
    assert code == 1 and "is also an input" in err


def test_tag_checks_an_unwritable_out_first(junk_model, wavs, unwritable, capsys):
    out = unwritable / "tags.csv"
    code, _, err = _run(capsys, "tag", junk_model, wavs, "--out", out, "--no-progress")
    assert code == 1 and f"--out {out}: folder {unwritable} is not writable" in err, err
    assert TEMP_SUFFIX not in err and "not a zip" not in err
    code, _, err = _run(capsys, "tag", junk_model, wavs, "--out", unwritable / "no" / "t.csv")
    assert code == 1 and "does not exist" in err


def test_tag_output_follows_the_umask(model_file, wavs, tmp_path, capsys, umask_022):
    out = tmp_path / "tags.csv"
    code, _, err = _run(capsys, "tag", model_file, wavs / "short.wav", "--out", out,
                        "--no-progress")  # fmt: skip
    assert code == 0, err
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_tag_reads_a_pickle_model_only_when_allowed(model_file, wavs, tmp_path, capsys):
    pickled = save(load(model_file), tmp_path / "m.joblib", read_metadata(model_file)["user"])
    code, _, err = _run(capsys, "tag", pickled, wavs / "short.wav", "--no-progress")
    assert code == 1 and "is a pickle file" in err and "--allow-pickle" in err
    code, out, err = _run(
        capsys, "tag", pickled, wavs / "short.wav", "--allow-pickle", "--no-progress"
    )
    assert code == 0, err
    assert [Path(r["path"]).name for r in csv.DictReader(out.splitlines())] == ["short.wav"]


def test_fit_never_writes_over_its_embedding_file(emb_file, tmp_path, capsys):
    before = emb_file.read_bytes()
    link = tmp_path / "model.skops"
    link.symlink_to(emb_file)  # the same file under a model's name
    code, _, err = _run(capsys, "fit", emb_file, *FAST, "--out", link)
    assert code == 1 and "is also an input" in err and "training score" not in err
    assert emb_file.read_bytes() == before
    same = tmp_path / "data.skops"  # an input named like a model
    same.write_bytes(b"never read")
    code, _, err = _run(capsys, "fit", same, "--out", same)
    assert code == 1 and f"--out {same} is also an input" in err
    assert "not a readable .npz" not in err  # refused before the data were read


def test_fit_checks_an_unwritable_out_first(tmp_path, unwritable, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"never read")
    out = unwritable / "model.skops"
    code, _, err = _run(capsys, "fit", junk, "--out", out)
    assert code == 1 and f"--out {out}: folder {unwritable} is not writable" in err, err
    assert TEMP_SUFFIX not in err and "not a readable .npz" not in err


def test_fit_model_file_follows_the_umask(emb_file, tmp_path, capsys, umask_022):
    out = tmp_path / "m.skops"
    code, _, err = _run(capsys, "fit", emb_file, *FAST, "--out", out)
    assert code == 0, err
    assert out.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["m.skops"]
