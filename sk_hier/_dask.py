"""Run joblib work (``n_jobs``) on a Dask cluster: ``scheduler_context``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["scheduler_context"]

_TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
_INSTALL_HINT = 'Running on a Dask cluster needs dask.distributed: pip install "dask[distributed]"'


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return distributed


@contextlib.contextmanager
def scheduler_context(address: str | None) -> Iterator[Any]:
    """Send everything run through joblib inside the block to a Dask cluster.

    Every part of sk_hier that takes ``n_jobs`` (embedders, baselines, grid searches)
    runs its tasks through joblib; inside this context they run on Dask workers.

    Parameters
    ----------
    address : str or None
        ``None``: do nothing (joblib's default backend, local processes).
        ``"local"``: start a bounded ``LocalCluster`` on this machine (2 worker
        processes, 1 thread each, listening on 127.0.0.1 only, no dashboard), which
        is closed on exit; its workers keep numeric libraries (torch, BLAS) on one
        thread. Any other string: the address of a running scheduler,
        e.g. ``"tcp://10.0.0.5:8786"``; it is left running on exit.

    Yields
    ------
    client : distributed.Client or None
        The connected client (``None`` when ``address`` is ``None``).

    Raises
    ------
    ImportError
        When ``address`` is given and dask.distributed is not installed.
    ValueError
        When ``address`` is an empty string.

    Examples
    --------
    >>> from joblib import Parallel, delayed
    >>> from sk_hier._dask import scheduler_context
    >>> with scheduler_context(None) as client:
    ...     print(client, Parallel(n_jobs=1)(delayed(abs)(i) for i in (-1, -2)))
    None [1, 2]

    On a cluster (not run here)::

        with scheduler_context("tcp://10.0.0.5:8786"):
            search.fit(X, Y)  # GridSearchCV(..., n_jobs=-1): fits run on the workers
    """
    if address is None:
        yield None
        return
    if not isinstance(address, str) or not address.strip():
        raise ValueError(
            f"address must be 'local' or a scheduler address such as "
            f"'tcp://host:8786', got {address!r}."
        )
    distributed = _distributed()
    import dask
    import joblib

    with contextlib.ExitStack() as stack:
        if address.strip() == "local":
            # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off
            # glibc's adaptive mmap threshold: every torch buffer over 128 kB is then
            # mapped and unmapped per batch (~30 % slower fits). Unset it; the other
            # variables (OMP_NUM_THREADS=1, ...) stay: one thread per worker.
            with dask.config.set({_TRIM_KEY: None}):
                cluster = stack.enter_context(
                    distributed.LocalCluster(
                        n_workers=2,
                        threads_per_worker=1,
                        host="127.0.0.1",
                        processes=True,
                        dashboard_address=None,
                    )
                )
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(distributed.Client(address.strip()))
        stack.enter_context(joblib.parallel_backend("dask"))
        yield client
