"""The package's shape: no import cycles, the library never imports the CLI, small documented modules."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "hellotorch"
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Every hellotorch module -> the hellotorch modules it imports, at top level or inside functions."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_the_modules():
    assert cycles(import_graph()) == []


def test_no_library_module_imports_the_command_line():
    offenders = {
        name: sorted(target for target in targets if target.startswith("hellotorch.cli"))
        for name, targets in import_graph().items()
        if not name.startswith("hellotorch.cli") and name != "hellotorch.__main__"
    }
    assert {name: found for name, found in offenders.items() if found} == {}


#: The ground floor: contracts both halves stand on (no torch, no other hellotorch package).
GROUND = {
    "hellotorch",
    "hellotorch.children",
    "hellotorch.errors",
    "hellotorch.files",
    "hellotorch.labels",
    "hellotorch.progress",
    "hellotorch.record",
    "hellotorch.record_schema",
    "hellotorch.runfiles",
    "hellotorch.settings",
}
#: The reading half: runs on disk, tables, plots, history, gate, A/B. Needs pandas, sqlite, matplotlib; never torch.
READING = ("hellotorch.results", "hellotorch.history", "hellotorch.gate", "hellotorch.ab")
#: The measuring half: everything that needs torch.
MEASURING = (
    "hellotorch.models",
    "hellotorch.training",
    "hellotorch.measuring",
    "hellotorch.parity",
    "hellotorch.profiles",
    "hellotorch.compilecost",
    "hellotorch.distributed",
    "hellotorch.suite",
)


def _in(name: str, packages) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def imports_torch(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        if any(name == "torch" or name.startswith("torch.") for name in names):
            return True
    return False


def layer_violations(graph: dict[str, set[str]], torch_users: set[str]) -> list[str]:
    """Each import that breaks the layers: reading -> measuring, ground -> any package, torch below measuring."""
    found = []
    for name, targets in sorted(graph.items()):
        lower = _in(name, READING) or name in GROUND
        for target in sorted(targets):
            if _in(name, READING) and _in(target, MEASURING):
                found.append(f"{name} (reading) imports {target} (measuring)")
            if name in GROUND and target not in GROUND:
                found.append(f"{name} (ground floor) imports {target}")
        if lower and name in torch_users:
            found.append(f"{name} imports torch")
    return found


def test_the_layer_check_catches_a_planted_violation():
    graph = {"hellotorch.gate.check": {"hellotorch.suite.launch"}, "hellotorch.record": {"hellotorch.results.runs"}}
    assert layer_violations(graph, {"hellotorch.history.store"} | set()) == [
        "hellotorch.gate.check (reading) imports hellotorch.suite.launch (measuring)",
        "hellotorch.record (ground floor) imports hellotorch.results.runs",
    ]
    assert layer_violations({"hellotorch.ab.run": set()}, {"hellotorch.ab.run"}) == ["hellotorch.ab.run imports torch"]


def test_every_module_belongs_to_a_layer():
    strays = [
        name
        for name in _modules()
        if not (name in GROUND or _in(name, READING) or _in(name, MEASURING) or _in(name, ("hellotorch.cli",)))
        and name not in ("hellotorch.__main__", "hellotorch.pytest_plugin")
    ]
    assert strays == []


def test_the_reading_half_imports_nothing_of_the_measuring_half_and_no_torch():
    torch_users = {name for name, path in _modules().items() if imports_torch(path)}
    assert layer_violations(import_graph(), torch_users) == []


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_module_opens_with_a_docstring_and_stays_small(name):
    path = _modules()[name]
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{path} has no module docstring"
    assert len(path.read_text().splitlines()) <= MAX_LINES, f"{path} is over {MAX_LINES} lines"


def test_project_files_do_not_cite_files_outside_the_repository():
    root = PACKAGE.parent
    tracked = [*root.glob("hellotorch/**/*.py"), *root.glob("bench/*"), *root.glob("docs/*.md"), root / "README.md"]
    tracked += [*root.glob("tests/*.py"), root / "Makefile", root / "pyproject.toml"]
    needle = "../" + "shared"  # split, so this file does not match itself
    assert [str(path) for path in tracked if path.is_file() and needle in path.read_text(errors="ignore")] == []


def test_the_named_profiles_and_their_measurements_are_the_same_list():
    from hellotorch.profiles.named import PROFILES
    from hellotorch.settings import NAMED_MEASUREMENTS

    assert list(PROFILES) == list(NAMED_MEASUREMENTS)
    assert all(PROFILES[name].measurement is NAMED_MEASUREMENTS[name] for name in PROFILES)
