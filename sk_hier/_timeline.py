"""Tag audio over time: per-window probabilities of every node of a fitted tagger.

:func:`tag_audio` cuts each file into windows (``window`` seconds, every ``hop``
seconds, the last one ending at the end of the file), embeds each window with the
model's own embedder and returns a :class:`Timeline` per file: the probabilities, the
thresholded tags, the top nodes, a DataFrame view and a picture
(:func:`sk_hier.plotting.plot_timeline`). ``sk-hier tag`` and
:mod:`sk_hier.pretrained` both tag through here.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .hierarchy import Hierarchy

__all__ = [
    "MIN_TRUSTED_CLIPS",
    "Tagger",
    "Timeline",
    "tag_audio",
    "windows",
]

#: Below this many training clips a tagger has heard too few timbres to be trusted
#: on other audio (the README walk-through model, 40 clips, tags real recordings with
#: nothing; one fit on 600 clips of one soundfont names the wrong instruments).
MIN_TRUSTED_CLIPS = 1000


def windows(duration: float, window: float, hop: float | None = None) -> list[tuple[float, float]]:
    """``(start, end)`` of the windows of a clip: one every ``hop`` seconds (default
    ``window``: back to back), the last one ending at the end of the clip; none when
    the clip fits in one window (or ``window == 0``).

    Examples
    --------
    >>> windows(25.0, 10.0)
    [(0.0, 10.0), (10.0, 20.0), (15.0, 25.0)]
    >>> windows(20.0, 10.0, hop=5.0)
    [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0)]
    >>> windows(8.0, 10.0)
    []
    """
    if window <= 0 or duration <= window:
        return []
    step = window if hop is None else hop
    if not step > 0:
        raise ValueError(f"hop must be > 0 seconds, got {hop}.")
    # Round so that float steps (0.1 s) do not leave a sliver window at the end.
    starts = [s for s in np.arange(0.0, duration - window, step) if s + 1e-9 < duration - window]
    return [(float(s), float(s) + window) for s in starts] + [(duration - window, duration)]


@dataclass(frozen=True)
class Timeline:
    """The probabilities of every node of a tagger over the windows of one file.

    Attributes
    ----------
    path : str
        The audio file (or a name given to a waveform).
    duration : float
        Its length in seconds.
    starts, ends : ndarray of shape (n_windows,)
        Window bounds in seconds; one window spanning the file when it fits in one.
    proba : ndarray of shape (n_windows, n_labels)
        Probabilities in ``hierarchy.labels`` order (NaN for a window that could
        not be embedded, e.g. silent).
    hierarchy : Hierarchy
        The label tree of the tagger.
    thresholds : ndarray of shape (n_labels,)
        The decision threshold of each label.
    """

    path: str
    duration: float
    starts: np.ndarray
    ends: np.ndarray
    proba: np.ndarray
    hierarchy: Hierarchy
    thresholds: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def labels(self) -> tuple[str, ...]:
        """Node names, in the column order of ``proba``."""
        return tuple(self.hierarchy.labels)

    @property
    def clip_proba(self) -> np.ndarray:
        """Per label, the highest probability of any window: a label is in the file if
        it is in one of its windows."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column stays NaN
            return np.nanmax(self.proba, axis=0)

    def tags(self, window: int | None = None) -> list[str]:
        """Labels at or above their threshold in ``window`` (``None``: the whole file)."""
        p = self.clip_proba if window is None else self.proba[window]
        return [n for n, v, t in zip(self.labels, p, self.thresholds) if v >= t]

    def top(self, k: int = 3, window: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` most probable nodes of ``window`` (``None``: the whole file)."""
        p = self.clip_proba if window is None else self.proba[window]
        order = [i for i in np.argsort(-np.nan_to_num(p, nan=-1.0), kind="stable")]
        return [(self.labels[i], float(p[i])) for i in order[:k] if not np.isnan(p[i])]

    def to_frame(self) -> Any:
        """The probabilities as a DataFrame: one row per window (``start``, ``end``),
        columns ``(family, instrument)``; a family's own probability is under
        ``(family, "")``.

        Examples
        --------
        >>> import numpy as np
        >>> from sk_hier import Hierarchy
        >>> h = Hierarchy({"strings": ["violin"]})
        >>> t = Timeline("a.wav", 4.0, np.array([0.0]), np.array([4.0]),
        ...              np.array([[0.9, 0.8]]), h, np.array([0.5, 0.5]))
        >>> t.to_frame().columns.tolist()
        [('strings', ''), ('strings', 'violin')]
        """
        import pandas as pd

        h = self.hierarchy
        columns = []
        for name in self.labels:
            chain = (*reversed(h.ancestors_of(name)), name)
            columns.append((chain[0], "/".join(chain[1:])))
        index = pd.MultiIndex.from_arrays([self.starts, self.ends], names=["start", "end"])
        frame = pd.DataFrame(self.proba, index=index, columns=pd.MultiIndex.from_tuples(columns))
        frame.columns.names = ["family", "instrument"]
        return frame.sort_index(axis=1, level=0, sort_remaining=False)

    def plot(self, **kwargs: Any) -> Any:
        """:func:`sk_hier.plotting.plot_timeline` of this timeline; returns the figure."""
        from .plotting import plot_timeline

        return plot_timeline(self, **kwargs)


def _fitted_tree_and_thresholds(model: Any, threshold: float | None) -> tuple:
    from ._base import thresholds_of

    final = model[-1] if hasattr(model, "steps") else model
    inner = getattr(final, "estimator_", final)  # TunedThresholds, calibrated models
    inner = inner[-1] if hasattr(inner, "steps") else inner
    hierarchy = getattr(final, "hierarchy_", None) or getattr(inner, "hierarchy_", None)
    if hierarchy is None or getattr(inner, "target_type_", "multilabel") != "multilabel":
        raise ValueError(
            f"{type(model).__name__} is not a fitted multi-label tagger (no label tree); "
            "tagging needs a model trained on multi-label targets."
        )
    n = len(hierarchy.labels)
    if threshold is not None:
        thr = np.full(n, float(threshold))
    elif getattr(final, "thresholds_", None) is not None:
        thr = np.asarray(final.thresholds_, dtype=float)
    else:
        thr = thresholds_of(final, n)
    return Hierarchy(hierarchy), thr


def _tagging_embedder(embedder: Any) -> Any:
    """A copy of ``embedder`` for tagging: waveforms at its own rate, bad ones skipped."""
    from sklearn.base import clone

    tagging = clone(embedder).set_params(
        progress=False, on_error="skip", n_jobs=None, cache_dir=None
    )
    tagging.set_params(sample_rate=tagging.target_sr)  # it gets loaded waveforms
    return tagging.fit(None)


@dataclass
class Tagger:
    """A fitted model split for tagging: its embedder, the part that takes embeddings,
    the label tree and thresholds, and how many clips it was trained on (if known).

    Build one with :meth:`from_model`.
    """

    embedder: Any
    head: Any
    hierarchy: Hierarchy
    thresholds: np.ndarray
    n_training_clips: int | None = None

    @classmethod
    def from_model(
        cls,
        model: Any,
        embedder: Any = None,
        threshold: float | None = None,
        n_training_clips: int | None = None,
    ) -> Tagger:
        """Split ``model``: a Pipeline whose first step is an audio embedder (as
        :func:`sk_hier.pretrained.load_pretrained` returns), or a tagger of
        embeddings with the ``embedder`` that made its training features."""
        from .embeddings import AudioEmbedder

        head = model
        if hasattr(model, "steps") and isinstance(model.steps[0][1], AudioEmbedder):
            embedder, head = model.steps[0][1], model[1:]
        if embedder is None:
            raise ValueError(
                f"{type(model).__name__} takes embeddings, not audio, and no embedder was "
                "given: pass embedder=, or use a Pipeline whose first step is one."
            )
        hierarchy, thr = _fitted_tree_and_thresholds(model, threshold)
        if n_training_clips is None:
            card = getattr(model, "model_card_", None) or {}
            n_training_clips = (card.get("training_data") or {}).get("n_clips")
        return cls(_tagging_embedder(embedder), head, hierarchy, thr, n_training_clips)

    def model_warnings(self) -> list[str]:
        """Why the answers of this model may not be trusted (empty when none)."""
        n = self.n_training_clips
        if n is not None and n < MIN_TRUSTED_CLIPS:
            return [
                f"the model was fit on {n} clips; taggers fit on fewer than "
                f"{MIN_TRUSTED_CLIPS} have heard too few timbres to be trusted on other "
                "audio (read its probabilities as a guess; the pretrained model is "
                "`sk-hier tag` without --model)"
            ]
        return []

    def tag_file(
        self, path: str | os.PathLike, window: float = 10.0, hop: float | None = None
    ) -> Timeline:
        """The :class:`Timeline` of one audio file.

        Raises
        ------
        BadAudioError
            The file cannot be read, or holds no audio that can be embedded.
        """
        from .embeddings import load_audio

        audio, _ = load_audio(path, sr=self.embedder.target_sr)
        return self.tag_waveform(audio, str(path), window, hop)

    def tag_waveform(
        self, audio: np.ndarray, name: str, window: float = 10.0, hop: float | None = None
    ) -> Timeline:
        """The :class:`Timeline` of a mono waveform at ``embedder.target_sr``."""
        from .embeddings import BadAudioError, SkippedAudioWarning

        sr = self.embedder.target_sr
        duration = len(audio) / sr
        spans = windows(duration, window, hop) or [(0.0, duration)]
        pieces = [audio[round(a * sr) : round(b * sr)] for a, b in spans]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedAudioWarning)
            X = self.embedder.transform(pieces)
        kept = self.embedder.kept_indices_
        if len(kept) == 0:
            skipped = self.embedder.skipped_
            raise BadAudioError(name, skipped[0][1] if skipped else "cannot be embedded")
        proba = np.full((len(spans), len(self.hierarchy.labels)), np.nan)
        proba[kept] = self.head.predict_proba(X)
        starts, ends = (np.array(v, dtype=float) for v in zip(*spans))
        timeline = Timeline(name, duration, starts, ends, proba, self.hierarchy, self.thresholds)
        if not timeline.tags():
            best = ", ".join(f"{n} {p:.2f}" for n, p in timeline.top(3))
            timeline.warnings.append(
                f"{name}: no label passes its threshold; the most probable are {best}"
            )
        return timeline


def tag_audio(
    model: Any,
    audio: str | os.PathLike | list,
    *,
    window: float = 10.0,
    hop: float | None = None,
    threshold: float | None = None,
    embedder: Any = None,
) -> Timeline | list[Timeline]:
    """Tag audio files over time with a fitted model.

    Parameters
    ----------
    model : estimator
        A Pipeline whose first step is an audio embedder (e.g.
        :func:`sk_hier.pretrained.load_pretrained`), or a fitted tagger of embeddings
        together with ``embedder``.
    audio : path-like or list of path-like
        Audio file(s).
    window : float, default=10.0
        Window length in seconds (0: whole files).
    hop : float or None, default=None
        Seconds between window starts (``None``: ``window``, back to back).
    threshold : float or None, default=None
        One threshold for every label; ``None``: the model's own.
    embedder : AudioEmbedder or None, default=None
        The embedder of the model's training features, when ``model`` takes embeddings.

    Returns
    -------
    Timeline or list of Timeline
        One per file (a single one for a single path).

    Warns
    -----
    UserWarning
        When the model was fit on too few clips to be trusted, or when no label of a
        file passes its threshold (the top nodes are named).

    See Also
    --------
    sk_hier.plotting.plot_timeline : the picture of a timeline.
    """
    tagger = Tagger.from_model(model, embedder=embedder, threshold=threshold)
    single = isinstance(audio, str | os.PathLike)
    paths = [audio] if single else list(audio)
    for message in tagger.model_warnings():
        warnings.warn(message, UserWarning, stacklevel=2)
    out = []
    for path in paths:
        timeline = tagger.tag_file(Path(path), window, hop)
        for message in timeline.warnings:
            warnings.warn(message, UserWarning, stacklevel=2)
        out.append(timeline)
    return out[0] if single else out
