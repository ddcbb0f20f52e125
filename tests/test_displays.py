"""Per-level reliability and precision-recall Displays: the artists they draw."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from sk_hier import BottomUpClassifier
from sk_hier.calibration import HierarchicalCalibrator, level_calibration_curve, level_ece
from sk_hier.displays import LevelCalibrationDisplay, LevelPrecisionRecallDisplay

mpl = pytest.importorskip("matplotlib")
mpl.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def fitted(data):
    X, Y, tree = data
    model = BottomUpClassifier(LogisticRegression(max_iter=1000), hierarchy=tree)
    return model.fit(X[:300], Y[:300]), X[300:], Y[300:], tree


def test_reliability_display_draws_one_curve_per_level(fitted):
    model, X, Y, tree = fitted
    disp = LevelCalibrationDisplay.from_estimator(model, X, Y, n_bins=10)
    assert len(disp.lines_) == tree.n_levels == 2
    P = model.predict_proba(X)
    for depth, line in enumerate(disp.lines_):
        ece = level_ece(Y, P, tree, level=depth, n_bins=10)
        assert line.get_label() == f"BottomUpClassifier, depth {depth} (ECE = {ece:.3f})"
        prob_true, prob_pred, _ = level_calibration_curve(Y, P, tree, level=depth, n_bins=10)
        np.testing.assert_array_equal(line.get_xdata(), prob_pred)
        np.testing.assert_array_equal(line.get_ydata(), prob_true)
        assert line.get_marker() == "s"
    assert disp.ref_line_.get_label() == "Perfectly calibrated"
    np.testing.assert_array_equal(disp.ref_line_.get_xdata(), [0, 1])
    assert disp.ax_.get_xlim() == (-0.02, 1.02) and disp.ax_.get_ylim() == (-0.02, 1.02)
    assert disp.ax_.get_xlabel() == "Mean predicted probability"
    assert disp.ax_.get_ylabel() == "Fraction of positives"
    legend = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert legend == ["Perfectly calibrated"] + [line.get_label() for line in disp.lines_]
    assert disp.figure_ is disp.ax_.figure
    assert len(disp.ax_.get_lines()) == 3


def test_before_and_after_calibration_share_one_axes(fitted, data):
    model, X, Y, _ = fitted
    cal = HierarchicalCalibrator(clone(model), cv=3).fit(data[0][:300], data[1][:300])
    _, ax = plt.subplots()
    first = LevelCalibrationDisplay.from_estimator(model, X, Y, levels="leaf", ax=ax, name="raw")
    second = LevelCalibrationDisplay.from_estimator(
        cal, X, Y, levels="leaf", ax=ax, ref_line=False
    )
    assert first.ax_ is second.ax_ is ax and second.ref_line_ is None
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0] == "Perfectly calibrated" and len(labels) == 3
    assert labels[1].startswith("raw, leaf (ECE = ")
    assert labels[2].startswith("HierarchicalCalibrator, leaf (ECE = ")


def test_plot_again_with_style_keywords(fitted):
    model, X, Y, _ = fitted
    disp = LevelCalibrationDisplay.from_estimator(model, X, Y, strategy="quantile", levels=[1])
    disp.plot(name="again", linestyle="--", alpha=0.5)
    assert len(disp.lines_) == 1
    assert disp.lines_[0].get_linestyle() == "--" and disp.lines_[0].get_alpha() == 0.5
    assert disp.lines_[0].get_label().startswith("again, depth 1 (ECE = ")


def test_precision_recall_display_draws_one_curve_per_level(fitted):
    from sklearn.metrics import average_precision_score

    model, X, Y, tree = fitted
    disp = LevelPrecisionRecallDisplay.from_estimator(model, X, Y, levels=["parent", "leaf"])
    assert len(disp.lines_) == 2
    P = model.predict_proba(X)
    parents = [tree.index(n) for n in tree.inner]
    ap = average_precision_score(Y[:, parents].ravel(), P[:, parents].ravel())
    assert disp.lines_[0].get_label() == f"BottomUpClassifier, parent (AP = {ap:.3f})"
    assert disp.lines_[1].get_label().startswith("BottomUpClassifier, leaf (AP = ")
    for line in disp.lines_:
        x, y = line.get_xdata(), line.get_ydata()
        assert x.min() == 0 and x.max() == 1 and ((y >= 0) & (y <= 1)).all()
        assert line.get_drawstyle() == "steps-post"
    assert disp.ax_.get_xlim() == (-0.01, 1.01) and disp.ax_.get_ylim() == (-0.01, 1.01)
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("Recall", "Precision")


def test_from_predictions_without_an_estimator():
    Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, np.nan]])
    S = np.array([[0.9, 0.8, 0.1], [0.6, 0.3, 0.7], [0.2, 0.1, 0.2], [0.7, 0.6, 0.9]])
    h = {"strings": ["violin", "cello"]}
    rel = LevelCalibrationDisplay.from_predictions(Y, S, h, n_bins=2, levels=1)
    # The 7 known leaf entries pooled: [0, .5) all negative at mean .175, [.5, 1] all
    # positive at mean .7.
    np.testing.assert_allclose(rel.lines_[0].get_xdata(), [0.175, 0.7])
    np.testing.assert_allclose(rel.lines_[0].get_ydata(), [0.0, 1.0])
    assert rel.lines_[0].get_label() == "depth 1 (ECE = 0.225)"
    pr = LevelPrecisionRecallDisplay.from_predictions(Y, S, h)
    assert [line.get_label() for line in pr.lines_] == [
        "depth 0 (AP = 1.000)",
        "depth 1 (AP = 1.000)",
    ]


def test_a_level_without_positives_has_no_precision_recall_curve():
    Y = np.array([[1, 0, 0], [0, 0, 0]])
    S = np.array([[0.9, 0.2, 0.1], [0.2, 0.1, 0.3]])
    with pytest.raises(ValueError, match="level 'depth 1' has no known positive"):
        LevelPrecisionRecallDisplay.from_predictions(Y, S, {"strings": ["violin", "cello"]})


def test_bad_level_is_named():
    with pytest.raises(ValueError, match="level 5 is out of range"):
        LevelCalibrationDisplay.from_predictions(np.ones((2, 1)), np.ones((2, 1)), levels=5)


def test_without_matplotlib_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'sk-hier\[plot\]'"):
        LevelCalibrationDisplay.from_predictions(np.ones((2, 1)), np.ones((2, 1)))
