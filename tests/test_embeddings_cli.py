"""``sk-hier embed`` on tiny folders and manifests."""

from __future__ import annotations

import os
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
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 3


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
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, tmp_path / "empty", "--out", tmp_path / "e.npz")
    assert code == 1 and "holds no audio file" in err
    (rendered / "labels.csv").unlink()
    code, _, err = _run(capsys, rendered, "--out", tmp_path / "e.npz")
    assert code == 1 and "not a complete rendered dataset folder" in err
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


# -- outputs are checked before any work ---------------------------------------------------
def _no_work(monkeypatch) -> list:
    """Count embedding calls: a refused command must refuse before any of them."""
    from sk_hier.embeddings import LogMelEmbedder

    calls: list[int] = []
    original = LogMelEmbedder.transform

    def counting(self, X):
        calls.append(len(X))
        return original(self, X)

    monkeypatch.setattr(LogMelEmbedder, "transform", counting)
    return calls


@pytest.fixture
def manifest(tmp_path) -> Path:
    (tmp_path / "wav").mkdir()
    for i in range(2):
        _tone(tmp_path / "wav" / f"{i}.wav", i)
    path = tmp_path / "m.csv"
    path.write_text("path,keys/piano\nwav/0.wav,1\nwav/1.wav,0\n")
    return path


@pytest.mark.parametrize(
    "source, out",
    [
        ("m.csv", "m.csv"),  # the manifest itself
        ("m.csv", "./wav/../m.csv"),  # the same file spelt another way
        ("m.csv", "wav/1.wav"),  # an audio file it lists
        ("wav", "wav/0.wav"),  # an audio file of a plain folder
        ("wav/*.wav", "wav/1.wav"),  # an audio file a pattern matches
        ("rendered", "rendered/labels.csv"),  # the labels of a rendered folder
        ("rendered", "rendered/hierarchy.json"),
        ("rendered", "rendered/audio/c2.wav"),
    ],
)
def test_out_equal_to_an_input_is_refused_before_any_work(
    manifest, rendered, tmp_path, capsys, monkeypatch, source, out
):
    calls = _no_work(monkeypatch)
    monkeypatch.chdir(tmp_path)
    before = (tmp_path / out).read_bytes()
    code, _, err = _run(capsys, source, "--out", out)
    assert code == 1 and "is also an input" in err and out in err, err
    assert "Traceback" not in err
    assert calls == []
    assert (tmp_path / out).read_bytes() == before


def test_cache_dir_equal_to_an_input_is_refused(manifest, tmp_path, capsys, monkeypatch):
    calls = _no_work(monkeypatch)
    code, _, err = _run(capsys, manifest, "--cache-dir", manifest, "--out", tmp_path / "e.npz")
    assert code == 1 and "--cache-dir" in err and "is also an input" in err
    assert calls == [] and manifest.read_text().startswith("path,")


@pytest.fixture
def readonly(tmp_path, monkeypatch) -> Path:
    """A folder that cannot be written, also when the tests run as root."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root ignores the mode bits: report them as the OS would
        real = os.access

        def access(path, mode, *args, **kwargs):
            if Path(path).resolve() == folder.resolve() and mode & os.W_OK:
                return False
            return real(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    yield folder
    folder.chmod(0o755)


def test_unwritable_out_folder_fails_first_and_names_the_users_path(
    manifest, readonly, capsys, monkeypatch
):
    calls = _no_work(monkeypatch)
    out = readonly / "e.npz"
    code, _, err = _run(capsys, manifest, "--out", out)
    assert code == 1 and f"--out {out}" in err and "not writable" in err, err
    assert ".sk_hier-tmp" not in err and "Traceback" not in err
    assert calls == []
    code, _, err = _run(
        capsys, manifest, "--out", readonly.parent / "e.npz", "--cache-dir", readonly
    )
    assert code == 1 and f"--cache-dir {readonly}" in err and calls == []


def test_save_error_names_the_users_path(tmp_path):
    from sk_hier.embeddings import save_embeddings

    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OSError) as info:
        save_embeddings(blocker / "e.npz", np.ones((1, 2)), ["a"])
    assert str(blocker / "e.npz") in str(info.value)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_output_follows_the_umask(manifest, tmp_path, capsys, umask, mode):
    old = os.umask(umask)
    try:
        code, _, err = _run(capsys, manifest, "--out", tmp_path / "e.npz")
    finally:
        os.umask(old)
    assert code == 0, err
    assert (tmp_path / "e.npz").stat().st_mode & 0o777 == mode
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# -- plain folders and patterns ------------------------------------------------------------
@pytest.fixture
def songs(tmp_path) -> Path:
    folder = tmp_path / "songs"
    (folder / "live" / "2019").mkdir(parents=True)
    (folder / "B side").mkdir()
    for i, name in enumerate(["b.wav", "a.wav", "live/2019/z.WAV", "live/c.flac", "B side/x.wav"]):
        sf.write(folder / name, 0.2 * np.sin(np.arange(SR // 2) * (0.05 + 0.01 * i)), SR)
    (folder / "cover.jpg").write_bytes(b"\xff\xd8 not audio")
    (folder / "notes.txt").write_text("lyrics")
    return folder


def test_plain_folder_gives_sorted_relative_ids_and_no_labels(songs, tmp_path, capsys):
    out_file = tmp_path / "songs.npz"
    code, out, err = _run(capsys, songs, "--out", out_file)
    assert code == 0, err
    assert "5 clips x 296 features, 0 labels" in out
    e = load_embeddings(out_file)
    expected = ["B side/x.wav", "a.wav", "b.wav", "live/2019/z.WAV", "live/c.flac"]
    assert e.clip_ids.tolist() == expected == sorted(expected)
    assert e.Y.shape == (5, 0) and e.labels == () and e.hierarchy is None
    assert np.isfinite(e.X).all() and len({row.tobytes() for row in e.X}) == 5


def test_glob_pattern(songs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "songs/*.wav", "--out", "top.npz")
    assert code == 0, err
    assert load_embeddings(tmp_path / "top.npz").clip_ids.tolist() == [
        "songs/a.wav",
        "songs/b.wav",
    ]
    code, _, err = _run(capsys, "songs/**/*.flac", "songs/b.wav", "--out", "two.npz")
    assert code == 0, err
    e = load_embeddings(tmp_path / "two.npz")
    assert e.clip_ids.tolist() == ["songs/live/c.flac", "songs/b.wav"] and e.hierarchy is None
    code, _, err = _run(capsys, "songs/*.mp3", "--out", "none.npz")
    assert code == 1 and "matches no audio file" in err and "songs/*.mp3" in err


def test_folder_without_audio_is_a_clear_error(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no audio here")
    code, _, err = _run(capsys, empty, "--out", tmp_path / "e.npz")
    assert code == 1 and f"{empty} holds no audio file" in err and ".wav" in err
    assert "Traceback" not in err and not (tmp_path / "e.npz").exists()


def test_a_multi_source_render_keeps_its_groups(rendered, tmp_path, capsys):
    (rendered / "sources.csv").write_text(
        "clip_id,midi_id,source,group,unknown\n"
        "c0,c0,timgm6mb,timgm,\nc1,c1,fluidr3,fluid,\nc2,c2,csound,timgm,\n"
    )
    code, _, err = _run(capsys, rendered, "--out", tmp_path / "emb.npz")
    assert code == 0, err
    e = load_embeddings(tmp_path / "emb.npz")
    assert e.groups.tolist() == ["timgm", "fluid", "timgm"]
    assert e.sources.tolist() == ["timgm6mb", "fluidr3", "csound"]
