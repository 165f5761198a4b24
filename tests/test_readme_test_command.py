"""The README's test command prints pytest's summary line (issue 21, item 16): `-q` in pyproject's
`addopts` and the command's own `-q` made pytest silent (`-qq` prints no "N passed")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_command() -> list[str]:
    """The pytest options of the README's "Run the tests" command (which .ci/run runs)."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Run the tests", 1)[1]
    command = re.search(r"python -m pytest[^\n`]*", section).group(0)
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    return command.split()[3:]


def test_the_readme_test_command_prints_the_summary_line():
    options = readme_command()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *options, "-p", "no:cacheprovider", "tests/test_puzzles_exact.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:]
    assert re.search(r"^\d+ passed in ", result.stdout, re.MULTILINE), result.stdout[-2000:]
