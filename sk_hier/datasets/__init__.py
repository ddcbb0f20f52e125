"""Data for sk_hier: synthetic embeddings, instrument taxonomies, rendered audio.

The audio parts need the ``audio`` extra and are imported on first use.
"""

from __future__ import annotations

import importlib

from .synthetic import default_hierarchy, make_hierarchical_multilabel

__all__ = ["default_hierarchy", "make_hierarchical_multilabel"]

# Public names of the audio modules, loaded lazily (they need optional packages).
_LAZY: dict = {}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
