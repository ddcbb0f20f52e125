"""The linear-probe table of the benchmark summary."""

import numpy as np
import pandas as pd
from scipy import stats

from sk_hier.benchmarking.linear_probe import bootstrap_delta, paired_interval, probe_lines
from sk_hier.metrics import level_average_precision


def _wide(deltas: dict, regime="full", split="test"):
    """Rows for top_down, flat and logreg_per_level; ``deltas[level]`` per seed is
    top_down minus logreg."""
    rows = []
    for seed in range(len(deltas["leaf"])):
        base = {"leaf": 0.70 + 0.01 * seed, "parent": 0.80}
        for model, shift in (("logreg_per_level", 0.0), ("flat", -0.05), ("top_down", None)):
            r = dict(embedder="musicnn", regime=regime, split=split, seed=seed, model=model)
            for lv in ("leaf", "parent"):
                r[lv] = base[lv] + (deltas[lv][seed] if shift is None else shift)
            rows.append(r)
    wide = pd.DataFrame(rows)
    wide["score"] = (wide.leaf + wide.parent) / 2
    return wide


def test_paired_interval_is_the_t_interval():
    d = np.array([0.3, -0.1, 0.5, 0.2])
    mean, low, high = paired_interval(d)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert np.isclose(mean, d.mean()) and np.isclose(high - mean, half)
    assert np.isclose(mean - low, half)
    assert np.isnan(paired_interval([0.4])[1])  # one seed: no interval


def test_counts_cells_where_logistic_regression_leads_and_beyond_the_interval():
    wide = _wide({"leaf": [-0.02, -0.021, -0.019], "parent": [0.01, -0.01, 0.005]})
    taggers = {("musicnn", "full"): ("top_down", "chosen by inner CV")}
    text = "\n".join(probe_lines(wide, taggers))
    assert "| musicnn | full | test | top_down (inner CV) | logreg_per_level |" in text
    # leaf: every seed 2 points behind -> leads, beyond the CI; parent: mean +0.2, no lead
    assert "leads in 1 of 2 cells (split × level); beyond the interval over seeds in 1," in text
    assert "beyond the test-clip bootstrap interval in 0." in text  # none given


def test_bootstrap_column_and_count_come_from_the_callable():
    wide = _wide({"leaf": [0.01, 0.02], "parent": [0.0, 0.01]})
    calls = []

    def boot(*key):
        calls.append(key)
        return [(-1.0, -2.0, -0.5), (0.5, -0.2, 1.0)]

    text = "\n".join(probe_lines(wide, {}, boot))
    assert calls == [("musicnn", "full", "test", "top_down", "logreg_per_level")]
    assert "| -1.0 [-2.0, -0.5] | +0.5 [-0.2, +1.0] |" in text
    assert "beyond the test-clip bootstrap interval in 1." in text


def test_bootstrap_delta_matches_the_metric_and_brackets_it(tree):
    rng = np.random.default_rng(0)
    Y = rng.integers(0, 2, (150, len(tree.labels))).astype(float)
    Y[rng.random(Y.shape) < 0.1] = np.nan  # unknown entries are left out
    a = np.where(np.isnan(Y), 0.5, Y) + rng.normal(0, 0.6, Y.shape)
    b = np.round(np.where(np.isnan(Y), 0.5, Y) + rng.normal(0, 0.9, Y.shape), 1)  # ties
    leaves = [tree.index(n) for n in tree.leaves]
    delta, low, high = bootstrap_delta(Y, a, b, leaves, n_boot=300)
    expected = level_average_precision(Y, a, tree, level="leaf") - level_average_precision(
        Y, b, tree, level="leaf"
    )
    # The same sums as scikit-learn's average_precision_score, in float64.
    assert np.isclose(delta, expected, rtol=0, atol=1e3 * np.finfo(float).eps)
    assert low < delta < high


def test_without_an_inner_cv_the_pick_is_labelled_and_nothing_without_baselines():
    wide = _wide({"leaf": [0.01, 0.02], "parent": [0.0, 0.01]})
    text = "\n".join(probe_lines(wide, {}))
    assert "top_down (no inner CV: best on this split)" in text
    assert "leads in 0 of 2 cells" in text
    assert probe_lines(wide[~wide.model.str.startswith("logreg")], {}) == []
