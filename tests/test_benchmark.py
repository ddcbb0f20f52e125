"""The benchmark's grids, registry traits, printed answer and a small real run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sk_hier.benchmarking.compare import TAGGER_VARIANTS, TAGGERS, VOTING_VARIANTS, summarize
from sk_hier.benchmarking.headline import headline
from sk_hier.benchmarking.quality import (
    LINEAR_GRID,
    MODELS,
    QUICK,
    TRUNK_GRID,
    VOTING_GRID,
    VOTING_MLP,
    _traits,
    build_models,
    tagger_grid,
    voting_grid,
)
from sk_hier.strategies import STRATEGIES


def test_every_tagger_gets_the_same_trunk_grid():
    for name, (strategy, _) in TAGGER_VARIANTS.items():
        grids = tagger_grid(strategy)
        linear_on_input = STRATEGIES[strategy].linear_on_input
        assert len(grids) == (2 if linear_on_input else 1), name
        for grid, trunk in zip(grids, (TRUNK_GRID, LINEAR_GRID)):
            for key in trunk:
                assert grid[f"model__{key}"] == trunk[key], name
            assert ("model__level_weights" in grid) == STRATEGIES[strategy].trains_parents
        if linear_on_input:  # the linear shape is offered wherever it is a linear model
            assert grids[1]["model__hidden_dims"] == [()]
            # ...on the row-space coordinates, which only a linear trunk may take.
            assert grids[1]["project__active"] == [True]
        assert "project__active" not in grids[0]
    assert not STRATEGIES["resatt"].linear_on_input
    assert all(STRATEGIES[s].linear_on_input for s in ("flat", "per_level", "top_down", "gmp"))


def test_a_vote_joins_its_strategy_s_two_trunks_with_tied_joint_weights():
    from sk_hier import Hierarchy

    tree = Hierarchy({"a": ["b", "c"]})
    models = build_models(tree, replace(QUICK, models=tuple(VOTING_VARIANTS)))
    for name, strategy in VOTING_VARIANTS.items():
        assert name in TAGGERS and name in MODELS
        pipeline, grid = models[name]
        members = dict(pipeline[-1].estimators)
        assert members["linear"].hidden_dims == () and members["linear"].solver == "lbfgs"
        assert {k: getattr(members["mlp"], k) for k in VOTING_MLP} == VOTING_MLP
        assert {m.strategy for m in members.values()} == {strategy}
        joint = STRATEGIES[strategy].trains_parents
        assert len(grid) == (2 if joint else 1)
        for g in grid:
            assert g["model__linear__weight_decay"] == VOTING_GRID["linear__weight_decay"]
            if joint:  # one parent weight for both members at a time, never mixed
                assert g["model__linear__level_weights"] == g["model__mlp__level_weights"]
                assert len(g["model__mlp__level_weights"]) == 1
            pipeline.set_params(**{k: v[0] for k, v in g.items()})  # names that exist
    assert len(voting_grid("flat")) == 1


def test_a_default_run_benchmarks_every_strategy_the_vote_and_every_baseline():
    from sk_hier.benchmarking.quality import BASELINES, DEFAULT_MODELS, FULL

    assert set(FULL.models) == set(QUICK.models) == set(DEFAULT_MODELS) <= set(MODELS)
    strategies = {TAGGER_VARIANTS[m][0] for m in DEFAULT_MODELS if m in TAGGER_VARIANTS}
    assert strategies == set(STRATEGIES)
    assert set(VOTING_VARIANTS) | set(BASELINES) <= set(DEFAULT_MODELS)
    assert len(FULL.seeds) == 5


def test_traits_come_from_the_strategy_registry():
    assert _traits("resatt") == (True, True)
    assert _traits("gmp_gated") == (False, True)
    assert _traits("gmp") == (False, False)
    assert _traits("flat") == (False, False)
    assert _traits("logreg_per_level") == (False, False)


def _df(seeds, regime="full", splits=("test",)):
    values = {"flat": (0.70, 0.80), "gmp_gated": (0.71, 0.84), "logreg_per_level": (0.69, 0.79)}
    return pd.DataFrame(
        [
            dict(
                model=m,
                embedder="musicnn",
                regime=regime,
                seed=s,
                split=sp,
                level=lv,
                metric="map",
                value=v + 0.01 * s,
            )
            for m, (leaf, parent) in values.items()
            for s in seeds
            for sp in splits
            for lv, v in (("leaf", leaf), ("parent", parent))
        ]
    )


def test_one_seed_shows_no_spread_and_the_answer_comes_first(tmp_path):
    df = _df([0])
    table = summarize(df)
    assert "±" not in table
    assert "±" in summarize(_df([0, 1]))
    text = headline(df, tmp_path)
    first = text.splitlines()[2]
    assert "winner **gmp_gated**" in first and "joint vs flat: gmp_gated" in first
    assert "won 1/1" in first and "best logistic regression: logreg_per_level" in first
    assert str(tmp_path.resolve()) in text


def test_loso_headline_reports_held_out_vs_in_domain_and_the_mean(tmp_path):
    df = pd.concat(
        [
            _df([0, 1], "loso-fluid", ("held_out", "in_domain")),
            _df([0, 1], "loso-opl3", ("held_out", "in_domain")),
        ]
    )
    text = headline(df, tmp_path, {("musicnn", "loso"): ("flat", "chosen by inner CV 0.7")})
    assert "held-out vs in-domain" in text
    mean = next(line for line in text.splitlines() if "LOSO mean" in line)
    assert "flat (chosen by inner CV 0.7)" in mean and "fluid" in mean and "opl3" not in mean
    assert any("FM group opl3, reported apart" in line for line in text.splitlines())


def _tiny_audio_run(**changes):
    """A real benchmark run on 24 rendered clips (log-mel, 3 epochs)."""
    pytest.importorskip("tinysoundfont")
    pytest.importorskip("librosa")
    return replace(QUICK, n_clips=24, n_test=8, embedders=("logmel",), max_epochs=3, **changes)


@pytest.mark.audio
def test_small_real_benchmark_with_a_loso_cell(tmp_path):
    config = _tiny_audio_run(
        models=("flat", "gmp_gated", "top_down_vote", "logreg_per_level"), n_jobs=1
    )
    from sk_hier.benchmarking.quality import run_quality
    from sk_hier.benchmarking.report import write_report
    from sk_hier.datasets import load_rendered

    df = run_quality(tmp_path / "data", tmp_path / "out", config, progress=False)
    assert set(df["regime"]) == {"full", "loso-fluid"}
    assert set(df[df.regime == "loso-fluid"]["split"]) == {"held_out", "in_domain"}
    tree = load_rendered(tmp_path / "data" / "timgm6mb")[2]
    path, answer = write_report(tmp_path / "out", df, tree, command="test")
    assert "winner" in answer and path.is_file()
    # The linear-probe table: one seed has no interval over seeds, but the test-clip
    # bootstrap (read from the stored probabilities) gives one per level.
    probe = [line for line in answer.splitlines() if line.startswith("| logmel | full | test |")]
    assert len(probe) == 1 and probe[0].count("[") == 2, probe
    # Where the time went: every model's minutes per regime, from the cells' clocks.
    timing = path.read_text().split("## Where the time went")[1]
    for model in config.models:
        assert f"\n| {model} | " in timing
    assert "| **total** |" in timing
    # resumable: a second run finds every cell
    again = run_quality(tmp_path / "data", tmp_path / "out", config, progress=False)
    assert len(again) == len(df)


@pytest.mark.audio
def test_seeds_fitted_side_by_side_store_what_one_process_stores(tmp_path):
    config = _tiny_audio_run(
        seeds=(0, 1, 2), regimes=("full",), models=("flat", "logreg_per_level")
    )
    from sk_hier.benchmarking.quality import run_quality

    runs = [
        run_quality(tmp_path / "data", tmp_path / f"out{n}", replace(config, n_jobs=n), False)
        for n in (1, 2)
    ]
    scores = [
        df[df.metric != "fit_seconds"].sort_values(list(df.columns[:-1]))["value"].to_numpy()
        for df in runs
    ]
    assert len(scores[0]) == len(scores[1]) > 0
    assert sorted(set(runs[1]["seed"])) == [0, 1, 2]
    # Each seed's fit is the same computation in either process (one thread each).
    np.testing.assert_allclose(scores[1], scores[0], rtol=0, atol=1e-6)
    stored = sorted(p.name for p in (tmp_path / "out2" / "cells").glob("*__[0-9].json"))
    assert len(stored) == 2 * 3


def test_in_domain_cost_of_multi_source_training_is_reported(tmp_path):
    df = pd.concat([_df([0, 1], "full"), _df([0, 1], "multi_source")])
    hit = (df.regime == "multi_source") & (df.model == "flat") & (df.level == "leaf")
    df.loc[hit, "value"] -= 0.02
    line = next(x for x in headline(df, tmp_path).splitlines() if "In-domain cost" in x)
    assert "worst flat -2.0" in line and "past -1: flat" in line


def test_the_ablation_table_lists_each_loso_regime_with_its_settings(tmp_path):
    parts = [
        _df([0, 1], f"{regime}-{group}", ("held_out",))
        for regime in ("loso", "loso_strong", "loso_1g")
        for group in ("fluid", "timgm", "opl3")
    ]
    df = pd.concat(parts)
    # The FM group stays out of the means: make it stand out if it leaked in.
    df.loc[df["regime"].str.endswith("opl3"), "value"] = 0.0
    lines = headline(df, tmp_path).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("**Ablation"))
    rows = [line for line in lines[start:] if line.startswith("| loso")]
    assert [r.split(" | ")[0] for r in rows] == ["| loso", "| loso_strong", "| loso_1g"]
    assert "| strong | every other group |" in rows[1] and "| none | 1 other group |" in rows[2]
    # flat: leaf 0.70 + 0.005 (mean of seeds 0 and 1), the same over fluid and timgm.
    assert "0.705 / 0.805" in rows[0]
    assert headline(_df([0]), tmp_path).count("Ablation") == 0  # one regime: no table
