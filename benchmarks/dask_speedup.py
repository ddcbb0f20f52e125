"""Grid search on a 2-worker Dask ``LocalCluster`` vs one local process.

8 configurations (4 strategies x 2 trunk widths) x 2 folds = 16 fits of a
``HierarchicalTagger`` with a fixed number of epochs (no early stopping, so every fit
does the same work; ``refit=False``: the final refit is one serial fit either way),
with ``n_jobs=1`` in this process and under ``sk_hier._dask.scheduler_context("local")``
(2 worker processes, 1 thread each), alternately, ``--repeats`` times each; medians.
torch runs on one thread everywhere, so the speed-up measures the parallel fits
alone. The cluster's start-up and each process's one-time warm-up (imports, and
the lazy imports of a first fit: ~1.5 s) are timed apart and not counted. Both runs
must give identical ``cv_results_`` scores.

Target: speed-up >= 1.7x on 2 idle cores. On a machine shared with other work the
figure is lower: the load average is printed, and a calibration runs the same pure
CPU task alone and then twice at once on the two workers; ``2 * t_alone / t_pair``
is the parallel capacity the machine offered (2.0 when both cores are free), the
ceiling for the speed-up at that moment.

Run: ``python benchmarks/dask_speedup.py`` (``--quick`` for a smaller smoke run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV

from sk_hier import HierarchicalTagger
from sk_hier._dask import scheduler_context
from sk_hier.datasets import default_hierarchy, make_hierarchical_multilabel

GRID = {"strategy": ["flat", "per_level", "gmp", "resatt"], "hidden_dims": [(64,), (128,)]}


def _warm_up(tree=None) -> int:
    """Pin torch to one thread and run a tiny fit (its lazy imports are start-up)."""
    import torch

    from sk_hier import HierarchicalTagger
    from sk_hier.datasets import default_hierarchy, make_hierarchical_multilabel

    torch.set_num_threads(1)
    tree = default_hierarchy(2, 2)
    X, Y, _ = make_hierarchical_multilabel(64, tree, n_features=8, random_state=0)
    HierarchicalTagger(tree, max_epochs=1, early_stopping=False).fit(X, Y).predict(X)
    return torch.get_num_threads()


def _spin(n: int) -> float:
    """A pure-Python CPU task; returns its wall time."""
    start = time.perf_counter()
    total = 0
    for i in range(n):
        total += i * i % 7
    return time.perf_counter() - start


def capacity(client, n: int = 5_000_000) -> float:
    """``2 * t_alone / t_pair`` of ``_spin`` on the workers (2.0: two free cores)."""
    alone = client.submit(_spin, n, pure=False).result()
    pair = client.gather([client.submit(_spin, n, pure=False) for _ in range(2)])
    return 2 * alone / max(pair)


def search(X, Y, tree, epochs: int, n_jobs: int) -> tuple[GridSearchCV, float]:
    tagger = HierarchicalTagger(
        tree, max_epochs=epochs, early_stopping=False, batch_size=128, random_state=0
    )
    start = time.perf_counter()
    gs = GridSearchCV(tagger, GRID, cv=2, n_jobs=n_jobs, refit=False).fit(X, Y)
    return gs, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each")
    parser.add_argument("--quick", action="store_true", help="1,000 samples, 5 epochs, 1 run")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.epochs, args.repeats = 1000, 5, 1
    torch.set_num_threads(1)
    tree = default_hierarchy(4, 3)
    X, Y, _ = make_hierarchical_multilabel(
        args.n_samples, tree, n_features=128, noise=1.0, random_state=0
    )
    X = X.astype(np.float32)
    n_fits = 2 * len(GRID["strategy"]) * len(GRID["hidden_dims"])
    print(
        f"{n_fits} fits (refit=False): {args.n_samples:,} samples x 128 features, "
        f"{args.epochs} epochs each; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )

    t0 = time.perf_counter()
    with scheduler_context("local") as client:
        threads = client.run(_warm_up)
        _warm_up()
        print(
            f"cluster start and warm-up {time.perf_counter() - t0:.1f} s (not counted); "
            f"torch threads per worker {sorted(threads.values())}"
        )
        t_local, t_dask, same = [], [], True
        for _ in range(args.repeats):
            local, t = search(X, Y, tree, args.epochs, n_jobs=1)
            t_local.append(t)
            print(f"  local n_jobs=1     {t:6.1f} s   (load {os.getloadavg()[0]:.1f})")
            with parallel_backend("dask"):
                remote, t = search(X, Y, tree, args.epochs, n_jobs=2)
            t_dask.append(t)
            print(f"  dask 2 workers     {t:6.1f} s   (load {os.getloadavg()[0]:.1f})")
            same &= all(
                np.array_equal(local.cv_results_[k], remote.cv_results_[k])
                for k in ("split0_test_score", "split1_test_score")
            )
        ceiling = capacity(client)
    a, b = statistics.median(t_local), statistics.median(t_dask)
    print(f"median: local {a:.1f} s, dask {b:.1f} s")
    print(f"speed-up              {a / b:6.2f}x   (target >= 1.7x on idle cores)")
    print(f"parallel capacity     {ceiling:6.2f}x   (2 * t_alone / t_pair, measured after)")
    print(f"identical cv scores: {same}; best params {remote.best_params_}")


if __name__ == "__main__":
    main()
