"""Benchmarking: compare taggers and baselines over seeds, with paired statistics.

``compare`` holds the model zoo and the evaluation loop (long-form rows),
``regimes`` the registry of regimes and the names of result files, ``data`` the
renders, clip plans and embeddings of a run, ``quality`` the rendered-audio benchmark
(grid search, resumable cells), ``row_space`` the exact change of basis its linear
trunks fit on, ``headline`` the printed answer and ``report`` the
tables, figures and provenance it writes.

Names are loaded on first use, so that the command line can read the regime registry
without loading scikit-learn.
"""

from __future__ import annotations

import importlib

# Public name -> the module that defines it (loaded on first use).
_LAZY = {
    **dict.fromkeys(
        (
            "COLUMNS",
            "TAGGERS",
            "TAGGER_VARIANTS",
            "VOTING_VARIANTS",
            "LeafMultilabelClassifier",
            "default_models",
            "evaluate",
            "hide_leaves",
            "summarize",
        ),
        ".compare",
    ),
    **dict.fromkeys(("REGIMES", "Regime", "cell_name", "regime_names"), ".regimes"),
    **dict.fromkeys(("FULL", "QUICK", "QualityConfig", "load_results", "run_quality"), ".quality"),
    "RowSpaceProjection": ".row_space",
    "write_report": ".report",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
