"""
Quick start
===========

Fit a :class:`~sk_hier.HierarchicalTagger` on synthetic "clip embeddings" whose
labels follow a two-level tree, predict tags, and look at the mean average
precision (mAP) of each level.
"""

# %%
# Data: a small instrument tree
# -----------------------------
# :func:`~sk_hier.datasets.make_hierarchical_multilabel` draws embeddings whose
# labels obey the max rule: a family is present whenever one of its
# instruments is. ``Y`` has one column per node, in ``tree.labels`` order.
import matplotlib.pyplot as plt

from sk_hier import HierarchicalTagger
from sk_hier.datasets import make_hierarchical_multilabel
from sk_hier.metrics import level_average_precision

tree_spec = {
    "strings": ["violin", "cello", "double bass"],
    "brass": ["trumpet", "horn", "trombone"],
    "keyboards": ["piano", "organ"],
}
X, Y, tree = make_hierarchical_multilabel(
    n_samples=1200, hierarchy=tree_spec, n_features=32, random_state=0
)
X_train, Y_train, X_test, Y_test = X[:900], Y[:900], X[900:], Y[900:]
print(tree)
print("labels:", tree.labels)

# %%
# Fit the attention-based strategy
# --------------------------------
# ``strategy="resatt"`` trains every level jointly: each parent's logit is a
# gated mix of an attention-weighted sum of its children's logits and a
# dedicated parent head.
tagger = HierarchicalTagger(
    tree, strategy="resatt", hidden_dims=(64,), max_epochs=40, random_state=0
)
tagger.fit(X_train, Y_train)

# %%
# Predict
# -------
# ``predict_proba`` gives a probability for every node; ``predict_labels``
# turns the thresholded predictions into tuples of names.
proba = tagger.predict_proba(X_test)
print("probabilities:", proba.shape, "columns:", tagger.classes_.tolist())
for predicted, true_row in zip(tagger.predict_labels(X_test[:4]), Y_test[:4]):
    true = tuple(name for name, y in zip(tree.labels, true_row) if y)
    print(f"predicted {predicted}  true {true}")

# %%
# Score
# -----
# ``score`` is the mean over levels of the macro average precision.
print(f"score (mean level mAP): {tagger.score(X_test, Y_test):.3f}")

# %%
# Per-level mAP
# -------------
levels = {"parents": "parent", "leaves": "leaf"}
values = [level_average_precision(Y_test, proba, tree, level=lv) for lv in levels.values()]

fig, ax = plt.subplots(figsize=(4, 3))
ax.bar(list(levels), values, color=["tab:blue", "tab:orange"])
for i, v in enumerate(values):
    ax.text(i, v + 0.01, f"{v:.3f}", ha="center")
ax.set_ylim(0, 1.05)
ax.set_ylabel("macro average precision")
ax.set_title("resatt on synthetic data")
fig.tight_layout()
plt.show()
print("per-level mAP:", {k: round(float(v), 3) for k, v in zip(levels, values)})
