"""Instrument taxonomies over General MIDI programs: leaf = instrument, parent = family."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..hierarchy import Hierarchy

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "DRUM_KITS",
    "GM_FAMILIES",
    "Instrument",
    "check_instruments",
    "gm_family",
    "instruments_from_programs",
    "make_instrument_hierarchy",
]

# The 16 GM families in program order (eight programs each), with the names
# ``pretty_midi.program_to_instrument_class`` returns, so that labels written here and
# labels derived with pretty_midi agree. Hard-coded so that building a taxonomy does
# not need the audio extras.
GM_FAMILIES: tuple[str, ...] = (
    "Piano",
    "Chromatic Percussion",
    "Organ",
    "Guitar",
    "Bass",
    "Strings",
    "Ensemble",
    "Brass",
    "Reed",
    "Pipe",
    "Synth Lead",
    "Synth Pad",
    "Synth Effects",
    "Ethnic",
    "Percussive",
    "Sound Effects",
)

#: Family of every drum kit (MIDI channel 10).
DRUMS_FAMILY = "Drums"

#: GM2/GS drum kits (program on channel 10) present in both TimGM6mb and FluidR3_GM.
DRUM_KITS: dict[int, str] = {
    0: "Standard",
    8: "Room",
    16: "Power",
    24: "Electronic",
    25: "TR-808",
    32: "Jazz",
    40: "Brush",
    48: "Orchestra",
}


@dataclass(frozen=True)
class Instrument:
    """One leaf of an instrument taxonomy: a GM program (or drum kit) and its family.

    Parameters
    ----------
    name : str
        Leaf label, e.g. ``"Violin"`` or ``"Drum kit: TR-808"``.
    family : str
        Parent label, e.g. ``"Strings"`` or ``"Drums"``.
    program : int
        GM program number, 0-127 (the drum kit number when ``is_drum``).
    is_drum : bool, default=False
        Whether the instrument plays on the drum channel (MIDI channel 10).

    Examples
    --------
    >>> from sk_hier.datasets.taxonomy import Instrument
    >>> Instrument("Violin", "Strings", 40)
    Instrument(name='Violin', family='Strings', program=40, is_drum=False)
    """

    name: str
    family: str
    program: int
    is_drum: bool = False

    def __post_init__(self) -> None:
        if (
            isinstance(self.program, bool)
            or not isinstance(self.program, int)
            or not 0 <= self.program <= 127
        ):
            raise ValueError(
                f"Instrument {self.name!r}: program must be an int in 0..127, "
                f"got {self.program!r}."
            )

    @property
    def key(self) -> tuple[bool, int]:
        """``(is_drum, program)``: what identifies the instrument in a MIDI file."""
        return (self.is_drum, self.program)


# The reference taxonomy (../shared/data/reference_musicnn_*.npz): 26 single-program
# leaves in 12 families, chosen so that no two leaves of a family are near-duplicate
# patches in common soundfonts; the Brush kit is left out because in FluidR3 it is
# only ~1.7 dB from Standard.
DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("Acoustic Grand Piano", "Piano", 0),
    Instrument("Electric Piano 1", "Piano", 4),
    Instrument("Harpsichord", "Piano", 6),
    Instrument("Vibraphone", "Chromatic Percussion", 11),
    Instrument("Marimba", "Chromatic Percussion", 12),
    Instrument("Drawbar Organ", "Organ", 16),
    Instrument("Church Organ", "Organ", 19),
    Instrument("Acoustic Guitar (nylon)", "Guitar", 24),
    Instrument("Electric Guitar (clean)", "Guitar", 27),
    Instrument("Distortion Guitar", "Guitar", 30),
    Instrument("Electric Bass (finger)", "Bass", 33),
    Instrument("Synth Bass 1", "Bass", 38),
    Instrument("Violin", "Strings", 40),
    Instrument("Cello", "Strings", 42),
    Instrument("String Ensemble 1", "Ensemble", 48),
    Instrument("Choir Aahs", "Ensemble", 52),
    Instrument("Trumpet", "Brass", 56),
    Instrument("Trombone", "Brass", 57),
    Instrument("Alto Sax", "Reed", 65),
    Instrument("Clarinet", "Reed", 71),
    Instrument("Flute", "Pipe", 73),
    Instrument("Pan Flute", "Pipe", 75),
    Instrument("Lead 1 (square)", "Synth Lead", 80),
    Instrument("Lead 2 (sawtooth)", "Synth Lead", 81),
    Instrument("Drum kit: Standard", DRUMS_FAMILY, 0, is_drum=True),
    Instrument("Drum kit: TR-808", DRUMS_FAMILY, 25, is_drum=True),
)


def gm_family(program: int, is_drum: bool = False) -> str:
    """The GM family of a program, as ``pretty_midi.program_to_instrument_class`` names it.

    Parameters
    ----------
    program : int
        GM program number, 0-127.
    is_drum : bool, default=False
        Drum kits all belong to ``"Drums"``.

    Returns
    -------
    str
        The family name.

    Examples
    --------
    >>> from sk_hier.datasets.taxonomy import gm_family
    >>> gm_family(40), gm_family(25, is_drum=True)
    ('Strings', 'Drums')
    """
    _check_program(program)
    return DRUMS_FAMILY if is_drum else GM_FAMILIES[program // 8]


def _check_program(program: object) -> int:
    if isinstance(program, bool) or not isinstance(program, numbers.Integral):
        raise ValueError(f"A GM program must be an integer in 0..127, got {program!r}.")
    if not 0 <= int(program) <= 127:
        raise ValueError(
            f"GM program {program} is out of range: programs are numbered 0..127 "
            "(0 = Acoustic Grand Piano; subtract 1 from 1-based numbers)."
        )
    return int(program)


def _program_name(program: int) -> str:
    # pretty_midi is an audio extra; import it only when a custom taxonomy needs names.
    try:
        import pretty_midi
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Naming GM programs needs pretty_midi: pip install 'sk-hier[audio]'."
        ) from exc
    return pretty_midi.program_to_instrument_name(program)


def instruments_from_programs(
    programs: Iterable[int], drum_kits: Iterable[int] = ()
) -> tuple[Instrument, ...]:
    """Build a custom taxonomy from GM program numbers.

    Names come from ``pretty_midi.program_to_instrument_name`` and families from the
    GM program groups (``pretty_midi.program_to_instrument_class``); drum kits are named
    ``"Drum kit: <kit>"`` and belong to ``"Drums"``.

    Parameters
    ----------
    programs : iterable of int
        GM programs (0-127) of the pitched instruments, in the order wanted.
    drum_kits : iterable of int, default=()
        Drum-kit programs on the drum channel; one of ``DRUM_KITS``
        (0 Standard, 8 Room, 16 Power, 24 Electronic, 25 TR-808, 32 Jazz, 40 Brush,
        48 Orchestra).

    Returns
    -------
    tuple of Instrument

    Raises
    ------
    ValueError
        For a program outside 0..127, an unknown drum kit, a duplicate, or an empty
        selection.

    Examples
    --------
    >>> from sk_hier.datasets.taxonomy import instruments_from_programs
    >>> for inst in instruments_from_programs([40, 42, 73], drum_kits=[0]):
    ...     print(inst.program, inst.family, "/", inst.name)
    40 Strings / Violin
    42 Strings / Cello
    73 Pipe / Flute
    0 Drums / Drum kit: Standard
    """
    programs = [_check_program(p) for p in programs]
    kits = [_check_program(k) for k in drum_kits]
    for kind, values in (("program", programs), ("drum kit", kits)):
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            raise ValueError(
                f"Duplicate {kind}(s) {dup}: each instrument may appear once in a taxonomy."
            )
    unknown = [k for k in kits if k not in DRUM_KITS]
    if unknown:
        known = ", ".join(f"{k} {n}" for k, n in DRUM_KITS.items())
        raise ValueError(f"Unknown drum kit program(s) {unknown}; known kits: {known}.")
    if not programs and not kits:
        raise ValueError("A taxonomy needs at least one program or drum kit.")
    out = [Instrument(_program_name(p), gm_family(p), p) for p in programs]
    out += [Instrument(f"Drum kit: {DRUM_KITS[k]}", DRUMS_FAMILY, k, True) for k in kits]
    return tuple(out)


def check_instruments(instruments: Sequence[Instrument] | None) -> tuple[Instrument, ...]:
    """Validate a taxonomy (``None`` means ``DEFAULT_INSTRUMENTS``) and return it as a tuple.

    Parameters
    ----------
    instruments : sequence of Instrument or None
        The leaves of the taxonomy.

    Returns
    -------
    tuple of Instrument

    Raises
    ------
    ValueError
        For an empty taxonomy, a non-Instrument item, two leaves with one name or one
        MIDI program, or a leaf named like a family.

    Examples
    --------
    >>> from sk_hier.datasets.taxonomy import check_instruments
    >>> len(check_instruments(None))
    26
    """
    if instruments is None:
        return DEFAULT_INSTRUMENTS
    items = tuple(instruments)
    if not items:
        raise ValueError("The taxonomy is empty: give at least one Instrument.")
    for item in items:
        if not isinstance(item, Instrument):
            raise ValueError(
                f"Expected Instrument objects, got {item!r}; build them with "
                "instruments_from_programs([...]) or Instrument(name, family, program)."
            )
    seen_names: dict[str, Instrument] = {}
    seen_keys: dict[tuple[bool, int], Instrument] = {}
    for item in items:
        if item.name in seen_names:
            raise ValueError(f"Two instruments are named {item.name!r}; names must be unique.")
        if item.key in seen_keys:
            other = seen_keys[item.key]
            what = "drum kit" if item.is_drum else "program"
            raise ValueError(
                f"{item.name!r} and {other.name!r} share {what} {item.program}: a MIDI "
                "file could not tell them apart. Keep one of them."
            )
        seen_names[item.name] = seen_keys[item.key] = item
    families = {i.family for i in items}
    clash = sorted(families & set(seen_names))
    if clash:
        raise ValueError(f"Label(s) {clash} name both an instrument and a family; rename one.")
    return items


def make_instrument_hierarchy(instruments: Sequence[Instrument] | None = None) -> Hierarchy:
    """The two-level label tree of a taxonomy: families above instruments.

    Families are ordered by their first instrument, instruments keep their order
    within a family.

    Parameters
    ----------
    instruments : sequence of Instrument, default=None
        The leaves; ``None`` gives the default 26-instrument, 12-family taxonomy.

    Returns
    -------
    Hierarchy

    See Also
    --------
    instruments_from_programs : a taxonomy from GM program numbers.

    Examples
    --------
    >>> from sk_hier.datasets.taxonomy import make_instrument_hierarchy
    >>> h = make_instrument_hierarchy()
    >>> len(h.levels[0]), len(h.leaves)
    (12, 26)
    >>> h.parent_of("Drum kit: TR-808"), h.children_of("Reed")
    ('Drums', ('Alto Sax', 'Clarinet'))
    """
    items = check_instruments(instruments)
    tree: dict[str, list[str]] = {}
    for item in items:
        tree.setdefault(item.family, []).append(item.name)
    return Hierarchy(tree)
