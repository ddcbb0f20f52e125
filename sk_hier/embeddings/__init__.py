"""Audio -> embeddings: scikit-learn transformers from audio files or waveforms to X.

``LogMelEmbedder`` (log-mel + MFCC statistics; fast, the offline default),
``MusicnnEmbedder`` (the pretrained musicnn networks, ported to PyTorch) and
``OpenL3Embedder`` (when ``openl3`` is installed) share loading, validation,
batching, a content-keyed on-disk cache (plain arrays, no pickle), ``n_jobs`` and
``on_error``. Embedding files (``.npz``) are written by :func:`save_embeddings` and
read by :func:`load_embeddings`; :func:`read_audio_dataset` lists the audio of a
rendered folder, a CSV manifest, a plain folder or a glob pattern.
"""

from __future__ import annotations

from typing import Any

from ..embedders import EMBEDDERS
from ._base import AudioEmbedder, BadAudioError, SkippedAudioWarning, load_audio, pool_frames
from ._cache import CorruptCacheWarning
from .audio_lists import (
    AUDIO_SUFFIXES,
    AudioDataset,
    read_audio_dataset,
    read_audio_files,
    read_audio_folder,
    read_manifest,
    read_rendered,
)
from .io import EmbeddingSet, load_embeddings, save_embeddings
from .logmel import LogMelEmbedder, logmel_frames
from .musicnn import (
    MUSICNN_MODELS,
    MusicnnEmbedder,
    checkpoint_prefix,
    load_musicnn,
    musicnn_patches,
    musicnn_state_dict,
    musicnn_tags,
)
from .openl3 import OpenL3Embedder, openl3_frames

__all__ = [
    "AUDIO_SUFFIXES",
    "EMBEDDERS",
    "MUSICNN_MODELS",
    "AudioDataset",
    "AudioEmbedder",
    "BadAudioError",
    "CorruptCacheWarning",
    "EmbeddingSet",
    "LogMelEmbedder",
    "MusicnnEmbedder",
    "OpenL3Embedder",
    "SkippedAudioWarning",
    "checkpoint_prefix",
    "load_audio",
    "load_embeddings",
    "load_musicnn",
    "logmel_frames",
    "make_embedder",
    "musicnn_patches",
    "musicnn_state_dict",
    "musicnn_tags",
    "openl3_frames",
    "pool_frames",
    "read_audio_dataset",
    "read_audio_files",
    "read_audio_folder",
    "read_manifest",
    "read_rendered",
    "save_embeddings",
]


def make_embedder(name: str, **params: Any) -> AudioEmbedder:
    """An embedder by its registered name (:data:`sk_hier.embedders.EMBEDDERS`).

    Parameters
    ----------
    name : str
        A registered name: ``"logmel"``, ``"musicnn"``, ``"musicnn_pair"``,
        ``"openl3"`` or one added with :func:`sk_hier.embedders.register_embedder`.
    **params
        Constructor parameters of that embedder.

    Examples
    --------
    >>> from sk_hier.embeddings import make_embedder
    >>> make_embedder("musicnn", model="MSD_musicnn")
    MusicnnEmbedder(model='MSD_musicnn')
    """
    if name not in EMBEDDERS:
        raise ValueError(f"Unknown embedder {name!r}; choose one of {list(EMBEDDERS)}.")
    return EMBEDDERS[name].make(**params)
