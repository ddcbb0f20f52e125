"""The on-disk embedding cache: plain arrays, one file per entry, never pickle.

A cache folder may come from anywhere (a shared drive, a copied project), so reading
it must not be able to run code: an entry is an ``.npz`` of two plain arrays, read
with ``allow_pickle=False``. An entry that is unreadable, truncated, of the wrong
shape or type, or whose checksum does not match is reported, recomputed and replaced;
it is never fatal.

Layout::

    CACHE_DIR/sk_hier-embeddings-v2/<settings digest>/settings.json
    CACHE_DIR/sk_hier-embeddings-v2/<settings digest>/<k[:2]>/<k>.npz

where ``<settings digest>`` hashes the embedder's class, ``_cache_version`` and
output-relevant settings, and ``k`` is the SHA-256 of the audio content (the file's
bytes, or a waveform's samples and rate). An entry holds ``embedding`` (float32,
shape ``(n_features,)``) and ``check`` (SHA-256 of the settings digest, ``k`` and the
embedding's bytes), so a damaged file or one moved under another name is caught.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import numpy as np

from .._io import atomic_path, atomic_write

__all__ = ["CACHE_FORMAT", "CorruptCacheWarning", "EmbeddingCache", "content_key"]

#: Name of the cache's top folder; a new layout gets a new name, so old entries miss.
CACHE_FORMAT = "sk_hier-embeddings-v2"


class CorruptCacheWarning(UserWarning):
    """A cache entry could not be used (damaged or not an entry); it was recomputed.

    Examples
    --------
    >>> import warnings
    >>> from sk_hier.embeddings import CorruptCacheWarning
    >>> issubclass(CorruptCacheWarning, UserWarning)
    True
    """


def content_key(data: bytes | np.ndarray, sr: int | None = None) -> str:
    """SHA-256 of an audio file's bytes, or of a waveform's float32 samples and rate."""
    h = hashlib.sha256()
    if isinstance(data, np.ndarray):
        h.update(b"waveform:%d:" % int(sr or 0))
        h.update(np.ascontiguousarray(data, dtype=np.float32).tobytes())
    else:
        h.update(b"file:")
        h.update(data)
    return h.hexdigest()


class EmbeddingCache:
    """The entries of one embedder setting in a cache folder.

    Small and picklable: it travels to the worker processes with each chunk of clips.

    Parameters
    ----------
    root : path-like
        The user's ``cache_dir``.
    settings_key : str
        JSON text of the embedder's class, cache version and settings.
    n_features : int
        Length of every embedding stored under these settings.
    """

    def __init__(self, root: str | os.PathLike, settings_key: str, n_features: int) -> None:
        self.root = Path(root)
        self.settings_key = settings_key
        self.n_features = int(n_features)
        self.digest = hashlib.sha256(settings_key.encode("utf-8")).hexdigest()[:32]
        self.folder = self.root / CACHE_FORMAT / self.digest

    def prepare(self) -> None:
        """Create the folder and record the settings; errors name ``cache_dir``.

        Runs in the main process before any clip is embedded, so a cache folder that
        cannot be written stops the run at once instead of after the work.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            record = self.folder / "settings.json"
            if not record.is_file():
                # For people looking into the folder; never read back.
                atomic_write(record, self.settings_key + "\n")
        except OSError as exc:
            raise PermissionError(
                f"cache_dir {self.root} cannot be written ({exc.strerror or exc}); choose "
                "a folder you can write to, or no cache (cache_dir=None)."
            ) from None

    def path(self, key: str) -> Path:
        """The file of the entry for content key ``key``."""
        return self.folder / key[:2] / f"{key}.npz"

    def _check(self, key: str, vector: np.ndarray) -> str:
        h = hashlib.sha256(f"{self.digest}:{key}:".encode())
        h.update(vector.tobytes())
        return h.hexdigest()

    def load(self, key: str) -> tuple[np.ndarray | None, str | None]:
        """``(embedding, None)`` on a hit, ``(None, None)`` on a miss, and
        ``(None, problem)`` when the entry exists but cannot be trusted."""
        path = self.path(key)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"{path}: unreadable ({exc.strerror or exc})"
        try:
            # From memory: a damaged zip leaves no open file behind. allow_pickle=False:
            # an object array (pickle) raises instead of running.
            with np.load(io.BytesIO(raw), allow_pickle=False) as data:
                if sorted(data.files) != ["check", "embedding"]:
                    return None, f"{path}: not a cache entry (holds {sorted(data.files)})"
                vector, check = data["embedding"], data["check"]
        except Exception as exc:  # any damage: zip, CRC, header, pickle refused
            return None, f"{path}: unreadable ({type(exc).__name__}: {exc})"
        if vector.dtype != np.float32 or vector.shape != (self.n_features,):
            return None, (
                f"{path}: holds a {vector.dtype} array of shape {vector.shape}, "
                f"expected float32 of shape ({self.n_features},)"
            )
        if check.dtype.kind != "U" or check.shape != () or str(check) != self._check(key, vector):
            return None, f"{path}: checksum does not match its contents"
        return vector, None

    def store(self, key: str, vector: np.ndarray) -> str | None:
        """Write (or replace) an entry atomically; returns a problem text on failure.

        A failed write only costs a recomputation next time, so it is reported, not
        raised.
        """
        path = self.path(key)
        vector = np.ascontiguousarray(vector, dtype=np.float32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                # A file object: np.savez would add ".npz" to a temp file's name.
                np.savez(f, embedding=vector, check=np.asarray(self._check(key, vector)))
        except OSError as exc:
            return f"{path}: could not be written ({exc.strerror or exc})"
        return None


def warn_cache_problems(problems: list[str], stacklevel: int = 3) -> None:
    """One warning listing the cache entries that could not be used or written."""
    if not problems:
        return
    listing = "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else "")
    warnings.warn(
        f"embedding cache: {len(problems)} entr{'y' if len(problems) == 1 else 'ies'} "
        "could not be used or written; the embeddings were computed afresh and "
        f"damaged entries replaced: {listing}",
        CorruptCacheWarning,
        stacklevel=stacklevel,
    )
