"""Fit and predict on a memory-mapped X larger than the memory one wants to spend.

Builds an ``(n_samples, n_features)`` float32 ``.npy`` file on disk (default
1,000,000 x 512 = 2.05 GB) with leaf labels from a simple rule, opens it read-only
with ``np.load(..., mmap_mode="r")``, fits a ``HierarchicalTagger`` for one epoch
(``early_stopping=False``) and predicts on all of it.

Memory: a thread reads ``/proc/self/status`` every 10 ms and keeps the peak of
``RssAnon``, the process's private anonymous memory (heap, numpy and torch buffers):
what X costs if it is copied anywhere. Pages of the mapped file show up in
``RssFile`` instead: they are page cache, shared and dropped by the kernel under
pressure, so they are reported but not counted. ``VmHWM`` (the kernel's exact peak
of RSS, reset per phase through ``/proc/self/clear_refs``) counts both kinds, so it
is an upper bound that grows with the share of the file that happened to be mapped;
sampling can miss a spike shorter than 10 ms, which ``VmHWM`` cannot.
Target: peak RssAnon < 1.5 GB at 1,000,000 x 512.

Run: ``python benchmarks/memmap_fit.py`` (``--n-samples 100000`` for a quick run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time

import numpy as np
import torch

from sk_hier import HierarchicalTagger
from sk_hier.datasets import default_hierarchy
from sk_hier.metrics import mean_level_average_precision
from sk_hier.targets import encode_targets

GB = 1e9


def _status() -> dict[str, int]:
    """``/proc/self/status`` memory fields in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) * 1024
    return out


class PeakMemory:
    """Peak RssAnon / RssFile sampled in a thread, and VmHWM, over a ``with`` block."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()

    def _sample(self) -> None:
        for key, value in _status().items():
            self.peak[key] = max(self.peak.get(key, 0), value)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakMemory:
        try:  # "5" resets the peak RSS (VmHWM) to the current RSS
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass
        self.start = _status()
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def line(self) -> str:
        p, s = self.peak, self.start
        return (
            f"peak RssAnon {p['RssAnon'] / GB:.2f} GB (+{(p['RssAnon'] - s['RssAnon']) / GB:.2f} "
            f"over the start of the phase), peak RssFile {p['RssFile'] / GB:.2f} GB, "
            f"VmHWM {p['VmHWM'] / GB:.2f} GB"
        )


def build(path: str, n: int, d: int, tree, chunk: int, seed: int) -> np.ndarray:
    """Write X to ``path`` chunk by chunk; return the leaf targets.

    Leaf ``j`` is present when ``x_j + 0.5 * x_{j+L} > 1.2`` (L leaves, about 14 % of
    clips each); parents follow by the max rule.
    """
    n_leaves = len(tree.leaves)
    if d < 2 * n_leaves:
        raise SystemExit(f"--n-features must be at least {2 * n_leaves} for the label rule.")
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    Y = np.empty((n, n_leaves), dtype=np.int8)
    rng = np.random.default_rng(seed)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), d), dtype=np.float32)
        X[start : start + len(block)] = block
        score = block[:, :n_leaves] + 0.5 * block[:, n_leaves : 2 * n_leaves]
        Y[start : start + len(block)] = score > 1.2
    X.flush()
    del X
    return Y


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--mode",
        choices=("r", "r+"),
        default="r",
        help="memmap mode: 'r' copies each batch out of the read-only map; 'r+' lets "
        "torch index the mapped pages directly",
    )
    parser.add_argument("--dir", default=None, help="folder for the data file (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the data file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    n, d = args.n_samples, args.n_features
    need = n * d * 4
    workdir = tempfile.mkdtemp(prefix="sk_hier_memmap_", dir=args.dir)
    free = shutil.disk_usage(workdir).free
    if free < 1.2 * need + 1e9:
        shutil.rmtree(workdir)
        raise SystemExit(
            f"{workdir}: {free / GB:.1f} GB free, the data file needs {need / GB:.1f} GB "
            "(+20 % and 1 GB to spare): lower --n-samples or pick --dir."
        )
    path = os.path.join(workdir, "X.npy")
    tree = default_hierarchy(4, 3)
    print(
        f"X: {n:,} x {d} float32 = {need / GB:.2f} GB at {path} ({free / GB:.0f} GB free); "
        f"{len(tree.labels)} labels; torch threads {torch.get_num_threads()}; "
        f"batch {args.batch_size}; memmap mode {args.mode!r}; load {os.getloadavg()[0]:.1f}"
    )
    try:
        t0 = time.perf_counter()
        with PeakMemory() as mem:
            Y = build(path, n, d, tree, chunk=50_000, seed=0)
        print(f"build    {time.perf_counter() - t0:7.1f} s   {mem.line()}")

        X = np.load(path, mmap_mode=args.mode)
        tagger = HierarchicalTagger(
            tree,
            hidden_dims=(256,),
            max_epochs=1,
            early_stopping=False,
            batch_size=args.batch_size,
            random_state=0,
        )
        t0 = time.perf_counter()
        with PeakMemory() as mem:
            tagger.fit(X, Y)
        fit_s = time.perf_counter() - t0
        print(f"fit      {fit_s:7.1f} s   {n / fit_s:9,.0f} samples/s   {mem.line()}")

        t0 = time.perf_counter()
        with PeakMemory() as mem:
            proba = tagger.predict_proba(X)
        pred_s = time.perf_counter() - t0
        print(f"predict  {pred_s:7.1f} s   {n / pred_s:9,.0f} samples/s   {mem.line()}")

        Y_full, _ = encode_targets(Y[-100_000:], tree)
        score = mean_level_average_precision(Y_full, proba[-100_000:], tree)
        print(
            f"sanity: mean level mAP on the last {min(n, 100_000):,} (training) rows {score:.3f}"
        )
    finally:
        if args.keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
