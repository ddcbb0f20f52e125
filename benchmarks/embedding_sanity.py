"""Sanity check of the embedders on rendered audio.

Renders N clips (default 1,000) with TimGM6mb, embeds them with each embedder,
and fits a one-vs-rest logistic regression on the leaves (parents by the max
rule, i.e. ``BottomUpClassifier``) on 80% of the clips; prints leaf and parent
macro mAP on the held-out 20%.

Run: ``python benchmarks/embedding_sanity.py [--n-clips 1000] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_hier import BottomUpClassifier
from sk_hier.datasets import load_rendered, render_dataset
from sk_hier.embeddings import make_embedder
from sk_hier.metrics import level_average_precision


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=1000)
    parser.add_argument("--data", default="benchmarks/data/sanity")
    parser.add_argument("--embedders", nargs="+", default=["logmel", "musicnn"])
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    render_dataset(args.data, args.n_clips, seed=7, n_jobs=args.n_jobs, progress=False)
    print(f"rendered {args.n_clips} clips in {time.perf_counter() - start:.0f} s")
    paths, Y, tree, _ = load_rendered(args.data)
    split = np.random.default_rng(0).permutation(len(paths))
    train, test = split[: int(0.8 * len(split))], split[int(0.8 * len(split)) :]
    print("| embedder | dim | embed s | leaf mAP | parent mAP |\n|---|---|---|---|---|")
    for name in args.embedders:
        cache = Path(args.data) / "cache"
        emb = make_embedder(name, n_jobs=args.n_jobs, cache_dir=str(cache), progress=False)
        start = time.perf_counter()
        X = emb.fit_transform(list(paths))
        seconds = time.perf_counter() - start
        model = make_pipeline(
            StandardScaler(), BottomUpClassifier(LogisticRegression(C=0.1, max_iter=2000), tree)
        )
        model.fit(X[train], Y[train])
        P = model.predict_proba(X[test])
        leaf = level_average_precision(Y[test], P, tree, level="leaf")
        parent = level_average_precision(Y[test], P, tree, level="parent")
        print(f"| {name} | {X.shape[1]} | {seconds:.0f} | {leaf:.3f} | {parent:.3f} |")


if __name__ == "__main__":
    main()
