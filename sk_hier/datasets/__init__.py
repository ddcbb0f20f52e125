"""Data for sk_hier: synthetic embeddings, instrument taxonomies, rendered audio.

The audio parts need the ``audio`` extra and are imported on first use.
"""

from __future__ import annotations

import importlib

# Public names, loaded on first use: the audio modules need optional packages, and the
# synthetic data needs scikit-learn, which the command line's --help must not load
# (it reads the soundfont and augmentation registries of this package).
_LAZY: dict = {
    **dict.fromkeys(("default_hierarchy", "make_hierarchical_multilabel"), ".synthetic"),
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
    **dict.fromkeys(
        (
            "LINEAGE_GROUPS",
            "SoundfontSource",
            "available_soundfonts",
            "lineage_groups",
            "soundfont_names",
        ),
        ".soundfonts",
    ),
    **dict.fromkeys(("AUGMENT_LEVELS", "augment_audio"), ".augment"),
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
