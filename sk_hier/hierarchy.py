"""The label tree: node order, levels and index maps."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["Hierarchy"]

# Deeper trees are written as edge lists: nested JSON that deep hits Python's
# recursion limit when read back.
_MAX_NESTED_JSON_DEPTH = 100


def _edges_from_mapping(tree: Mapping, parent: str | None, edges: list) -> None:
    """Collect ``(child, parent)`` edges of a (nested) ``{parent: children}`` dict.

    Walked with an explicit stack, not recursion: a tree may be deeper than
    Python's recursion limit.
    """
    stack = [(tree, parent)]
    while stack:
        mapping, above = stack.pop()
        pending = []  # children of this mapping, kept in input order
        for name, children in mapping.items():
            edges.append((name, above))
            if children is None:
                continue
            if isinstance(children, Mapping):
                pending.append((children, name))
            elif isinstance(children, str):
                raise ValueError(
                    f"Children of {name!r} must be a list of names or a dict, got the "
                    f"string {children!r}. Write [{children!r}] for a single child."
                )
            else:
                for child in children:
                    if isinstance(child, Mapping):
                        pending.append((child, name))
                    else:
                        edges.append((child, name))
        stack.extend(reversed(pending))


def _edges_from_paths(paths: Iterable[str], sep: str) -> list:
    edges = []
    for path in paths:
        parts = [p for p in str(path).strip(sep).split(sep)]
        if not parts or any(p == "" for p in parts):
            raise ValueError(f"Path {path!r} has an empty component; write 'parent{sep}child'.")
        parent = None
        for part in parts:
            edges.append((part, parent))
            parent = part
    return edges


class Hierarchy:
    """An immutable tree of unique label names, of any depth.

    Parameters
    ----------
    tree : dict, sequence of (child, parent) pairs, sequence of path strings, or Hierarchy
        ``{parent: [children, ...]}`` (values may be nested dicts for deeper trees; a
        child that is also a key of the same dict is linked under it), ``(child, parent)``
        edges (``parent=None`` for a root), or path strings such as ``"strings/violin"``.
    sep : str, default="/"
        Separator of path strings.

    Attributes
    ----------
    labels : tuple of str
        Every node, level by level (parents before children); within a level grouped
        by parent in the parent's order, then in input order.
    leaves : tuple of str
        Nodes without children, in ``labels`` order.
    levels : list of tuple of str
        Nodes by depth, shallowest first.

    Examples
    --------
    >>> from sk_hier import Hierarchy
    >>> h = Hierarchy({"strings": ["violin", "cello"], "brass": ["trumpet"]})
    >>> h.labels
    ('strings', 'brass', 'violin', 'cello', 'trumpet')
    >>> h.parent_of("cello"), h.children_of("brass")
    ('strings', ('trumpet',))
    >>> h.membership(0, 1)
    array([[1, 1, 0],
           [0, 0, 1]])
    >>> Hierarchy(["strings/violin", "brass/trumpet"]).leaves
    ('violin', 'trumpet')
    """

    def __init__(self, tree: Any, sep: str = "/") -> None:
        if isinstance(tree, Hierarchy):
            edges = [(n, tree.parent_of(n)) for n in tree.labels]
        elif isinstance(tree, Mapping):
            edges = []
            _edges_from_mapping(tree, None, edges)
        elif isinstance(tree, str):
            raise ValueError("A hierarchy needs several paths; got a single string. Pass a list.")
        else:
            items = list(tree)
            if all(isinstance(i, str) for i in items):
                edges = _edges_from_paths(items, sep)
            elif all(isinstance(i, Sequence) and len(i) == 2 for i in items):
                edges = [(c, p) for c, p in items]
            else:
                raise ValueError(
                    "Cannot read the hierarchy: pass {parent: [children]}, "
                    "(child, parent) pairs, or path strings such as 'strings/violin'."
                )
        self._build(edges)

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_edges(cls, edges: Iterable[tuple[str, str | None]]) -> Hierarchy:
        """Build from ``(child, parent)`` pairs; ``parent=None`` marks a root."""
        return cls(list(edges))

    @classmethod
    def from_paths(cls, paths: Iterable[str], sep: str = "/") -> Hierarchy:
        """Build from path strings ``"root/.../leaf"``, keeping first appearance order."""
        return cls([str(p) for p in paths], sep=sep)

    @classmethod
    def flat(cls, labels: Iterable[Any]) -> Hierarchy:
        """A one-level tree: every label is a root (plain multi-label tagging)."""
        return cls([(str(label), None) for label in labels])

    def _build(self, edges: list) -> None:
        object.__setattr__(self, "_frozen", False)
        parent: dict[str, str | None] = {}
        order: dict[str, int] = {}
        for child, par in edges:
            for name in (child, par):
                if name is not None and not isinstance(name, str):
                    raise ValueError(
                        f"Label names must be strings, got {name!r} ({type(name).__name__})."
                    )
                if name is not None and name.strip() == "":
                    raise ValueError("Label names must not be empty strings.")
            order.setdefault(child, len(order))
            if par is not None:
                order.setdefault(par, len(order))
                parent.setdefault(par, None)
            old = parent.get(child)
            if old is not None and par is not None and old != par:
                raise ValueError(
                    f"Label {child!r} appears under two parents ({old!r} and {par!r}). "
                    "Label names must be unique: prefix duplicates, e.g. "
                    f"'{old}/{child}' -> '{old}_{child}'."
                )
            if child == par:
                raise ValueError(f"Label {child!r} is its own parent (a cycle).")
            if old is None:
                parent[child] = par
        if not parent:
            raise ValueError(
                "The hierarchy is empty: give at least one label, e.g. {'strings': ['violin']}."
            )
        self._check_acyclic(parent)
        children: dict[str, list] = {n: [] for n in parent}
        for name in sorted(parent, key=order.__getitem__):
            if parent[name] is not None:
                children[parent[name]].append(name)
        roots = [n for n in sorted(parent, key=order.__getitem__) if parent[n] is None]
        levels, frontier = [], roots
        while frontier:
            levels.append(tuple(frontier))
            frontier = [c for n in frontier for c in children[n]]
        self._parent = parent
        self._children = {k: tuple(v) for k, v in children.items()}
        self._levels = levels
        self.labels = tuple(n for level in levels for n in level)
        self._index = {n: i for i, n in enumerate(self.labels)}
        self._depth = {n: d for d, level in enumerate(levels) for n in level}
        self.leaves = tuple(n for n in self.labels if not self._children[n])
        object.__setattr__(self, "_frozen", True)

    @staticmethod
    def _check_acyclic(parent: dict) -> None:
        for start in parent:
            seen, node = [start], parent[start]
            while node is not None:
                if node in seen:
                    cycle = " -> ".join(seen[seen.index(node) :] + [node])
                    raise ValueError(f"The hierarchy has a cycle: {cycle}. A tree has none.")
                seen.append(node)
                node = parent[node]

    # -- queries ------------------------------------------------------------------
    @property
    def levels(self) -> list:
        return list(self._levels)

    @property
    def n_levels(self) -> int:
        return len(self._levels)

    @property
    def inner(self) -> tuple:
        """Nodes with children, in ``labels`` order."""
        return tuple(n for n in self.labels if self._children[n])

    def _check(self, name: str) -> str:
        if name not in self._index:
            raise KeyError(f"Unknown label {name!r}; known labels: {list(self.labels)}.")
        return name

    def parent_of(self, name: str) -> str | None:
        """The parent of ``name`` (``None`` for a root)."""
        return self._parent[self._check(name)]

    def children_of(self, name: str) -> tuple:
        """The children of ``name`` in input order (empty for a leaf)."""
        return self._children[self._check(name)]

    def ancestors_of(self, name: str) -> tuple:
        """Ancestors of ``name``, nearest first."""
        out, node = [], self.parent_of(name)
        while node is not None:
            out.append(node)
            node = self._parent[node]
        return tuple(out)

    def descendants_of(self, name: str) -> tuple:
        """All nodes below ``name``, in ``labels`` order."""
        below, frontier = set(), list(self.children_of(name))
        while frontier:
            node = frontier.pop()
            below.add(node)
            frontier.extend(self._children[node])
        return tuple(n for n in self.labels if n in below)

    def level_of(self, name: str) -> int:
        """Depth of ``name`` (0 for a root)."""
        return self._depth[self._check(name)]

    def index(self, name: str) -> int:
        """Position of ``name`` in ``labels``."""
        return self._index[self._check(name)]

    def path_of(self, name: str, sep: str = "/") -> str:
        """``"root/.../name"``."""
        return sep.join(reversed((name,) + self.ancestors_of(name)))

    def membership(self, level_a: int, level_b: int) -> np.ndarray:
        """0/1 matrix ``M[i, j] = 1`` when node j of ``level_b`` lies under node i of ``level_a``.

        ``level_a`` must be shallower than ``level_b``; rows follow ``levels[level_a]``,
        columns ``levels[level_b]``.
        """
        if not 0 <= level_a < level_b < self.n_levels:
            raise ValueError(
                f"membership needs 0 <= level_a < level_b < {self.n_levels}, "
                f"got ({level_a}, {level_b})."
            )
        rows, cols = self._levels[level_a], self._levels[level_b]
        pos = {n: i for i, n in enumerate(rows)}
        out = np.zeros((len(rows), len(cols)), dtype=int)
        for j, node in enumerate(cols):
            anc = self.ancestors_of(node)
            out[pos[anc[level_b - level_a - 1]], j] = 1
        return out

    def leaf_membership(self) -> np.ndarray:
        """0/1 matrix (n_labels, n_leaves): 1 where the leaf is the node or lies below it."""
        out = np.zeros((len(self.labels), len(self.leaves)), dtype=int)
        for j, leaf in enumerate(self.leaves):
            for node in (leaf,) + self.ancestors_of(leaf):
                out[self._index[node], j] = 1
        return out

    def to_dict(self) -> dict:
        """Nested ``{node: {child: {...}}}`` dict, which ``Hierarchy`` reads back."""
        out: dict = {}
        nodes = {None: out}
        for name in self.labels:  # parents come before their children
            nodes[name] = nodes[self._parent[name]].setdefault(name, {})
        return out

    def to_json(self) -> str:
        """JSON text of the tree; read it back with ``Hierarchy.from_json``.

        The nested ``to_dict()`` form, or ``(child, parent)`` edges for a tree too
        deep for a nested JSON text to be written and read back.
        """
        if self.n_levels <= _MAX_NESTED_JSON_DEPTH:
            return json.dumps(self.to_dict())
        return json.dumps([[n, self._parent[n]] for n in self.labels])

    @classmethod
    def from_json(cls, text: str) -> Hierarchy:
        """Read the JSON text written by ``to_json`` (nested dict or edge list)."""
        try:
            tree = json.loads(text)
        except RecursionError:
            raise ValueError(
                "The hierarchy JSON is nested too deeply to read; write it as a list of "
                '[child, parent] edges instead (e.g. [["violin", "strings"], '
                '["strings", null]]).'
            ) from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"The hierarchy is not valid JSON: {exc}.") from None
        return cls(tree)

    # -- dunder -------------------------------------------------------------------
    def _key(self) -> tuple:
        return tuple((n, self._parent[n]) for n in self.labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hierarchy) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self):
        return iter(self.labels)

    def __repr__(self) -> str:
        return f"Hierarchy({self.to_dict()!r})"

    def _depth_first(self) -> list[tuple[int, str]]:
        """``(depth, name)`` of every node, each parent followed by its subtree."""
        out: list[tuple[int, str]] = []
        stack = [(0, name) for name in reversed(self.levels[0])] if self.labels else []
        while stack:
            depth, name = stack.pop()
            out.append((depth, name))
            stack.extend((depth + 1, c) for c in reversed(self.children_of(name)))
        return out

    def __str__(self) -> str:
        """The tree, one node a line, children indented under their parent.

        Examples
        --------
        >>> print(Hierarchy({"strings": ["violin", "cello"], "brass": ["trumpet"]}))
        Hierarchy: 5 labels, 2 levels
        strings
          violin
          cello
        brass
          trumpet
        """
        head = f"Hierarchy: {len(self.labels)} labels, {self.n_levels} levels"
        return "\n".join([head, *("  " * d + name for d, name in self._depth_first())])

    def _repr_html_(self) -> str:
        """The tree as nested HTML lists, for notebooks (names escaped)."""
        import html

        parts = [f"<b>Hierarchy</b>: {len(self.labels)} labels, {self.n_levels} levels<ul>"]
        previous = 0
        for depth, name in self._depth_first():
            parts.append("</li></ul>" * (previous - depth) + ("<ul>" if depth > previous else ""))
            if depth <= previous and len(parts) > 2:
                parts.append("</li>")
            parts.append(f"<li>{html.escape(name)}")
            previous = depth
        parts.append("</li></ul>" * previous + "</li></ul>")
        return "".join(parts)

    def __getstate__(self) -> dict:
        return {"edges": [(n, self._parent[n]) for n in self.labels]}

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "_frozen", False)
        self._build(state["edges"])

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError("Hierarchy is immutable; build a new one instead.")
        super().__setattr__(name, value)
