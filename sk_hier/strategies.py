"""The registry of joint-training strategies: what each head is, takes and has.

Each strategy declares its contract once — the head that builds it, the tagger
options it reads (with their allowed values and how ``"auto"`` resolves), whether the
loss trains its parent nodes, and whether it has attention maps or parent gates —
and everything else derives from it: the tagger's validation and the arguments it
passes to the head, the command line's ``--strategy`` choices, the benchmark's grids.

This module does not import torch: heads are named by import path and loaded only
when a network is built, so listing the strategies costs nothing.

Adding a strategy is one head class (a ``torch.nn.Module`` taking
``(spec, in_dim, **options)`` and returning ``(B, 2, n_labels)`` log pairs) and one
:func:`register_strategy` call.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._params import Options

__all__ = [
    "HEAD_DEFAULTS",
    "HEAD_OPTIONS",
    "STRATEGIES",
    "TRUNK_ACTIVATIONS",
    "Strategy",
    "register_strategy",
    "strategy_names",
]

#: Trunk activations by name -> ``torch.nn`` class name (resolved when a net is built).
TRUNK_ACTIVATIONS: dict[str, str] = {"relu": "ReLU", "gelu": "GELU", "tanh": "Tanh", "elu": "ELU"}

#: Tagger parameters that configure a head, with the values any head may accept.
#: A head reads the ones it declares; the others are accepted and ignored, as
#: scikit-learn estimators ignore options that do not apply to the chosen solver.
HEAD_OPTIONS: dict[str, tuple] = {
    "pooling": (Options("max", "noisy_or", "logsumexp"),),
    "parent_gate": (Options("auto", True, False),),
    "attention_mask": (Options("hierarchy", "none"),),
}
#: The tagger's defaults of those options (what a head gets when none is given).
HEAD_DEFAULTS: dict[str, Any] = {
    "pooling": "max",
    "parent_gate": "auto",
    "attention_mask": "hierarchy",
}


def _gate(auto: bool) -> Callable[[Any], bool]:
    def resolve(value: Any) -> bool:
        return auto if value == "auto" else bool(value)

    return resolve


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Strategy:
    """The contract of one joint-training head.

    Parameters
    ----------
    name : str
        The ``strategy=`` value.
    head : str
        ``"module:attribute"`` of the head factory, called as
        ``factory(spec, in_dim, **fixed, **options)``.
    summary : str
        One line for docs and ``--help``.
    options : mapping of str to callable
        Tagger options the head reads, each with the function that turns the
        tagger's value into the head's argument (``"auto"`` resolved here).
    fixed : mapping, default={}
        Arguments the head always receives.
    trains_parents : bool, default=True
        Whether the loss sees the inner nodes (``flat`` trains on leaves only).
    has_maps : bool, default=True
        Whether ``attention_maps`` means something for this head.
    gated : callable or None, default=None
        ``gated(head_options) -> bool``: whether the head has learned parent gates.
    linear_on_input : bool, default=True
        Whether the head straight on the input (``hidden_dims=()``) is a linear
        model; ``resatt``'s attention scores come from a residual MLP of their own.

    Examples
    --------
    >>> from sk_hier.strategies import STRATEGIES
    >>> gmp = STRATEGIES["gmp"]
    >>> gmp.head_options({"pooling": "max", "parent_gate": "auto", "attention_mask": "none"})
    {'pooling': 'max', 'parent_gate': False}
    >>> gmp.uses("attention_mask"), gmp.has_maps, gmp.is_gated({"pooling": "max",
    ...     "parent_gate": True, "attention_mask": "hierarchy"})
    (False, True, True)
    """

    name: str
    head: str
    summary: str
    options: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    trains_parents: bool = True
    has_maps: bool = True
    gated: Callable[[Mapping[str, Any]], bool] | None = None
    linear_on_input: bool = True

    def head_options(self, params: Mapping[str, Any]) -> dict:
        """The head's arguments from the tagger's parameters (only the ones it reads)."""
        return {name: resolve(params[name]) for name, resolve in self.options.items()}

    def is_gated(self, params: Mapping[str, Any]) -> bool:
        """Whether a head built from these tagger parameters has parent gates."""
        return bool(self.gated and self.gated(self.head_options(params)))

    def uses(self, option: str) -> bool:
        """Whether the tagger option ``option`` changes this head."""
        return option in self.options

    def build(self, spec: Any, in_dim: int, head_options: Mapping[str, Any]) -> Any:
        """Import the head (torch) and build it.

        Options the head does not read are ignored if they are tagger options (files
        saved before heads declared their options carry all of them); any other
        name is an error, never silently dropped.
        """
        unknown = set(head_options) - set(HEAD_OPTIONS)
        if unknown:
            raise TypeError(
                f"Strategy {self.name!r} got unknown head options {sorted(unknown)}; "
                f"it reads {sorted(self.options)}."
            )
        options = self.head_options({**HEAD_DEFAULTS, **head_options})
        module, _, attr = self.head.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        return factory(spec, in_dim, **{**self.fixed, **options})


#: Strategy name -> contract, in the order of docs and ``--help``.
STRATEGIES: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy, *, replace: bool = False) -> Strategy:
    """Add ``strategy`` to :data:`STRATEGIES`; return it.

    Raises
    ------
    ValueError
        If the name is taken (pass ``replace=True`` to override on purpose), or the
        strategy reads an option the tagger does not have.

    Examples
    --------
    >>> from sk_hier.strategies import STRATEGIES, Strategy, register_strategy
    >>> toy = register_strategy(Strategy("toy", "sk_hier.heads:PerLevelHead", "a copy"))
    >>> "toy" in STRATEGIES
    True
    >>> del STRATEGIES["toy"]
    """
    if strategy.name in STRATEGIES and not replace:
        raise ValueError(
            f"A strategy named {strategy.name!r} is already registered; pick another "
            "name or pass replace=True."
        )
    unknown = set(strategy.options) - set(HEAD_OPTIONS)
    if unknown:
        raise ValueError(
            f"Strategy {strategy.name!r} reads options the tagger does not have: "
            f"{sorted(unknown)}; known head options: {sorted(HEAD_OPTIONS)}."
        )
    STRATEGIES[strategy.name] = strategy
    return strategy


def strategy_names() -> tuple[str, ...]:
    """The registered strategy names, in registration order.

    Examples
    --------
    >>> from sk_hier.strategies import strategy_names
    >>> strategy_names()
    ('flat', 'per_level', 'top_down', 'gmp', 'resatt')
    """
    return tuple(STRATEGIES)


def _gated(options: Mapping[str, Any]) -> bool:
    return bool(options.get("parent_gate"))


for _strategy in (
    Strategy(
        "flat",
        "sk_hier.heads:PoolingHead",
        "leaf sigmoids trained on leaves only; parents by the max rule at inference",
        fixed={"pooling": "max"},
        trains_parents=False,
    ),
    Strategy(
        "per_level",
        "sk_hier.heads:PerLevelHead",
        "one linear head per level on the shared trunk, trained jointly",
        has_maps=False,
    ),
    Strategy(
        "top_down",
        "sk_hier.heads:TopDownHead",
        "soft decision tree: p_child = p_parent * sigmoid(q_child)",
    ),
    Strategy(
        "gmp",
        "sk_hier.heads:PoolingHead",
        "grouped max-pooling of child logits (pooling, optional parent_gate)",
        options={"pooling": _same, "parent_gate": _gate(auto=False)},
        gated=_gated,
    ),
    Strategy(
        "resatt",
        "sk_hier.heads:PoolingHead",
        "attention over the children's logits, gated with a parent head",
        options={"parent_gate": _gate(auto=True), "attention_mask": _same},
        fixed={"attention": True},
        gated=_gated,
        linear_on_input=False,
    ),
):
    register_strategy(_strategy)
del _strategy
