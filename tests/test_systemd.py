"""The systemd unit and the installer, checked offline (systemd is not PID 1 here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from station.config_gateway import GATEWAY_STOP_S

from .conftest import MODEL, ROOT

pytestmark = pytest.mark.integration  # real processes, sockets, servers or browsers

UNIT = ROOT / "systemd" / "station.service"
GATEWAY_UNIT = ROOT / "systemd" / "station-gateway.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (.ci/run installs systemd)")


def _unit_here(tmp_path: Path, unit_file: Path = UNIT) -> Path:
    """The unit with ExecStart pointing at this checkout's station command (verify checks it exists)."""
    exe = shutil.which("station") or f"{sys.executable} -m station.cli"
    unit = tmp_path / unit_file.name
    unit.write_text(unit_file.read_text().replace("/opt/station/venv/bin/station", exe.split()[0] if " " not in exe else exe))
    return unit


def test_unit_has_what_the_line_needs() -> None:
    text = UNIT.read_text()
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",  # systemctl reload: the config's models again
        "ConfigurationDirectory=station",
        "StateDirectory=station",
        "SupplementaryGroups=video",
        "DeviceAllow=char-video4linux rw",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
    ]:
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert not re.search(r"^PrivateDevices=", text, re.M)
    assert re.search(r"^RestrictAddressFamilies=.*AF_INET .*AF_INET6", text, re.M)
    stop = int(re.search(r"^TimeoutStopSec=(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    from station.config import load_config
    from station.config_warnings import AFTER_DRAIN_S, UNIT_STOP_S

    cfg = load_config()
    assert stop > cfg.shutdown.timeout_s + cfg.publisher.linger_ms / 1000 + AFTER_DRAIN_S
    assert stop == UNIT_STOP_S  # the drain check-config warns of is this unit's
    watchdog = int(re.search(r"^WatchdogSec=(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    assert watchdog > cfg.pipeline.stall_after_s / 2


def test_gateway_unit_has_what_the_plc_side_needs() -> None:
    text = GATEWAY_UNIT.read_text()
    for line in ["Type=notify", "NotifyAccess=main", "Restart=on-failure", "ConfigurationDirectory=station", "PrivateDevices=yes",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=", "MemoryDenyWriteExecute=yes",
                 "ExecStart=/opt/station/venv/bin/station gateway -c /etc/station/station.yaml"]:  # fmt: skip
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    assert re.search(r"^RestrictAddressFamilies=.*AF_INET .*AF_INET6", text, re.M)
    stop = int(re.search(r"^TimeoutStopSec=(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    assert stop > GATEWAY_STOP_S + 2  # the loop's stop, then the watchdog thread's
    watchdog = int(re.search(r"^WatchdogSec=(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
    assert watchdog >= 2 * GATEWAY_STOP_S  # a loop is called hung after 5 s at least; the pings come every 0.45 of it


@needs_analyze
@pytest.mark.parametrize("unit_file", [UNIT, GATEWAY_UNIT], ids=lambda u: u.name)
def test_unit_verifies_offline(tmp_path: Path, unit_file: Path) -> None:
    unit = _unit_here(tmp_path, unit_file)
    p = subprocess.run([str(ANALYZE), "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


@needs_analyze
@pytest.mark.parametrize("doc_name", ["protocol.md", "service.md"])
def test_the_credential_drop_in_each_doc_gives_is_one_systemd_takes(tmp_path: Path, doc_name: str) -> None:
    doc = (ROOT / "docs" / doc_name).read_text()
    (drop_in,) = re.findall(r"```\n(\[Service\]\nLoadCredential=[^\n]+\n)```", doc)
    unit = _unit_here(tmp_path)
    (tmp_path / "station.service.d").mkdir()
    (tmp_path / "station.service.d" / "curve.conf").write_text(drop_in)
    (tmp_path / "station.service.d" / "typo.conf").write_text("[Service]\nLoadCredentials=x:/y\n")  # what a wrong key says
    p = subprocess.run([str(ANALYZE), "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    said = [line for line in (p.stdout + p.stderr).splitlines() if line.strip()]
    assert len(said) == 1 and "typo.conf" in said[0] and "Unknown key" in said[0], said  # the doc's own drop-in: not a word


@needs_analyze
@pytest.mark.parametrize("unit_file", [UNIT, GATEWAY_UNIT], ids=lambda u: u.name)
def test_security_exposure_at_most_3(unit_file: Path) -> None:
    cmd = [str(ANALYZE), "security", "--offline=true", "--no-pager", str(unit_file)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    m = re.search(rf"Overall exposure level for {re.escape(unit_file.name)}: (\d+\.\d+)", p.stdout + p.stderr)
    assert m, p.stdout[-2000:] + p.stderr
    assert float(m.group(1)) <= 3.0


MDWE_PROBE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    print("unsupported", ctypes.get_errno()); sys.exit(3)
import numpy as np, cv2, zmq
from station.model import Model
from station.preprocess import preprocess
from pathlib import Path
m = Model(Path(sys.argv[1]))
img = cv2.imread(sys.argv[2], cv2.IMREAD_GRAYSCALE)
pre = preprocess(img, m.info.spec)
print("score", m.score(np.stack([pre.crop]))[0])
"""


def test_onnx_runtime_runs_with_memory_deny_write_execute() -> None:
    """MemoryDenyWriteExecute=yes as the kernel enforces it (prctl PR_SET_MDWE, Linux 6.3+)."""
    img = next((ROOT / "station" / "sample" / "casting" / "ok_front").iterdir())
    p = subprocess.run([sys.executable, "-c", MDWE_PROBE, str(MODEL), str(img)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    if p.returncode == 3:
        pytest.skip(f"this kernel has no PR_SET_MDWE ({p.stdout.strip()})")
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith("score ")


def test_install_and_uninstall_into_a_scratch_root(tmp_path: Path) -> None:
    """tools/install.sh with every path moved under tmp_path and systemctl recorded, not run."""
    calls = tmp_path / "systemctl.log"
    fake = tmp_path / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    fake.chmod(0o755)
    env = {
        **os.environ,
        "PREFIX": str(tmp_path / "opt"),
        "CONFDIR": str(tmp_path / "etc"),
        "UNITDIR": str(tmp_path / "units"),
        "SYSTEMCTL": str(fake),
        "PYTHON": sys.executable,
        "VENV_ARGS": "--system-site-packages",  # the test reuses this machine's packages: no downloads
    }
    run = [str(ROOT / "tools" / "install.sh")]
    p = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    conf = tmp_path / "etc" / "station.yaml"
    assert f"path: {tmp_path / 'opt'}/models/defect.onnx" in conf.read_text()
    assert "  dir: /var/lib/station/archive  # the unit's StateDirectory" in conf.read_text()  # the guide's trial run relies on it
    assert (tmp_path / "opt" / "models" / "defect.onnx").exists()
    unit = (tmp_path / "units" / "station.service").read_text()
    assert f"ExecStart={tmp_path / 'opt'}/venv/bin/station run -c {conf}" in unit
    assert [c for c in calls.read_text().splitlines() if "station" in c and c.split()[0] in ("enable", "restart", "try-restart")] == [
        "enable station.service",
        "restart --no-block station.service",  # not waited on: ready only once the camera opens
        "try-restart --no-block station-gateway.service",
    ]
    gateway = (tmp_path / "units" / "station-gateway.service").read_text()
    assert f"ExecStart={tmp_path / 'opt'}/venv/bin/station gateway -c {conf}" in gateway
    assert "enable --now station-gateway" not in calls.read_text()  # not before gateway.* names the PLC
    assert "systemctl enable --now station-gateway" in p.stdout  # what to run once it does
    # an edited config survives a reinstall; the new default lands beside it
    conf.write_text(conf.read_text().replace("id: station-1", "id: line-7"))
    assert subprocess.run(run, env=env, capture_output=True, timeout=600).returncode == 0
    assert "id: line-7" in conf.read_text() and (tmp_path / "etc" / "station.yaml.new").exists()
    p = subprocess.run([*run, "--uninstall"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not (tmp_path / "opt").exists() and conf.exists()
    assert "disable --now station.service" in calls.read_text()
    assert "disable --now station-gateway.service" in calls.read_text()
    assert not (tmp_path / "units" / "station-gateway.service").exists()
