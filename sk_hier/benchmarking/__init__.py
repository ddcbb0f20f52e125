"""Benchmarking: compare taggers and baselines over seeds, with paired statistics.

``compare`` holds the model zoo and the evaluation loop (long-form rows),
``quality`` the rendered-audio benchmark (data, regimes, grid search, resumable
cells), and ``report`` the tables, figures and provenance it writes.
"""

from .compare import (
    COLUMNS,
    TAGGER_VARIANTS,
    LeafMultilabelClassifier,
    default_models,
    evaluate,
    hide_leaves,
    summarize,
)

__all__ = [
    "COLUMNS",
    "TAGGER_VARIANTS",
    "LeafMultilabelClassifier",
    "default_models",
    "evaluate",
    "hide_leaves",
    "summarize",
]
