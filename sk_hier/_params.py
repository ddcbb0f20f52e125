"""Declared parameter constraints: one validation path and one message style.

Each estimator declares, once, what every parameter may be (``_parameter_constraints``,
as scikit-learn's own estimators do); :func:`validate_params` checks the values in
``fit`` and words every error the same way::

    HierarchicalTagger: lr must be a finite number > 0; got inf.

scikit-learn's own machinery for this (``sklearn.utils._param_validation``) is
private and may change without notice, so the few constraint kinds used here are
written out; they mirror its vocabulary (``Interval``, ``StrOptions``...).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Interval",
    "Options",
    "Predicate",
    "ScoreRequestMixin",
    "check_device",
    "check_sample_weight",
    "validate_params",
]


class _Constraint:
    description = ""

    def accepts(self, value: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError


class Options(_Constraint):
    """One of a fixed set of values (compared with ``==`` and by type for bools)."""

    def __init__(self, *values: Any) -> None:
        self.values = values

    def accepts(self, value: Any) -> bool:
        for option in self.values:
            if isinstance(option, bool) or option is None:
                if value is option or (isinstance(value, np.bool_) and bool(value) is option):
                    return True
            elif not isinstance(value, bool) and type(value) is type(option):
                if value == option:
                    return True
        return False

    @property
    def description(self) -> str:
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(map(repr, self.values))


class Interval(_Constraint):
    """A finite real (or integer) number between ``low`` and ``high``.

    ``closed`` says which ends belong to it: "both", "left", "right" or "neither".
    ``None`` ends are open to infinity, but the value itself must be finite: an
    infinite learning rate or weight is never what a user means.
    """

    def __init__(
        self,
        kind: type,
        low: float | None = None,
        high: float | None = None,
        closed: str = "both",
    ) -> None:
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_):
            return False
        if self.kind is numbers.Integral:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real) or not math.isfinite(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    @property
    def description(self) -> str:
        what = "an integer" if self.kind is numbers.Integral else "a finite number"
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return (
                f"{what} in {'[' if left else '('}{self.low}, {self.high}{']' if right else ')'}"
            )
        if self.low is not None:
            return f"{what} {'>=' if left else '>'} {self.low}"
        if self.high is not None:
            return f"{what} {'<=' if right else '<'} {self.high}"
        return what


class Predicate(_Constraint):
    """Anything ``test`` accepts; ``description`` says what that is, for the message."""

    def __init__(self, test: Callable[[Any], bool], description: str) -> None:
        self.test, self.description = test, description

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):
            return False


def validate_params(estimator: Any, constraints: Mapping[str, Sequence[_Constraint]]) -> None:
    """Check every declared parameter of ``estimator``; raise on the first bad one.

    Raises
    ------
    ValueError
        Naming the estimator, the parameter, what it may be and the value given.

    Examples
    --------
    >>> class Model:
    ...     lr = float("inf")
    >>> validate_params(Model(), {"lr": [Interval(numbers.Real, 0, None, closed="neither")]})
    Traceback (most recent call last):
    ...
    ValueError: Model: lr must be a finite number > 0; got inf.
    """
    for name, allowed in constraints.items():
        value = getattr(estimator, name)
        if not any(c.accepts(value) for c in allowed):
            what = " or ".join(c.description for c in allowed)
            raise ValueError(f"{type(estimator).__name__}: {name} must be {what}; got {value!r}.")


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a float array of shape ``(n_samples,)``, or ``None``.

    Weights must be finite and non-negative, with a positive sum: a negative weight
    turns the loss upside down and an infinite one makes it infinite.

    Examples
    --------
    >>> check_sample_weight([1, 2], 2)
    array([1., 2.])
    >>> check_sample_weight([1, -2], 2)
    Traceback (most recent call last):
    ...
    ValueError: sample_weight must be non-negative; got -2.0 at index 1.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, float(sample_weight))
    try:
        w = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_weight must be numbers, one per sample; got {type(sample_weight).__name__}."
        ) from None
    if w.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample; "
            f"got shape {w.shape}."
        )
    bad = np.flatnonzero(~np.isfinite(w))
    if len(bad):
        raise ValueError(f"sample_weight must be finite; got {w[bad[0]]} at index {bad[0]}.")
    bad = np.flatnonzero(w < 0)
    if len(bad):
        raise ValueError(f"sample_weight must be non-negative; got {w[bad[0]]} at index {bad[0]}.")
    if n_samples and w.sum() <= 0:
        raise ValueError("sample_weight are all zero: at least one sample must weigh more than 0.")
    return w


def check_solver(tagger: Any) -> None:
    """Refuse ``solver="lbfgs"`` with a random loss (dropout, input noise).

    A line search compares losses of one function: random masks or noise change it
    between evaluations, and L-BFGS would stall or diverge.
    """
    if tagger.solver != "lbfgs":
        return
    dims = tagger.hidden_dims
    hidden = isinstance(dims, numbers.Integral) or len(dims) > 0
    stochastic = {
        "dropout": tagger.dropout if hidden else 0,
        "input_dropout": tagger.input_dropout,
        "input_noise": tagger.input_noise,
    }
    on = [f"{k}={v}" for k, v in stochastic.items() if v]
    if on:
        raise ValueError(
            f"solver='lbfgs' needs a deterministic loss, but {', '.join(on)} "
            "randomises it; set them to 0 (hidden_dims=() has no hidden dropout), "
            "or use solver='adam'."
        )


def check_device(device: Any) -> None:
    """Raise a clear error if ``device`` is not a torch device this machine has.

    Checked before any work, so a typo or a missing GPU fails at once rather than
    after the data are prepared, and with the fix rather than torch's traceback.
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:0' or 'mps'."
        ) from None
    available = {
        "cuda": torch.cuda.is_available,
        "mps": lambda: torch.backends.mps.is_available(),
    }
    if dev.type in available and not available[dev.type]():
        raise ValueError(
            f"device={device!r}, but torch finds no {dev.type.upper()} device on this "
            "machine; use device='cpu' (a fitted model can move later: set_params(device=...))."
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r}, but this machine has {torch.cuda.device_count()} CUDA "
            "device(s); pick an index below that."
        )


class ScoreRequestMixin:
    """``set_score_request`` for a scorer object, as scikit-learn's scorers have.

    With metadata routing on (``sklearn.set_config(enable_metadata_routing=True)``),
    a search passes ``sample_weight`` to a scorer only when the scorer asks for it.
    ``set_score_request`` returns a new scorer that asks: the package's scorers are
    shared module objects, so they are never changed in place.
    """

    _sample_weight_request: Any = None

    def set_score_request(self, *, sample_weight: Any = None) -> Any:
        """A copy of this scorer that requests ``sample_weight`` (True, False, None
        or an alias string), for searches with metadata routing on."""
        import copy

        from sklearn.utils.metadata_routing import _routing_enabled

        if not _routing_enabled():
            raise RuntimeError(
                "set_score_request is only available when metadata routing is enabled: "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        out = copy.copy(self)
        out._sample_weight_request = sample_weight
        return out

    def get_metadata_routing(self) -> Any:
        """The metadata this scorer requests (scikit-learn's routing protocol)."""
        from sklearn.utils.metadata_routing import MetadataRequest

        request = MetadataRequest(owner=self)
        request.score.add_request(param="sample_weight", alias=self._sample_weight_request)
        return request
