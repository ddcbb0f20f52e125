"""Benchmarking: compare taggers and baselines over seeds, with paired statistics.

``compare`` holds the model zoo and the evaluation loop (long-form rows),
``regimes`` the registry of regimes and the names of result files, ``data`` the
renders, clip plans and embeddings of a run, ``quality`` the rendered-audio benchmark
(grid search, resumable cells), ``headline`` the printed answer and ``report`` the
tables, figures and provenance it writes.

Names are loaded on first use, so that the command line can read the regime registry
without loading scikit-learn.
"""

from __future__ import annotations

import importlib

__all__ = [
    "COLUMNS",
    "TAGGER_VARIANTS",
    "LeafMultilabelClassifier",
    "default_models",
    "evaluate",
    "hide_leaves",
    "summarize",
]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module(".compare", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
