"""The linear-probe table: the recommended tagger against the best logistic regression.

A reviewer's first question to a DNN toolkit is "why not a linear model on the same
features?". Per (embedder, regime, split) and level, the tagger the benchmark
recommends (best inner-CV score on training clips among the sk_hier taggers) is set
against the best logistic-regression baseline on that split (its best mean: the
generous pick for the baseline), with the paired difference over seeds and its 95%
confidence interval; then how many cells the baseline leads in mean and beyond it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .compare import TAGGER_VARIANTS
from .regimes import regime_of

__all__ = ["paired_interval", "probe_lines"]

_LOGREG = "logreg_"


def paired_interval(d: Any, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t confidence interval of paired differences ``d``.

    With one value the interval is undefined (NaN bounds): one seed shows no spread.

    Examples
    --------
    >>> from sk_hier.benchmarking.linear_probe import paired_interval
    >>> mean, low, high = paired_interval([1.0, 2.0, 3.0])
    >>> mean, round(low, 2), round(high, 2)
    (2.0, -0.48, 4.48)
    """
    from scipy import stats

    d = np.asarray(d, dtype=float)
    mean = float(d.mean())
    if len(d) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return mean, float(mean - half), float(mean + half)


def _pick(group, taggers: dict, emb: str, regime: str) -> tuple[str, str]:
    model, _ = taggers.get((emb, regime_of(regime)[0]), (None, ""))
    if model in set(group.model):
        return model, "inner CV"
    means = group[group.model.isin(TAGGER_VARIANTS)].groupby("model")["score"].mean()
    return means.idxmax(), "no inner CV: best on this split"


def _cell(group, tagger: str, logreg: str) -> list:
    a = group[group.model == tagger].set_index("seed")
    b = group[group.model == logreg].set_index("seed").reindex(a.index)
    return [paired_interval((a[lv] - b[lv]).dropna() * 100) for lv in ("leaf", "parent")]


def _fmt(mean: float, low: float, high: float) -> str:
    return f"{mean:+.1f}" if np.isnan(low) else f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def probe_lines(wide, taggers: dict) -> list[str]:
    """Markdown lines of the linear-probe table (none without both kinds of model)."""
    rows, leads, beyond, n = [], 0, 0, 0
    for (emb, regime, split), group in wide.groupby(["embedder", "regime", "split"], sort=False):
        logregs = group[group.model.str.startswith(_LOGREG)]
        if logregs.empty or not group.model.isin(TAGGER_VARIANTS).any():
            continue
        tagger, how = _pick(group, taggers, emb, regime)
        logreg = logregs.groupby("model")["score"].mean().idxmax()
        cells = _cell(group, tagger, logreg)
        n += len(cells)
        leads += sum(c[0] < 0 for c in cells)
        beyond += sum(c[2] < 0 for c in cells)  # the whole interval below 0
        rows.append(
            f"| {emb} | {regime} | {split} | {tagger} ({how}) | {logreg} | "
            + " | ".join(_fmt(*c) for c in cells)
            + " |"
        )
    if not rows:
        return []
    return [
        "",
        "**Linear probe** (recommended tagger − best logistic regression, ×100, paired "
        "over seeds, 95% CI)",
        "",
        "| embedder | regime | split | tagger | logistic regression | Δ leaf | Δ parent |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Logistic regression's mean leads in {leads} of {n} cells (split × level); "
        f"beyond the 95% CI in {beyond}.",
    ]
