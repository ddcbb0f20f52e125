"""``sk-hier tag`` with the pretrained model: no model argument, windows and hops,
CSV / JSON / table output, never an empty answer, warnings, and the timeline picture."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from sk_hier.cli import main
from sk_hier.pretrained import load_pretrained, pretrained_path

pytestmark = pytest.mark.audio
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 12-s rendered clip: two windows of 10 s (the last ending at the end)."""
    from sk_hier.datasets import render_dataset

    folder = tmp_path_factory.mktemp("clip")
    render_dataset(folder, n_clips=1, seed=5, duration=12.0, progress=False)
    return folder / "audio" / "clip_000000.wav"


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return list(load_pretrained()[-1].classes_)


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_tag_with_no_model_writes_csv_and_timeline(clip, labels, tmp_path, capsys):
    out, png = tmp_path / "tags.csv", tmp_path / "t.png"
    code, _, err = _run(capsys, "tag", clip, "--plot", png, "--out", out)
    assert code == 0, err
    assert "pretrained:gm-instruments" in err and str(png) in err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "start", "end", "kind", *labels, "tags", "top"]
    assert [(r["kind"], r["start"], r["end"]) for r in rows] == [
        ("clip", "0.000", "12.000"),
        ("window", "0.000", "10.000"),
        ("window", "2.000", "12.000"),
    ]
    for r in rows:
        top = r["top"].split(";")
        assert len(top) == 3  # never empty, whatever passes the thresholds
        best = max(labels, key=lambda n: float(r[n]))
        assert top[0].split(":")[0] == best
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000
    import matplotlib.image

    height, width = matplotlib.image.imread(png).shape[:2]
    assert width > 1000 and height > 700  # 38 rows must stay readable


def test_json_output_with_hop_and_top(clip, labels, tmp_path, capsys):
    out = tmp_path / "tags.json"
    code, _, err = _run(capsys, "tag", clip, "--window", 4, "--hop", 2, "--top", 5, "--out", out)
    assert code == 0, err
    doc = json.loads(out.read_text())
    assert doc["model"] == "pretrained:gm-instruments" and doc["labels"] == labels
    assert set(doc["thresholds"]) == set(labels) and isinstance(doc["warnings"], list)
    (f,) = doc["files"]
    starts = [w["start"] for w in f["windows"]]
    assert starts == [0.0, 2.0, 4.0, 6.0, 8.0]  # the last window ends at 12 s
    for w in f["windows"]:
        assert len(w["top"]) == 5 and set(w["proba"]) == set(labels)
        ps = [t["p"] for t in w["top"]]
        assert ps == sorted(ps, reverse=True) and ps[0] == max(w["proba"].values())
    clip_p = np.array([f["proba"][n] for n in labels])
    windows_p = np.array([[w["proba"][n] for n in labels] for w in f["windows"]])
    np.testing.assert_allclose(clip_p, windows_p.max(axis=0))


def test_nothing_passing_its_threshold_is_a_warning_not_an_empty_answer(clip, capsys):
    code, out, err = _run(capsys, "tag", clip, "--threshold", 1, "--format", "csv")
    assert code == 0, err
    assert "no label passes its threshold; the most probable are" in err
    row = next(csv.DictReader(out.splitlines()))
    assert row["tags"] == "" and len(row["top"].split(";")) == 3


def test_table_for_a_terminal(clip, capsys):
    code, out, err = _run(capsys, "tag", clip, "--format", "text", "--top", 2)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(str(clip)) and len(lines) == 3
    assert all("tags:" in line for line in lines[1:])


def test_model_from_option_leading_file_or_name(clip, tmp_path, capsys):
    shipped = tmp_path / "copy.skops"
    shutil.copy(pretrained_path(), shipped)
    results = []
    for argv in (
        ("--model", shipped, clip),
        (shipped, clip),
        ("--model", "gm-instruments", clip),
    ):
        code, out, err = _run(capsys, "tag", *argv, "--format", "csv")
        assert code == 0, err
        results.append(next(csv.DictReader(out.splitlines())))
    assert results[0] == results[1] == results[2]
    code, _, err = _run(capsys, "tag", shipped)
    assert code == 1 and "give the audio to tag after it" in err


def test_globs_and_a_model_fit_on_few_clips(clip, tmp_path, capsys):
    from sklearn.pipeline import Pipeline

    from sk_hier import save

    pipe = load_pretrained()
    small = Pipeline(pipe.steps)  # the same model, said to be fit on 40 clips
    path = save(small, tmp_path / "small.skops", {"training_data": {"n_clips": 40}})
    for name in ("a.wav", "b.wav"):
        shutil.copy(clip, tmp_path / name)
    code, out, err = _run(capsys, "tag", "--model", path, str(tmp_path / "*.wav"),
                          "--format", "csv", "--window", 0)  # fmt: skip
    assert code == 0, err
    assert "warning: the model was fit on 40 clips" in err
    assert [Path(r["path"]).name for r in csv.DictReader(out.splitlines())] == ["a.wav", "b.wav"]


def test_outputs_are_checked_before_any_work(clip, tmp_path, capsys):
    before = clip.read_bytes()
    code, _, err = _run(capsys, "tag", clip, "--plot", clip.with_suffix(".png"), "--out", clip)
    assert code == 1 and "is also an input" in err
    code, _, err = _run(capsys, "tag", clip, "--plot", tmp_path / "t.gif")
    assert code == 1 and "--plot" in err and ".png" in err
    code, _, err = _run(capsys, "tag", clip, "--hop", 0)
    assert code == 1 and "--hop must be > 0" in err
    code, _, err = _run(capsys, "tag", clip, "--top", 0)
    assert code == 1 and "--top must be at least 1" in err
    code, _, err = _run(capsys, "tag", clip, "--model", "no-such-model")
    assert code == 1 and "no-such-model" in err
    assert clip.read_bytes() == before
