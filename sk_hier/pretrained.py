"""Pretrained instrument taggers that ship inside the package.

Each model is a fitted scikit-learn ``Pipeline``: a
:class:`~sk_hier.embeddings.MusicnnEmbedder` (so it takes audio files or
waveforms), a ``StandardScaler`` and a :class:`~sk_hier.HierarchicalTagger` over the
26-instrument, 12-family General MIDI taxonomy; ``pipeline[1:]`` takes musicnn
embeddings. It is stored as a ``.skops`` file in ``sk_hier/pretrained_models/`` and
loads through :func:`sk_hier.load`, which unpickles nothing; the musicnn weights
load from package data when the embedder first runs. Nothing is downloaded. Beside
each model, ``<name>.json`` is its model card: training data, taxonomy, held-out
figures, thresholds, intended use and limits (:func:`model_card`).

``scripts/build_pretrained.py`` (``make pretrained``) builds them from scratch.

Examples
--------
>>> from sk_hier.pretrained import list_pretrained, model_card
>>> "gm-instruments" in list_pretrained()
True
>>> model_card("gm-instruments")["taxonomy"]["n_instruments"]
26
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._timeline import MIN_TRUSTED_CLIPS, Tagger, Timeline, tag_audio, windows

__all__ = [
    "DEFAULT_MODEL",
    "MIN_TRUSTED_CLIPS",
    "MODELS_DIR",
    "Tagger",
    "Timeline",
    "list_pretrained",
    "load_pretrained",
    "model_card",
    "pretrained_path",
    "tag_audio",
    "windows",
]

MODELS_DIR = Path(__file__).parent / "pretrained_models"
DEFAULT_MODEL = "gm-instruments"


def list_pretrained() -> list[str]:
    """Names of the pretrained models that ship with this installation.

    A model ships as ``<name>.skops`` with its card ``<name>.json``.

    Examples
    --------
    >>> from sk_hier.pretrained import list_pretrained
    >>> list_pretrained()
    ['gm-instruments']
    """
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.stem for p in MODELS_DIR.glob("*.skops") if p.with_suffix(".json").is_file())


def pretrained_path(name: str = DEFAULT_MODEL) -> Path:
    """The ``.skops`` file of pretrained model ``name``.

    Raises
    ------
    ValueError
        No model of that name ships here (the message lists those that do, and how to
        build them).
    """
    shipped = list_pretrained()
    if name not in shipped:
        have = ", ".join(shipped) if shipped else "none"
        raise ValueError(
            f"No pretrained model named {name!r} ships with sk_hier (shipped: {have}). "
            "Pick one of list_pretrained(), or build it from a source checkout with "
            "`make pretrained`."
        )
    return MODELS_DIR / f"{name}.skops"


def model_card(name: str = DEFAULT_MODEL) -> dict:
    """The model card of pretrained model ``name``, as a dict.

    Keys: ``name``, ``summary``, ``pipeline``, ``training_data`` (sources, lineage
    groups, clips, augmentation, seeds), ``taxonomy``, ``held_out`` (per-level and
    per-instrument average precision on held-out source groups), ``in_domain``
    (including the floor the test suite asserts), ``thresholds``, ``intended_use``,
    ``limits``, ``licences``, ``speed`` and ``build`` (the command that rebuilt it).

    Examples
    --------
    >>> from sk_hier.pretrained import model_card
    >>> card = model_card()
    >>> sorted(card["held_out"]["mean_ap"])
    ['leaf', 'parent']
    """
    path = pretrained_path(name).with_suffix(".json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"The model card {path} cannot be read ({exc}); reinstall sk_hier or rebuild "
            "the model with `make pretrained`."
        ) from None


def load_pretrained(name: str = DEFAULT_MODEL, *, device: str | None = None) -> Any:
    """The fitted pretrained Pipeline ``name``: audio in, probabilities of every node out.

    Parameters
    ----------
    name : str, default="gm-instruments"
        One of :func:`list_pretrained`.
    device : str or None, default=None
        Torch device of the tagger's network (``"cpu"``, ``"cuda:0"``).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``embed`` (MusicnnEmbedder), ``scale`` (StandardScaler) and ``tagger``
        (HierarchicalTagger). ``predict_proba`` takes audio paths (or waveforms at the
        embedder's ``sample_rate``); ``pipeline[1:]`` takes 953-d musicnn
        embeddings. Its card is also its ``model_card_`` attribute.

    Raises
    ------
    ValueError
        An unknown name (the message lists the shipped ones).

    See Also
    --------
    tag_audio : per-window probabilities of a file, as a :class:`Timeline`.
    sk_hier.plotting.plot_timeline : its picture.

    Examples
    --------
    >>> from sk_hier.pretrained import load_pretrained
    >>> pipe = load_pretrained()
    >>> [name for name, _ in pipe.steps]
    ['embed', 'scale', 'tagger']
    >>> len(pipe[-1].classes_)
    38
    """
    from .persistence import load

    path = pretrained_path(name)
    # Only the .skops path: the loader audits every name the file holds and unpickles
    # nothing, so a shipped file cannot run code.
    pipeline = load(path, device=device, allow_pickle=False)
    pipeline.model_card_ = model_card(name)
    return pipeline


def pretrained_tagger(
    name: str = DEFAULT_MODEL, *, threshold: float | None = None, device: str | None = None
) -> Tagger:
    """The pretrained model split for tagging (what ``sk-hier tag`` uses)."""
    pipeline = load_pretrained(name, device=device)
    return Tagger.from_model(pipeline, threshold=threshold)
