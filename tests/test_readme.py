"""README examples cannot rot: every fenced block marked ``<!-- runnable -->`` is run against the
simulator; ``<!-- needs: hardware (reason) -->`` marks one that cannot run here (skipped, with its
reason). A block runs in a fresh folder, Python with this checkout's ``src`` first, shell with
``autofocus`` meaning this checkout's command line. Blocks of one section share that folder, in
order, so a recipe may write a file that the next block uses."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- (runnable|needs: (?P<need>[^>]*?)) -->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    code: str
    skip: str | None
    """Why it cannot run here, for blocks marked ``needs:``."""


def marked_blocks(text: str) -> list[Block]:
    """The fenced blocks that follow a marker line (blank lines between are allowed)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: re.Match[str] | None = None
    i = 0
    while i < len(lines):
        marker = MARKER.match(lines[i])
        fence = FENCE.match(lines[i])
        if marker:
            pending = marker
        elif fence and pending is not None:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append(Block(i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n",
                                pending.group("need")))
            pending, i = None, end
        elif lines[i].strip():
            pending = None
        i += 1
    return blocks


def run_block(block: Block, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run one block in ``folder``; returns the finished process (the caller checks its code)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    shim = folder / ".bin"
    shim.mkdir(exist_ok=True)
    script = shim / "autofocus"
    entry = "from autofocus.cli import main; main()"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{entry}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
    if block.language == "python":
        command = [sys.executable, "-c", block.code]
    elif block.language in ("sh", "bash", "shell", ""):
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    else:
        raise ValueError(f"README line {block.line}: cannot run a {block.language!r} block")
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


README_BLOCKS = marked_blocks((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_marks_runnable_examples() -> None:
    runnable = [b for b in README_BLOCKS if b.skip is None]
    assert len(runnable) >= 4
    assert {b.language for b in runnable} >= {"python", "sh"}


@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@pytest.mark.parametrize("block", README_BLOCKS, ids=[f"line{b.line}" for b in README_BLOCKS])
def test_readme_block_runs(block: Block, readme_folder: Path) -> None:
    if block.skip is not None:
        pytest.skip(f"README line {block.line} needs {block.skip}")
    done = run_block(block, readme_folder)
    assert done.returncode == 0, (
        f"README line {block.line} failed (exit {done.returncode}):\n{block.code}\n"
        f"--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-2000:]}")


BROKEN = """# copy

<!-- runnable -->
```python
from autofocus.sim import SimulatedMicroscope
sim = SimulatedMicroscope()
print(sim.no_such_attribute)
```

<!-- runnable -->

```sh
autofocus 10.1 9.9 0.005 sim
```

<!-- needs: hardware (a Zaber stage on COM3) -->
```sh
autofocus 9.9 10.1 0.005 COM3
```

```python
raise SystemExit("an unmarked block is not run")
```
"""


def test_a_broken_block_in_a_copy_fails(tmp_path: Path) -> None:
    blocks = marked_blocks(BROKEN)
    assert [(b.language, b.skip) for b in blocks] == [
        ("python", None), ("sh", None), ("sh", "hardware (a Zaber stage on COM3)")]
    python_block, shell_block, _ = blocks
    done = run_block(python_block, tmp_path)
    assert done.returncode != 0 and "AttributeError" in done.stderr
    done = run_block(shell_block, tmp_path)
    assert done.returncode == 2 and "must be below end" in done.stderr
