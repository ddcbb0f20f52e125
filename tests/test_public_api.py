"""The public surface is what the API reference documents, and nothing else.

Each public module's ``__all__`` equals the names ``docs/api.rst`` lists under it;
an implementation module (e.g. ``sk_hier.tagger``) may only list names that a public
module re-exports, so nothing public goes undocumented.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"
PUBLIC = (
    "sk_hier",
    "sk_hier.baselines",
    "sk_hier.metrics",
    "sk_hier.calibration",
    "sk_hier.displays",
    "sk_hier.strategies",
    "sk_hier.embedders",
    "sk_hier.datasets",
    "sk_hier.embeddings",
    "sk_hier.pretrained",
    "sk_hier.plotting",
    "sk_hier.persistence",
    "sk_hier.benchmarking",
)


def documented() -> dict[str, set[str]]:
    """Module -> names listed in autosummary blocks under its ``currentmodule``."""
    out: dict[str, set[str]] = {}
    module = None
    in_summary = False
    for line in API.read_text().splitlines():
        if m := re.match(r"\.\. currentmodule:: (\S+)", line):
            module, in_summary = m[1], False
        elif line.startswith(".. autosummary::"):
            in_summary = True
        elif in_summary and (m := re.match(r"   ([A-Za-z_]\w*)$", line)):
            out.setdefault(module, set()).add(m[1])
        elif in_summary and line and not line.startswith(" "):
            in_summary = False
    return out


def _is_api(obj) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj)


def _documented_objects() -> dict[int, str]:
    out = {}
    for module, names in documented().items():
        mod = importlib.import_module(module)
        for name in names:
            out[id(getattr(mod, name))] = f"{module}.{name}"
    return out


@pytest.mark.parametrize("name", PUBLIC)
def test_public_all_matches_the_api_reference(name):
    module = importlib.import_module(name)
    objects = _documented_objects()
    # Classes and functions get a page each; constants are described in their
    # module's docstring and the user guide.
    api = [n for n in module.__all__ if _is_api(getattr(module, n))]
    missing = [n for n in api if id(getattr(module, n)) not in objects]
    assert missing == [], "public but not in docs/api.rst"
    stray = sorted(documented().get(name, set()) - set(module.__all__))
    assert stray == [], "in docs/api.rst but not in the module's __all__"


def test_the_check_can_fail():
    assert "HierarchicalTagger" in documented()["sk_hier"]
    assert "no_such_name" not in documented().get("sk_hier", set())


# Modules behind the estimators: their names reach users through a public module.
CORE = (
    "sk_hier.tagger",
    "sk_hier.heads",
    "sk_hier.losses",
    "sk_hier.targets",
    "sk_hier.thresholds",
    "sk_hier.hierarchy",
)


@pytest.mark.parametrize("name", CORE)
def test_implementation_modules_list_only_public_names(name):
    exported = {
        id(getattr(importlib.import_module(p), n))
        for p in PUBLIC
        for n in importlib.import_module(p).__all__
    }
    module = importlib.import_module(name)
    extra = [n for n in getattr(module, "__all__", ()) if id(getattr(module, n)) not in exported]
    assert extra == [], f"{name} lists names no public module documents"
