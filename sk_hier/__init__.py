"""sk_hier: scikit-learn-compatible hierarchical multi-label classification."""

from ._version import __version__
from .baselines import BottomUpClassifier, PerLevelClassifier, TopDownClassifier
from .hierarchy import Hierarchy
from .persistence import load, save
from .tagger import STRATEGIES, HierarchicalTagger
from .targets import encode_targets
from .thresholds import TunedThresholds

__all__ = [
    "STRATEGIES",
    "BottomUpClassifier",
    "HierarchicalTagger",
    "Hierarchy",
    "PerLevelClassifier",
    "TopDownClassifier",
    "TunedThresholds",
    "__version__",
    "encode_targets",
    "load",
    "save",
]
