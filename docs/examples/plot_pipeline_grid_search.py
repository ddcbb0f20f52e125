"""
Pipeline and grid search
========================

:class:`~sk_hier.HierarchicalTagger` is a plain scikit-learn estimator: it sits
at the end of a :class:`~sklearn.pipeline.Pipeline` and its strategy is one more
hyper-parameter for :class:`~sklearn.model_selection.GridSearchCV`.
"""

# %%
# Data
# ----
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sk_hier import HierarchicalTagger
from sk_hier.datasets import default_hierarchy, make_hierarchical_multilabel
from sk_hier.metrics import hierarchical_map_scorer

X, Y, tree = make_hierarchical_multilabel(
    n_samples=900, hierarchy=default_hierarchy(3, 3), n_features=48, random_state=0
)
X_train, Y_train, X_test, Y_test = X[:700], Y[:700], X[700:], Y[700:]

# %%
# Pipeline: scale, reduce, tag
# ----------------------------
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        ("pca", PCA(n_components=24, random_state=0)),
        ("tagger", HierarchicalTagger(tree, hidden_dims=(32,), max_epochs=40, random_state=0)),
    ]
)

# %%
# Grid search over the strategy
# -----------------------------
# ``hierarchical_map_scorer`` is the tagger's own ``score`` (mean over levels of
# the macro average precision) as a ``scoring=`` object; it reads targets in any
# format that ``fit`` accepts.
search = GridSearchCV(
    pipe,
    {"tagger__strategy": ["flat", "gmp", "resatt"]},
    scoring=hierarchical_map_scorer,
    cv=KFold(3, shuffle=True, random_state=0),
)
search.fit(X_train, Y_train)

for params, mean, std in zip(
    search.cv_results_["params"],
    search.cv_results_["mean_test_score"],
    search.cv_results_["std_test_score"],
):
    print(f"{params['tagger__strategy']:>7}: {mean:.3f} ± {std:.3f}")
print("best:", search.best_params_)

# %%
# The refitted best pipeline
# --------------------------
print(f"held-out score: {search.score(X_test, Y_test):.3f}")
# ``predict_labels`` belongs to the tagger: transform first, then ask the last step.
best = search.best_estimator_
print(best[-1].predict_labels(best[:-1].transform(X_test[:3])))
