"""Rendering multi-instrument audio from MIDI: determinism, labels, files, CLI."""

from __future__ import annotations

import csv
import io
import os
import wave
from pathlib import Path

import numpy as np
import pytest

pretty_midi = pytest.importorskip("pretty_midi")
pytest.importorskip("tinysoundfont")

from sk_hier.cli import main  # noqa: E402
from sk_hier.datasets import _synth  # noqa: E402
from sk_hier.datasets._midi_style import _DEAD_KEYS, _register  # noqa: E402
from sk_hier.datasets.render import (  # noqa: E402
    generate_clip_midi,
    labels_from_midi,
    load_rendered,
    render_dataset,
    render_midi,
    resolve_soundfont,
)
from sk_hier.datasets.taxonomy import (  # noqa: E402
    DEFAULT_INSTRUMENTS,
    Instrument,
    instruments_from_programs,
    make_instrument_hierarchy,
)

pytestmark = pytest.mark.audio

FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DUR = 3.0


@pytest.fixture(scope="module")
def fluidr3() -> str:
    # CI installs it, so a missing file is a set-up error, not a reason to skip.
    assert FLUIDR3.is_file(), (
        f"{FLUIDR3} is missing: `make setup` installs it (Debian package fluid-soundfont-gm)."
    )
    return "fluidr3"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """Six 3-s clips rendered with TimGM6mb."""
    out = tmp_path_factory.mktemp("render") / "timgm"
    render_dataset(out, n_clips=6, seed=7, duration=DUR, progress=False)
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "render.json"
    }


def _read_wav(path: Path) -> tuple[np.ndarray, int, int, int]:
    with wave.open(str(path), "rb") as w:
        frames = w.readframes(w.getnframes())
        return (
            np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768,
            w.getnchannels(),
            w.getsampwidth(),
            w.getframerate(),
        )


def _midi_leaves(path: Path) -> set[str]:
    """Leaf labels derived independently from a written MIDI file."""
    midi = pretty_midi.PrettyMIDI(str(path))
    names = {}
    for inst in DEFAULT_INSTRUMENTS:
        names[(inst.is_drum, inst.program)] = inst.name
    return {names[(t.is_drum, t.program)] for t in midi.instruments if t.notes}


# -- every instrument sounds ---------------------------------------------------------
@pytest.mark.parametrize("soundfont", ["timgm6mb", "fluidr3"])
def test_every_leaf_sounds_alone(soundfont, request):
    if soundfont == "fluidr3":
        request.getfixturevalue("fluidr3")
    for inst in DEFAULT_INSTRUMENTS:
        midi, labels = generate_clip_midi(0, [inst], duration=2.0)
        assert labels == (inst.name,)
        y = render_midi(midi, soundfont, duration=2.0, normalize=False)
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        assert rms > 3e-3, f"{inst.name} is (nearly) silent in {soundfont}: RMS {rms:.2e}"


@pytest.mark.parametrize("soundfont", ["timgm6mb", "fluidr3"])
def test_every_key_the_generator_writes_sounds(soundfont, request):
    # Some presets have holes in their key zones; the registers and _DEAD_KEYS keep
    # the generator out of them, so that no labelled note is silent.
    if soundfont == "fluidr3":
        request.getfixturevalue("fluidr3")
    for inst in DEFAULT_INSTRUMENTS[:-2]:
        lo, hi = _register(inst)
        keys = [k for k in range(lo, hi + 1) if k not in _DEAD_KEYS.get(inst.program, ())]
        midi = pretty_midi.PrettyMIDI()
        track = pretty_midi.Instrument(inst.program)
        track.notes += [
            pretty_midi.Note(90, k, i * 0.2, i * 0.2 + 0.12) for i, k in enumerate(keys)
        ]
        midi.instruments.append(track)
        y = render_midi(midi, soundfont, duration=len(keys) * 0.2, normalize=False)
        rms = np.sqrt(np.mean(y.reshape(len(keys), -1).astype(np.float64) ** 2, axis=1))
        silent = [k for k, r in zip(keys, rms) if r < 1e-3]
        assert not silent, f"{inst.name}: keys {silent} are silent in {soundfont}"


# -- determinism ---------------------------------------------------------------------
def test_same_seed_same_bytes_for_any_n_jobs(rendered, tmp_path):
    again = tmp_path / "again"
    render_dataset(again, n_clips=6, seed=7, duration=DUR, progress=False)
    assert _files(again) == _files(rendered)
    parallel = tmp_path / "parallel"
    render_dataset(parallel, n_clips=6, seed=7, duration=DUR, progress=False, n_jobs=2)
    assert _files(parallel) == _files(rendered)
    other = tmp_path / "other"
    render_dataset(other, n_clips=2, seed=8, duration=DUR, progress=False)
    assert _files(other)["midi/clip_000000.mid"] != _files(rendered)["midi/clip_000000.mid"]


def test_clip_depends_only_on_seed_and_index(rendered):
    midi, _labels = generate_clip_midi(7, duration=DUR, clip=4)
    written = (rendered / "midi" / "clip_000004.mid").read_bytes()
    assert _synth.midi_bytes(midi)[0] == written
    # Rendering one clip alone, after other clips, gives the same audio.
    render_midi(generate_clip_midi(1, duration=DUR)[0], duration=DUR)
    y = render_midi(written, duration=DUR)
    stored, *_ = _read_wav(rendered / "audio" / "clip_000004.wav")
    pcm = np.clip(np.rint(y * 32767), -32768, 32767) / 32768
    np.testing.assert_array_equal(pcm.astype(np.float32), stored)


def test_two_soundfonts_same_midi_different_audio(rendered, fluidr3, tmp_path):
    fresh = tmp_path / "fresh"
    render_dataset(fresh, n_clips=3, seed=7, duration=DUR, soundfont=fluidr3, progress=False)
    shifted = tmp_path / "shifted"
    summary = render_dataset(shifted, soundfont=fluidr3, midi_from=rendered, progress=False)
    assert summary.n_clips == 6
    for i in range(3):
        name = f"clip_{i:06d}"
        mid = (rendered / "midi" / f"{name}.mid").read_bytes()
        assert (fresh / "midi" / f"{name}.mid").read_bytes() == mid
        assert (shifted / "midi" / f"{name}.mid").read_bytes() == mid
        a, *_ = _read_wav(rendered / "audio" / f"{name}.wav")
        b, *_ = _read_wav(shifted / "audio" / f"{name}.wav")
        assert a.shape == b.shape
        assert not np.array_equal(a, b)
    assert (shifted / "labels.csv").read_bytes() == (rendered / "labels.csv").read_bytes()
    meta = (shifted / "render.json").read_text()
    assert '"fluidr3"' in meta and '"seed": 7' in meta


# -- labels and files ------------------------------------------------------------------
def test_labels_agree_with_written_midi_and_max_rule(rendered):
    h = make_instrument_hierarchy()
    with open(rendered / "labels.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["clip_id", *h.labels]
    assert [r[0] for r in rows[1:]] == [f"clip_{i:06d}" for i in range(6)]
    for row in rows[1:]:
        values = dict(zip(h.labels, map(int, row[1:])))
        leaves = {leaf for leaf in h.leaves if values[leaf]}
        assert leaves == _midi_leaves(rendered / "midi" / f"{row[0]}.mid")
        assert 1 <= len(leaves) <= 5
        for parent in h.levels[0]:
            assert values[parent] == max(values[c] for c in h.children_of(parent))


def test_wav_files(rendered):
    paths, Y, h, _ids = load_rendered(rendered)
    assert Y.shape == (6, 38) and h == make_instrument_hierarchy()
    for path in paths:
        y, channels, width, rate = _read_wav(Path(path))
        assert (channels, width, rate) == (1, 2, 22050)
        assert y.size == int(DUR * 22050)
        peak = np.abs(y).max()
        rms = np.sqrt(np.mean(y.astype(np.float64) ** 2))
        assert peak <= 10 ** (-1 / 20) + 1e-4  # 1 dB of headroom
        assert 10 ** (-30 / 20) < rms <= 10 ** (-20 / 20) + 1e-3


def test_generator_variety_and_every_leaf_frequent():
    counts = dict.fromkeys((i.name for i in DEFAULT_INSTRUMENTS), 0)
    sizes = []
    for clip in range(300):
        midi, labels = generate_clip_midi(3, duration=4.0, clip=clip)
        assert len({t.is_drum for t in midi.instruments if t.is_drum}) <= 1
        sizes.append(len(labels))
        for name in labels:
            counts[name] += 1
    assert set(sizes) == {1, 2, 3, 4, 5}
    freq = np.array(list(counts.values())) / 300
    assert freq.min() > 0.04, counts


def test_generator_custom_taxonomy_and_errors():
    insts = instruments_from_programs([0, 40, 73], drum_kits=[25])
    _midi, labels = generate_clip_midi(0, insts, duration=2.0, n_instruments=4)
    assert set(labels) <= {i.name for i in insts} and len(labels) >= 3
    with pytest.raises(ValueError, match="seed"):
        generate_clip_midi(-1)
    with pytest.raises(ValueError, match="source"):
        generate_clip_midi(0, source="radio")
    with pytest.raises(ValueError, match="n_instruments"):
        generate_clip_midi(0, n_instruments=(3, 1))
    with pytest.raises(ValueError, match="duration"):
        generate_clip_midi(0, duration=0)


def test_labels_from_midi_window_and_unknown_program():
    midi = pretty_midi.PrettyMIDI()
    violin = pretty_midi.Instrument(40)
    violin.notes.append(pretty_midi.Note(80, 70, 1.0, 2.0))
    flute = pretty_midi.Instrument(73)
    flute.notes.append(pretty_midi.Note(80, 70, 9.95, 10.5))  # starts too late to count
    midi.instruments += [violin, flute]
    assert labels_from_midi(midi, duration=10.0) == ("Violin",)
    assert labels_from_midi(midi) == ("Violin", "Flute")
    tuba = pretty_midi.Instrument(58, name="tuba")
    tuba.notes.append(pretty_midi.Note(80, 40, 0.0, 1.0))
    midi.instruments.append(tuba)
    with pytest.raises(ValueError, match="program 58, which is not in the taxonomy"):
        labels_from_midi(midi)


def test_render_midi_inputs_and_errors(tmp_path):
    midi, _ = generate_clip_midi(2, duration=1.0)
    data = _synth.midi_bytes(midi)[0]
    y = render_midi(data, duration=1.0)
    (tmp_path / "a.mid").write_bytes(data)
    np.testing.assert_array_equal(render_midi(tmp_path / "a.mid", duration=1.0), y)
    mido = pytest.importorskip("mido")
    np.testing.assert_array_equal(render_midi(mido.MidiFile(tmp_path / "a.mid"), duration=1.0), y)
    assert render_midi(data).size > y.size  # default: to the last event plus the decay
    with pytest.raises(ValueError, match="Cannot render a list"):
        render_midi([1, 2])
    with pytest.raises(FileNotFoundError, match="not found"):
        render_midi(tmp_path / "missing.mid")
    with pytest.raises(ValueError, match="not a readable MIDI"):
        render_midi(b"not midi at all")
    sfx = pretty_midi.PrettyMIDI()
    kit = pretty_midi.Instrument(56, is_drum=True)  # the SFX kit, absent from TimGM6mb
    kit.notes.append(pretty_midi.Note(90, 40, 0.0, 0.5))
    sfx.instruments.append(kit)
    with pytest.raises(ValueError, match="drum kit 56, which the soundfont TimGM6mb.sf2 lacks"):
        render_midi(sfx, duration=1.0)


def test_soundfont_errors(tmp_path):
    assert resolve_soundfont("TimGM6mb")[0] == "timgm6mb"
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_soundfont(tmp_path / "none.sf2")
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"hello world, not a soundfont")
    with pytest.raises(ValueError, match="not a SoundFont file"):
        resolve_soundfont(junk)
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST" + b"\x00" * 8)
    with pytest.raises(ValueError, match="Could not load the soundfont"):
        render_midi(generate_clip_midi(0, duration=1.0)[0], broken)


def test_missing_tinysoundfont_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "tinysoundfont", None)
    monkeypatch.setattr(_synth, "_ENGINES", {})
    with pytest.raises(ImportError, match="pip install --no-deps tinysoundfont"):
        render_midi(generate_clip_midi(0, duration=1.0)[0])


# -- resuming, refusing, atomic writes -----------------------------------------------------
def test_rerun_resumes_and_refuses_other_renders(rendered, tmp_path):
    out = tmp_path / "out"
    render_dataset(out, n_clips=3, seed=7, duration=DUR, progress=False)
    (out / "audio" / "clip_000001.wav").unlink()
    summary = render_dataset(out, n_clips=6, seed=7, duration=DUR, progress=False)
    assert (summary.n_rendered, summary.n_skipped) == (4, 2)
    assert _files(out) == _files(rendered)
    with pytest.raises(ValueError, match=r"other settings \(seed: 7 there, 8 now\)"):
        render_dataset(out, n_clips=6, seed=8, duration=DUR, progress=False)
    with pytest.raises(ValueError, match="soundfont"):
        render_dataset(out, n_clips=6, seed=7, duration=DUR, soundfont="fluidr3", progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no render.json"):
        render_dataset(foreign, n_clips=1, progress=False)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]  # left as it was


def test_interrupted_render_leaves_no_partial_file(rendered, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = os.replace
    calls = []

    def failing(src, dst):
        calls.append(dst)
        # render.json, then (mid, wav) per clip: stop while clip 2's MIDI is written.
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(KeyboardInterrupt):
        render_dataset(out, n_clips=6, seed=7, duration=DUR, progress=False)
    monkeypatch.setattr(os, "replace", real)
    for sub in ("audio", "midi"):  # two whole clips, no temp file, nothing half-written
        names = sorted(p.name for p in (out / sub).iterdir())
        assert names == [f"clip_00000{i}.{'wav' if sub == 'audio' else 'mid'}" for i in (0, 1)]
    assert not (out / "labels.csv").exists()
    with pytest.raises(FileNotFoundError, match="interrupted render"):
        load_rendered(out)
    summary = render_dataset(out, n_clips=6, seed=7, duration=DUR, progress=False)
    assert summary.n_skipped == 2
    assert _files(out) == _files(rendered)


def test_rerun_removes_only_its_own_temp_files(rendered, tmp_path):
    from sk_hier._io import TEMP_SUFFIX

    out = tmp_path / "out"
    render_dataset(out, n_clips=2, seed=7, duration=DUR, progress=False)
    users = [out / ".notes.tmp1", out / "audio" / ".mix.tmp", out / "midi" / ".x.wav.tmp42"]
    for path in users:
        path.write_text("mine")
    # What an interrupted run leaves: the package's own temp files.
    own = [out / f".labels.csv.a1b2{TEMP_SUFFIX}", out / "audio" / f".clip.wav.zz{TEMP_SUFFIX}"]
    for path in own:
        path.write_bytes(b"half a file")
    render_dataset(out, n_clips=2, seed=7, duration=DUR, progress=False)
    assert all(p.read_text() == "mine" for p in users)
    assert not any(p.exists() for p in own)


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        render_dataset(tmp_path / "out", n_clips=1, seed=7, duration=1.0, progress=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(files) == 6  # wav, mid, labels, sources, hierarchy, render.json
    assert {p.name: p.stat().st_mode & 0o777 for p in files} == {p.name: 0o644 for p in files}


def test_parallel_render_hands_no_worker_to_the_next_stage(tmp_path):
    # Render workers keep their soundfont synths; if the next joblib call of the
    # process reused them, loky would take that memory for a leak and restart them
    # mid-run with a warning. The render ends its workers instead.
    from joblib import Parallel, delayed

    before = set(Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(8)))
    render_dataset(tmp_path / "out", n_clips=4, seed=7, duration=1.0, progress=False, n_jobs=2)
    after = set(Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(8)))
    assert before and after and not before & after


def test_out_dir_equal_to_midi_from_is_refused(rendered, capsys):
    before = _files(rendered)
    with pytest.raises(ValueError, match="is also midi_from"):
        render_dataset(rendered, midi_from=rendered, soundfont="timgm6mb", progress=False)
    argv = ["render", "--midi-from", str(rendered), "--out", str(rendered), "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"--out {rendered} is also an input" in err and "Traceback" not in err
    assert _files(rendered) == before


def _midi_folder(folder: Path, seed: int) -> Path:
    """A plain folder of three MIDI files, clip_000000 onwards, from ``seed``."""
    folder.mkdir(parents=True)
    for i in range(3):
        midi, _ = generate_clip_midi(seed, duration=DUR, clip=i)
        (folder / f"clip_{i:06d}.mid").write_bytes(_synth.midi_bytes(midi)[0])
    return folder


def test_a_moved_data_folder_resumes(tmp_path):
    import shutil

    first = tmp_path / "first"
    _midi_folder(first / "midi_set", seed=7)
    render_dataset(first / "out", midi_from=first / "midi_set", progress=False)
    moved = tmp_path / "moved"
    shutil.copytree(first, moved)
    shutil.rmtree(first)  # the recorded paths no longer exist
    before = _files(moved / "out")
    summary = render_dataset(moved / "out", midi_from=moved / "midi_set", progress=False)
    assert (summary.n_clips, summary.n_rendered) == (3, 0)
    assert _files(moved / "out") == before  # nothing rendered again
    recorded = (moved / "out" / "render.json").read_text()
    assert str((moved / "midi_set").resolve()) in recorded  # provenance updated


def test_resuming_from_another_midi_set_is_refused(tmp_path):
    one, other = _midi_folder(tmp_path / "one", 7), _midi_folder(tmp_path / "other", 8)
    render_dataset(tmp_path / "out", midi_from=one, progress=False)
    before = _files(tmp_path / "out")
    with pytest.raises(ValueError, match="clip_000000 rendered from other MIDI than"):
        render_dataset(tmp_path / "out", midi_from=other, progress=False)
    assert _files(tmp_path / "out") == before


def test_load_rendered_errors(rendered, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_rendered(tmp_path / "nothing")
    copy = tmp_path / "copy"
    for rel, data in _files(rendered).items():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes(data)
    text = (copy / "labels.csv").read_text()
    lines = text.splitlines()
    (copy / "labels.csv").write_text(
        "\n".join([lines[0].replace("Piano,", "Keys,", 1), *lines[1:]])
    )
    with pytest.raises(ValueError, match="do not match hierarchy.json"):
        load_rendered(copy)
    header, first, *rest = lines
    fields = first.split(",")
    fields[1:13] = ["1" if v == "0" else "0" for v in fields[1:13]]  # flip every family
    (copy / "labels.csv").write_text("\n".join([header, ",".join(fields), *rest]) + "\n")
    with pytest.raises(ValueError, match="disagrees with its instruments"):
        load_rendered(copy)
    (copy / "labels.csv").write_text(text)
    (copy / "audio" / "clip_000003.wav").unlink()
    with pytest.raises(FileNotFoundError, match="clip_000003.wav is listed"):
        load_rendered(copy)


def test_music21_source_small(tmp_path):
    pytest.importorskip("music21")
    out = tmp_path / "m21"
    render_dataset(out, n_clips=2, seed=0, duration=DUR, source="music21", progress=False)
    _paths, Y, h, ids = load_rendered(out)
    assert Y.shape == (2, 38)
    for cid, row in zip(ids, Y):
        leaves = {leaf for leaf in h.leaves if row[h.index(leaf)]}
        assert leaves and leaves == _midi_leaves(out / "midi" / f"{cid}.mid")


@pytest.mark.slow
def test_music21_source_parallel_matches_serial(tmp_path):
    pytest.importorskip("music21")
    kw = dict(n_clips=12, seed=1, duration=10.0, source="music21", progress=False)
    render_dataset(tmp_path / "a", **kw)
    render_dataset(tmp_path / "b", n_jobs=2, **kw)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


@pytest.mark.slow
# loky restarts a worker whose memory grew by >300 MB since its first task (here: a
# FluidR3 load after earlier TimGM6mb tasks); the restart is harmless.
@pytest.mark.filterwarnings("ignore:A worker stopped:UserWarning")
def test_many_clips_labels_agree(tmp_path, fluidr3):
    out = tmp_path / "many"
    render_dataset(out, n_clips=60, seed=11, soundfont=fluidr3, n_jobs=2, progress=False)
    _paths, Y, h, ids = load_rendered(out)
    for cid, row in zip(ids, Y):
        leaves = {leaf for leaf in h.leaves if row[h.index(leaf)]}
        assert leaves == _midi_leaves(out / "midi" / f"{cid}.mid")


# -- command line ----------------------------------------------------------------------
def test_cli_happy_path(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["render", "--n-clips", "2", "--seed", "7", "--duration", str(DUR), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert "2 clips, 2 rendered" in capsys.readouterr().out
    paths, _Y, _h, _ids = load_rendered(out)
    assert len(paths) == 2
    assert main([*argv, "--quiet"]) == 0
    assert "0 rendered, 2 already there" in capsys.readouterr().out
    custom = tmp_path / "custom"
    code = main(["render", "--n-clips", "2", "--programs", "40,73", "--drum-kits", "0",
                 "--duration", "2", "--out", str(custom), "--quiet"])  # fmt: skip
    assert code == 0
    assert load_rendered(custom)[2].leaves == ("Violin", "Flute", "Drum kit: Standard")


def test_cli_module_entry_point(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "mod"
    cmd = [sys.executable, "-m", "sk_hier.cli", "render", "--n-clips", "1", "--duration", "1",
           "--out", str(out), "--quiet"]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "audio" / "clip_000000.wav").is_file()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n-clips", "1", "--soundfont", "/no/such.sf2"], "not found"),
        (["--n-clips", "1", "--soundfont", "JUNK"], "not a SoundFont file"),
        ([], "give --n-clips"),
        (["--n-clips", "0"], "n_clips must be a positive int"),
        (["--n-clips", "1", "--duration", "-3"], "duration"),
        (["--n-clips", "1", "--sample-rate", "100"], "sample_rate"),
        (["--n-clips", "1", "--programs", "200"], "out of range"),
        (["--midi-from", "NOWHERE"], "is not a folder"),
        (["--n-clips", "1", "--out", "FILE/sub"], "Cannot create the output folder"),
    ],
)
def test_cli_bad_input(extra, message, tmp_path, capsys):
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"junk" * 10)
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    argv = ["render", "--out", str(tmp_path / "o"), "--quiet"]
    extra = [
        str(junk)
        if a == "JUNK"
        else str(tmp_path / "nowhere")
        if a == "NOWHERE"
        else str(blocker / "sub")
        if a == "FILE/sub"
        else a
        for a in extra
    ]
    if "--out" in extra:
        argv = ["render", "--quiet"]
    assert main(argv + extra) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.startswith("sk-hier render: error:")


def test_cli_bad_flag_exits_nonzero(capsys):
    with pytest.raises(SystemExit) as info:
        main(["render", "--n-clips", "many", "--out", "x"])
    assert info.value.code != 0
    assert "invalid int value" in capsys.readouterr().err


def test_render_json_settings(rendered):
    import json

    meta = json.loads((rendered / "render.json").read_text())
    assert meta["complete"] is True and meta["n_clips"] == 6
    s = meta["settings"]
    assert (s["seed"], s["duration"], s["sample_rate"], s["source"]) == (
        7,
        DUR,
        22050,
        "generated",
    )
    assert s["soundfont"]["name"] == "timgm6mb" and len(s["soundfont"]["sha256"]) == 64
    assert meta["versions"]["tinysoundfont"]
    assert [Instrument(*i) for i in s["instruments"]] == list(DEFAULT_INSTRUMENTS)


def test_wav_bytes_are_plain_pcm():
    y = np.array([0.0, 0.5, -0.5, 0.999], dtype=np.float32)
    data = _synth.wav_bytes(y, 22050)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (
            1,
            2,
            22050,
            4,
        )
