"""Data for sk_hier: synthetic embeddings, instrument taxonomies, rendered audio.

The audio parts need the ``audio`` extra and are imported on first use.
"""

from __future__ import annotations

import importlib

from .synthetic import default_hierarchy, make_hierarchical_multilabel

__all__ = ["default_hierarchy", "make_hierarchical_multilabel"]

# Public names of the audio modules, loaded lazily (they need optional packages).
_LAZY: dict = {
    **dict.fromkeys(
        (
            "Instrument",
            "DEFAULT_INSTRUMENTS",
            "DRUM_KITS",
            "GM_FAMILIES",
            "gm_family",
            "instruments_from_programs",
            "check_instruments",
            "make_instrument_hierarchy",
        ),
        ".taxonomy",
    ),
    **dict.fromkeys(
        (
            "generate_clip_midi",
            "render_midi",
            "labels_from_midi",
            "render_dataset",
            "load_rendered",
            "RenderSummary",
            "SOUNDFONTS",
        ),
        ".render",
    ),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
