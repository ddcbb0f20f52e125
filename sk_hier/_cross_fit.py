"""Out-of-fold probabilities and metadata routing for the meta-estimators.

:class:`~sk_hier.thresholds.TunedThresholds` and
:class:`~sk_hier.calibration.HierarchicalCalibrator` both fit a tagger on
cross-validation folds, collect its out-of-fold probabilities over every label, and
refit it on all the data; both route ``sample_weight`` (and any other metadata) the
way scikit-learn's meta-estimators do. That shared machinery lives here, once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import get_config
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.parallel import Parallel, delayed

__all__ = [
    "cross_val_proba",
    "final_step",
    "fit_router",
    "routed_fit_params",
    "routing_enabled",
    "take",
]


def take(Y: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a target in any accepted format (array, DataFrame, list of sets)."""
    if hasattr(Y, "iloc"):
        return Y.iloc[idx]
    if hasattr(Y, "shape"):
        return Y[idx]
    return [Y[i] for i in idx]


def final_step(estimator: Any) -> Any:
    """The last step of a Pipeline, or the estimator itself."""
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def routing_enabled() -> bool:
    """Whether scikit-learn's metadata routing is on (``set_config``)."""
    return bool(get_config().get("enable_metadata_routing", False))


def fit_router(owner: Any, estimator: Any = None, cv: Any = None) -> MetadataRouter:
    """The routing of a meta-estimator that fits ``estimator`` on the folds of ``cv``.

    ``owner`` consumes what its own ``fit`` / ``score`` declare (``sample_weight``),
    ``estimator.fit`` gets what it requested, and the splitter's ``split`` what
    it requested (``groups`` for a group splitter). ``estimator=None``: nothing is
    fitted (a prefit estimator).
    """
    router = MetadataRouter(owner=owner).add_self_request(owner)
    if estimator is not None:
        router.add(
            estimator=estimator, method_mapping=MethodMapping().add(caller="fit", callee="fit")
        )
    if hasattr(cv, "split"):
        # Only a splitter object can request metadata (an int means KFold, which
        # requests none; an iterable of folds must not be consumed here).
        router.add(splitter=cv, method_mapping=MethodMapping().add(caller="fit", callee="split"))
    return router


def routed_fit_params(owner: Any, sample_weight: Any, fit_params: dict) -> tuple[dict, dict]:
    """``(estimator fit params, splitter split params)`` for one ``fit`` call.

    With metadata routing on, scikit-learn's ``process_routing`` decides, from the
    requests set with ``set_fit_request``; off, ``sample_weight`` (when given) and
    every fit parameter go to the estimator, as before routing existed.
    """
    if routing_enabled():
        routed = process_routing(owner, "fit", sample_weight=sample_weight, **fit_params)
        fit = routed.estimator.fit if "estimator" in routed else {}
        split = routed.splitter.split if "splitter" in routed else {}
        return dict(fit), dict(split)
    params = dict(fit_params)
    if sample_weight is not None:
        params["sample_weight"] = sample_weight
    return params, {}


def _fit_fold(estimator, X, y, train, test, fit_params):
    params = dict(fit_params)
    if params.get("sample_weight") is not None:
        # The one parameter known to hold a value per sample; others (a validation
        # set, callbacks) pass unchanged to every fold.
        params["sample_weight"] = np.asarray(params["sample_weight"])[train]
    model = clone(estimator).fit(take(X, train), take(y, train), **params)
    return test, np.asarray(model.classes_), np.asarray(model.predict_proba(take(X, test)))


def cross_val_proba(
    estimator: Any,
    X: Any,
    y: Any,
    classes: np.ndarray,
    *,
    cv: Any,
    y_split: Any = None,
    classifier: bool = False,
    fit_params: dict | None = None,
    split_params: dict | None = None,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Out-of-fold ``predict_proba`` of clones of ``estimator``, in ``classes`` order.

    Rows that no test fold covers stay NaN. A fold fitted without some class (or
    label of an inferred tree) gives it probability 0.

    Raises
    ------
    ValueError
        When a fold was fitted on labels the full fit does not have, or when
        ``predict_proba`` does not return ``(n_samples, n_labels)``.
    """
    n = X.shape[0]
    splitter = check_cv(cv, y_split, classifier=classifier)
    folds = Parallel(n_jobs=n_jobs)(
        delayed(_fit_fold)(estimator, X, y, train, test, fit_params or {})
        for train, test in splitter.split(np.zeros((n, 1)), y_split, **(split_params or {}))
    )
    classes = np.asarray(classes)
    P = np.full((n, len(classes)), np.nan)
    pos = {c: j for j, c in enumerate(classes.tolist())}
    for k, (test, fold_classes, proba) in enumerate(folds):
        if proba.ndim != 2 or proba.shape[0] != len(test):
            raise ValueError(
                "estimator.predict_proba must return an array (n_samples, n_labels), "
                f"got shape {proba.shape}."
            )
        if len(fold_classes) == len(classes) and np.array_equal(fold_classes, classes):
            P[test] = proba
            continue
        if not set(fold_classes.tolist()) <= set(pos):
            raise ValueError(
                f"Cross-validation fold {k} was fitted on labels that the full fit does "
                "not have. Give the estimator an explicit hierarchy= so that every "
                "fold uses the same label tree."
            )
        P[test] = 0.0  # a fold that missed a class (or an inferred label)
        P[np.ix_(test, [pos[c] for c in fold_classes.tolist()])] = proba
    return P
