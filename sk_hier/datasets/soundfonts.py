"""The registry of timbre sources: every General MIDI soundfont the renderer knows by name.

This module is the one source of soundfont names: ``sk-hier render --soundfont`` and
``--soundfonts``, the benchmark's sources and its lineage groups all derive from
:data:`SOUNDFONTS`. It imports nothing heavy, so the command line can list the choices
without loading numpy or the synthesiser.

Lineage groups were decided before any benchmark result, from the files' own metadata
and the Debian copyright files, and from one check of shared samples:

``fluid``
    Frank Wen's Fluid (R3) samples: FluidR3_GM, FluidR3Mono (its mono remake) and
    MuseScore General (built on FluidR3Mono, per its INFO chunk and copyright file).
``timgm``
    TimGM6mb and the csound GM bank: 14 of the 26 taxonomy presets render
    sample-identical notes (correlation 1.00 on one note each), so they share samples.
``freepats``
    FreePats, Gravis UltraSound patches gathered by the Free Software Foundation
    (2004-2006), independent of every SoundFont here; played by TiMidity++. Added
    after the first three groups, and decided before any result of it. It lacks five
    of the 26 taxonomy instruments (reported as gaps, their labels unknown).
``opl3``
    An FM-synthesis bank (no recorded samples): reported on its own, never in the
    headline mean over sample banks.

A held-out group is never heard in training, so a test never hears a relative of its
training timbres.

Examples
--------
>>> from sk_hier.datasets.soundfonts import SOUNDFONTS, lineage_groups
>>> SOUNDFONTS["fluidr3"].group, SOUNDFONTS["csound"].group
('fluid', 'timgm')
>>> sorted(lineage_groups())
['fluid', 'freepats', 'opl3', 'timgm']
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LINEAGE_GROUPS",
    "SOUNDFONTS",
    "SoundfontSource",
    "available_soundfonts",
    "lineage_groups",
    "parse_soundfont_list",
    "soundfont_names",
]

#: Lineage group -> why its members belong together (decided before any result).
LINEAGE_GROUPS: dict[str, str] = {
    "fluid": "Fluid (R3) samples by Frank Wen: FluidR3_GM, FluidR3Mono, MuseScore General",
    "timgm": "TimGM6mb samples: TimGM6mb and the csound GM bank share 14 of 26 presets",
    "freepats": "FreePats GUS patches (TiMidity++): recorded apart from every SoundFont",
    "opl3": "FM synthesis, no recorded samples: reported apart from the sample banks",
}

_SF2 = Path("/usr/share/sounds/sf2")
_SF3 = Path("/usr/share/sounds/sf3")


def _pretty_midi_timgm() -> Path | None:
    try:
        import importlib.util

        spec = importlib.util.find_spec("pretty_midi")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def _first(*candidates: Callable[[], Path | None] | Path) -> Callable[[], Path | None]:
    """A finder that returns the first candidate file that exists."""

    def find() -> Path | None:
        for c in candidates:
            path = c() if callable(c) else c
            if path is not None and path.is_file():
                return path
        return None

    return find


@dataclass(frozen=True)
class SoundfontSource:
    """One timbre source: a General MIDI soundfont and what is known about it.

    Parameters
    ----------
    name : str
        The name ``--soundfont`` takes.
    title : str
        What it is, for ``--help`` and reports.
    find : callable
        Returns the path of the installed file, or ``None``.
    debian : str or None
        The Debian package that installs it (``None``: it ships in a Python wheel).
    licence : str
        The licence of the sample data, as its copyright file states it.
    group : str
        Its lineage group, a key of :data:`LINEAGE_GROUPS`.
    synthesis : {"samples", "fm"}
        Recorded samples, or FM synthesis (kept out of headline means).
    renderer : {"tinysoundfont", "timidity"}
        What plays it: tinysoundfont for a SoundFont, TiMidity++ (Debian package
        ``timidity``) for a set of GUS patches named by a ``.cfg`` file.

    Examples
    --------
    >>> from sk_hier.datasets.soundfonts import SOUNDFONTS
    >>> SOUNDFONTS["csound"].group, SOUNDFONTS["opl3"].synthesis
    ('timgm', 'fm')
    """

    name: str
    title: str
    find: Callable[[], Path | None]
    debian: str | None
    licence: str
    group: str
    synthesis: str = "samples"
    renderer: str = "tinysoundfont"

    @property
    def headline(self) -> bool:
        """Whether results on this source count in the headline mean (sample banks)."""
        return self.synthesis == "samples"

    def install_hint(self) -> str:
        """How to get the file, for error messages."""
        if self.debian is None:
            return "reinstall pretty_midi (its wheel ships TimGM6mb.sf2)"
        if self.renderer == "timidity":
            return (
                f"install the Debian packages {self.debian} and timidity (`make setup` "
                f"does; or `sudo apt-get install {self.debian} timidity`)"
            )
        return (
            f"install the Debian package {self.debian} (`make setup` installs every "
            f"benchmark source; or `sudo apt-get install {self.debian}`)"
        )


#: Source name -> :class:`SoundfontSource`, in the order of ``--help`` and reports.
SOUNDFONTS: dict[str, SoundfontSource] = {
    s.name: s
    for s in (
        SoundfontSource(
            "timgm6mb",
            "TimGM6mb (6 MB; ships in the pretty_midi wheel)",
            _first(_pretty_midi_timgm, _SF2 / "TimGM6mb.sf2"),
            None,
            "GPL-2 (Tim Brechbill)",
            "timgm",
        ),
        SoundfontSource(
            "csound",
            "csound's GM bank sf_GMbank.sf2 (4 MB)",
            _first(_SF2 / "sf_GMbank.sf2", Path("/usr/share/samples/sf_GMbank.sf2")),
            "csound-soundfont",
            "public domain (per Debian's copyright file)",
            "timgm",
        ),
        SoundfontSource(
            "fluidr3",
            "FluidR3_GM (148 MB)",
            _first(_SF2 / "FluidR3_GM.sf2"),
            "fluid-soundfont-gm",
            "MIT (Frank Wen)",
            "fluid",
        ),
        SoundfontSource(
            "fluidr3mono",
            "FluidR3Mono_GM (sf3, Ogg-compressed)",
            _first(_SF3 / "FluidR3Mono_GM.sf3"),
            "fluidr3mono-gm-soundfont",
            "MIT (Michael Cowgill, after Frank Wen)",
            "fluid",
        ),
        SoundfontSource(
            "musescore",
            "MuseScore General (lossless sf2, else the sf3)",
            _first(_SF2 / "MuseScore_General_Full.sf2", _SF3 / "MuseScore_General_Full.sf3"),
            "musescore-general-soundfont-lossless",
            "MIT (S. Christian Collins, after FluidR3Mono)",
            "fluid",
        ),
        SoundfontSource(
            "freepats",
            "FreePats GUS patches (2006), played by TiMidity++",
            _first(Path("/etc/timidity/freepats.cfg")),
            "freepats",
            "GPL-2+ with an exception for compositions (Free Software Foundation)",
            "freepats",
            renderer="timidity",
        ),
        SoundfontSource(
            "opl3",
            "OPL-3 FM 128M (FM synthesis)",
            _first(_SF2 / "OPL-3_FM_128M.sf2"),
            "opl3-soundfont",
            "GPL-3+ / CC-BY-SA-4.0",
            "opl3",
            synthesis="fm",
        ),
    )
}

# Other spellings users type; the canonical name is what files and reports record.
_ALIASES = {"fluidr3_gm": "fluidr3", "musescore_general": "musescore", "sf_gmbank": "csound"}


def soundfont_names() -> tuple[str, ...]:
    """Registered source names, in registry order.

    Examples
    --------
    >>> from sk_hier.datasets import soundfont_names
    >>> soundfont_names()[:3]
    ('timgm6mb', 'csound', 'fluidr3')
    """
    return tuple(SOUNDFONTS)


def canonical_name(name: str) -> str | None:
    """The registry name for ``name`` (any case, aliases allowed), or ``None``."""
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    return key if key in SOUNDFONTS else None


def lineage_groups(names: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
    """Lineage group -> its source names (of ``names``, default every registered one).

    Examples
    --------
    >>> from sk_hier.datasets import lineage_groups
    >>> lineage_groups()["fluid"]
    ('fluidr3', 'fluidr3mono', 'musescore')
    """
    names = soundfont_names() if names is None else tuple(names)
    out: dict[str, list[str]] = {}
    for name in names:
        out.setdefault(SOUNDFONTS[canonical_name(name) or name].group, []).append(name)
    return {g: tuple(v) for g, v in out.items()}


def available_soundfonts() -> tuple[str, ...]:
    """Registered sources whose file is installed here.

    Examples
    --------
    >>> from sk_hier.datasets import available_soundfonts, soundfont_names
    >>> set(available_soundfonts()) <= set(soundfont_names())
    True
    """
    return tuple(n for n, s in SOUNDFONTS.items() if s.find() is not None)


def parse_soundfont_list(text: str | Iterable[str]) -> tuple[str, ...]:
    """Parse ``"a,b,c"`` (or a list) into registry names, with a clear error.

    Examples
    --------
    >>> parse_soundfont_list("timgm6mb, FluidR3_GM")
    ('timgm6mb', 'fluidr3')
    """
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    items = [t for t in items if t]
    out = []
    for item in items:
        if os.sep in item or item.endswith((".sf2", ".sf3", ".cfg")):
            out.append(item)  # a path: resolved (and checked) when rendering
            continue
        name = canonical_name(item)
        if name is None:
            raise ValueError(
                f"Unknown soundfont {item!r}; known: {', '.join(SOUNDFONTS)} (or a .sf2/.sf3 "
                "path)."
            )
        out.append(name)
    if not out:
        raise ValueError("Give at least one soundfont, e.g. timgm6mb,fluidr3.")
    if len(set(out)) != len(out):
        raise ValueError(f"A soundfont is listed twice in {items}; list each once.")
    return tuple(out)
