"""``sk-hier embed`` on tiny folders and manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sk_hier.cli import main
from sk_hier.embeddings import load_embeddings
from sk_hier.hierarchy import Hierarchy

TREE = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
SR = 22050


def _tone(path: Path, seed: int, seconds: float = 0.5) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t), SR, subtype="PCM_16")


@pytest.fixture
def rendered(tmp_path) -> Path:
    folder = tmp_path / "rendered"
    (folder / "audio").mkdir(parents=True)
    h = Hierarchy(TREE)
    (folder / "hierarchy.json").write_text(h.to_json())
    rows = {"c0": "1,0,1,0,0", "c1": "1,1,1,1,1", "c2": "0,1,0,0,1"}
    (folder / "labels.csv").write_text(
        "clip_id," + ",".join(h.labels) + "\n" + "".join(f"{k},{v}\n" for k, v in rows.items())
    )
    for i, clip in enumerate(rows):
        _tone(folder / "audio" / f"{clip}.wav", i)
    return folder


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["embed", *map(str, argv), "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def test_rendered_folder_happy_path(rendered, tmp_path, capsys):
    out_file = tmp_path / "emb.npz"
    code, out, err = _run(capsys, rendered, "--out", out_file)
    assert code == 0, err
    assert "3 clips x 296 features" in out
    e = load_embeddings(out_file)
    assert e.X.shape == (3, 296) and e.clip_ids.tolist() == ["c0", "c1", "c2"]
    assert e.hierarchy == Hierarchy(TREE)
    assert e.Y[1].tolist() == [1, 1, 1, 1, 1]
    assert e.embedder["name"] == "logmel" and e.embedder["settings"]["n_mels"] == 128


def test_manifest_happy_path_with_cache_and_jobs(tmp_path, capsys):
    (tmp_path / "wav").mkdir()
    for i in range(3):
        _tone(tmp_path / "wav" / f"{i}.wav", i)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,keys/piano\nwav/0.wav,1\nwav/1.wav,\nwav/2.wav,0\n")
    args = ["--out", tmp_path / "e.npz", "--cache-dir", tmp_path / "cache", "--n-jobs", "2"]
    code, _, err = _run(capsys, manifest, *args)
    assert code == 0, err
    e = load_embeddings(tmp_path / "e.npz")
    assert e.clip_ids.tolist() == ["wav/0.wav", "wav/1.wav", "wav/2.wav"]
    assert e.labels == ("keys", "piano")
    np.testing.assert_array_equal(e.Y[:, 1], [1, np.nan, 0])
    assert any((tmp_path / "cache").rglob("output.pkl"))


def test_bad_file_is_named_without_traceback(rendered, tmp_path, capsys):
    bad = rendered / "audio" / "c1.wav"
    bad.write_bytes(b"RIFF0000WAVEjunkjunkjunk")
    code, _, err = _run(capsys, rendered, "--out", tmp_path / "e.npz")
    assert code == 1
    assert str(bad) in err and "corrupt or truncated WAV" in err
    assert "Traceback" not in err
    assert not (tmp_path / "e.npz").exists()


@pytest.mark.parametrize("kind", ["missing", "silent", "empty", "text"])
def test_skip_mode_keeps_the_good_clips(rendered, tmp_path, capsys, kind):
    bad = rendered / "audio" / "c1.wav"
    if kind == "missing":
        bad.unlink()
    elif kind == "silent":
        sf.write(bad, np.zeros(SR), SR)
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_text("not audio")
    out_file = tmp_path / "e.npz"
    code, _, err = _run(capsys, rendered, "--out", out_file)
    assert code == 1 and str(bad) in err and "Traceback" not in err
    code, _, err = _run(capsys, rendered, "--out", out_file, "--on-error", "skip")
    assert code == 0, err
    assert "skipped 1 of 3" in err and str(bad) in err
    e = load_embeddings(out_file)
    assert e.clip_ids.tolist() == ["c0", "c2"]
    assert e.Y.tolist() == [[1, 0, 1, 0, 0], [0, 1, 0, 0, 1]]


def test_all_files_bad_in_skip_mode(rendered, tmp_path, capsys):
    for wav in (rendered / "audio").glob("*.wav"):
        wav.write_bytes(b"")
    code, _, err = _run(capsys, rendered, "--out", tmp_path / "e.npz", "--on-error", "skip")
    assert code == 1 and "nothing written" in err


def test_bad_arguments(rendered, tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "nowhere", "--out", tmp_path / "e.npz")
    assert code == 1 and "does not exist" in err
    code, _, err = _run(capsys, tmp_path, "--out", tmp_path / "e.npz")
    assert code == 1 and "not a rendered dataset folder" in err
    code, _, err = _run(capsys, rendered, "--model", "MSD_musicnn", "--out", tmp_path / "e.npz")
    assert code == 1 and "--model applies to --embedder musicnn" in err
    assert "Traceback" not in err


def test_musicnn_embedder_from_the_command_line(rendered, tmp_path, capsys):
    pytest.importorskip("musicnn.configuration")
    out_file = tmp_path / "e.npz"
    code, _, err = _run(
        capsys, rendered, "--embedder", "musicnn", "--model", "MSD_musicnn", "--out", out_file
    )
    assert code == 0, err
    e = load_embeddings(out_file)
    assert e.X.shape == (3, 953) and e.embedder["settings"]["model"] == "MSD_musicnn"
