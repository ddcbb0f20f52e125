"""The linear-probe table of the benchmark summary."""

import numpy as np
import pandas as pd
from scipy import stats

from sk_hier.benchmarking.linear_probe import paired_interval, probe_lines


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
    assert "leads in 1 of 2 cells (split × level); beyond the 95% CI in 1." in text


def test_without_an_inner_cv_the_pick_is_labelled_and_nothing_without_baselines():
    wide = _wide({"leaf": [0.01, 0.02], "parent": [0.0, 0.01]})
    text = "\n".join(probe_lines(wide, {}))
    assert "top_down (no inner CV: best on this split)" in text
    assert "leads in 0 of 2 cells" in text
    assert probe_lines(wide[~wide.model.str.startswith("logreg")], {}) == []
