"""The strategy registry: heads declare their contract, everything else derives from it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from torch import nn
from torch.nn import functional as F

from sk_hier import HierarchicalTagger
from sk_hier.cli import build_parser
from sk_hier.datasets import make_hierarchical_multilabel
from sk_hier.strategies import HEAD_OPTIONS, STRATEGIES, Strategy, register_strategy

from .conftest import FAST


class IndependentHead(nn.Module):
    """A toy sixth head: one independent sigmoid per node (no tree structure)."""

    def __init__(self, spec, in_dim: int, pooling: str = "max") -> None:
        super().__init__()
        self.out = nn.Linear(in_dim, spec.n_labels)
        self.pooling = pooling

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        logit = self.out(z)
        return torch.stack([F.logsigmoid(logit), F.logsigmoid(-logit)], dim=1)


@pytest.fixture
def toy_strategy():
    strategy = register_strategy(
        Strategy(
            "independent",
            f"{__name__}:IndependentHead",
            "one sigmoid per node, no tree",
            options={"pooling": lambda v: v},
            has_maps=False,
        )
    )
    yield strategy
    del STRATEGIES["independent"]


@pytest.fixture
def data():
    return make_hierarchical_multilabel(n_samples=200, random_state=0)


def test_a_registered_head_trains_searches_and_is_offered(toy_strategy, data):
    X, Y, tree = data
    tagger = HierarchicalTagger(tree, strategy="independent", **FAST).fit(X, Y)
    assert tagger.predict_proba(X).shape == (200, len(tree.labels))
    assert isinstance(tagger.net_.module_.head, IndependentHead)
    assert tagger.net_.module_.head.pooling == "max"  # an option it declared reaches it
    assert tagger.gates_ is None
    with pytest.raises(ValueError, match="strategy='independent' has no maps"):
        tagger.attention_maps(X)
    search = GridSearchCV(
        HierarchicalTagger(tree, **FAST), {"strategy": ["flat", "independent"]}, cv=2
    ).fit(X, Y)
    assert set(search.cv_results_["param_strategy"]) == {"flat", "independent"}
    argv = ["fit", "x.npz", "--strategy", "independent", "--out", "m.skops"]
    args = build_parser().parse_args(argv)
    assert args.strategy == "independent"


def test_registry_refuses_clashes_and_unknown_options():
    with pytest.raises(ValueError, match="already registered"):
        register_strategy(STRATEGIES["gmp"])
    with pytest.raises(ValueError, match="options the tagger does not have: \\['width'\\]"):
        register_strategy(Strategy("wide", "x:y", "", options={"width": int}))


def test_heads_get_only_the_options_they_declare():
    seen = {}
    for name, strategy in STRATEGIES.items():
        params = {"pooling": "noisy_or", "parent_gate": "auto", "attention_mask": "none"}
        seen[name] = strategy.head_options(params)
    assert seen["flat"] == {} and seen["per_level"] == {} and seen["top_down"] == {}
    assert seen["gmp"] == {"pooling": "noisy_or", "parent_gate": False}
    assert seen["resatt"] == {"parent_gate": True, "attention_mask": "none"}


def test_unknown_head_option_is_an_error_not_dropped():
    from sk_hier._tree import TreeSpec
    from sk_hier.hierarchy import Hierarchy

    spec = TreeSpec.from_hierarchy(Hierarchy({"a": ["a1", "a2"]}))
    with pytest.raises(TypeError, match="unknown head options \\['widht'\\]"):
        STRATEGIES["gmp"].build(spec, 4, {"widht": 3})


def test_tagger_validates_every_declared_option_value(data):
    X, Y, tree = data
    for option, (allowed,) in HEAD_OPTIONS.items():
        with pytest.raises(ValueError, match=f"{option} must be"):
            HierarchicalTagger(tree, strategy="flat", **{option: "bogus"}, **FAST).fit(X, Y)
        assert allowed.accepts(HierarchicalTagger().get_params()[option])


def test_gates_follow_the_declared_trait(data):
    X, Y, tree = data
    gated = HierarchicalTagger(tree, strategy="gmp", parent_gate=True, **FAST).fit(X, Y)
    plain = HierarchicalTagger(tree, strategy="gmp", **FAST).fit(X, Y)
    assert gated.gates_ is not None and plain.gates_ is None
    assert np.all((gated.gates_ > 0) & (gated.gates_ < 1))


def test_tagger_docs_say_which_strategy_reads_each_option():
    doc = HierarchicalTagger.__doc__
    for option in HEAD_OPTIONS:
        readers = [name for name, st in STRATEGIES.items() if st.uses(option)]
        start = doc.index(f"\n    {option} :")
        section = doc[start : start + 1 + re.search(r"\n    \w+ :", doc[start + 1 :]).start()]
        assert "Ignored unless" in section, option
        assert all(f'"{name}"' in section for name in readers), (option, readers)
