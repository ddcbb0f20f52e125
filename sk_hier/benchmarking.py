"""Compare taggers and baselines over seeds: long-form results and paired summaries.

The benchmark suite and ``sk-hier bench`` compose these helpers; results are a
long table with columns ``model, embedder, regime, seed, split, level, metric,
value`` so that any summary is one ``groupby`` away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.base import clone

from .metrics import level_report
from .tagger import HierarchicalTagger

__all__ = ["COLUMNS", "default_models", "evaluate", "hide_leaves", "summarize"]

COLUMNS = ["model", "embedder", "regime", "seed", "split", "level", "metric", "value"]

# Tagger variants by benchmark name: (strategy, extra parameters).
TAGGER_VARIANTS = {
    "flat": ("flat", {}),
    "per_level": ("per_level", {}),
    "top_down": ("top_down", {}),
    "gmp": ("gmp", {}),
    "gmp_gated": ("gmp", {"parent_gate": True}),
    "resatt": ("resatt", {}),
    "resatt_nomask": ("resatt", {"attention_mask": "none"}),
}


def default_models(hierarchy: Any, **params: Any) -> dict:
    """Every tagger variant of the benchmark, unfitted, sharing ``params``.

    Examples
    --------
    >>> from sk_hier.benchmarking import default_models
    >>> sorted(default_models({"a": ["b"]}))[:3]
    ['flat', 'gmp', 'gmp_gated']
    """
    return {
        name: HierarchicalTagger(hierarchy, strategy=strategy, **{**params, **extra})
        for name, (strategy, extra) in TAGGER_VARIANTS.items()
    }


def hide_leaves(Y: np.ndarray, hierarchy: Any, fraction: float, seed: int) -> np.ndarray:
    """Copy of ``Y`` (all labels) where a ``fraction`` of rows keep only their parents.

    The "partial" regime: those rows' leaves become unknown (NaN).
    """
    from .targets import encode_targets

    Y_full, tree = encode_targets(Y, hierarchy)
    rows = np.random.default_rng(seed).permutation(len(Y_full))[: round(fraction * len(Y_full))]
    leaves = [tree.index(n) for n in tree.leaves if tree.parent_of(n) is not None]
    Y_full[np.ix_(np.sort(rows), leaves)] = np.nan
    return Y_full


def _report_rows(report: Mapping, base: dict) -> list:
    rows = []
    for key, value in report.items():
        for level in ("leaf", "parent"):
            if key.startswith(level + "_"):
                rows.append(
                    {**base, "level": level, "metric": key[len(level) + 1 :], "value": value}
                )
                break
        else:
            if key in ("hier_f1", "violation_rate"):
                rows.append({**base, "level": "all", "metric": key, "value": value})
    return rows


def evaluate(
    models: Mapping[str, Any],
    train: tuple,
    tests: Mapping[str, tuple],
    hierarchy: Any,
    *,
    seed: int,
    embedder: str = "",
    regime: str = "full",
    on_fit: Callable[[str, float], None] | None = None,
) -> list:
    """Fit each model on ``train`` and score it on every test split.

    Returns long-form rows (dicts with ``COLUMNS``), ``fit_seconds`` included.
    """
    X, Y = train
    rows = []
    for name, model in models.items():
        est = clone(model)
        if "random_state" in est.get_params():
            est.set_params(random_state=seed)
        start = time.perf_counter()
        est.fit(X, Y)
        seconds = time.perf_counter() - start
        if on_fit is not None:
            on_fit(name, seconds)
        base = {"model": name, "embedder": embedder, "regime": regime, "seed": seed}
        for split, (X_test, Y_test) in tests.items():
            report = level_report(Y_test, est.predict_proba(X_test), hierarchy)
            rows += _report_rows(report, {**base, "split": split})
            rows.append(
                {**base, "split": split, "level": "all", "metric": "fit_seconds", "value": seconds}
            )
    return rows


def summarize(df: Any, metric: str = "map", baseline: str = "flat") -> str:
    """Markdown: mean ± std per model, and the paired Δ (×100) vs ``baseline`` with wins.

    ``df`` is the long-form table (a pandas DataFrame).
    """
    import pandas as pd

    sub = df[(df["metric"] == metric) & df["level"].isin(["leaf", "parent"])]
    wide = sub.pivot_table(
        index=["embedder", "regime", "split", "seed", "model"], columns="level", values="value"
    ).reset_index()
    lines = []
    for (emb, regime, split), group in wide.groupby(["embedder", "regime", "split"], sort=False):
        lines += [
            f"\n**{metric} — embedder={emb or '-'}, regime={regime}, split={split}** "
            f"({group['seed'].nunique()} seeds; Δ = paired difference vs {baseline}, ×100)\n",
            "| model | leaf | parent | Δ leaf | Δ parent | wins leaf | wins parent |",
            "|---|---|---|---|---|---|---|",
        ]
        ref = group[group["model"] == baseline].set_index("seed")
        for model, g in group.groupby("model", sort=False):
            g = g.set_index("seed")
            cells = [model]
            for level in ("leaf", "parent"):
                cells.append(f"{g[level].mean():.3f} ± {g[level].std(ddof=0):.3f}")
            for level in ("leaf", "parent"):
                if model == baseline or ref.empty:
                    cells.append("—")
                    continue
                d = (g[level] - ref[level].reindex(g.index)) * 100
                cells.append(f"{d.mean():+.1f} ± {d.std(ddof=0):.1f}")
            for level in ("leaf", "parent"):
                if model == baseline or ref.empty:
                    cells.append("—")
                    continue
                d = g[level] - ref[level].reindex(g.index)
                cells.append(f"{int((d > 0).sum())}/{len(d)}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) if lines else pd.DataFrame().to_markdown()
