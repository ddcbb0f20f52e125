"""Timbre sources: the registry, every leaf audible, gaps unknown, load errors, mixes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

pretty_midi = pytest.importorskip("pretty_midi")
pytest.importorskip("tinysoundfont")

from sk_hier.cli import main  # noqa: E402
from sk_hier.datasets import _synth  # noqa: E402
from sk_hier.datasets.render import load_rendered, render_dataset, render_midi  # noqa: E402
from sk_hier.datasets.soundfonts import (  # noqa: E402
    LINEAGE_GROUPS,
    SOUNDFONTS,
    lineage_groups,
    parse_soundfont_list,
)
from sk_hier.datasets.taxonomy import DEFAULT_INSTRUMENTS, Instrument  # noqa: E402

pytestmark = pytest.mark.audio
MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
NOTE_S = 0.5
# A note of an audible instrument measures -12..-35 dBFS RMS raw in every source.
AUDIBLE_RMS = 10 ** (-45 / 20)
# What the registered sources are known to lack (measured; see soundfonts.py).
KNOWN_GAPS = {
    "opl3": {"Drum kit: TR-808"},
    "musescore": {"Acoustic Grand Piano"},
    "freepats": {
        "Vibraphone",
        "Marimba",
        "Choir Aahs",
        "Lead 2 (sawtooth)",
        "Drum kit: TR-808",
    },
}


def _installed(name: str) -> Path:
    source = SOUNDFONTS[name]
    path = source.find()
    # `make setup` installs every source, so a missing one is a set-up error, not a skip.
    assert path is not None, f"{name} is not installed: {source.install_hint()}"
    return path


def _one_note(inst: Instrument) -> pretty_midi.PrettyMIDI:
    midi = pretty_midi.PrettyMIDI()
    track = pretty_midi.Instrument(inst.program, is_drum=inst.is_drum)
    keys = (36, 38, 42) if inst.is_drum else (60,)
    track.notes += [pretty_midi.Note(100, k, 0.0, NOTE_S * 0.8) for k in keys]
    midi.instruments.append(track)
    return midi


# -- the registry --------------------------------------------------------------------
def test_registry_is_consistent_and_the_makefile_installs_every_source():
    makefile = MAKEFILE.read_text()
    debian = re.search(r"DEBIAN_PKGS \?=((?:.*\\\n)*.*)", makefile).group(1).split()
    for name, source in SOUNDFONTS.items():
        assert source.name == name and source.group in LINEAGE_GROUPS
        assert source.licence and source.synthesis in ("samples", "fm")
        if source.debian:
            assert source.debian in debian, f"the Makefile does not install {source.debian}"
        if source.renderer == "timidity":
            assert "timidity" in debian, "the Makefile does not install timidity"
    groups = lineage_groups()
    assert set(groups["fluid"]) == {"fluidr3", "fluidr3mono", "musescore"}
    assert set(groups["timgm"]) == {"timgm6mb", "csound"}
    assert groups["freepats"] == ("freepats",)
    # FM banks stay out of the headline mean.
    assert [n for n, s in SOUNDFONTS.items() if not s.headline] == ["opl3"]


def test_parse_soundfont_list():
    assert parse_soundfont_list("TimGM6mb, fluidr3_gm") == ("timgm6mb", "fluidr3")
    with pytest.raises(ValueError, match="Unknown soundfont 'nope'.*timgm6mb"):
        parse_soundfont_list("timgm6mb,nope")
    with pytest.raises(ValueError, match="twice"):
        parse_soundfont_list("csound,csound")


def test_cli_choices_derive_from_the_registry(capsys):
    with pytest.raises(SystemExit):
        main(["render", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in SOUNDFONTS)


# -- every source renders every leaf --------------------------------------------------
@pytest.mark.parametrize("name", list(SOUNDFONTS))
def test_every_leaf_is_audible_or_a_reported_gap(name):
    path = _installed(name)
    gaps = _synth.get_engine(path, 22050).gaps(DEFAULT_INSTRUMENTS)
    assert set(gaps) == KNOWN_GAPS.get(name, set()), gaps
    for inst in DEFAULT_INSTRUMENTS:
        if inst.name in gaps:
            continue
        # Drum kits play on channel 10 (pretty_midi's is_drum track).
        y = render_midi(_one_note(inst), path, duration=NOTE_S, normalize=False)
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        assert rms > AUDIBLE_RMS, f"{inst.name} is (nearly) silent in {name}: RMS {rms:.1e}"


# -- gaps are unknown, never silence labelled as present --------------------------------
def test_a_gap_renders_without_the_instrument_and_its_label_is_unknown(tmp_path):
    _installed("opl3")
    kits = [Instrument("Violin", "Strings", 40), Instrument("Drum kit: TR-808", "Drums", 25, True)]
    out = tmp_path / "opl3"
    render_dataset(
        out, n_clips=8, seed=3, duration=2.0, soundfont="opl3", instruments=kits, progress=False
    )
    _, Y, tree, ids = load_rendered(out)
    with open(out / "sources.csv") as fh:
        rows = {r["clip_id"]: r for r in csv.DictReader(fh)}
    tr808, drums = tree.index("Drum kit: TR-808"), tree.index("Drums")
    played = [i for i, c in enumerate(ids) if rows[c]["unknown"] == "Drum kit: TR-808"]
    assert played, "no clip played the TR-808 kit: pick another seed"
    assert np.isnan(Y[played, tr808]).all() and np.isnan(Y[played, drums]).all()
    assert not (Y[:, tr808] == 1).any()  # never labelled present
    import json

    gaps = json.loads((out / "render.json").read_text())["settings"]["gaps"]
    assert gaps == {"opl3": {"Drum kit: TR-808": "no drum kit 25"}}


def test_a_clip_of_only_gaps_is_silent_and_unknown_not_an_error(tmp_path):
    _installed("opl3")
    only = [Instrument("Drum kit: TR-808", "Drums", 25, True)]
    out = tmp_path / "only"
    render_dataset(
        out, n_clips=2, seed=0, duration=1.0, soundfont="opl3", instruments=only, progress=False
    )
    _paths, Y, _, _ = load_rendered(out)
    assert np.isnan(Y).all()


# -- a soundfont that fails to load ---------------------------------------------------
def test_a_soundfont_that_fails_to_load_is_named_before_any_work(tmp_path):
    bad = tmp_path / "broken.sf2"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00sfbk" + b"\x00" * 64)  # right header, no body
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"Could not load the soundfont .*broken\.sf2"):
        render_dataset(
            out, n_clips=2, duration=1.0, soundfonts=["timgm6mb", str(bad)], progress=False
        )
    assert not (out / "audio").exists() or not any((out / "audio").iterdir())
    with pytest.raises(FileNotFoundError, match="csound-soundfont|not found"):
        render_dataset(out, n_clips=1, soundfont=tmp_path / "missing.sf2", progress=False)


# -- mixed-source corpora ---------------------------------------------------------------
def _sources(folder: Path) -> list[dict]:
    with open(folder / "sources.csv") as fh:
        return list(csv.DictReader(fh))


def test_one_source_drawn_per_clip_keeps_the_music_and_n(tmp_path):
    _installed("csound")
    single, mixed = tmp_path / "single", tmp_path / "mixed"
    render_dataset(single, n_clips=6, seed=5, duration=1.5, progress=False)
    render_dataset(
        mixed, n_clips=6, seed=5, duration=1.5, soundfonts="timgm6mb,csound", progress=False
    )
    rows = _sources(mixed)
    assert [r["clip_id"] for r in rows] == [f"clip_{i:06d}" for i in range(6)]
    assert {r["source"] for r in rows} == {"timgm6mb", "csound"}
    assert {r["group"] for r in rows} == {"timgm"}
    for r in rows:
        assert (mixed / "midi" / f"{r['clip_id']}.mid").read_bytes() == (
            single / "midi" / f"{r['midi_id']}.mid"
        ).read_bytes()
    header = (mixed / "labels.csv").read_text().splitlines()[0].split(",")
    assert "source" not in header and header[0] == "clip_id"
    # the same settings give the same draw
    again = tmp_path / "again"
    render_dataset(
        again, n_clips=6, seed=5, duration=1.5, soundfonts="timgm6mb,csound", progress=False
    )
    assert _sources(again) == rows


def test_each_and_midi_from_through_the_cli(tmp_path, capsys):
    _installed("fluidr3")
    base = tmp_path / "base"
    assert (
        main(["render", "--quiet", "--n-clips", "2", "--duration", "1", "--out", str(base)]) == 0
    )
    out = tmp_path / "each"
    argv = [
        "render",
        "--quiet",
        "--midi-from",
        str(base),
        "--soundfonts",
        "timgm6mb,fluidr3",
        "--each",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    rows = _sources(out)
    assert [r["clip_id"] for r in rows] == [
        "clip_000000__timgm6mb",
        "clip_000000__fluidr3",
        "clip_000001__timgm6mb",
        "clip_000001__fluidr3",
    ]
    assert [r["group"] for r in rows] == ["timgm", "fluid"] * 2
    _, Y, _, _ = load_rendered(out)
    assert len(Y) == 4
    capsys.readouterr()
    assert (
        main(["render", "--quiet", "--n-clips", "1", "--each", "--out", str(tmp_path / "x")]) == 1
    )
    assert "--each needs --soundfonts" in capsys.readouterr().err


# -- TiMidity++ (GUS patches) -------------------------------------------------------------
def test_timidity_presets_read_banks_and_drum_sets(tmp_path):
    from sk_hier.datasets._timidity import timidity_presets

    cfg = tmp_path / "set.cfg"
    cfg.write_text(
        "dir /x\n# comment\ndrumset 0\n 35 Drum/kick.pat amp=100\n"
        "bank 0\n 0 Tone/piano.pat\n 40 Tone/violin.pat # the violin\n"
        "bank 8\n 4 Tone/other.pat\n"
    )
    assert timidity_presets(cfg) == {(128, 0), (0, 0), (0, 40)}


def test_freepats_renders_the_same_bytes_twice_and_its_own_timbre(tmp_path):
    _installed("freepats")
    violin = [Instrument("Violin", "Strings", 40), Instrument("Cello", "Strings", 42)]
    outs = {}
    for name, sf in (("a", "freepats"), ("b", "freepats"), ("t", "timgm6mb")):
        outs[name] = tmp_path / name
        render_dataset(
            outs[name],
            n_clips=3,
            seed=5,
            duration=2.0,
            soundfont=sf,
            instruments=violin,
            progress=False,
        )
    for clip in sorted(p.name for p in (outs["a"] / "audio").iterdir()):
        a, b = ((outs[k] / "audio" / clip).read_bytes() for k in ("a", "b"))
        assert a == b, clip  # deterministic
        assert a != (outs["t"] / "audio" / clip).read_bytes()  # another sample set


def test_a_timidity_gap_is_not_played(tmp_path):
    path = _installed("freepats")
    engine = _synth.get_engine(path, 22050)
    marimba = Instrument("Marimba", "Chromatic Percussion", 12)
    assert engine.gaps([marimba]) == {"Marimba": "no program 12"}
    data, _ = _synth.midi_bytes(_one_note(marimba))
    with pytest.raises(ValueError, match="lacks"):
        engine.render(data, NOTE_S, "the test clip")
    y = engine.render(data, NOTE_S, "the test clip", drop=frozenset({(False, 12)}))
    assert y.shape == (round(NOTE_S * 22050), 2) and not y.any()
