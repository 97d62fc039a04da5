"""The import contract: one home per concern, imports that run one way.

Parses every module of every package folder with `ast` (the folder -> package map is
`[tool.plantstream.packages]` in pyproject.toml) and fails, naming the import, when:
- a package imports one it may not (ALLOWED below), or packages import each other
  directly or through a cycle;
- a core module imports any other package of ours;
- analytics imports the wire format, MQTT or topics (arrays in, records out);
- anything an edge install runs (core and edge) eagerly imports a server-side library;
- a module outside `store` holds a raw InfluxDB write path.
"""

from __future__ import annotations

import ast
import itertools
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS: dict[str, str] = tomllib.loads(
    (ROOT / "pyproject.toml").read_text())["tool"]["plantstream"]["packages"]
PACKAGES = {package: folder for folder, package in FOLDERS.items()}

EVERYTHING = frozenset(FOLDERS)
# folder -> the folders it may import. devstack (demo, local services) and bench put the
# whole platform together; nothing imports them back.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "store": frozenset({"core"}),
    "edge": frozenset({"core"}),
    "analytics": frozenset({"core"}),
    "ingest": frozenset({"core", "store", "analytics"}),
    "reports": frozenset({"core", "store", "analytics", "i18n"}),
    "dashboards": frozenset({"core", "store", "analytics", "i18n"}),
    # a rollup job reads the configuration of the tier whose data it rolls up:
    # ingest.toml for KPI windows, reports.toml for daily energy and dual control
    "rollups": frozenset({"core", "store", "analytics", "ingest", "reports"}),
    "ops": frozenset({"core"}),
    "i18n": frozenset({"core"}),
    "devstack": EVERYTHING - {"devstack", "bench"},
    "bench": EVERYTHING - {"bench"},
}
ANALYTICS_MAY_NOT_IMPORT = ("plantstream.wire", "plantstream.mqtt", "plantstream.topics")
SERVER_ONLY = ("numpy", "numba", "fastapi", "matplotlib", "influxdb_client", "uvicorn")
EDGE_INSTALL = ("core", "edge")
RAW_WRITE_MARKERS = ("/write", "/api/v2/write", "write_api")


@dataclass(frozen=True)
class Import:
    folder: str  # the importing module's package folder
    path: str  # file, relative to the repository
    line: int
    module: str  # what it imports, absolute
    eager: bool  # runs when the module is imported (not inside a function)

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def _folder_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "plantstream":
        return None
    if len(parts) > 1 and f"plantstream.{parts[1]}" in PACKAGES:
        return PACKAGES[f"plantstream.{parts[1]}"]
    return "core"


def _modules(folders: tuple[str, ...] | frozenset[str] = EVERYTHING
             ) -> Iterator[tuple[str, Path, ast.Module]]:
    for folder in sorted(folders):
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield folder, path, ast.parse(path.read_text(), filename=str(path))


def _walk(node: ast.AST, *, eager: bool = True) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it runs at import time (outside function bodies and
    `if TYPE_CHECKING:` blocks)."""
    for child in ast.iter_child_nodes(node):
        child_eager = eager and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                               | ast.Lambda)
        if (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                and child.test.id == "TYPE_CHECKING"):
            child_eager = False
        yield child, child_eager
        yield from _walk(child, eager=child_eager)


def _imports(folder: str, path: Path, tree: ast.Module) -> Iterator[Import]:
    relative = str(path.relative_to(ROOT))
    for node, eager in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(folder, relative, node.lineno, alias.name, eager)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield Import(folder, relative, node.lineno, node.module, eager)
            for alias in node.names:  # `from plantstream import x` may name a package
                yield Import(folder, relative, node.lineno, f"{node.module}.{alias.name}",
                             eager)


def _all_imports() -> list[Import]:
    return [i for folder, path, tree in _modules() for i in _imports(folder, path, tree)]


def _package_edges(imports: list[Import]) -> dict[str, dict[str, Import]]:
    edges: dict[str, dict[str, Import]] = {folder: {} for folder in FOLDERS}
    for imp in imports:
        target = _folder_of(imp.module)
        if target is not None and target != imp.folder:
            edges[imp.folder].setdefault(target, imp)
    return edges


def _cycle(edges: dict[str, dict[str, Import]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_package_folder_is_in_the_contract() -> None:
    assert set(ALLOWED) == set(FOLDERS), "add the new package to ALLOWED"


def test_packages_import_only_what_they_may() -> None:
    edges = _package_edges(_all_imports())
    wrong = [f"{imp}: {folder} may not import {target} "
             f"(may: {', '.join(sorted(ALLOWED[folder])) or 'nothing of ours'})"
             for folder, targets in sorted(edges.items())
             for target, imp in sorted(targets.items()) if target not in ALLOWED[folder]]
    assert not wrong, "\n".join(wrong)


def test_no_package_cycle() -> None:
    edges = _package_edges(_all_imports())
    cycle = _cycle(edges)
    assert cycle is None, "package cycle " + " -> ".join(cycle) + ":\n" + "\n".join(
        str(edges[a][b]) for a, b in itertools.pairwise(cycle))


def test_core_imports_no_package_of_ours() -> None:
    wrong = [str(imp) for folder, path, tree in _modules(("core",))
             for imp in _imports(folder, path, tree)
             if (target := _folder_of(imp.module)) is not None and target != "core"]
    assert not wrong, "core is the shared contract and imports nothing else of ours:\n" \
        + "\n".join(wrong)


def test_analytics_knows_nothing_of_the_wire() -> None:
    wrong = [str(imp) for folder, path, tree in _modules(("analytics",))
             for imp in _imports(folder, path, tree)
             if imp.module.startswith(ANALYTICS_MAY_NOT_IMPORT)]
    assert not wrong, "analytics takes arrays and returns records; the wire -> arrays " \
        "adapter is ingest's:\n" + "\n".join(wrong)


def test_edge_install_imports_no_server_library_eagerly() -> None:
    wrong = [str(imp) for folder, path, tree in _modules(EDGE_INSTALL)
             for imp in _imports(folder, path, tree)
             if imp.eager and imp.module.split(".")[0] in SERVER_ONLY]
    assert not wrong, "an edge install has none of " + ", ".join(SERVER_ONLY) + ":\n" \
        + "\n".join(wrong)


def test_only_store_writes_to_influxdb() -> None:
    wrong = []
    for _folder, path, tree in _modules(EVERYTHING - {"store"}):
        for node, _ in _walk(tree):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.Attribute):
                text = node.attr
            if text is None or ast.get_docstring(tree) == text:
                continue
            if any(text == marker or text.endswith(marker) for marker in RAW_WRITE_MARKERS):
                wrong.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')} "
                             f"holds an InfluxDB write path ({text!r}); write through "
                             "plantstream.store")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_package_folder_is_a_package(folder: str) -> None:
    assert (ROOT / folder / "__init__.py").is_file()
    assert (ROOT / folder / "py.typed").is_file(), "mypy strict checks every package"
