"""No function in hwbench runs over 100 lines unless the line above it says why it reads best whole
("# Reads best whole: ..."), and at most five do."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "hwbench"
LIMIT = 100
MARK = "# Reads best whole:"


def long_functions(root: Path = ROOT) -> list[tuple[str, str, int, bool]]:
    """(file, function, lines, whether the line above its def, or above its first decorator, is MARK)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LIMIT:
                    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                    above = lines[first - 2].strip() if first >= 2 else ""
                    out.append(
                        (str(path.relative_to(root.parent)), node.name, length, above.startswith(MARK))
                    )
    return out


def test_long_functions_say_why_they_stay_whole() -> None:
    assert [f for f in long_functions() if not f[3]] == []


def test_at_most_five_long_functions() -> None:
    assert len(long_functions()) <= 5, long_functions()


def test_the_finder_sees_a_long_function_and_its_reason(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "    x = 1\n" * 120
    (pkg / "a.py").write_text(f"def short():\n    pass\n\n\ndef long():\n{body}")
    (pkg / "b.py").write_text(f"{MARK} a table\n@staticmethod\ndef long():\n{body}")
    assert long_functions(pkg) == [("pkg/a.py", "long", 121, False), ("pkg/b.py", "long", 121, True)]
