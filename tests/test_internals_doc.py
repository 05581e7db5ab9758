"""docs/internals.md's module table against the code: every `name(args)` in its API column names a
function, class or method that exists, with those parameters in that order. "..." stands for
parameters left out; without it the list is complete (self and cls aside). A type in place of a
parameter name, a renamed or dropped parameter, or a removed function fails here."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "internals.md"
CALL = re.compile(r"^([A-Za-z_][\w.]*)\(")


def call_of(span: str) -> tuple[str, str] | None:
    """("name", "args") for a span that documents a signature: `name(args)`, optionally `-> result`.
    Examples (a quoted argument), expressions (`f(x).g()`) and `hwbench.x()` usages are not."""
    m = CALL.match(span)
    if not m or span.startswith("hwbench."):
        return None
    depth = 0
    for i in range(m.end() - 1, len(span)):
        depth += {"(": 1, ")": -1}.get(span[i], 0)
        if depth == 0:
            args, rest = span[m.end() : i], span[i + 1 :].strip()
            if (rest and not rest.startswith("->")) or '"' in args:
                return None
            return m.group(1), args
    return None


def rows() -> list[tuple[list[str], list[str]]]:
    """(modules of the row, code spans of its API column) for each row of the module table."""
    out = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = line.split(" | ")
        if not line.startswith("| `hwbench") or len(cells) < 3 or "<name>" in cells[0]:
            continue
        modules = []
        for path in re.findall(r"`(hwbench/[\w/]*?(?:\.py)?)`", cells[0]):
            name = path.removesuffix(".py").removesuffix("/__init__").rstrip("/").replace("/", ".")
            modules.append(name)
        out.append((modules, re.findall(r"`([^`]+)`", " | ".join(cells[2:]))))
    return out


def split_params(text: str) -> list[str]:
    """Top-level comma-separated items of a parameter list, brackets respected."""
    items, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur.strip())
    return items


def documented_calls() -> list[tuple[list[str], list[str], str, list[str]]]:
    """(row modules, classes named in the row, dotted name, parameter items) per `name(args)` span."""
    out = []
    for modules, spans in rows():
        classes = [s for s in spans if re.fullmatch(r"[A-Z]\w*", s)]
        for span in spans:
            call = call_of(span)
            if call:
                out.append((modules, classes, call[0], split_params(call[1])))
    return out


def resolve(modules: list[str], classes: list[str], dotted: str) -> Callable[..., object] | None:
    for module in modules:
        mod = importlib.import_module(module)
        owners: list[object] = [mod, *(getattr(mod, c) for c in classes if hasattr(mod, c))]
        head, _, tail = dotted.rpartition(".")
        if head:  # a submodule's name: `matmul.ceiling` (a package may shadow it with a function)
            with contextlib.suppress(ImportError):
                owners.insert(0, importlib.import_module(f"{module}.{head}"))
            name = tail
        else:
            name = dotted
        for owner in owners:
            obj = getattr(owner, name, None)
            if obj is not None and callable(obj):
                return obj
        obj = mod  # a method: `PciIds.find`
        for part in dotted.split("."):
            obj = getattr(obj, part, None)
        if obj is not None and callable(obj):
            return obj
    return None


def parameter_names(obj: Callable[..., object]) -> list[str]:
    params = inspect.signature(obj).parameters.values()
    return [p.name for p in params if p.name not in ("self", "cls")]


def documented_names(items: list[str]) -> tuple[list[str], bool]:
    """The names the documentation gives, and whether it elides some ("...")."""
    names, elided = [], False
    for item in items:
        if item in ("...", "…"):
            elided = True
            continue
        if item in ("*", "/"):
            continue
        names.append(item.split("=", 1)[0].split(":", 1)[0].strip().lstrip("*"))
    return names, elided


CALLS = documented_calls()


def test_the_table_documents_calls() -> None:
    assert len(CALLS) > 40
    assert any(name == "detect_system" for _, _, name, _ in CALLS)


@pytest.mark.parametrize("modules,classes,dotted,items", CALLS, ids=[c[2] for c in CALLS])
def test_documented_signature_matches_the_code(
    modules: list[str], classes: list[str], dotted: str, items: list[str]
) -> None:
    obj = resolve(modules, classes, dotted)
    assert obj is not None, f"{dotted} is not in {modules}"
    actual = parameter_names(obj)
    names, elided = documented_names(items)
    if not elided:
        assert names == actual, f"{dotted}: documented {names}, code {actual}"
    else:
        positions = [actual.index(n) if n in actual else -1 for n in names]
        assert -1 not in positions, f"{dotted}: documented {names}, code {actual}"
        assert positions == sorted(positions), f"{dotted}: documented order {names}, code {actual}"


def test_every_module_has_a_row() -> None:
    """Each module file is named in the table: by its path, a package's __init__ by its folder, and a
    submodule also by `name.attr` in its package's row (`matmul.ceiling(...)` in the bench row)."""
    row_text: dict[str, str] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = line.split(" | ")
        if line.startswith("| `hwbench") and len(cells) >= 3:
            for path in re.findall(r"`(hwbench/[\w/]*?(?:\.py)?)`", cells[0]):
                name = path.removesuffix(".py").removesuffix("/__init__").rstrip("/").replace("/", ".")
                row_text[name] = row_text.get(name, "") + " ".join(cells[2:])
    root = DOC.parent.parent / "hwbench"
    missing = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[:2] == ["hwbench", "commands"]:
            continue  # one row for all: `hwbench/commands/<name>.py`
        module, package = ".".join(parts), ".".join(parts[:-1])
        by_package = re.search(rf"(?<![\w.]){parts[-1]}\.\w", row_text.get(package, ""))
        if module not in row_text and not by_package:
            missing.append(str(path.relative_to(root.parent)))
    assert missing == []
