"""Instrument taxonomies: the default tree, custom trees from GM programs, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sk_hier.datasets.taxonomy import (
    DEFAULT_INSTRUMENTS,
    DRUM_KITS,
    GM_FAMILIES,
    Instrument,
    check_instruments,
    gm_family,
    instruments_from_programs,
    make_instrument_hierarchy,
)

pretty_midi = pytest.importorskip("pretty_midi")

# The tree of the reference embeddings, extracted as tests/data/README.md says.
REFERENCE = Path(__file__).resolve().parent / "data" / "taxonomy_reference.json"


def test_default_matches_reference_data():
    ref = json.loads(REFERENCE.read_text())
    h = make_instrument_hierarchy()
    assert list(h.leaves) == ref["leaf_names"]
    assert list(h.levels[0]) == ref["parent_names"]
    parents = ref["parent_names"]
    for leaf, p in zip(ref["leaf_names"], ref["parent_of"], strict=True):
        assert h.parent_of(leaf) == parents[p]
    assert [i.program for i in DEFAULT_INSTRUMENTS] == ref["leaf_programs"]
    assert [i.is_drum for i in DEFAULT_INSTRUMENTS] == ref["leaf_is_drum"]
    assert h.labels == tuple(parents) + tuple(ref["leaf_names"])
    assert len(ref["leaf_names"]) == 26 and len(parents) == 12


def test_default_names_and_families_follow_pretty_midi():
    for inst in DEFAULT_INSTRUMENTS:
        if inst.is_drum:
            assert inst.family == "Drums"
            assert inst.name == f"Drum kit: {DRUM_KITS[inst.program]}"
        else:
            assert inst.name == pretty_midi.program_to_instrument_name(inst.program)
            assert inst.family == pretty_midi.program_to_instrument_class(inst.program)


def test_gm_family_matches_pretty_midi_for_every_program():
    assert len(GM_FAMILIES) == 16
    for program in range(128):
        assert gm_family(program) == pretty_midi.program_to_instrument_class(program)
    assert gm_family(0, is_drum=True) == "Drums"


def test_instruments_from_programs():
    insts = instruments_from_programs([73, 40, np.int64(42)], drum_kits=[25])
    assert [i.name for i in insts] == ["Flute", "Violin", "Cello", "Drum kit: TR-808"]
    assert [i.family for i in insts] == ["Pipe", "Strings", "Strings", "Drums"]
    h = make_instrument_hierarchy(insts)
    # Families in order of first appearance, instruments grouped under them.
    assert h.labels == ("Pipe", "Strings", "Drums", "Flute", "Violin", "Cello", "Drum kit: TR-808")
    assert instruments_from_programs([], drum_kits=[0])[0].is_drum


@pytest.mark.parametrize(
    "programs, kits, match",
    [
        ([128], [], "out of range"),
        ([-1], [], "out of range"),
        (["piano"], [], "integer"),
        ([1.5], [], "integer"),
        ([40, 40], [], "Duplicate program"),
        ([], [0, 0], "Duplicate drum kit"),
        ([], [3], "Unknown drum kit"),
        ([], [], "at least one"),
    ],
)
def test_instruments_from_programs_errors(programs, kits, match):
    with pytest.raises(ValueError, match=match):
        instruments_from_programs(programs, kits)


def test_check_instruments_errors():
    violin = Instrument("Violin", "Strings", 40)
    with pytest.raises(ValueError, match="empty"):
        check_instruments([])
    with pytest.raises(ValueError, match="Instrument objects"):
        check_instruments(["Violin"])
    with pytest.raises(ValueError, match="named 'Violin'"):
        check_instruments([violin, Instrument("Violin", "Strings", 41)])
    with pytest.raises(ValueError, match="share program 40"):
        check_instruments([violin, Instrument("Fiddle", "Strings", 40)])
    with pytest.raises(ValueError, match="both an instrument and a family"):
        check_instruments([violin, Instrument("Strings", "Ensemble", 48)])
    with pytest.raises(ValueError, match="0..127"):
        Instrument("X", "Piano", 200)
    # A kit and a pitched program may share a number: channel 10 tells them apart.
    both = check_instruments([Instrument("Grand", "Piano", 0), DEFAULT_INSTRUMENTS[-2]])
    assert len(both) == 2


def test_instrument_is_frozen_and_hashable():
    inst = DEFAULT_INSTRUMENTS[0]
    with pytest.raises(AttributeError):
        inst.program = 3
    assert inst.key == (False, 0)
    assert len(set(DEFAULT_INSTRUMENTS)) == 26
