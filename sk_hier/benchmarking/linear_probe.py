"""The linear-probe table: the recommended tagger against the best logistic regression.

A reviewer's first question to a DNN toolkit is "why not a linear model on the same
features?". Per (embedder, regime, split) and level, the tagger the benchmark
recommends (best inner-CV score on training clips among the sk_hier taggers) is set
against the best logistic-regression baseline on that split (its best mean: the
generous pick for the baseline), with the paired difference over seeds and its 95%
confidence interval; then how many cells the baseline leads in mean and beyond it.

Seeds alone can understate the uncertainty: a converged linear model on a fixed
training set gives the same answer for every seed, so the interval over seeds
shrinks to a point. The table therefore also gives a paired bootstrap over the
test clips (the first seed's stored probabilities), the spread a different test
set of the same size would show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .compare import TAGGERS
from .headline import _LOGREG
from .regimes import regime_of

__all__ = ["bootstrap_delta", "paired_interval", "probe_lines"]


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


def _resampled_ap(y: np.ndarray, s: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision of one label under each row of resample counts ``W``.

    ``y`` holds 0/1/NaN (unknown: left out); tied scores share the precision at the
    end of their tie, as scikit-learn's ``average_precision_score``. NaN where a
    resample holds no known positive.
    """
    known = ~np.isnan(y)
    order = np.argsort(-s[known], kind="stable")
    ys, ss, Wk = y[known][order], s[known][order], W[:, known][:, order]
    hits = Wk * ys
    tp, seen = np.cumsum(hits, axis=1), np.cumsum(Wk, axis=1)
    last = np.r_[ss[1:] != ss[:-1], True]  # the end of each run of tied scores
    end = np.flip(np.minimum.accumulate(np.flip(np.where(last, np.arange(len(ss)), len(ss)))))
    prec = np.divide(tp[:, end], seen[:, end], out=np.zeros_like(tp), where=seen[:, end] > 0)
    pos = hits.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pos > 0, (hits * prec).sum(axis=1) / pos, np.nan)


def bootstrap_delta(
    Y: np.ndarray,
    P_a: np.ndarray,
    P_b: np.ndarray,
    columns: Any,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Macro AP of ``P_a`` minus ``P_b`` over ``columns``, with a paired bootstrap over
    the rows (clips): ``(delta, low, high)``, the 2.5 and 97.5 percentiles.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.benchmarking.linear_probe import bootstrap_delta
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.integers(0, 2, (200, 3)).astype(float)
    >>> good, noisy = Y + rng.normal(0, 0.3, Y.shape), Y + rng.normal(0, 2.0, Y.shape)
    >>> delta, low, high = bootstrap_delta(Y, good, noisy, [0, 1, 2], n_boot=200)
    >>> bool(0 < low < delta < high)
    True
    """
    n = len(Y)
    W = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_boot)
    W = np.vstack([np.ones(n), W]).astype(float)  # row 0: the test set as it is
    per_label = [
        _resampled_ap(Y[:, j], P_a[:, j], W) - _resampled_ap(Y[:, j], P_b[:, j], W)
        for j in columns
    ]
    with np.errstate(invalid="ignore"):
        d = np.nanmean(np.array(per_label), axis=0)
    low, high = np.nanpercentile(d[1:], [2.5, 97.5])
    return float(d[0]), float(low), float(high)


def _pick(group, taggers: dict, emb: str, regime: str) -> tuple[str, str]:
    model, _ = taggers.get((emb, regime_of(regime)[0]), (None, ""))
    if model in set(group.model):
        return model, "inner CV"
    means = group[group.model.isin(TAGGERS)].groupby("model")["score"].mean()
    return means.idxmax(), "no inner CV: best on this split"


def _cell(group, tagger: str, logreg: str) -> list:
    a = group[group.model == tagger].set_index("seed")
    b = group[group.model == logreg].set_index("seed").reindex(a.index)
    return [paired_interval((a[lv] - b[lv]).dropna() * 100) for lv in ("leaf", "parent")]


def _fmt(mean: float, low: float, high: float) -> str:
    return f"{mean:+.1f}" if np.isnan(low) else f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]"


def probe_lines(wide, taggers: dict, bootstrap: Any = None) -> list[str]:
    """Markdown lines of the linear-probe table (none without both kinds of model).

    ``bootstrap(embedder, regime, split, tagger, logreg)``, when given, returns the
    test-clip bootstrap ``[(delta, low, high)]`` for leaf and parent (×100), or None.
    """
    rows, counts, n = [], np.zeros(3, int), 0
    for (emb, regime, split), group in wide.groupby(["embedder", "regime", "split"], sort=False):
        logregs = group[group.model.str.startswith(_LOGREG)]
        if logregs.empty or not group.model.isin(TAGGERS).any():
            continue
        tagger, how = _pick(group, taggers, emb, regime)
        logreg = logregs.groupby("model")["score"].mean().idxmax()
        cells = _cell(group, tagger, logreg)
        clips = (bootstrap(emb, regime, split, tagger, logreg) if bootstrap else None) or []
        n += len(cells)
        counts += [
            sum(c[0] < 0 for c in cells),
            sum(c[2] < 0 for c in cells),  # the whole interval below 0
            sum(c[2] < 0 for c in clips),
        ]
        shown = [_fmt(*c) for c in cells] + [_fmt(*c) for c in clips] or ["-", "-"]
        rows.append(
            f"| {emb} | {regime} | {split} | {tagger} ({how}) | {logreg} | "
            + " | ".join(shown + ["-"] * (4 - len(shown)))
            + " |"
        )
    if not rows:
        return []
    return [
        "",
        "**Linear probe** (recommended tagger − best logistic regression, ×100; 95% "
        "intervals: paired over seeds, and a paired bootstrap over the test clips)",
        "",
        "| embedder | regime | split | tagger | logistic regression | Δ leaf (seeds) "
        "| Δ parent (seeds) | Δ leaf (clips) | Δ parent (clips) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Logistic regression's mean leads in {counts[0]} of {n} cells (split × level); "
        f"beyond the interval over seeds in {counts[1]}, beyond the test-clip bootstrap "
        f"interval in {counts[2]}.",
    ]
