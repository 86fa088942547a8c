"""OpenCV's and FFmpeg's own log lines stay off stderr: a camera that will not open is our one
line (in a subprocess: native code writes to file descriptor 2, which capsys does not see)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import autofocus


@pytest.mark.parametrize(
    ("camera", "code"),
    [("opencv:99", 3), ("opencv:rtsp://127.0.0.1:9/none", 3), ("opencv:{text_file}", 2)],
    ids=["no-device", "refused-stream", "text-as-mkv"],
)
def test_a_camera_that_will_not_open_is_one_line(tmp_path: Path, camera: str, code: int) -> None:
    """The exit-code rule too: a device or stream that does not answer is hardware (3), a file
    that is not a video is the command line's to fix (2). ``--strategy sweep`` lets PORT sim take
    a live camera, so OpenCV really opens (and talks)."""
    text_file = tmp_path / "notes.mkv"
    text_file.write_text("hello, not a video\n" * 500)
    env = dict(os.environ, PYTHONPATH=str(Path(autofocus.__file__).resolve().parents[1]))
    done = subprocess.run(
        [sys.executable, "-c", "from autofocus.cli import main; main()", "9.9", "10.1", "0.01", "sim",
         "--strategy", "sweep", "--camera", camera.format(text_file=text_file)],
        env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autofocus: "), done.stderr
    assert "cannot open it" in lines[0] if code == 3 else "as a video" in lines[0]
