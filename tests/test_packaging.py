"""The wheel: built as anyone would build it, installed in a fresh venv, run from an empty folder."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .conftest import ROOT, free_port

pytestmark = [
    pytest.mark.integration,  # builds a wheel, makes a venv, starts the installed command
    pytest.mark.xdist_group("wheel"),  # in one pytest-xdist worker: the wheel is built once, and its build folder is the tree's
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the wheel (its dependencies come from this machine's site-packages: no downloads)."""
    root = tmp_path_factory.mktemp("wheel")
    wheels = root / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    (whl,) = wheels.glob("casting_station-*.whl")
    env = root / "venv"
    venv.create(env, system_site_packages=True, with_pip=True)
    p = subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", str(whl)], capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-2000:]
    return env


def _station(env: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(env / "bin" / "station"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _ports() -> list[str]:
    sets = [f"metrics.port={free_port()}", f"publisher.endpoint=tcp://127.0.0.1:{free_port()}", "publisher.resend_endpoint=null"]
    return [a for s in sets for a in ("--set", s)]


def test_the_installed_package_is_the_wheel_not_the_source_tree(installed: Path, tmp_path: Path) -> None:
    code = "import station.config as c; print(c.DEFAULT_CONFIG); print(c.SHIPPED_MODEL)"
    p = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    config, model = p.stdout.split()
    assert config.startswith(str(installed)) and model.startswith(str(installed)), p.stdout
    assert Path(config).is_file() and Path(model).is_file()


def test_check_config_demo_and_run_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    p = _station(installed, tmp_path, "check-config")
    assert p.returncode == 0 and "config OK" in p.stdout, p.stderr[-2000:]
    p = _station(installed, tmp_path, "demo", "--parts", "4", *_ports())
    assert p.returncode == 0 and "4 verdicts received" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
    sample = next((installed / "lib").glob("python3*/site-packages/station/sample/casting/ok_front"))
    p = _station(installed, tmp_path, "run", "--set", f"camera.source={sample}", "--out", str(tmp_path / "v.jsonl"), *_ports())
    assert p.returncode == 0, p.stderr[-2000:]
    assert len((tmp_path / "v.jsonl").read_text().splitlines()) == 18
