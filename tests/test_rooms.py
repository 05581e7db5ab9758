"""No function in hwbench runs over 100 lines unless the line above it says why it reads best whole
("# Reads best whole: ..."), and at most five do."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "hwbench"
LIMIT = 100
MARK = "# Reads best whole:"


def long_functions() -> list[tuple[str, str, int, bool]]:
    """(file, function, lines, whether the line above its def, or above its first decorator, is MARK)."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LIMIT:
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    above = lines[first - 2].strip() if first >= 2 else ""
                    out.append(
                        (str(path.relative_to(ROOT.parent)), node.name, length, above.startswith(MARK))
                    )
    return out


def test_long_functions_say_why_they_stay_whole() -> None:
    assert [f for f in long_functions() if not f[3]] == []


def test_at_most_five_long_functions() -> None:
    assert len(long_functions()) <= 5, long_functions()


def test_the_finder_measures_a_function() -> None:
    found = {(f, name) for f, name, _, _ in long_functions()}
    assert all(f.startswith("hwbench/") for f, _ in found)
    tree = ast.parse("def f():\n" + "    x = 1\n" * 120)
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef) and (fn.end_lineno or 0) - fn.lineno + 1 == 121
