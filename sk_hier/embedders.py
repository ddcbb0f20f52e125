"""The registry of embedders: the one source of their names, without importing them.

``sk-hier embed --embedder NAME``, the benchmark and :func:`sk_hier.embeddings.make_embedder`
read it. Embedders are named by import path and loaded only when used, so listing
them costs nothing (the command line's ``--help`` stays fast).

Adding an embedder is one module with an :class:`~sk_hier.embeddings.AudioEmbedder`
subclass and one :func:`register_embedder` call.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EMBEDDERS", "EmbedderEntry", "embedder_names", "register_embedder"]


@dataclass(frozen=True)
class EmbedderEntry:
    """One embedder: its name, class path, a line for ``--help``, model variants, preset.

    Parameters
    ----------
    name : str
        The ``--embedder`` value.
    cls : str
        ``"module:Class"`` of the :class:`~sk_hier.embeddings.AudioEmbedder` subclass.
    summary : str
        One line for docs and ``--help``.
    models : tuple of str, default=()
        Values its ``model`` parameter takes (pretrained weights), first the default;
        what ``sk-hier embed --model`` offers. Empty for a preset that fixes its model.
    params : dict, default={}
        Constructor parameters of the preset: :meth:`make` passes them under the
        caller's (the caller's win). Empty for the class's own defaults.

    Examples
    --------
    >>> from sk_hier.embedders import EMBEDDERS
    >>> EMBEDDERS["musicnn"].models
    ('MTT_musicnn', 'MSD_musicnn')
    >>> EMBEDDERS["logmel"].load().__name__
    'LogMelEmbedder'
    >>> EMBEDDERS["musicnn_pair"].params["model"]
    ('MTT_musicnn', 'MSD_musicnn')
    """

    name: str
    cls: str
    summary: str
    models: tuple[str, ...] = field(default_factory=tuple)
    params: dict[str, Any] = field(default_factory=dict)

    def load(self) -> type:
        """Import and return the embedder class."""
        module, _, attr = self.cls.partition(":")
        return getattr(importlib.import_module(module), attr)

    def make(self, **params: Any) -> Any:
        """An instance with ``params`` (constructor parameters) over the preset's."""
        return self.load()(**{**self.params, **params})


#: Embedder name -> entry, in the order of docs and ``--help``.
EMBEDDERS: dict[str, EmbedderEntry] = {}


def register_embedder(entry: EmbedderEntry, *, replace: bool = False) -> EmbedderEntry:
    """Add ``entry`` to :data:`EMBEDDERS`; return it.

    Raises
    ------
    ValueError
        If the name is taken (pass ``replace=True`` to override on purpose).

    Examples
    --------
    >>> from sk_hier.embedders import EMBEDDERS, EmbedderEntry, register_embedder
    >>> entry = EmbedderEntry("mfcc", "sk_hier.embeddings.logmel:LogMelEmbedder", "MFCCs")
    >>> register_embedder(entry).name
    'mfcc'
    >>> del EMBEDDERS["mfcc"]
    """
    if entry.name in EMBEDDERS and not replace:
        raise ValueError(
            f"An embedder named {entry.name!r} is already registered; pick another name "
            "or pass replace=True."
        )
    EMBEDDERS[entry.name] = entry
    return entry


def embedder_names() -> tuple[str, ...]:
    """The registered embedder names, in registration order.

    Examples
    --------
    >>> from sk_hier.embedders import embedder_names
    >>> embedder_names()[:2]
    ('logmel', 'musicnn')
    """
    return tuple(EMBEDDERS)


for _entry in (
    EmbedderEntry(
        "logmel",
        "sk_hier.embeddings.logmel:LogMelEmbedder",
        "librosa log-mel and MFCC statistics; fast, the offline default",
    ),
    EmbedderEntry(
        "musicnn",
        "sk_hier.embeddings.musicnn:MusicnnEmbedder",
        "the pretrained musicnn network (MagnaTagATune or Million Song), in PyTorch",
        models=("MTT_musicnn", "MSD_musicnn"),
    ),
    EmbedderEntry(
        "musicnn_pair",
        "sk_hier.embeddings.musicnn:MusicnnEmbedder",
        "both musicnn networks (MagnaTagATune + Million Song), every layer: 3,512-d; "
        "travels best to unheard timbres",
        params={
            "model": ("MTT_musicnn", "MSD_musicnn"),
            "features": ("penultimate", "mean_pool", "max_pool", "tags"),
        },
    ),
    EmbedderEntry(
        "openl3",
        "sk_hier.embeddings.openl3:OpenL3Embedder",
        "OpenL3 music embeddings (needs the optional openl3 package)",
    ),
):
    register_embedder(_entry)
del _entry
