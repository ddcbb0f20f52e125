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

import importlib.util
import os
import threading
import zipfile
from pathlib import Path

import numpy as np

from ..embedders import EMBEDDERS

__all__ = [
    "DATA_DIR",
    "LICENSE_FILE",
    "checkpoint_prefix",
    "musicnn_state_dict",
    "packaged_state_dict",
    "packaged_weights_path",
    "wheel_state_dict",
]

DATA_DIR = Path(__file__).parent / "data"
LICENSE_FILE = DATA_DIR / "LICENSE-musicnn.txt"
_lock = threading.RLock()  # musicnn_state_dict holds it while reading the file
_loaded: dict[str, dict] = {}
_state_dicts: dict[str, dict] = {}


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


def check_model(model: str) -> None:
    models = EMBEDDERS["musicnn"].models
    if model not in models:
        raise ValueError(f"Unknown musicnn model {model!r}; choose one of {models}.")


def checkpoint_prefix(model: str = "MTT_musicnn") -> str:
    """The checkpoint prefix of a pretrained musicnn model inside the installed wheel.

    Raises
    ------
    ImportError
        When the ``musicnn`` package is not installed.

    Examples
    --------
    >>> from sk_hier.embeddings.musicnn import checkpoint_prefix
    >>> checkpoint_prefix("MTT_musicnn").endswith(os.path.join("MTT_musicnn", ""))
    True
    """
    from . import _musicnn_reference as ref

    check_model(model)
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The pretrained musicnn weights come from the 'musicnn' package, which is not "
            f"installed. Install it with: {ref.INSTALL_HINT} (--no-deps: its metadata pins "
            "an old numpy, and only its checkpoint files are used)."
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / model
    if not (folder / ".index").is_file():
        raise ImportError(
            f"The musicnn package has no checkpoint for {model} (looked in {folder}); "
            f"reinstall it with: {ref.INSTALL_HINT}"
        )
    # The files are "<model>/.index" and "<model>/.data-00000-of-00001": an empty
    # basename, so the prefix ends with the separator.
    return os.path.join(str(folder), "")


def musicnn_state_dict(model: str = "MTT_musicnn") -> dict:
    """The converted state_dict of the layer-for-layer port (cached per process).

    The weights that ship with the package are used when present; otherwise they are
    converted from the ``musicnn`` wheel's checkpoint.

    Examples
    --------
    >>> from sk_hier.embeddings.musicnn import musicnn_state_dict
    >>> musicnn_state_dict("MTT_musicnn")["f74.weight"].shape
    (204, 1, 7, 38)
    """
    check_model(model)
    with _lock:
        if model not in _state_dicts:
            packaged = packaged_state_dict(model)  # shipped as plain arrays: no wheel needed
            _state_dicts[model] = wheel_state_dict(model) if packaged is None else packaged
    return _state_dicts[model]


def wheel_state_dict(model: str = "MTT_musicnn") -> dict:
    """The state_dict converted from the ``musicnn`` wheel's TF1 checkpoint (not cached).

    This is where the packaged weights come from (``scripts/export_musicnn_weights.py``).

    Examples
    --------
    >>> from sk_hier.embeddings._weights import wheel_state_dict
    >>> wheel_state_dict("MTT_musicnn")["f74.weight"].shape
    (204, 1, 7, 38)
    """
    from . import _musicnn_reference as ref
    from ._tf_bundle import read_bundle

    check_model(model)
    return ref.convert_checkpoint(read_bundle(checkpoint_prefix(model)))
