"""sk_hier: scikit-learn-compatible hierarchical multi-label classification."""

from ._version import __version__
from .baselines import BottomUpClassifier, PerLevelClassifier, TopDownClassifier
from .hierarchy import Hierarchy
from .tagger import STRATEGIES, HierarchicalTagger
from .targets import encode_targets

__all__ = [
    "STRATEGIES",
    "BottomUpClassifier",
    "HierarchicalTagger",
    "Hierarchy",
    "PerLevelClassifier",
    "TopDownClassifier",
    "__version__",
    "encode_targets",
]
