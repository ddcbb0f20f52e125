"""One-dimensional calibration maps: probability in, calibrated probability out.

Each map is fitted on the known targets of one node of the tree (``y`` in {0, 1})
and the probabilities a model gave them; :data:`CALIBRATION_MAPS` names them, and is
the one list of methods the calibrator accepts. The fitted state is plain numbers and
arrays, so a fitted calibrator pickles small and never holds a function.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar

__all__ = ["CALIBRATION_MAPS", "IdentityMap", "logit"]

# Probabilities are clipped this far from 0 and 1 before the logit: float32 outputs
# of exactly 0 or 1 would otherwise give infinite logits.
_EPS = 1e-12
# Inverse temperatures are searched in [1/100, 100]: beyond that the map is a
# constant or a step, which only separable (or useless) scores would ask for.
_LOG_A_BOUND = math.log(100.0)


def logit(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[1e-12, 1 - 1e-12]``.

    Examples
    --------
    >>> logit(np.array([0.5, 0.0]))
    array([  0.        , -27.63102112])
    """
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _expit(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


class IdentityMap:
    """Leaves probabilities unchanged (a node that could not be calibrated)."""

    def predict(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=float)

    def __repr__(self) -> str:
        return "IdentityMap()"


class TemperatureMap:
    """``p' = sigmoid(logit(p) / T)``: one temperature ``T > 0`` per node.

    ``T`` minimises the weighted negative log-likelihood of the targets. The NLL is
    convex in ``1 / T``, so a bounded scalar search finds its minimum. ``T > 1``
    softens over-confident scores, ``T < 1`` sharpens timid ones; the ranking (and
    so the average precision) never changes.
    """

    def fit(self, p: np.ndarray, y: np.ndarray, w: np.ndarray) -> TemperatureMap:
        z = logit(p)

        def nll(log_a: float) -> float:
            s = math.exp(log_a) * z
            return float(np.sum(w * (np.logaddexp(0.0, s) - y * s)))

        res = minimize_scalar(
            nll, bounds=(-_LOG_A_BOUND, _LOG_A_BOUND), method="bounded", options={"xatol": 1e-8}
        )
        self.temperature_ = float(math.exp(-res.x))
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        return _expit(logit(p) / self.temperature_)

    def __repr__(self) -> str:
        return f"TemperatureMap(temperature_={self.temperature_:.4g})"


class PlattMap:
    """``p' = sigmoid(a · logit(p) + b)`` (Platt scaling on the logit).

    ``(a, b)`` minimise the weighted NLL of Platt's smoothed targets
    ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` (``N±``: weighted counts), which
    keeps the fit finite on separable or tiny calibration sets. Starts from the
    identity ``(1, 0)``.
    """

    def fit(self, p: np.ndarray, y: np.ndarray, w: np.ndarray) -> PlattMap:
        z = logit(p)
        n_pos, n_neg = float(np.sum(w * y)), float(np.sum(w * (1 - y)))
        t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
        scale = max(1.0, float(np.max(np.abs(z))))  # well-conditioned for L-BFGS
        zs = z / scale

        def loss_grad(ab: np.ndarray) -> tuple[float, np.ndarray]:
            s = ab[0] * zs + ab[1]
            loss = float(np.sum(w * (np.logaddexp(0.0, s) - t * s)))
            g = w * (_expit(s) - t)
            return loss, np.array([g @ zs, g.sum()])

        res = minimize(loss_grad, np.array([scale, 0.0]), jac=True, method="L-BFGS-B")
        self.a_, self.b_ = float(res.x[0] / scale), float(res.x[1])
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        return _expit(self.a_ * logit(p) + self.b_)

    def __repr__(self) -> str:
        return f"PlattMap(a_={self.a_:.4g}, b_={self.b_:.4g})"


class IsotonicMap:
    """A non-decreasing step function of ``p`` (isotonic regression).

    Fitted with :class:`sklearn.isotonic.IsotonicRegression` (clipped to [0, 1]
    outside the fitted range); only its breakpoints are kept, and ``predict``
    interpolates between them as IsotonicRegression does. Flexible, but it needs
    more data than the two parametric maps and can tie scores that differed.
    """

    def fit(self, p: np.ndarray, y: np.ndarray, w: np.ndarray) -> IsotonicMap:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(np.asarray(p, dtype=float), y, sample_weight=w)
        self.x_, self.y_ = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(p, dtype=float), self.x_, self.y_)

    def __repr__(self) -> str:
        return f"IsotonicMap({len(self.x_)} breakpoints)"


#: Calibration method name -> the map fitted per node.
CALIBRATION_MAPS: dict[str, Any] = {
    "sigmoid": PlattMap,
    "temperature": TemperatureMap,
    "isotonic": IsotonicMap,
}
