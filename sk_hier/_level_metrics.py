"""The per-level core of :mod:`sk_hier.metrics`: target and score checks, label
selection by level, and per-label metrics with unknown targets left out."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import average_precision_score, roc_auc_score

from .hierarchy import Hierarchy
from .targets import as_hierarchy, encode_targets

LevelSpec = str | int


# -- input handling -------------------------------------------------------------------
def as_true(Y_true: Any, hierarchy: Any) -> tuple[np.ndarray, Hierarchy]:
    """``Y_true`` as a float array over all labels (NaN = unknown) and its tree."""
    hierarchy = as_hierarchy(hierarchy)
    arr = None
    if not (hasattr(Y_true, "columns") or hasattr(Y_true, "toarray")):
        try:
            arr = np.asarray(Y_true)
        except (TypeError, ValueError):  # ragged label sets
            arr = None
    if arr is not None and arr.dtype.kind in "biuf" and arr.ndim == 2:
        if hierarchy is None or arr.shape[1] == len(hierarchy.labels):
            # Already over every node: keep it as given (no max-rule completion), so
            # that a metric scores exactly the entries it is handed.
            Y = arr.astype(float)
            Y[Y == -1] = np.nan
            bad = ~(np.isnan(Y) | np.isin(Y, (0.0, 1.0)))
            if bad.any():
                raise ValueError(
                    "Y_true must hold 0, 1, or NaN/-1 for unknown; found "
                    f"{sorted(set(Y[bad].tolist()))[:5]}. Binarise the targets first."
                )
            if hierarchy is None:
                hierarchy = Hierarchy.flat(str(i) for i in range(Y.shape[1]))
            return Y, hierarchy
    # Any other format (leaf indicator, label sets, DataFrame) goes through the same
    # encoder as fit, so metrics and estimators read targets alike.
    Y, hierarchy = encode_targets(Y_true, hierarchy, inconsistent="propagate")
    return Y.astype(float), hierarchy


def as_score(Y_score: Any, n_samples: int | None, hierarchy: Hierarchy, name: str) -> np.ndarray:
    S = np.asarray(Y_score, dtype=float)
    n_labels = len(hierarchy.labels)
    if S.ndim != 2 or S.shape[1] != n_labels or (n_samples is not None and len(S) != n_samples):
        rows = "n_samples" if n_samples is None else n_samples
        raise ValueError(
            f"{name} must have shape ({rows}, {n_labels}): one column per label in "
            f"hierarchy.labels order, got shape {S.shape}. predict_proba of a fitted "
            "sk_hier estimator returns this layout."
        )
    if not np.all(np.isfinite(S)):
        raise ValueError(f"{name} contains NaN or infinite values; scores must be finite.")
    return S


def check_pair(Y_true: Any, Y_score: Any, hierarchy: Any, name: str = "Y_score"):
    Y, hierarchy = as_true(Y_true, hierarchy)
    return Y, as_score(Y_score, len(Y), hierarchy, name), hierarchy


def binarize(S: np.ndarray, threshold: Any) -> np.ndarray:
    """0/1 tags as the estimators' ``predict`` gives them (score >= threshold)."""
    thr = np.asarray(threshold, dtype=float)
    if thr.ndim not in (0, 1) or (thr.ndim == 1 and thr.shape != (S.shape[1],)):
        raise ValueError(
            f"threshold must be a float or one value per label ({S.shape[1]}), "
            f"got shape {thr.shape}."
        )
    return (thr <= S).astype(float)


def columns(hierarchy: Hierarchy, level: LevelSpec) -> np.ndarray:
    """Column indices of the labels that ``level`` selects."""
    if isinstance(level, str):
        names = {"leaf": hierarchy.leaves, "parent": hierarchy.inner, "all": hierarchy.labels}
        if level not in names:
            raise ValueError(
                f"level must be 'leaf', 'parent', 'all' or an int depth, got {level!r}."
            )
        selected = names[level]
    elif isinstance(level, int | np.integer) and not isinstance(level, bool):
        n = hierarchy.n_levels
        if not -n <= level < n:
            raise ValueError(f"level {level} is out of range: the tree has {n} levels.")
        selected = hierarchy.levels[level]
    else:
        raise ValueError(f"level must be 'leaf', 'parent', 'all' or an int, got {level!r}.")
    return np.asarray([hierarchy.index(n) for n in selected], dtype=int)


def undefined(what: str) -> float:
    warnings.warn(f"{what}; returning NaN.", UndefinedMetricWarning, stacklevel=3)
    return float("nan")


# -- per-level metrics --------------------------------------------------------------
def _f1(y: np.ndarray, p: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    w = np.ones(len(y)) if sample_weight is None else sample_weight
    tp = float(np.sum(w * ((y == 1) & (p == 1))))
    wrong = float(np.sum(w * (y != p)))
    return 2 * tp / (2 * tp + wrong) if 2 * tp + wrong > 0 else float("nan")


def per_label(Y, S, cols, fn, need_negative: bool, sample_weight=None) -> np.ndarray:
    out = np.full(len(cols), np.nan)
    for i, j in enumerate(cols):
        known = ~np.isnan(Y[:, j])
        if sample_weight is not None:
            known &= sample_weight > 0  # a zero weight removes the sample
        y = Y[known, j]
        if y.sum() == 0 or (need_negative and y.all()):
            continue
        w = None if sample_weight is None else sample_weight[known]
        out[i] = fn(y, S[known, j], sample_weight=w)
    return out


# kind: (per-label function, needs a known negative too, name in warnings)
KINDS = {
    "ap": (average_precision_score, False, "average precision"),
    "auc": (roc_auc_score, True, "ROC-AUC"),
    "f1": (_f1, False, "F1"),
}


def level_metric(Y, S, hierarchy, level, average, kind, sample_weight=None):
    fn, need_negative, what = KINDS[kind]
    if average not in ("macro", "micro", None):
        raise ValueError(f"average must be 'macro', 'micro' or None, got {average!r}.")
    cols = columns(hierarchy, level)
    if average is None:
        return per_label(Y, S, cols, fn, need_negative, sample_weight)
    if average == "micro":
        sub = Y[:, cols]
        w = np.ones(len(Y)) if sample_weight is None else sample_weight
        W = np.broadcast_to(w[:, None], sub.shape)
        known = ~np.isnan(sub) & (W > 0)
        y, s = sub[known], S[:, cols][known]
        if y.sum() == 0 or (need_negative and y.all()):
            kind = "a positive and a negative" if need_negative else "a positive"
            return undefined(f"{what} (micro, level={level!r}): no known {kind} target")
        return float(fn(y, s, sample_weight=None if sample_weight is None else W[known]))
    values = per_label(Y, S, cols, fn, need_negative, sample_weight)
    if np.all(np.isnan(values)):
        kind = "both a positive and a negative" if need_negative else "a positive"
        return undefined(f"{what} (macro, level={level!r}): no label has {kind} known target")
    return float(np.nanmean(values))
