"""
Reading attention maps
======================

With ``strategy="resatt"`` each parent's logit pools its children's logits with
input-dependent attention weights. Under ``attention_mask="none"`` every
parent may attend to every leaf, so the averaged maps show which leaves the
network itself ties to each parent; here we compare them with the true tree.
"""

# %%
# Fit without the hierarchy mask
# ------------------------------
import matplotlib.pyplot as plt
import numpy as np

from sk_hier import HierarchicalTagger
from sk_hier.datasets import make_hierarchical_multilabel

spec = {
    "strings": ["violin", "cello", "bass"],
    "brass": ["trumpet", "horn"],
    "reeds": ["clarinet", "oboe", "sax"],
}
X, Y, tree = make_hierarchical_multilabel(
    n_samples=1200, hierarchy=spec, n_features=32, noise=2.0, random_state=1
)
tagger = HierarchicalTagger(
    tree,
    strategy="resatt",
    attention_mask="none",
    hidden_dims=(64,),
    max_epochs=40,
    random_state=0,
).fit(X, Y)

# %%
# Average attention map and true membership
# -----------------------------------------
# ``attention_maps(X)`` has shape ``(n_samples, n_parents, n_leaves)``; each row
# sums to 1. Averaging over the clips in which a parent is present shows where
# that parent looks when it matters.
maps = tagger.attention_maps(X)
parents, leaves = tree.levels[0], tree.levels[1]
present = Y[:, [tree.index(p) for p in parents]].astype(bool)
mean_map = np.stack([maps[present[:, k], k].mean(axis=0) for k in range(len(parents))])
truth = tree.membership(0, 1)

fig, axes = plt.subplots(1, 2, figsize=(8, 3.6), sharey=True, layout="constrained")
for ax, M, title in ((axes[0], mean_map, "mean attention"), (axes[1], truth, "true tree")):
    im = ax.imshow(M, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(leaves)), leaves, rotation=45, ha="right")
    ax.set_yticks(range(len(parents)), parents)
    ax.set_title(title)
fig.colorbar(im, ax=axes, shrink=0.8)
plt.show()

# %%
# Nearly all of each parent's attention stays inside its own family, although
# nothing in the mask told it so. A parent need not spread its weight over every
# child: one or two members that identify the family well can carry it.
#
# How much of each parent's attention lands on its own children?
# --------------------------------------------------------------
inside = (mean_map * truth).sum(axis=1)
for name, share in zip(parents, inside):
    print(f"{name:>8}: {100 * share:.0f}% of its attention on its own children")

# %%
# The gates
# ---------
# ``gates_`` holds the learned ``w_k``: how much of each parent logit comes from
# the pooled children (the rest comes from the dedicated parent head).
for name, w in zip(parents, np.ravel(tagger.gates_)):
    print(f"{name:>8}: w = {w:.2f}")
