"""Files the package writes: atomic replacement, the user's umask, outputs checked up front.

Every writer in sk_hier goes through here, so that three promises hold everywhere:
a reader sees either no file or a whole one (temp file + rename), a new file gets the
mode the user's umask asks for (``mkstemp`` alone would leave it 0600), and an output
that is also an input, or that cannot be written, is refused before any long work.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "atomic_path", "atomic_write", "check_output", "remove_own_temp_files"]

#: Suffix of the temp files this package writes; a rerun deletes only these.
TEMP_SUFFIX = ".sk_hier-tmp"


def _umask() -> int:
    # Linux reports the umask without changing it; elsewhere os.umask can only be
    # read by setting it, so it is put straight back.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path`` atomically.

    The temp file lives in the target's folder (a rename across file systems would
    not be atomic) and is removed if the body raises. The final file gets mode
    ``0o666 & ~umask``, as ``open(path, "w")`` would give it.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; return the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    return Path(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_output(
    out: str | os.PathLike,
    inputs: Iterable[str | os.PathLike] = (),
    *,
    option: str = "--out",
    folder: bool = False,
) -> Path:
    """Check, before any work, that ``out`` can be written and is none of ``inputs``.

    Parameters
    ----------
    out : path-like
        The file (or, with ``folder=True``, the folder) about to be written.
    inputs : iterable of path-like, default=()
        The files the command reads; writing over one of them would lose it.
    option : str, default="--out"
        How the user named ``out`` (an option or parameter name), for the messages.
    folder : bool, default=False
        ``out`` is a folder that will be created if missing.

    Returns
    -------
    path : Path
        ``out`` as a :class:`~pathlib.Path`.

    Raises
    ------
    ValueError
        If ``out`` is one of ``inputs``, or a folder where a file is expected.
    FileNotFoundError
        If the folder that would hold ``out`` does not exist.
    PermissionError
        If ``out`` or its folder cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "clips.csv").write_text("path\\n")
    5
    >>> check_output(d / "X.npz", [d / "clips.csv"]).name
    'X.npz'
    >>> check_output(d / "clips.csv", [d / "clips.csv"])
    Traceback (most recent call last):
    ...
    ValueError: --out ... is also an input of this command...
    """
    path = Path(out)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise ValueError(
                f"{option} {out} is also an input of this command ({source}); "
                "choose another output path: sk_hier never writes over its inputs."
            )
    if folder:
        parent = path if path.is_dir() else _existing_ancestor(path)
    else:
        if path.is_dir():
            raise ValueError(f"{option} {out} is a folder; give a file name inside it.")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise FileNotFoundError(
                f"{option} {out}: folder {parent} does not exist; create it first."
            )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {out}: folder {parent} is not writable.")
    if not folder and path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{option} {out} exists and is not writable.")
    return path


def _existing_ancestor(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.is_dir():
            return parent
    return Path(".")


def remove_own_temp_files(folder: str | os.PathLike) -> int:
    """Delete the temp files an interrupted sk_hier run left in ``folder``; return the count.

    Only names this module makes (``.<name>.<random>`` + :data:`TEMP_SUFFIX`) are
    touched: a user's own hidden files stay.
    """
    removed = 0
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink()
            removed += 1
    return removed
