"""
Classical baselines
===================

The meta-estimators of :mod:`sk_hier.baselines` wrap any scikit-learn
classifier (logistic regression by default) and return the same outputs as the
tagger: a probability for every node of the tree. Here they are compared with
the jointly trained :class:`~sk_hier.HierarchicalTagger`.
"""

# %%
# Data and models
# ---------------
import matplotlib.pyplot as plt
import numpy as np

from sk_hier import (
    BottomUpClassifier,
    HierarchicalTagger,
    PerLevelClassifier,
    TopDownClassifier,
)
from sk_hier.datasets import default_hierarchy, make_hierarchical_multilabel
from sk_hier.metrics import level_average_precision, violation_rate

X, Y, tree = make_hierarchical_multilabel(
    n_samples=1200, hierarchy=default_hierarchy(4, 3), n_features=32, random_state=0
)
X_train, Y_train, X_test, Y_test = X[:900], Y[:900], X[900:], Y[900:]

models = {
    "per-level": PerLevelClassifier(hierarchy=tree),
    "top-down": TopDownClassifier(hierarchy=tree),
    "bottom-up": BottomUpClassifier(hierarchy=tree),
    "tagger (gmp)": HierarchicalTagger(
        tree, strategy="gmp", hidden_dims=(64,), max_epochs=40, random_state=0
    ),
}

# %%
# Fit and score each level
# ------------------------
scores = {}
for name, model in models.items():
    proba = model.fit(X_train, Y_train).predict_proba(X_test)
    scores[name] = [
        level_average_precision(Y_test, proba, tree, level="parent"),
        level_average_precision(Y_test, proba, tree, level="leaf"),
    ]
    print(
        f"{name:>13}: parent mAP {scores[name][0]:.3f}, leaf mAP {scores[name][1]:.3f}, "
        f"violation rate {violation_rate(proba, tree):.3f}"
    )

# %%
# Bar chart
# ---------
width = 0.2
x = np.arange(2)
fig, ax = plt.subplots(figsize=(6, 3))
for i, (name, values) in enumerate(scores.items()):
    ax.bar(x + (i - 1.5) * width, values, width, label=name)
ax.set_xticks(x, ["parents", "leaves"])
ax.set_ylim(0.5, 1.0)
ax.set_ylabel("macro average precision")
ax.legend(loc="lower right", fontsize="small")
fig.tight_layout()
plt.show()
