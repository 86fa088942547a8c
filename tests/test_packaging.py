"""The package installs and type-checks the same on every supported Python (issue 14)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "autofocus"


def _annotations(tree: ast.AST) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None and arg.annotation is not None:
                    found.append(arg.annotation)
            if node.returns is not None:
                found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
    return found


def test_no_bare_ndarray_annotations() -> None:
    """numpy's stubs make ``ndarray`` generic: a bare ``np.ndarray`` is a mypy error with the numpy
    that Python 3.10 installs (2.2). Annotate with ``npt.NDArray[...]`` instead."""
    bare = []
    for path in sorted(SRC.rglob("*.py")):
        for annotation in _annotations(ast.parse(path.read_text(encoding="utf-8"))):
            text = ast.unparse(annotation)
            if re.search(r"\bnp\.ndarray\b(?!\[)", text):
                bare.append(f"{path.relative_to(ROOT)}:{annotation.lineno}: {text}")
    assert not bare, "bare np.ndarray annotations:\n" + "\n".join(bare)


def test_mypy_checks_for_the_running_python() -> None:
    """A pinned ``python_version = "3.10"`` makes mypy read numpy 2.3+'s stubs (written for 3.11+)
    as 3.10, and every ``a.min()`` fails to match an overload on Python 3.12 and 3.13."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    mypy_table = text.split("[tool.mypy]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^\s*python_version\s*=", mypy_table, re.M)


def test_license_is_an_spdx_string() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', text, re.M), "project.license must be an SPDX string"


def test_ci_runs_the_oldest_and_newest_python() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test-all:", makefile, re.M)
    assert "SUPPORTED := 3.10 3.11 3.12 3.13" in makefile
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "3.10" in ci and "3.13" in ci


def test_no_message_tells_to_install_from_a_package_index() -> None:
    """autofocus is installed from its clone: ``pip install 'autofocus[zaber]'`` finds nothing on
    a package index, so every message about a missing extra says ``pip install -e '.[zaber]'``
    (errors.install_hint)."""
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"pip install ['\"]?autofocus\[", line):
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "install hints that cannot work:\n" + "\n".join(wrong)
