"""The house rules on imports and module size, checked on the source with ``ast``.

Floors (import only downwards or sideways; see the README's *Layout*): a module may import
modules of its own floor or any floor below it. ``sim`` sits beside the devices but is a test and
demo fixture, so only the composition root (``connect``), the faces and ``sim`` itself may import
it; nothing below the command line imports ``cli`` or ``connect``; and the workflows on recorded
data (``stack``, ``batch``) never import the hardware runner. Every check is a function of a module
table, so the tests at the end show each one failing on a small bad package written for it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "autofocus"
MAX_LINES = 450

# Lowest first. Patterns are module names relative to ``autofocus`` ("" is the package itself).
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", ("frames", "events", "clock", "errors", "units", "interrupt")),
    # readers: recorded files read as planes, shared by the replay backend and the workflows.
    ("devices", ("devices.*", "readers", "sim", "sim.*")),
    # surface: fits z(x, y) through points; fieldtilt: per-region curves of one sweep.
    # confidence: the one evidence confidence; layers: which of several peaks is focus.
    ("analysis", ("curve", "confidence", "layers", "metrics", "_median_network", "modes", "numerics",
                  "result", "surface",
                  "fieldtilt")),
    ("search", ("search", "strategies", "strategies.*", "space")),
    # xy: the one owner of safe XY moves (region, travel, focus drive at the clearance).
    ("runner", ("runner", "hardware_probe", "pipeline", "connect", "xy")),
    ("workflows", ("focusmap", "tiles", "track", "track_log", "stack", "batch")),
    ("faces", ("", "cli", "cli_*", "gui", "gui.*", "micromanager", "mm_refocus", "report", "focusmap_plot")),
]
# Who may import a module, beyond the floor rule (the floor rule still applies).
ONLY_IMPORTED_BY: dict[str, tuple[str, ...]] = {
    "sim": ("connect", "sim", "sim.*", "cli", "cli_*", "gui", "gui.*"),
    "sim.*": ("connect", "sim", "sim.*", "cli", "cli_*", "gui", "gui.*"),
    "connect": ("cli", "cli_*", "gui", "gui.*"),
    "cli": ("cli", "cli_*"),
    "cli_*": ("cli", "cli_*"),
}
# Modules that must not import some modules of lower floors: the workflows on recorded data never
# reach the hardware runner (they share the events, frames and readers below it instead).
HARDWARE = ("runner", "hardware_probe", "xy", "connect")
NEVER_IMPORTS: dict[str, tuple[str, ...]] = {"stack": HARDWARE, "batch": HARDWARE}


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path = PACKAGE) -> list[Path]:
    return sorted(root.rglob("*.py"))


def modules_of(root: Path) -> dict[str, Path]:
    """Module name (relative to ``autofocus``) -> file, for the package at ``root`` (the real
    one, or a small bad example written by a test)."""
    return {module_name(path, root): path for path in source_files(root)}


MODULES = modules_of(PACKAGE)


def resolve(name: str, modules: dict[str, Path] = MODULES) -> str | None:
    """``autofocus.x.y`` -> the module ``x.y`` (or its package), None outside the package."""
    if name != "autofocus" and not name.startswith("autofocus."):
        return None
    relative = name.removeprefix("autofocus").removeprefix(".")
    while relative and relative not in modules:
        relative = relative.rpartition(".")[0]
    return relative


def imports_of(module: str, modules: dict[str, Path] = MODULES) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import of the package in ``module``, also the lazy
    ones inside functions and under TYPE_CHECKING."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := resolve(alias.name, modules)) is not None:
                    yield node.lineno, target
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = ["autofocus", *package.split(".")] if package else ["autofocus"]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from autofocus import cli_recorded`` imports a module, not a name.
                target = (resolve(f"{base}.{alias.name}", modules) if alias.name != "*"
                          else resolve(base, modules))
                if target is not None:
                    yield node.lineno, target


def matches(module: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(module, pattern) for pattern in patterns)


def floor_of(module: str) -> int:
    for level, (_name, patterns) in enumerate(FLOORS):
        if matches(module, patterns):
            return level
    raise AssertionError(f"autofocus.{module} has no floor: add it to FLOORS in {__file__}")


def graph(modules: dict[str, Path] = MODULES) -> dict[str, set[str]]:
    return {m: {t for _, t in imports_of(m, modules) if t != m} for m in modules}


def wrong_imports(modules: dict[str, Path] = MODULES) -> list[str]:
    """Every import that points up a floor, or into a module its importer may not use."""
    wrong: list[str] = []
    for module in modules:
        for line, target in imports_of(module, modules):
            if target == module or target == "":
                continue  # the package itself is never imported for its names from inside
            where = f"autofocus.{module or '__init__'}:{line} imports autofocus.{target}"
            if floor_of(target) > floor_of(module):
                wrong.append(f"{where} ({FLOORS[floor_of(target)][0]} is above "
                             f"{FLOORS[floor_of(module)][0]})")
            for pattern, allowed in ONLY_IMPORTED_BY.items():
                if fnmatchcase(target, pattern) and not matches(module, allowed):
                    wrong.append(f"{where} (only {', '.join(allowed)} may)")
            for pattern, forbidden in NEVER_IMPORTS.items():
                if fnmatchcase(module, pattern) and matches(target, forbidden):
                    wrong.append(f"{where} ({pattern} never imports {', '.join(forbidden)})")
    return wrong


def oversized(modules: dict[str, Path] = MODULES) -> list[str]:
    sizes = {module: len(path.read_text().splitlines()) for module, path in modules.items()}
    return [f"autofocus.{m or '__init__'} has {n} lines (limit {MAX_LINES})"
            for m, n in sizes.items() if n > MAX_LINES]


def test_every_module_has_a_floor() -> None:
    for module in MODULES:
        floor_of(module)


def test_imports_point_down() -> None:
    wrong = wrong_imports()
    assert not wrong, "\n".join(wrong)


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_no_import_cycles() -> None:
    edges = graph()
    # The package's __init__ re-exports the public surface: an edge *into* it is Python's
    # import machinery, not a dependency, so it cannot close a cycle.
    cycle = find_cycle({m: t - {""} for m, t in edges.items()})
    assert cycle is None, " -> ".join(f"autofocus.{m}" for m in cycle)


def test_modules_stay_small() -> None:
    too_long = oversized()
    assert not too_long, "\n".join(too_long)


def test_the_checker_sees_wrong_imports() -> None:
    # The rules above are only as good as the parsing: check it on this package's known edges.
    edges = graph()
    assert "events" in edges["stack"] and "runner" not in edges["stack"]
    assert "cli_recorded" in edges["cli"]  # ``from autofocus import cli_recorded``
    assert "sim.zaber_server" in edges["cli"]  # a lazy import inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert floor_of("devices.zaber") < floor_of("metrics") < floor_of("runner") < floor_of("cli")


def write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    """A small ``autofocus`` package under ``root`` (module path -> source), as the checks see it."""
    package = root / "autofocus"
    for name, source in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return modules_of(package)


GOOD = {
    "errors.py": "class InputError(Exception): ...\n",
    "metrics.py": "from autofocus.errors import InputError\n",
    "runner.py": "from autofocus import metrics\nfrom .errors import InputError\n",
    "stack.py": "from autofocus.metrics import *\n",
    "devices/__init__.py": "",
    "devices/zaber.py": "from ..errors import InputError\n",
    "sim/__init__.py": "from autofocus.devices import zaber\n",
    "connect.py": "from autofocus.sim import SimConfig\n",
    "cli.py": "import autofocus.connect\n\ndef main() -> None:\n    from autofocus import sim\n",
}


def test_a_well_built_example_passes(tmp_path: Path) -> None:
    modules = write_package(tmp_path, GOOD)
    assert wrong_imports(modules) == [] and oversized(modules) == []
    assert find_cycle(graph(modules)) is None


@pytest.mark.parametrize(("name", "source", "says"), [
    # a measure reaching up to the runner, plainly, relatively, and lazily inside a function
    ("metrics.py", "from autofocus.runner import run_autofocus\n", "runner is above analysis"),
    ("metrics.py", "from .runner import run_autofocus\n", "runner is above analysis"),
    ("metrics.py", "def f() -> None:\n    import autofocus.runner\n", "runner is above analysis"),
    # a backend importing the simulator (same floor, but only connect and the faces may)
    ("devices/zaber.py", "from .. import sim\n", "only connect"),
    # below the command line: connect and cli are out of reach
    ("runner.py", "from autofocus.connect import open_microscope\n", "only cli"),
    ("stack.py", "import autofocus.cli\n", "faces is above workflows"),
    # a workflow on recorded data importing the hardware runner (a floor below it)
    ("stack.py", "from autofocus.runner import AutofocusSettings\n", "stack never imports runner"),
])
def test_the_checker_fails_on_a_wrong_way_import(tmp_path: Path, name: str, source: str, says: str) -> None:
    modules = write_package(tmp_path, {**GOOD, name: source})
    wrong = wrong_imports(modules)
    module = name.removesuffix(".py").replace("/", ".")
    assert wrong and all(w.startswith(f"autofocus.{module}:") for w in wrong), wrong
    assert any(says in w for w in wrong), wrong


def test_the_checker_fails_on_a_cycle(tmp_path: Path) -> None:
    modules = write_package(tmp_path, {**GOOD, "units.py": "from autofocus import errors\n",
                                       "errors.py": "import autofocus.units\n"})
    assert wrong_imports(modules) == []  # one floor: only the cycle is wrong
    cycle = find_cycle(graph(modules))
    assert cycle is not None and set(cycle) == {"errors", "units"}


def test_the_checker_fails_on_a_module_over_the_limit(tmp_path: Path) -> None:
    at_limit = "x = 0\n" * MAX_LINES
    modules = write_package(tmp_path, {**GOOD, "units.py": at_limit, "clock.py": at_limit + "y = 1\n"})
    assert oversized(modules) == [f"autofocus.clock has {MAX_LINES + 1} lines (limit {MAX_LINES})"]
