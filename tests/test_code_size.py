"""House rules that keep the package readable: modules <= 600 lines, functions <= 60
lines of code (docstrings, comments and blank lines not counted)."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sk_hier"
MAX_MODULE_LINES = 600
MAX_FUNCTION_CODE_LINES = 60


def _code_lines(source: str) -> set[int]:
    """Line numbers that hold code: not blank, not only a comment."""
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (
            tokenize.COMMENT,
            tokenize.NL,
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
            tokenize.ENDMARKER,
        ):
            lines.update(range(tok.start[0], tok.end[0] + 1))
    return lines


def _docstring_lines(node: ast.AST) -> set[int]:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            return set(range(body[0].lineno, body[0].end_lineno + 1))
    return set()


def _only_stores_parameters(node: ast.FunctionDef) -> bool:
    """An ``__init__`` that only stores its arguments (scikit-learn's rule for
    estimators): as long as the parameter list, and nothing to split."""
    body = [
        s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
    ]
    return node.name == "__init__" and all(
        isinstance(s, ast.Assign)
        and all(isinstance(t, ast.Attribute) for t in s.targets)
        and isinstance(s.value, ast.Name)
        for s in body
    )


def _long_functions(path: Path) -> list[str]:
    source = path.read_text()
    code = _code_lines(source)
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _only_stores_parameters(node):
                continue
            span = set(range(node.lineno, node.end_lineno + 1))
            n = len((span & code) - _docstring_lines(node))
            if n > MAX_FUNCTION_CODE_LINES:
                out.append(f"{path.name}:{node.lineno} {node.name} ({n} code lines)")
    return out


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_and_function_sizes(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{path.name} has {n_lines} lines; split it by concern"
    assert _long_functions(path) == [], "split these into named steps"


def test_the_rule_can_fail(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_CODE_LINES))
    path = tmp_path / "long.py"
    path.write_text(f'def f():\n    """Doc."""\n    # a comment\n\n{body}\n')
    assert _long_functions(path) == ["long.py:1 f (61 code lines)"]  # def line + body
    path.write_text(path.read_text().replace("    x0 = 0\n", ""))
    assert _long_functions(path) == []
