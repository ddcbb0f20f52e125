"""The musicnn weights that ship inside the package, as plain arrays.

``sk_hier/embeddings/data/<model>.npz`` holds the converted PyTorch ``state_dict`` of
a pretrained musicnn network (float32 arrays, plus the integer batch-norm counters),
written by ``scripts/export_musicnn_weights.py`` from the ``musicnn`` wheel's
checkpoint, with that project's ISC licence notice beside it
(``LICENSE-musicnn.txt``). Read with ``np.load(allow_pickle=False)``: the file can
hold numbers only, never code, so a plain ``pip install`` needs neither the
``musicnn`` wheel nor TensorFlow's checkpoint format to embed audio.
"""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["DATA_DIR", "LICENSE_FILE", "packaged_state_dict", "packaged_weights_path"]

DATA_DIR = Path(__file__).parent / "data"
LICENSE_FILE = DATA_DIR / "LICENSE-musicnn.txt"
_lock = threading.Lock()
_loaded: dict[str, dict] = {}


def packaged_weights_path(model: str = "MTT_musicnn") -> Path | None:
    """The packaged weight file of ``model``, or ``None`` when it does not ship.

    Examples
    --------
    >>> from sk_hier.embeddings._weights import packaged_weights_path
    >>> packaged_weights_path("no_such_model") is None
    True
    """
    path = DATA_DIR / f"{model}.npz"
    return path if path.is_file() else None


def packaged_state_dict(model: str = "MTT_musicnn") -> dict | None:
    """The packaged ``state_dict`` of ``model`` as numpy arrays (cached), or ``None``.

    Parameters
    ----------
    model : str, default="MTT_musicnn"
        A musicnn model name.

    Returns
    -------
    dict of str to ndarray or None
        The keys of the layer-for-layer reference module; ``None`` when no weights
        for ``model`` ship with this installation.

    Raises
    ------
    ValueError
        The file exists but cannot be read as arrays (damaged, or not written by the
        export script): it names the file and how to restore it.

    Examples
    --------
    >>> from sk_hier.embeddings._weights import packaged_state_dict
    >>> sd = packaged_state_dict("MTT_musicnn")
    >>> sd is None or sd["f74.weight"].dtype.name == "float32"
    True
    """
    path = packaged_weights_path(model)
    if path is None:
        return None
    with _lock:
        if model not in _loaded:
            try:
                with np.load(path, allow_pickle=False) as data:
                    _loaded[model] = {key: data[key] for key in data.files}
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise ValueError(
                    f"{path} holds no readable musicnn weights ({exc}). Reinstall sk_hier, "
                    "or write the file again with scripts/export_musicnn_weights.py."
                ) from None
    return _loaded[model]
