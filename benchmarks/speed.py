"""Overhead of HierarchicalTagger (skorch) over a hand-written torch loop.

Same module, loss, optimiser, data, epochs and batch size; the hand loop slices
tensors with a shuffled index per batch (no DataLoader). Fit and predict_proba
are each timed 5 times; the medians and their ratios are printed side by side.
Targets: fit <= 1.15x, predict <= 1.10x.

Run: ``python benchmarks/speed.py`` (``--quick`` for a smaller smoke run).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from sk_hier import HierarchicalTagger
from sk_hier.datasets import default_hierarchy, make_hierarchical_multilabel
from sk_hier.heads import HierarchicalNet, TreeSpec
from sk_hier.losses import HierarchicalBCELoss, node_weights


def hand_fit(X, y, tree, epochs, batch_size, seed, strategy):
    torch.manual_seed(seed)
    spec = TreeSpec.from_hierarchy(tree)
    module = HierarchicalNet(X.shape[1], spec, strategy, hidden_dims=(256,), dropout=0.2)
    loss_fn = HierarchicalBCELoss(spec, node_weights(spec, None))
    opt = torch.optim.Adam(module.parameters(), lr=1e-3, weight_decay=1e-4)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=gen)
        for start in range(0, len(Xt), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(module(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return module


def hand_predict(module, X, batch_size):
    module.eval()
    Xt = torch.from_numpy(X)
    with torch.no_grad():
        out = [module(Xt[i : i + batch_size])[:, 0].exp() for i in range(0, len(Xt), batch_size)]
    return torch.cat(out).numpy()


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=20_000)
    parser.add_argument("--n-features", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--strategy", default="gmp")
    parser.add_argument("--quick", action="store_true", help="2,000 samples, 2 epochs, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.epochs, args.repeats = 2000, 2, 3
    torch.set_num_threads(1)
    tree = default_hierarchy(8, 4)  # 8 parents x 4 children = 40 labels
    X, Y, _ = make_hierarchical_multilabel(args.n_samples, tree, args.n_features, random_state=0)
    y = np.column_stack([Y, np.ones(len(Y))]).astype(np.float32)
    bs, ep = args.batch_size, args.epochs

    hand_fit_s, module = median_time(
        lambda: hand_fit(X, y, tree, ep, bs, 0, args.strategy), args.repeats
    )
    tagger = HierarchicalTagger(
        tree,
        strategy=args.strategy,
        max_epochs=ep,
        batch_size=bs,
        early_stopping=False,
        random_state=0,
    )
    tag_fit_s, _ = median_time(lambda: tagger.fit(X, Y), args.repeats)
    hand_pred_s, _ = median_time(lambda: hand_predict(module, X, bs), args.repeats)
    tag_pred_s, _ = median_time(lambda: tagger.predict_proba(X), args.repeats)

    print(
        f"{args.n_samples} x {args.n_features}, {len(tree.labels)} labels, batch {bs}, "
        f"{ep} epochs, strategy={args.strategy}, torch {torch.__version__}, 1 thread, "
        f"median of {args.repeats}"
    )
    print(f"{'':8} {'torch loop':>11} {'tagger':>9} {'ratio':>7} {'target':>7}")
    for name, hand, tag, target in (
        ("fit", hand_fit_s, tag_fit_s, 1.15),
        ("predict", hand_pred_s, tag_pred_s, 1.10),
    ):
        ratio = tag / hand
        flag = "ok" if ratio <= target else "ABOVE"
        print(f"{name:8} {hand:10.3f}s {tag:8.3f}s {ratio:6.2f}x {target:6.2f}x {flag}")


if __name__ == "__main__":
    main()
