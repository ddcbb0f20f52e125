"""Plots per level of the tree, in scikit-learn's Display style.

:class:`LevelCalibrationDisplay` draws one reliability curve per level (the known
entries of the level's labels pooled), :class:`LevelPrecisionRecallDisplay` one
precision–recall curve per level. Build them with ``from_estimator`` or
``from_predictions``; ``plot(ax=...)`` draws (again) on given axes. matplotlib is
an optional dependency (``pip install sk-hier[plot]``), imported only to plot.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._calibration_metrics import _known, level_calibration_curve, level_ece
from ._level_metrics import LevelSpec, check_pair, columns
from ._params import check_sample_weight
from .targets import encode_targets

__all__ = ["LevelCalibrationDisplay", "LevelPrecisionRecallDisplay"]


def _pyplot(what: str):
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            f"{what} needs matplotlib, an optional dependency: pip install 'sk-hier[plot]' "
            "(or pip install matplotlib)."
        ) from None
    return plt


def _level_names(hierarchy, levels) -> tuple[list, list]:
    """(level specs, their display names): every depth by default."""
    if levels is None:
        levels = list(range(hierarchy.n_levels))
    elif isinstance(levels, str | int | np.integer):
        levels = [levels]
    levels = list(levels)
    for level in levels:
        columns(hierarchy, level)  # raises on a bad level, naming it
    return levels, [f"depth {lv}" if not isinstance(lv, str) else lv for lv in levels]


def _from_estimator_data(estimator: Any, X: Any, y: Any):
    from .metrics import _fitted_hierarchy

    hierarchy = _fitted_hierarchy(estimator)
    Y, _ = encode_targets(y, hierarchy, inconsistent="propagate")
    return Y, np.asarray(estimator.predict_proba(X), dtype=float), hierarchy


def _legend_label(name: str | None, level: str, figure: str, value: float) -> str:
    prefix = f"{name}, " if name else ""
    return f"{prefix}{level} ({figure} = {value:.3f})"


class LevelCalibrationDisplay:
    """Reliability diagram with one curve per level of the tree.

    Each curve pools the known (sample, label) entries of one level and plots, per
    non-empty bin, the fraction of positives against the mean predicted probability
    (:func:`sk_hier.calibration.level_calibration_curve`); a calibrated level lies on
    the diagonal. The legend gives each level's ECE
    (:func:`sk_hier.calibration.level_ece`: the mean over the level's labels, so it
    can differ from the distance of the pooled curve to the diagonal).

    .. versionadded:: 0.1

    Parameters
    ----------
    prob_true, prob_pred : list of ndarray
        Per level: fraction of positives and mean probability of every non-empty bin.
    levels : list of str
        Display name of every level.
    ece : list of float
        Per level: its ECE.
    estimator_name : str or None, default=None
        Prefix of the legend labels.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One curve per level.
    ref_line_ : matplotlib Line2D or None
        The diagonal (perfect calibration), if drawn.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    sklearn.calibration.CalibrationDisplay : the one-label version.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sk_hier.displays import LevelCalibrationDisplay
    >>> h = {"strings": ["violin", "cello"]}
    >>> Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 0]])
    >>> S = np.array([[.9, .8, .1], [.6, .3, .7], [.2, .1, .2], [.7, .6, .1]])
    >>> disp = LevelCalibrationDisplay.from_predictions(Y, S, h, n_bins=2)
    >>> len(disp.lines_), disp.lines_[0].get_label()
    (2, 'depth 0 (ECE = 0.250)')
    """

    def __init__(
        self,
        prob_true: list,
        prob_pred: list,
        levels: list,
        ece: list,
        *,
        estimator_name: str | None = None,
    ) -> None:
        self.prob_true = prob_true
        self.prob_pred = prob_pred
        self.levels = levels
        self.ece = ece
        self.estimator_name = estimator_name

    def plot(
        self, *, ax: Any = None, name: str | None = None, ref_line: bool = True, **kwargs: Any
    ) -> LevelCalibrationDisplay:
        """Draw the curves (and the diagonal) on ``ax`` (a new figure when None).

        ``kwargs`` go to every ``ax.plot`` of a curve (e.g. ``linestyle``, ``alpha``).

        Returns
        -------
        self : LevelCalibrationDisplay
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        self.ax_ = plt.subplots()[1] if ax is None else ax
        self.figure_ = self.ax_.figure
        name = self.estimator_name if name is None else name
        self.ref_line_ = None
        if ref_line:
            (self.ref_line_,) = self.ax_.plot([0, 1], [0, 1], "k:", label="Perfectly calibrated")
        self.lines_ = []
        for true, pred, level, ece in zip(self.prob_true, self.prob_pred, self.levels, self.ece):
            style = {"marker": "s", "linestyle": "-", **kwargs}
            label = _legend_label(name, level, "ECE", ece)
            self.lines_.append(self.ax_.plot(pred, true, label=label, **style)[0])
        self.ax_.set(
            xlabel="Mean predicted probability",
            ylabel="Fraction of positives",
            xlim=(-0.02, 1.02),
            ylim=(-0.02, 1.02),
        )
        self.ax_.legend(loc="lower right")
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_prob: Any,
        hierarchy: Any = None,
        *,
        levels: LevelSpec | list | None = None,
        n_bins: int = 15,
        strategy: str = "uniform",
        sample_weight: Any = None,
        name: str | None = None,
        ax: Any = None,
        ref_line: bool = True,
        **kwargs: Any,
    ) -> LevelCalibrationDisplay:
        """Reliability curves from targets and probabilities; plots them.

        Parameters
        ----------
        y_true : array-like of shape (n_samples, n_labels) or any accepted target
            0/1 targets, NaN for unknown.
        y_prob : array-like of shape (n_samples, n_labels)
            Probabilities in ``hierarchy.labels`` order.
        hierarchy : Hierarchy, dict, list or None
        levels : int, str, list of them, or None, default=None
            Levels to draw (``"leaf"``, ``"parent"``, ``"all"`` or depths); ``None``:
            every depth.
        n_bins, strategy : as in :func:`sk_hier.calibration.level_ece`.
        sample_weight : array-like of shape (n_samples,), default=None
        name : str or None, default=None
            Legend prefix.
        ax : matplotlib Axes, default=None
        ref_line : bool, default=True
            Draw the diagonal.
        **kwargs
            Passed to every curve's ``ax.plot``.

        Returns
        -------
        display : LevelCalibrationDisplay
        """
        _pyplot(f"{cls.__name__}.from_predictions")
        Y, S, hierarchy = check_pair(y_true, y_prob, hierarchy, "y_prob")
        specs, names = _level_names(hierarchy, levels)
        opts = dict(n_bins=n_bins, strategy=strategy, sample_weight=sample_weight)
        curves = [level_calibration_curve(Y, S, hierarchy, level=lv, **opts) for lv in specs]
        ece = [level_ece(Y, S, hierarchy, level=lv, **opts) for lv in specs]
        disp = cls([c[0] for c in curves], [c[1] for c in curves], names, ece, estimator_name=name)
        return disp.plot(ax=ax, ref_line=ref_line, **kwargs)

    @classmethod
    def from_estimator(
        cls, estimator: Any, X: Any, y: Any, *, name: str | None = None, **kwargs: Any
    ) -> LevelCalibrationDisplay:
        """Reliability curves of a fitted estimator's ``predict_proba`` on ``(X, y)``.

        ``y`` takes any target format ``fit`` accepts (encoded with the estimator's
        ``hierarchy_``); ``name`` defaults to the estimator's class name; the other
        keywords are those of :meth:`from_predictions`.

        Returns
        -------
        display : LevelCalibrationDisplay
        """
        _pyplot(f"{cls.__name__}.from_estimator")
        Y, S, hierarchy = _from_estimator_data(estimator, X, y)
        name = type(estimator).__name__ if name is None else name
        return cls.from_predictions(Y, S, hierarchy, name=name, **kwargs)


class LevelPrecisionRecallDisplay:
    """Precision–recall curves, one per level of the tree.

    Each curve pools the known (sample, label) entries of one level (the micro
    average): precision and recall of ``score >= t`` over all thresholds ``t``, as
    :func:`sklearn.metrics.precision_recall_curve` computes them. The legend gives
    the average precision of the same pooled entries (micro AP; the estimators'
    ``score`` uses the macro AP, the mean over labels).

    .. versionadded:: 0.1

    Parameters
    ----------
    precision, recall : list of ndarray
        Per level, as returned by ``precision_recall_curve``.
    levels : list of str
        Display name of every level.
    average_precision : list of float
        Per level: the micro average precision.
    estimator_name : str or None, default=None
        Prefix of the legend labels.

    Attributes
    ----------
    lines_ : list of matplotlib Line2D
        One curve per level.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    sklearn.metrics.PrecisionRecallDisplay : the one-label version.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sk_hier.displays import LevelPrecisionRecallDisplay
    >>> h = {"strings": ["violin", "cello"]}
    >>> Y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 0]])
    >>> S = np.array([[.9, .8, .1], [.6, .3, .7], [.2, .1, .2], [.7, .6, .1]])
    >>> disp = LevelPrecisionRecallDisplay.from_predictions(Y, S, h, levels=["parent", "leaf"])
    >>> [line.get_label() for line in disp.lines_]
    ['parent (AP = 1.000)', 'leaf (AP = 1.000)']
    """

    def __init__(
        self,
        precision: list,
        recall: list,
        levels: list,
        average_precision: list,
        *,
        estimator_name: str | None = None,
    ) -> None:
        self.precision = precision
        self.recall = recall
        self.levels = levels
        self.average_precision = average_precision
        self.estimator_name = estimator_name

    def plot(
        self, *, ax: Any = None, name: str | None = None, **kwargs: Any
    ) -> LevelPrecisionRecallDisplay:
        """Draw the curves on ``ax`` (a new figure when None).

        ``kwargs`` go to every curve's ``ax.plot``.

        Returns
        -------
        self : LevelPrecisionRecallDisplay
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        self.ax_ = plt.subplots()[1] if ax is None else ax
        self.figure_ = self.ax_.figure
        name = self.estimator_name if name is None else name
        self.lines_ = []
        for p, r, level, ap in zip(
            self.precision, self.recall, self.levels, self.average_precision
        ):
            label = _legend_label(name, level, "AP", ap)
            style = {"drawstyle": "steps-post", **kwargs}
            self.lines_.append(self.ax_.plot(r, p, label=label, **style)[0])
        self.ax_.set(xlabel="Recall", ylabel="Precision", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
        self.ax_.legend(loc="lower left")
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_score: Any,
        hierarchy: Any = None,
        *,
        levels: LevelSpec | list | None = None,
        sample_weight: Any = None,
        name: str | None = None,
        ax: Any = None,
        **kwargs: Any,
    ) -> LevelPrecisionRecallDisplay:
        """Precision–recall curves from targets and scores; plots them.

        Arguments as in :meth:`LevelCalibrationDisplay.from_predictions` (scores
        need not be probabilities here). A level without a known positive has no
        curve: it raises, naming the level.

        Returns
        -------
        display : LevelPrecisionRecallDisplay
        """
        from sklearn.metrics import average_precision_score, precision_recall_curve

        _pyplot(f"{cls.__name__}.from_predictions")
        Y, S, hierarchy = check_pair(y_true, y_score, hierarchy)
        w = check_sample_weight(sample_weight, len(Y))
        specs, names = _level_names(hierarchy, levels)
        precision, recall, ap = [], [], []
        for spec, level in zip(specs, names):
            y, s, wk = _known(Y, S, columns(hierarchy, spec), w)
            if not np.any(y == 1):
                raise ValueError(
                    f"level {level!r} has no known positive target: its precision-recall "
                    "curve is undefined. Leave it out with levels=[...]."
                )
            p, r, _ = precision_recall_curve(y, s, sample_weight=wk)
            precision.append(p)
            recall.append(r)
            ap.append(float(average_precision_score(y, s, sample_weight=wk)))
        disp = cls(precision, recall, names, ap, estimator_name=name)
        return disp.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(
        cls, estimator: Any, X: Any, y: Any, *, name: str | None = None, **kwargs: Any
    ) -> LevelPrecisionRecallDisplay:
        """Precision–recall curves of a fitted estimator's ``predict_proba``.

        As :meth:`LevelCalibrationDisplay.from_estimator`.

        Returns
        -------
        display : LevelPrecisionRecallDisplay
        """
        _pyplot(f"{cls.__name__}.from_estimator")
        Y, S, hierarchy = _from_estimator_data(estimator, X, y)
        name = type(estimator).__name__ if name is None else name
        return cls.from_predictions(Y, S, hierarchy, name=name, **kwargs)
