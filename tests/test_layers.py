"""hwbench's import graph: no cycle, and no module imports a layer above its own.

The graph is the module-level imports that run when a module loads (an `import` at the top of the
file, or inside a top-level `if`/`try`): those decide load order, and a cycle among them is what
leaves a module half-initialised. Imports under `if TYPE_CHECKING:` never run and are left out.
Imports inside a function body are deferred on purpose (torch loaded lazily, a backend reaching its
peak tables); with them counted too, a cycle must be listed in DEFERRED_CYCLES and an upward
import in FUNCTION_LEVEL_UPWARD, each with its reason, so a new one is a decision rather than an
accident.

A `from pkg import name` counts as an import of the submodule `pkg.name` when that module exists,
else of `pkg` itself; so a package's __init__ importing a submodule that imports names from the
package is a cycle (package <-> submodule).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "hwbench"

# Top to bottom; a module may import its own layer and any below it. The same table is in
# docs/internals.md. "hwbench" is the package's own __init__ (version constants; the public API
# loads on first attribute use), so any module may read `hwbench.__version__`. The public API
# (hwbench.api) sits beside bench: it counts FLOPs and reads peaks, and bench's user-model step
# calls the model the way the API does.
LAYERS: list[tuple[str, ...]] = [
    ("hwbench.__main__", "hwbench.cli"),
    ("hwbench.commands",),
    ("hwbench.check", "hwbench.fleet", "hwbench.report"),
    ("hwbench.bench", "hwbench.api"),
    ("hwbench.peaks",),
    ("hwbench.devices",),
    ("hwbench.detect",),
    (
        "hwbench",
        "hwbench.model",
        "hwbench.errors",
        "hwbench.fmt",
        "hwbench.console",
        "hwbench.jsonout",
        "hwbench.exits",
        "hwbench.interrupt",
        "hwbench.userfile",
        "hwbench.datafile",
        "hwbench.outputs",
    ),
]

# (importer package, imported package): why a function body may import upward.
FUNCTION_LEVEL_UPWARD: dict[tuple[str, str], str] = {
    ("hwbench.devices", "hwbench.peaks"): "Device.peak() is each backend's entry into the peak tables, "
    "which read the device's own fields; hwbench.peaks.peak_for_device resolves through the backend",
    ("hwbench.exits", "hwbench.fleet"): "a process that joined a torchrun group leaves through it "
    "(only when hwbench.fleet is already loaded, so a plain run never imports it)",
}


# Cycles through function-level imports (deferred, so they load fine) that are known, with why.
# Any other cycle, even through a function body, fails.
DEFERRED_CYCLES: dict[frozenset[str], str] = {
    frozenset(
        {
            "hwbench.devices",
            "hwbench.devices.cpu",
            "hwbench.devices.cuda",
            "hwbench.devices.rocm",
            "hwbench.peaks.device",
        }
    ): "a backend's peak() calls the peak tables; peak_for_device resolves a device string to its backend",
}


def module_files() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = module_files()


def _owner(name: str) -> str | None:
    """The hwbench module that `name` (a module or a name inside one) resolves to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> set[str]:
    out: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == "hwbench" and (owner := _owner(alias.name)):
                out.add(owner)
        return out
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source.split(".")[0] != "hwbench":
        return out
    for alias in node.names:
        full = f"{source}.{alias.name}"
        owner = full if full in MODULES else _owner(source)
        if owner:
            out.add(owner)
    return out


def _is_type_checking(node: ast.If) -> bool:
    return any(
        isinstance(n, ast.Name | ast.Attribute) and "TYPE_CHECKING" in ast.unparse(n)
        for n in ast.walk(node.test)
    )


def _module_level(body: list[ast.stmt], module: str) -> set[str]:
    out: set[str] = set()
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out |= _targets(node, module)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node):
                out |= _module_level(node.body, module) | _module_level(node.orelse, module)
        elif isinstance(node, ast.Try):
            out |= _module_level(node.body, module) | _module_level(node.orelse, module)
            out |= _module_level(node.finalbody, module)
            for handler in node.handlers:
                out |= _module_level(handler.body, module)
    return out - {module}


def _function_level(tree: ast.Module, module: str) -> set[str]:
    out: set[str] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    out |= _targets(node, module)
    return out - {module}


def _trees() -> dict[str, ast.Module]:
    return {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in MODULES.items()}


def import_graph() -> dict[str, set[str]]:
    return {m: _module_level(tree.body, m) for m, tree in _trees().items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, the layer entry it falls under); the longest matching entry wins."""
    best: tuple[int, str] | None = None
    for i, entries in enumerate(LAYERS):
        for entry in entries:
            matches = module == entry or (module.startswith(entry + ".") and entry != "hwbench")
            if matches and (best is None or len(entry) > len(best[1])):
                best = (i, entry)
    return best


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    out = []
    for module, deps in sorted(graph.items()):
        here = layer_of(module)
        for dep in sorted(deps):
            there = layer_of(dep)
            if here and there and there[0] < here[0]:
                out.append((module, dep))
    return out


def test_the_graph_sees_real_imports() -> None:
    graph = import_graph()
    assert "hwbench.errors" in graph["hwbench.cli"]
    assert "hwbench.devices.base" in graph["hwbench.devices.cpu"]
    # a TYPE_CHECKING import is no edge
    assert not any(d.startswith("hwbench.peaks") for d in graph["hwbench.devices.base"])


def test_cycle_finder_finds_a_package_submodule_cycle() -> None:
    assert cycles({"p": {"p.a"}, "p.a": {"p"}, "q": {"p"}}) == [["p", "p.a"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_cycle_through_function_bodies_beyond_the_listed_ones() -> None:
    trees = _trees()
    runtime = {m: _module_level(t.body, m) | _function_level(t, m) for m, t in trees.items()}
    unlisted = [c for c in cycles(runtime) if frozenset(c) not in DEFERRED_CYCLES]
    assert unlisted == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in sorted(MODULES) if layer_of(m) is None] == []


def test_no_module_level_import_goes_up_a_layer() -> None:
    assert upward(import_graph()) == []


def test_function_level_upward_imports_are_the_listed_ones() -> None:
    graph = {m: _function_level(tree, m) for m, tree in _trees().items()}
    unlisted = []
    for module, dep in upward(graph):
        here, there = layer_of(module), layer_of(dep)
        assert here and there
        if (here[1], there[1]) not in FUNCTION_LEVEL_UPWARD:
            unlisted.append((module, dep))
    assert unlisted == []


def test_internals_md_has_the_same_layer_table() -> None:
    text = (ROOT.parent / "docs" / "internals.md").read_text(encoding="utf-8")
    section = text.split("## Import layers", 1)[1].split("\n## ", 1)[0]
    documented = [
        tuple(re.findall(r"`([\w.]+)`", line)) for line in section.splitlines() if re.match(r"\d+\. `", line)
    ]
    assert documented == LAYERS


def test_no_test_module_imports_another() -> None:
    """Shared test code lives in tests/helpers.py or tests/conftest.py, not in another test module."""
    tests = Path(__file__).resolve().parent
    found = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.name}: {n}" for n in names if n.split(".")[-1].startswith("test_") or n == "tests"
            ]
    assert found == []
