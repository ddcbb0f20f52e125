"""Render-time augmentation: seeded (same seed, same bytes), recorded, and real."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

pytest.importorskip("tinysoundfont")
pytest.importorskip("audiomentations")

from sk_hier.cli import main
from sk_hier.datasets.augment import (
    AUGMENT_LEVELS,
    augment_audio,
    make_impulse_responses,
    mix_plan,
)
from sk_hier.datasets.render import load_rendered, render_dataset

pytestmark = pytest.mark.audio
SR = 22050


def _wavs(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / "audio").glob("*.wav"))}


def test_same_seed_same_bytes_and_recorded(tmp_path):
    a, b, plain = tmp_path / "a", tmp_path / "b", tmp_path / "plain"
    for out, level in ((a, "strong"), (b, "strong"), (plain, "none")):
        render_dataset(out, n_clips=3, seed=4, duration=2.0, augment=level, progress=False)
    assert _wavs(a) == _wavs(b)
    assert all(_wavs(a)[k] != v for k, v in _wavs(plain).items())
    settings = json.loads((a / "render.json").read_text())["settings"]
    assert settings["augment"]["level"] == "strong"
    assert settings["augment"]["versions"]["audiomentations"]
    assert "augment" not in json.loads((plain / "render.json").read_text())["settings"]
    record = json.loads((a / "augment" / "clip_000000.json").read_text())
    assert isinstance(record["seed"], int) and record["mix"]
    assert (a / "augment" / "clip_000000.json").read_text() == (
        b / "augment" / "clip_000000.json"
    ).read_text()
    # labels do not change with augmentation
    assert np.array_equal(load_rendered(a)[1], load_rendered(plain)[1])


def test_parallel_render_gives_the_same_bytes(tmp_path):
    serial, parallel = tmp_path / "s", tmp_path / "p"
    render_dataset(serial, n_clips=4, seed=1, duration=1.0, augment="light", progress=False)
    render_dataset(
        parallel, n_clips=4, seed=1, duration=1.0, augment="light", n_jobs=2, progress=False
    )
    assert _wavs(serial) == _wavs(parallel)


def test_augment_audio_is_seeded_and_leaves_global_state_alone(tmp_path):
    irs = make_impulse_responses(tmp_path, SR)
    y = (0.1 * np.sin(np.arange(SR) * 0.05)).astype(np.float32)
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002 - checking that the global state is restored
    before = (random.random(), np.random.random())  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    one, rec1 = augment_audio(y, SR, "strong", 7, irs)
    after = (random.random(), np.random.random())  # noqa: NPY002
    assert before == after
    two, rec2 = augment_audio(y, SR, "strong", 7, irs)
    other, _ = augment_audio(y, SR, "strong", 8, irs)
    assert np.array_equal(one, two) and rec1 == rec2
    assert not np.array_equal(one, other)
    assert one.shape == y.shape and one.dtype == np.float32
    assert augment_audio(y, SR, "none", 7, irs)[0] is y


def test_mix_plan_levels_and_ramps():
    light = mix_plan("light", 0, [0, 1, 9], 10.0)
    assert all(len(curve) == 1 for curve in light.values())  # a level, no ramp
    strong = mix_plan("strong", 0, [0, 1, 9], 10.0)
    assert any(len(curve) > 2 for curve in strong.values())
    assert all(0 <= v <= 127 for c in strong.values() for _, v in c)
    assert mix_plan("strong", 0, [0, 1, 9], 10.0) == strong
    assert mix_plan("none", 0, [0], 10.0) == {}


def test_bad_level_is_refused(tmp_path, capsys):
    assert list(AUGMENT_LEVELS) == ["none", "light", "strong"]
    with pytest.raises(ValueError, match="augment must be one of"):
        render_dataset(tmp_path / "x", n_clips=1, augment="loud", progress=False)
    with pytest.raises(SystemExit):
        main(["render", "--n-clips", "1", "--augment", "loud", "--out", str(tmp_path / "y")])
    assert "invalid choice" in capsys.readouterr().err
