"""sk_hier: scikit-learn-compatible hierarchical multi-label classification.

Public names are imported on first use (PEP 562), so ``import sk_hier`` and the
``sk-hier`` command start without loading scikit-learn or torch; torch is imported
only when a network is built or loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# Public name -> the module that defines it.
_LAZY = {
    "BottomUpClassifier": "baselines",
    "PerLevelClassifier": "baselines",
    "HierarchicalCalibrator": "calibration",
    "TopDownClassifier": "baselines",
    "Hierarchy": "hierarchy",
    "load": "persistence",
    "save": "persistence",
    "HierarchicalTagger": "tagger",
    "STRATEGIES": "strategies",
    "encode_targets": "targets",
    "TunedThresholds": "thresholds",
    "VotingTagger": "voting",
}

__all__ = [
    "STRATEGIES",
    "BottomUpClassifier",
    "HierarchicalCalibrator",
    "HierarchicalTagger",
    "Hierarchy",
    "PerLevelClassifier",
    "TopDownClassifier",
    "TunedThresholds",
    "VotingTagger",
    "__version__",
    "encode_targets",
    "load",
    "save",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .baselines import BottomUpClassifier, PerLevelClassifier, TopDownClassifier
    from .calibration import HierarchicalCalibrator
    from .hierarchy import Hierarchy
    from .persistence import load, save
    from .strategies import STRATEGIES
    from .tagger import HierarchicalTagger
    from .targets import encode_targets
    from .thresholds import TunedThresholds
    from .voting import VotingTagger


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
