"""The house rules on imports and module size, checked on the source with ``ast``.

Floors (import only downwards or sideways; see the README's *Layout*): a module may import
modules of its own floor or any floor below it. ``sim`` sits beside the devices but is a test and
demo fixture, so only the composition root (``connect``), the faces and ``sim`` itself may import
it; and nothing below the command line imports ``cli`` or ``connect``.
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
    ("workflows", ("focusmap", "tiles", "track", "stack", "batch")),
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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


MODULES = {module_name(path): path for path in source_files()}


def resolve(name: str) -> str | None:
    """``autofocus.x.y`` -> the module ``x.y`` (or its package), None outside the package."""
    if name != "autofocus" and not name.startswith("autofocus."):
        return None
    relative = name.removeprefix("autofocus").removeprefix(".")
    while relative and relative not in MODULES:
        relative = relative.rpartition(".")[0]
    return relative


def imports_of(module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import of the package in ``module``, also the lazy
    ones inside functions and under TYPE_CHECKING."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := resolve(alias.name)) is not None:
                    yield node.lineno, target
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = ["autofocus", *package.split(".")] if package else ["autofocus"]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from autofocus import cli_recorded`` imports a module, not a name.
                target = resolve(f"{base}.{alias.name}") if alias.name != "*" else resolve(base)
                if target is not None:
                    yield node.lineno, target


def matches(module: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(module, pattern) for pattern in patterns)


def floor_of(module: str) -> int:
    for level, (_name, patterns) in enumerate(FLOORS):
        if matches(module, patterns):
            return level
    raise AssertionError(f"autofocus.{module} has no floor: add it to FLOORS in {__file__}")


def graph() -> dict[str, set[str]]:
    return {m: {t for _, t in imports_of(m) if t != m} for m in MODULES}


def test_every_module_has_a_floor() -> None:
    for module in MODULES:
        floor_of(module)


def test_imports_point_down() -> None:
    wrong: list[str] = []
    for module in MODULES:
        for line, target in imports_of(module):
            if target == module or target == "":
                continue  # the package itself is never imported for its names from inside
            where = f"autofocus.{module or '__init__'}:{line} imports autofocus.{target}"
            if floor_of(target) > floor_of(module):
                wrong.append(f"{where} ({FLOORS[floor_of(target)][0]} is above "
                             f"{FLOORS[floor_of(module)][0]})")
            for pattern, allowed in ONLY_IMPORTED_BY.items():
                if fnmatchcase(target, pattern) and not matches(module, allowed):
                    wrong.append(f"{where} (only {', '.join(allowed)} may)")
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


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines (limit {MAX_LINES})"


def test_the_checker_sees_wrong_imports() -> None:
    # The rules above are only as good as the parsing: check it on this package's known edges.
    edges = graph()
    assert "events" in edges["stack"] and "runner" not in edges["stack"]
    assert "cli_recorded" in edges["cli"]  # ``from autofocus import cli_recorded``
    assert "sim.zaber_server" in edges["cli"]  # a lazy import inside a function
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert floor_of("devices.zaber") < floor_of("metrics") < floor_of("runner") < floor_of("cli")
