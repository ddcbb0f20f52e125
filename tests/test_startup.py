"""Start-up stays light: the command line and ``import sk_hier`` load neither
scikit-learn nor torch; torch arrives only with a network (times: benchmarks/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "sklearn", "skorch", "scipy")
PROBE = "import sys, json; {code}; print(json.dumps(sorted(set(HEAVY) & set(sys.modules))))"


def _loaded(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + PROBE.format(code=code)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import sk_hier",
        "from sk_hier.cli import build_parser; build_parser().format_help()",
        "from sk_hier.strategies import STRATEGIES; list(STRATEGIES)",
    ],
    ids=["import", "cli-help", "strategies"],
)
def test_light_entry_points_load_neither_sklearn_nor_torch(code):
    assert _loaded(code) == []


def test_estimators_import_without_torch_until_a_network_is_built():
    loaded = _loaded(
        "from sk_hier import HierarchicalTagger, PerLevelClassifier, TunedThresholds, load"
    )
    assert "sklearn" in loaded and "torch" not in loaded
    loaded = _loaded(
        "import numpy as np; from sk_hier import HierarchicalTagger; "
        "HierarchicalTagger(hidden_dims=(4,), max_epochs=1).fit(np.eye(4), [0, 1, 0, 1])"
    )
    assert "torch" in loaded


def test_lazy_names_resolve_and_unknown_names_raise():
    import sk_hier

    assert set(sk_hier.__all__) == set(sk_hier._LAZY) | {"__version__"}
    assert set(sk_hier.__all__) <= set(dir(sk_hier))
    assert sk_hier.HierarchicalTagger.__name__ == "HierarchicalTagger"
    with pytest.raises(AttributeError, match="no attribute 'Tagger'"):
        sk_hier.Tagger
