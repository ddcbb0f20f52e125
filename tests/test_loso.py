"""Leave-one-source-group-out splits: no test MIDI and no held-out rendering in training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sk_hier.benchmarking.data import plan_cells
from sk_hier.benchmarking.quality import ALL_SOURCES, FULL, QUICK
from sk_hier.benchmarking.regimes import REGIMES, cell_name, regime_of
from sk_hier.datasets.soundfonts import SOUNDFONTS

CONFIG = replace(FULL, n_clips=120, n_test=30, n_scarce=40, seeds=(0, 1, 2))


def _split(config):
    test = np.sort(np.random.default_rng(0).permutation(config.n_clips)[: config.n_test])
    return test, np.setdiff1d(np.arange(config.n_clips), test)


def _group(folder: str) -> str:
    return SOUNDFONTS[folder.partition("__")[0]].group


@pytest.mark.parametrize("config", [CONFIG, replace(QUICK, n_clips=100, n_test=20)])
def test_loso_never_trains_on_a_test_midi_nor_the_held_out_group(config):
    test, pool = _split(config)
    plans = [p for p in plan_cells(config, test, pool) if REGIMES[p.regime].kind == "loso"]
    assert plans
    for plan in plans:
        for rows in plan.train.values():
            indices = [i for _, i in rows]
            assert not set(indices) & set(test.tolist()), f"{plan.tag}: a test MIDI in training"
            assert plan.held_out not in {_group(f) for f, _ in rows}
            # N clips stay N clips: one rendering per training clip
            assert len(indices) == len(set(indices)) == len(pool)
            augment = REGIMES[plan.regime].augment
            if augment != "none":
                assert all(f.endswith("__" + augment) for f, _ in rows)
        assert {_group(f) for f, _ in plan.tests["held_out"]} == {plan.held_out}
        assert plan.held_out not in {_group(f) for f, _ in plan.tests["in_domain"]}
        assert sorted(i for _, i in plan.tests["held_out"]) == test.tolist()


def test_loso_each_renders_every_piece_through_every_training_source():
    config = replace(CONFIG, regimes=("loso", "loso_each"))
    test, pool = _split(config)
    plans = {(p.regime, p.held_out): p for p in plan_cells(config, test, pool)}
    for (regime, held), plan in plans.items():
        if regime != "loso_each":
            continue
        drawn = plans[("loso", held)]
        sources = sorted({f for f, _ in drawn.train[0]})
        rows = plan.train[0]
        assert held not in {_group(f) for f, _ in rows}
        assert not {i for _, i in rows} & set(test.tolist())
        # the same pieces as the drawn regime, each through all its training sources
        assert sorted({i for _, i in rows}) == sorted(i for _, i in drawn.train[0])
        assert sorted(rows) == sorted((f, int(i)) for f in sources for i in pool)
        assert plan.tests == drawn.tests  # the same test clips and renderings
    assert "loso_each" not in FULL.regimes  # a bigger training set: asked for by name


def test_multi_each_hears_the_multi_source_pieces_through_every_sample_bank():
    config = replace(CONFIG, regimes=("multi_source", "multi_each"))
    test, pool = _split(config)
    drawn, each = plan_cells(config, test, pool)
    banks = sorted(s for s in config.sources if SOUNDFONTS[s].headline)
    for seed in config.seeds:
        pieces = sorted({i for _, i in drawn.train[seed]})
        assert sorted(each.train[seed]) == sorted((s, i) for s in banks for i in pieces)
        assert not set(pieces) & set(test.tolist())
    assert each.tests == drawn.tests
    assert REGIMES["multi_each"].grid_from == "multi_source"


def test_the_default_regimes_answer_the_question_and_leave_the_ablation_on_request():
    from sk_hier.benchmarking.regimes import REGIMES

    assert FULL.regimes == tuple(r for r in REGIMES if REGIMES[r].default)
    assert {"full", "multi_source", "loso", "loso_aug"} <= set(FULL.regimes)
    ablation = {r for r in REGIMES if REGIMES[r].n_groups or REGIMES[r].augment == "strong"}
    assert ablation and not ablation & set(FULL.regimes)
    # a regime asked for by name reuses a default regime's grid choice: no new search
    assert all(REGIMES[r].grid_from in FULL.regimes for r in REGIMES if not REGIMES[r].default)


def test_every_group_is_held_out_once_per_loso_regime():
    config = replace(CONFIG, regimes=(*CONFIG.regimes, "loso_strong"))
    test, pool = _split(config)
    plans = plan_cells(config, test, pool)
    held = {(p.regime, p.held_out) for p in plans if p.held_out}
    groups = {SOUNDFONTS[s].group for s in ALL_SOURCES}
    loso = [r for r in config.regimes if REGIMES[r].kind == "loso"]
    assert {"loso", "loso_aug", "loso_strong"} <= set(loso)
    assert held == {(r, g) for r in loso for g in groups}
    tags = [p.tag for p in plans]
    assert len(tags) == len(set(tags))


def test_one_group_ablation_trains_each_sample_group_once_never_the_held_out():
    config = replace(CONFIG, regimes=("loso", "loso_1g", "loso_1g_strong"))
    test, pool = _split(config)
    plans = [p for p in plan_cells(config, test, pool) if p.regime.startswith("loso_1g")]
    banks = {SOUNDFONTS[s].group for s in ALL_SOURCES if SOUNDFONTS[s].headline}
    for regime in ("loso_1g", "loso_1g_strong"):
        trained = {}
        for p in (p for p in plans if p.regime == regime):
            groups = {_group(f) for f, _ in p.train[0]}
            assert len(groups) == 1 and p.held_out not in groups, (p.tag, groups)
            trained.setdefault(groups.pop(), []).append(p.held_out)
        # each sample bank trains exactly one of the sample-bank cells
        sample_cells = {g: [h for h in v if h in banks] for g, v in trained.items()}
        assert sorted(len(v) for v in sample_cells.values()) == [1] * len(banks)
    assert all(
        f.endswith("__strong")
        for p in plans
        if p.regime == "loso_1g_strong"
        for f, _ in p.train[1]
    )


def test_single_source_regimes_and_sizes():
    test, pool = _split(CONFIG)
    plans = {p.tag: p for p in plan_cells(CONFIG, test, pool)}
    assert {f for f, _ in plans["full"].train[0]} == {"timgm6mb"}
    assert len(plans["scarce"].train[1]) == CONFIG.n_scarce
    assert set(plans["full"].tests) == {"test", "test_shift"}
    multi = {_group(f) for f, _ in plans["multi_source"].train[0]}
    assert multi == {"fluid", "freepats", "timgm"}  # sample banks only: the FM bank stays out
    # the per-clip source is drawn once: seeds differ in the pool order, not the source
    by_clip = [dict((i, f) for f, i in plans["multi_source"].train[s]) for s in (0, 1)]
    assert by_clip[0] == by_clip[1]


def test_cell_names_are_unique_and_parse_back():
    names = {
        cell_name(m, "musicnn", r, s, h)
        for m in ("flat", "gmp")
        for r in REGIMES
        for s in (0, 1)
        for h in (None, "fluid")
    }
    assert len(names) == 2 * len(REGIMES) * 2 * 2
    assert regime_of("loso_aug-fluid") == ("loso_aug", "fluid")
    assert regime_of("multi_source") == ("multi_source", None)


def test_bench_cli_choices_derive_from_the_registries(capsys):
    from sk_hier.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in REGIMES)
    assert all(name in out for name in SOUNDFONTS)


def test_a_silent_rendering_is_left_out_of_a_cell():
    # A clip whose every instrument is a gap of its source renders silent, with every
    # label unknown: it has no embedding and no row.
    from sk_hier.benchmarking.data import BenchData

    data = BenchData(None, 3, np.array([2]), np.array([0, 1]))
    data.X[("e", "opl3")] = {0: np.zeros(2), 2: np.ones(2)}
    data.Y["opl3"] = {0: np.zeros(3), 1: np.full(3, np.nan), 2: np.ones(3)}
    X, Y = data.rows("e", [("opl3", 0), ("opl3", 1), ("opl3", 2)])
    assert X.shape == (2, 2) and not np.isnan(Y).any()


def test_a_run_resumes_only_under_the_settings_of_its_cells(tmp_path):
    from dataclasses import replace

    from sk_hier.benchmarking.quality import check_resumable

    check_resumable(tmp_path, QUICK)
    assert (tmp_path / "cells" / "settings.json").is_file()
    check_resumable(tmp_path, replace(QUICK, seeds=(0, 1), n_jobs=1))  # more cells: fine
    more = replace(QUICK, sources=(*QUICK.sources, "freepats"))
    with pytest.raises(ValueError, match=r"other settings \(sources"):
        check_resumable(tmp_path, more)


def test_a_grid_run_resumes_only_under_the_same_grids(tmp_path, monkeypatch):
    from dataclasses import replace

    from sk_hier.benchmarking import quality

    gridded = replace(QUICK, grid=True)
    quality.check_resumable(tmp_path, gridded)
    quality.check_resumable(tmp_path, gridded)
    monkeypatch.setattr(quality, "LINEAR_GRID", {"hidden_dims": [()], "weight_decay": [1e-4]})
    with pytest.raises(ValueError, match=r"other settings \(grids"):
        quality.check_resumable(tmp_path, gridded)


def test_a_grid_added_since_a_run_extends_it_and_is_recorded(tmp_path, monkeypatch):
    import json
    from dataclasses import replace

    from sk_hier.benchmarking import quality

    gridded = replace(QUICK, grid=True)
    quality.check_resumable(tmp_path, gridded)
    path = tmp_path / "cells" / "settings.json"
    older = json.loads(path.read_text())
    del older["grids"]["voting"]  # a run stored before the soft vote had a grid
    path.write_text(json.dumps(older))
    quality.check_resumable(tmp_path, gridded)  # its cells keep their grids: resumes
    assert "voting" in json.loads(path.read_text())["grids"]
    monkeypatch.setattr(quality, "VOTING_GRID", {"linear__weight_decay": [1e-4]})
    with pytest.raises(ValueError, match=r"other settings \(grids"):
        quality.check_resumable(tmp_path, gridded)


def test_inner_cv_of_a_loso_cell_holds_out_one_training_group_per_fold():
    from sk_hier.benchmarking.data import BenchData
    from sk_hier.benchmarking.quality import _groups_of, _inner_cv

    data = BenchData(None, 4, np.array([]), np.arange(4))
    data.X[("e", "timgm6mb")] = {0: 0, 1: 0}
    data.X[("e", "freepats__light")] = {2: 0}
    data.X[("e", "fluidr3")] = {3: 0}
    rows = [("timgm6mb", 0), ("fluidr3", 3), ("freepats__light", 2), ("timgm6mb", 9)]
    groups = _groups_of(data, "e", rows)  # row 9 has no embedding: left out, as rows() does
    assert groups.tolist() == ["timgm", "fluid", "freepats"]
    folds = list(_inner_cv(0, groups).split(np.zeros(3), groups=groups))
    assert len(folds) == 3
    for train, test in folds:
        assert len(set(groups[test])) == 1 and not set(groups[test]) & set(groups[train])
    assert type(_inner_cv(0, np.array(["timgm"] * 3))).__name__ == "KFold"
    assert type(_inner_cv(0, None)).__name__ == "KFold"


def test_bench_cli_grid_flags_set_the_search_on_either_base():
    import argparse

    from sk_hier.cli.bench import _config, add_parser

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())

    def config(*argv):
        return _config(parser.parse_args(["bench", *argv]))

    assert config().grid is False  # the --quick base has no grid
    assert config("--grid").grid is True
    assert config("--full").grid is True and config("--full", "--no-grid").grid is False
    with pytest.raises(SystemExit):
        config("--grid", "--no-grid")
