"""The package, its tools and its tests stay `ruff` and `mypy --strict` clean."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.integration  # runs the linters as processes


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (pip install -e '.[test]')")
def test_ruff_clean() -> None:
    p = subprocess.run(["ruff", "check", "station", "tests", "tools"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_mypy_strict_clean() -> None:
    pytest.importorskip("mypy")
    p = subprocess.run([sys.executable, "-m", "mypy", "station", "tools", "tests"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
