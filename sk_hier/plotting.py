"""Pictures of tagging results: the instrument timeline of a song.

Needs matplotlib (the ``docs`` and ``dev`` extras install it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_timeline"]


def _rows(hierarchy: Any) -> list[tuple[str, bool]]:
    """``(label, is_family)`` top to bottom: each family, then its instruments."""
    rows = []
    for family in hierarchy.levels[0]:
        rows.append((family, bool(hierarchy.children_of(family))))
        rows += [(name, False) for name in hierarchy.descendants_of(family)]
    return rows


def _edges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Cell edges on the time axis: overlapping windows meet halfway between centres."""
    centres = (starts + ends) / 2
    inner = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[starts[0]], inner, [ends[-1]]])


def _clock(seconds: float, _pos: Any = None) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def plot_timeline(
    timeline: Any,
    *,
    ax: Any = None,
    cmap: str = "Greys",
    family_cmap: str = "Blues",
    marker_color: str = "tab:red",
    title: str | None = None,
) -> Any:
    """The instrument timeline of one file: which families and instruments play when.

    One row per instrument, grouped under its family's band (the family's own
    probability, in ``family_cmap``); darker is more probable. A dot marks each
    window in which a label passes its threshold (a predicted tag). Time runs
    left to right in minutes:seconds, so a 3-minute song tagged every few seconds
    stays readable.

    Parameters
    ----------
    timeline : Timeline
        From :func:`sk_hier.pretrained.tag_audio` (or ``sk-hier tag``'s Python side).
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` makes a new figure sized for the taxonomy.
    cmap, family_cmap : str, default="Greys", "Blues"
        Colour maps of instrument rows and family bands (probability 0 to 1).
    marker_color : str, default="tab:red"
        Colour of the predicted-tag marks.
    title : str or None, default=None
        ``None``: the file name.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sk_hier import Hierarchy
    >>> from sk_hier._timeline import Timeline
    >>> h = Hierarchy({"strings": ["violin", "cello"], "brass": ["trumpet"]})
    >>> t = Timeline("song.wav", 20.0, np.array([0.0, 10.0]), np.array([10.0, 20.0]),
    ...              np.random.default_rng(0).random((2, 5)), h, np.full(5, 0.5))
    >>> fig = plot_timeline(t)
    >>> [label.get_text() for label in fig.axes[0].get_yticklabels()]
    ['strings', 'violin', 'cello', 'brass', 'trumpet']
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    h = timeline.hierarchy
    rows = _rows(h)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.2 + 0.22 * len(rows)), layout="constrained")
    cols = [h.index(name) for name, _ in rows]
    values = np.asarray(timeline.proba, dtype=float)[:, cols].T  # (n_rows, n_windows)
    is_family = np.array([fam for _, fam in rows])
    x = _edges(np.asarray(timeline.starts), np.asarray(timeline.ends))
    y = np.arange(len(rows) + 1) - 0.5
    mesh = None
    for mask, colours in ((~is_family, cmap), (is_family, family_cmap)):
        shown = np.ma.masked_array(values, np.broadcast_to(~mask[:, None], values.shape))
        shown = np.ma.masked_invalid(shown)
        m = ax.pcolormesh(x, y, shown, cmap=colours, vmin=0.0, vmax=1.0, shading="flat")
        mesh = m if colours == cmap else mesh
    thr = np.asarray(timeline.thresholds, dtype=float)[cols]
    r, w = np.nonzero(values >= thr[:, None])
    centres = (np.asarray(timeline.starts) + np.asarray(timeline.ends)) / 2
    ax.scatter(centres[w], r, s=14, color=marker_color, zorder=3, label="predicted tag")
    for i in np.flatnonzero(is_family)[1:]:
        ax.axhline(i - 0.5, color="0.3", linewidth=0.8)
    ax.set_yticks(np.arange(len(rows)), [name for name, _ in rows])
    for tick, fam in zip(ax.get_yticklabels(), is_family):
        tick.set_fontweight("bold" if fam else "normal")
        tick.set_fontsize(8 if not fam else 9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(x[0], x[-1])
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.set_xlabel("time (min:s)")
    name = str(timeline.path).replace("\\", "/").rsplit("/", 1)[-1]
    ax.set_title(title if title is not None else f"{name}: instruments over time")
    ax.figure.colorbar(mesh, ax=ax, label="probability (instruments)", fraction=0.03, pad=0.01)
    if len(r):
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    return ax.figure
