"""User targets -> one indicator matrix over every node of the tree.

Every accepted format (the user guide's *Targets* section) ends as ``Y_full``:
float32, shape
``(n_samples, n_labels)`` in ``hierarchy.labels`` order, values 0, 1 or NaN
(unknown). Parents are completed by the max rule, children of a parent-only
annotation become unknown, and labels that break the tree raise an error that
names rows and labels.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .hierarchy import Hierarchy

__all__ = ["encode_targets"]

_SEP = "/"
_COLLECTIONS = (list, tuple, set, frozenset, np.ndarray)


def as_hierarchy(hierarchy: Any) -> Hierarchy | None:
    """``None`` stays ``None``; anything else goes through ``Hierarchy(...)``."""
    if hierarchy is None or isinstance(hierarchy, Hierarchy):
        return hierarchy
    return Hierarchy(hierarchy)


def _is_dataframe(Y: Any) -> bool:
    return hasattr(Y, "columns") and hasattr(Y, "iloc")


def _array_like(Y: Any) -> Any:
    """Array-likes that are not sequences (``__array__`` only) become arrays."""
    if not isinstance(Y, list | tuple | np.ndarray) and hasattr(Y, "__array__"):
        if not _is_dataframe(Y) and not hasattr(Y, "toarray"):
            return np.asarray(Y)
    return Y


def is_unnamed_indicator(Y: Any) -> bool:
    """A numeric indicator without column names (flat labels are then numbered).

    Examples
    --------
    >>> is_unnamed_indicator([[0, 1], [1, 0]]), is_unnamed_indicator([["violin"]])
    (True, False)
    """
    if _is_dataframe(Y) or hasattr(Y, "toarray"):
        return False
    try:
        arr = np.asarray(Y)
    except (TypeError, ValueError):  # ragged label sets
        return False
    return arr.ndim == 2 and arr.dtype.kind in "biuf"


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Number | np.bool_) and not isinstance(v, str)


def _names_are_labels(values: Iterable, hierarchy: Hierarchy | None) -> bool:
    if hierarchy is None:
        return False
    return all(isinstance(v, str) and v.split(_SEP)[-1] in hierarchy for v in values)


def is_class_target(Y: Any, hierarchy: Any = None) -> bool:
    """True when ``Y`` holds one class label per sample (binary / multiclass).

    A 1-D array (or a single column, when no hierarchy is given) is a class
    target, unless a hierarchy is given and every value names one of its labels:
    then each sample carries that one label in the tree.

    Examples
    --------
    >>> is_class_target([0, 1, 1, 2])
    True
    >>> is_class_target([[0, 1], [1, 1]])
    False
    >>> is_class_target(["violin", "trumpet"], {"strings": ["violin"], "brass": ["trumpet"]})
    False
    """
    if _is_dataframe(Y):
        return False
    hierarchy = as_hierarchy(hierarchy)
    if hasattr(Y, "toarray"):  # sparse matrices are indicators
        return False
    Y = _array_like(Y)
    if isinstance(Y, _COLLECTIONS[:2]) or not hasattr(Y, "shape"):
        items = list(Y)
        if any(isinstance(row, _COLLECTIONS) for row in items):
            return False
        return _one_value_per_sample(items, hierarchy)
    arr = np.asarray(Y)
    if arr.ndim == 1:
        return _one_value_per_sample(arr.tolist(), hierarchy)
    return arr.ndim == 2 and arr.shape[1] == 1 and hierarchy is None


def _one_value_per_sample(values: list, hierarchy: Hierarchy | None) -> bool:
    """True for class labels; False for one tree label per sample; else an error.

    With a hierarchy, every value must name one of its labels: a typo would
    otherwise turn the model silently into a multiclass classifier that ignores
    the tree.
    """
    if hierarchy is None:
        return True
    if _names_are_labels(values, hierarchy):
        return False
    unknown = sorted(
        {str(v) for v in values if not (isinstance(v, str) and v.split(_SEP)[-1] in hierarchy)}
    )
    raise ValueError(
        f"y holds one value per sample and a hierarchy is given, but {len(unknown)} "
        f"distinct value(s) are not labels of the hierarchy: {unknown[:5]}"
        f"{' ...' if len(unknown) > 5 else ''}. Fix the label names, or pass "
        "hierarchy=None to fit a plain (multiclass) classifier."
    )


def encode_targets(
    Y: Any, hierarchy: Any = None, *, inconsistent: str = "error"
) -> tuple[np.ndarray, Hierarchy]:
    """Turn multi-label targets of any accepted format into ``(Y_full, hierarchy)``.

    Parameters
    ----------
    Y : array-like, sequence of label collections, or DataFrame
        One of: an indicator ``(n, n_leaves)`` (leaf columns; parents by the max
        rule); an indicator ``(n, n_labels)`` (every node; a parent may be set
        without any child); a sequence of collections of label names or path
        strings (``"strings/violin"``); a DataFrame whose columns are label names.
        NaN (or -1 in 2-D indicators) means unknown.
    hierarchy : Hierarchy, dict, list or None
        The label tree. With ``None`` the tree is inferred from path strings, and
        any other target becomes flat multi-label tagging (every label a root).
    inconsistent : {"error", "propagate"}, default="error"
        What to do with a child labelled 1 under a parent labelled 0: raise, or set
        the parent (and its ancestors) to 1.

    Returns
    -------
    Y_full : ndarray of shape (n_samples, n_labels), float32
        0/1 with NaN for unknown, columns in ``hierarchy.labels`` order.
    hierarchy : Hierarchy
        The given or inferred tree.

    Examples
    --------
    >>> h = {"strings": ["violin", "cello"], "brass": ["trumpet"]}
    >>> Y, tree = encode_targets([["violin"], ["brass"]], h)
    >>> tree.labels
    ('strings', 'brass', 'violin', 'cello', 'trumpet')
    >>> Y
    array([[ 1.,  0.,  1.,  0.,  0.],
           [ 0.,  1.,  0.,  0., nan]], dtype=float32)
    """
    if inconsistent not in ("error", "propagate"):
        raise ValueError(f"inconsistent must be 'error' or 'propagate', got {inconsistent!r}.")
    hierarchy = as_hierarchy(hierarchy)
    if is_class_target(Y, hierarchy):
        if hierarchy is not None:
            raise ValueError(
                "Y is 1-D but its values are not labels of the hierarchy. Pass one "
                "collection of label names per sample, or an indicator matrix."
            )
        raise ValueError(
            "Y holds one class per sample (a 1-D target); encode_targets needs "
            "multi-label targets. HierarchicalTagger handles class targets itself."
        )
    Y = _array_like(Y)
    if _is_dataframe(Y):
        Y_full, hierarchy = _from_dataframe(Y, hierarchy)
    elif hasattr(Y, "toarray"):
        Y_full, hierarchy = _from_indicator(Y.toarray(), hierarchy)
    elif isinstance(Y, np.ndarray) and Y.dtype.kind in "biuf":
        Y_full, hierarchy = _from_indicator(Y, hierarchy)
    else:
        rows = list(Y)
        if rows and all(_is_numeric_row(r) for r in rows):
            Y_full, hierarchy = _from_indicator(np.asarray(rows, dtype=float), hierarchy)
        else:
            Y_full, hierarchy = _from_label_sets(rows, hierarchy)
    if Y_full.shape[0] == 0:
        raise ValueError("Y is empty: it has 0 samples.")
    return _complete(Y_full, hierarchy, inconsistent), hierarchy


def _is_numeric_row(row: Any) -> bool:
    if not isinstance(row, _COLLECTIONS) or isinstance(row, set | frozenset):
        return False
    values = list(np.ravel(row)) if isinstance(row, np.ndarray) else list(row)
    return len(values) > 0 and all(_is_number(v) for v in values)


def _check_values(Y: np.ndarray, what: str) -> None:
    ok = np.isnan(Y) | np.isin(Y, (0.0, 1.0))
    if not ok.all():
        rows, cols = np.nonzero(~ok)
        bad = sorted({float(v) for v in Y[rows, cols]})[:5]
        raise ValueError(
            f"{what} must hold 0, 1, or NaN/-1 for unknown; found {bad} "
            f"(first at row {rows[0]}, column {cols[0]}). Binarise the targets first."
        )


def _from_indicator(Y: Any, hierarchy: Hierarchy | None) -> tuple[np.ndarray, Hierarchy]:
    Y = np.asarray(Y)
    if Y.dtype.kind not in "biuf":
        raise ValueError(
            f"An indicator target must be numeric, got dtype {Y.dtype}. For label "
            "names pass one collection of names per sample."
        )
    if Y.ndim != 2:
        raise ValueError(f"An indicator target must be 2-D, got shape {Y.shape}.")
    Y = Y.astype(np.float32)
    Y[Y == -1] = np.nan
    _check_values(Y, "An indicator target")
    if hierarchy is None:
        hierarchy = Hierarchy.flat(str(i) for i in range(Y.shape[1]))
    n_leaves, n_labels = len(hierarchy.leaves), len(hierarchy.labels)
    if Y.shape[1] == n_labels:
        return Y, hierarchy
    if Y.shape[1] == n_leaves:
        full = np.full((Y.shape[0], n_labels), np.nan, dtype=np.float32)
        full[:, [hierarchy.index(n) for n in hierarchy.leaves]] = Y
        return full, hierarchy
    raise ValueError(
        f"Y has {Y.shape[1]} columns, but the hierarchy has {n_leaves} leaves and "
        f"{n_labels} labels. Give one column per leaf (in hierarchy.leaves order) or "
        "per label (in hierarchy.labels order)."
    )


def _from_dataframe(df: Any, hierarchy: Hierarchy | None) -> tuple[np.ndarray, Hierarchy]:
    names = [str(c) for c in df.columns]
    if hierarchy is None:
        if any(_SEP in n for n in names):
            hierarchy = Hierarchy.from_paths(names)
            names = [n.split(_SEP)[-1] for n in names]
        else:
            hierarchy = Hierarchy.flat(names)
    else:
        names = [n.split(_SEP)[-1] for n in names]
    unknown = [n for n in names if n not in hierarchy]
    if unknown:
        raise ValueError(
            f"Y has columns that are not labels of the hierarchy: {unknown}. "
            f"Known labels: {list(hierarchy.labels)}."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"Y has duplicate label columns: {names}.")
    values = df.to_numpy()
    if values.dtype.kind not in "biuf":
        try:
            values = values.astype(float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"DataFrame targets must be numeric 0/1/NaN: {exc}") from None
    values = values.astype(np.float32)
    values[values == -1] = np.nan
    _check_values(values, "DataFrame targets")
    full = np.full((len(df), len(hierarchy.labels)), np.nan, dtype=np.float32)
    full[:, [hierarchy.index(n) for n in names]] = values
    return full, hierarchy


def _resolve(name: Any, hierarchy: Hierarchy, row: int) -> str:
    if not isinstance(name, str):
        raise ValueError(
            f"Row {row} holds {name!r}: label collections must contain label names "
            "(str) or path strings."
        )
    parts = name.strip(_SEP).split(_SEP)
    node = parts[-1]
    if node not in hierarchy:
        raise ValueError(
            f"Unknown label {name!r} in row {row}. Known labels: {list(hierarchy.labels)}."
        )
    expected = hierarchy.path_of(node).split(_SEP)
    if len(parts) > 1 and expected[-len(parts) :] != parts:
        raise ValueError(
            f"Path {name!r} in row {row} does not match the hierarchy, where "
            f"{node!r} lies at {'/'.join(expected)!r}."
        )
    return node


def _infer_from_label_sets(rows: list) -> Hierarchy:
    names = [n for row in rows for n in row if isinstance(n, str)]
    if not names:
        raise ValueError(
            "Cannot infer the labels: Y names none. Pass hierarchy= (or a label in some row)."
        )
    paths = [n for n in names if _SEP in n.strip(_SEP)]
    if not paths:
        return Hierarchy.flat(sorted(set(names)))
    tree = Hierarchy.from_paths(dict.fromkeys(paths))
    extra = [n for n in dict.fromkeys(names) if n.strip(_SEP).split(_SEP)[-1] not in tree]
    if extra:
        tree = Hierarchy(
            [(n, tree.parent_of(n)) for n in tree.labels] + [(e, None) for e in extra]
        )
    return tree


def _from_label_sets(rows: list, hierarchy: Hierarchy | None) -> tuple[np.ndarray, Hierarchy]:
    rows = [[r] if isinstance(r, str) else r for r in rows]
    for i, row in enumerate(rows):
        if not isinstance(row, Iterable) or isinstance(row, Mapping):
            raise ValueError(f"Row {i} of Y is {row!r}; expected a collection of label names.")
    rows = [list(r) for r in rows]
    if hierarchy is None:
        hierarchy = _infer_from_label_sets(rows)
    Y = np.zeros((len(rows), len(hierarchy.labels)), dtype=np.float32)
    for i, row in enumerate(rows):
        for name in row:
            node = _resolve(name, hierarchy, i)
            for n in (node, *hierarchy.ancestors_of(node)):
                Y[i, hierarchy.index(n)] = 1.0
    return Y, hierarchy


def _inner_by_depth(hierarchy: Hierarchy) -> list:
    """Inner nodes with their children's columns, deepest level first."""
    out = []
    for level in reversed(hierarchy.levels):
        for node in level:
            kids = hierarchy.children_of(node)
            if kids:
                out.append((hierarchy.index(node), [hierarchy.index(c) for c in kids]))
    return out


def _complete(Y: np.ndarray, hierarchy: Hierarchy, inconsistent: str) -> np.ndarray:
    Y = Y.copy()
    inner = _inner_by_depth(hierarchy)
    conflicts, bad_rows = [], set()
    # Bottom-up: derive parents from their (already completed) children.
    for k, kids in inner:
        child = Y[:, kids]
        any_pos = (child == 1).any(axis=1)
        all_neg = (child == 0).all(axis=1)
        clash = any_pos & (Y[:, k] == 0)
        if clash.any():
            bad_rows.update(np.flatnonzero(clash).tolist())
            if inconsistent == "error":
                for r in np.flatnonzero(clash)[:20]:
                    pos = [hierarchy.labels[kids[j]] for j in np.flatnonzero(child[r] == 1)]
                    conflicts.append((r, pos, hierarchy.labels[k]))
            Y[clash, k] = 1.0
        unknown = np.isnan(Y[:, k])
        Y[unknown & any_pos, k] = 1.0
        Y[unknown & all_neg, k] = 0.0
    if conflicts:
        n_bad = len(bad_rows)
        conflicts.sort()
        shown = "; ".join(f"row {r}: {c} = 1 but parent {p!r} = 0" for r, c, p in conflicts[:10])
        raise ValueError(
            f"Y breaks the hierarchy (a child is present while its parent is marked "
            f"absent) in {n_bad} rows: {shown}. Fix the labels, or pass "
            "inconsistent='propagate' to set the parents to 1."
        )
    # Top-down: a parent-only annotation leaves its subtree unknown; an absent parent
    # makes its whole subtree absent (max rule).
    for k, kids in reversed(inner):
        below = [hierarchy.index(d) for d in hierarchy.descendants_of(hierarchy.labels[k])]
        parent_only = (Y[:, k] == 1) & (Y[:, kids] == 0).all(axis=1)
        if parent_only.any():
            Y[np.ix_(parent_only, below)] = np.nan
        absent = Y[:, k] == 0
        if absent.any():
            sub = Y[np.ix_(absent, below)]
            sub[np.isnan(sub)] = 0.0
            Y[np.ix_(absent, below)] = sub
    return Y
