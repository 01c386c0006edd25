"""The Grafana dashboard and the alert rules against a real Prometheus scraping a real replay and a real
``station gateway`` that follows it and drives a real Modbus server (pymodbus) standing in for the PLC.

Needs Debian's `prometheus` package (prometheus and promtool) and the modbus extra; `.ci/run` installs both.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from station.config import load_config
from station.gateway.core import GatewayCore, Timing
from station.gateway.metrics import GatewayCounts, MetricsOutput
from station.gateway.outputs import JsonLinesOutput, ModbusOutput
from station.metrics import Metrics
from station.model import Model
from station.pipeline import Pipeline, RunOptions
from station.sources import source_for

from .conftest import MODEL, ROOT, SAMPLE, free_port
from .gateway.plc import Plc
from .proc import STATION, sets
from .variants import candidate

PROM, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
pytestmark = [
    pytest.mark.integration,  # a real Prometheus against a real replay
    pytest.mark.skipif(PROM is None or PROMTOOL is None, reason="Debian's prometheus package is not installed (.ci/run installs it)"),
]
pymodbus = pytest.importorskip("pymodbus", reason="the gateway's PLC series need the modbus extra (pymodbus; .ci/run installs it)")
DASHBOARD = ROOT / "config" / "grafana" / "station-dashboard.json"
RULES = ROOT / "config" / "prometheus" / "alerts.yml"


def panel_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


def rule_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(r["alert"], r["expr"]) for g in groups for r in g["rules"]]


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def _query(port: int, expr: str) -> dict[str, Any]:
    q = urllib.parse.urlencode({"query": expr.replace("$station", ".*")})
    try:
        return _get(f"http://127.0.0.1:{port}/api/v1/query?{q}")
    except urllib.error.HTTPError as e:
        return json.loads(e.read())  # type: ignore[no-any-return]


def test_dashboard_shape() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "casting-station"
    assert [v["name"] for v in dash["templating"]["list"]] == ["station"]
    uid = yaml.safe_load((ROOT / "config/grafana/provisioning/datasources/station.yaml").read_text())["datasources"][0]["uid"]
    for p in dash["panels"]:
        assert p["datasource"]["uid"] == uid, p["title"]
        for t in p["targets"]:
            assert 'station=~"$station"' in t["expr"], (p["title"], t["expr"])
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    wanted = ["throughput", "reject", "latency", "score", "camera", "dropped", "queue", "brightness", "sharpness", "model", "shadow"]
    for want in [*wanted, "gateway", "plc"]:
        assert want in titles, want


def _gateway_series() -> set[str]:
    """Every series a gateway with a Modbus output and a log exports."""
    registry = CollectorRegistry()
    MetricsOutput(registry)
    plc = ModbusOutput(load_config(None, ["gateway.output=modbus"]).gateway.modbus)  # never connects: nothing is sent
    registry.register(GatewayCounts(GatewayCore(Timing(1.0, 0.02, 0.25)), [plc, JsonLinesOutput(None)]))
    return {m.name for m in registry.collect()}


def test_every_expression_names_only_exported_metrics() -> None:
    exported = {m.name for m in Metrics().registry.collect()} | _gateway_series()
    for source, expr in [*panel_exprs(), *rule_exprs()]:
        for name in re.findall(r"\b((?:station|gateway)_[a-z_]+)", expr):
            base = re.sub(r"_(total|bucket|sum|count|info)$", "", name)
            assert name in exported or base in exported, f"{source}: {name}"


def test_promtool_checks_config_and_rules() -> None:
    for args in (["check", "config", str(ROOT / "config/prometheus/prometheus.yml")], ["check", "rules", str(RULES)]):
        p = subprocess.run([str(PROMTOOL), *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr


@pytest.fixture
def station_and_prometheus(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A real-time replay (2 parts/s) and the ``station gateway`` that follows it into a PLC, both scraped every second by a
    real Prometheus with the alert rules."""
    mport, gport, pport = free_port(), free_port(), free_port()
    shadow = candidate(tmp_path / "shadow.onnx", 0.05, (0.04, 0.05))  # the shadow row's panels get data too
    common = [f"metrics.port={mport}", f"publisher.endpoint=tcp://127.0.0.1:{free_port()}", "publisher.resend_endpoint=null"]
    overrides = [*common, "camera.fps=2", f"model.shadow={shadow}"]
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, img in enumerate(sorted((SAMPLE / "def_front").iterdir()) + sorted((SAMPLE / "ok_front").iterdir())):
        shutil.copy(img, folder / f"{i:03d}{img.suffix}")  # unmodified copies, interleaved by name
    cfg = load_config(None, overrides)
    pipe = Pipeline(cfg, source_for(str(folder), 2.0), Model(MODEL), Metrics(deadline_s=0.5), RunOptions(realtime=True))
    conf = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"station": "st-1"}}]}
            for job, port in (("station", mport), ("gateway", gport))
        ],
    }
    (tmp_path / "prom.yml").write_text(yaml.safe_dump(conf))
    with contextlib.ExitStack() as stack:  # whatever fails to start, what did start is stopped
        prom = subprocess.Popen(
            [str(PROM), f"--config.file={tmp_path / 'prom.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        stack.callback(_stopped, prom)
        plc = Plc()
        stack.callback(plc.close)
        gateway_sets = ["gateway.output=modbus", f"gateway.modbus.port={plc.port}", f"gateway.metrics_port={gport}"]
        gateway_log = stack.enter_context((tmp_path / "gateway.log").open("w"))
        gateway = subprocess.Popen(
            [*STATION, "gateway", *sets(*common, *gateway_sets), "--out", str(tmp_path / "gateway.jsonl")],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=gateway_log,
        )  # fmt: skip
        stack.callback(_stopped, gateway)
        pipe.start()
        stack.callback(pipe.close)
        stack.callback(pipe.drain, 10)
        yield mport, pport
        assert _stopped(gateway) == 0, (tmp_path / "gateway.log").read_text()[-2000:]  # SIGTERM: the gateway drains and exits 0


def _stopped(p: subprocess.Popen[Any]) -> int:
    """SIGTERM, then its exit status (killed after 20 s)."""
    p.terminate()
    try:
        return p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
        raise


def test_panels_return_data_and_rules_are_valid_in_prometheus(station_and_prometheus: tuple[int, int]) -> None:
    mport, pport = station_and_prometheus
    end = time.monotonic() + 40
    parts = decided = 0.0
    while time.monotonic() < end:
        time.sleep(1)
        try:
            r = _query(pport, 'sum(station_parts_total{station="st-1"})')["data"]["result"]
            g = _query(pport, 'sum(gateway_decisions_total{station="st-1"})')["data"]["result"]
        except OSError:
            continue  # Prometheus still starting
        parts, decided = (float(x[0]["value"][1]) if x else 0.0 for x in (r, g))
        if parts >= 6 and decided >= 2:
            break
    assert parts >= 6, "Prometheus never saw parts moving"
    assert decided >= 2, "Prometheus never saw the gateway decide parts"
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/healthz", timeout=5) as h:
        assert h.status == 200
    time.sleep(3)  # a few more scrapes, so every rate() window holds several samples
    for title, expr in panel_exprs():
        res = _query(pport, expr)
        assert res["status"] == "success", (title, expr, res)
        assert res["data"]["result"], f"panel {title!r} returned no data: {expr}"
    for alert, expr in rule_exprs():
        res = _query(pport, expr)
        assert res["status"] == "success", (alert, expr, res)
    rules = [r for g in _get(f"http://127.0.0.1:{pport}/api/v1/rules")["data"]["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == {a for a, _ in rule_exprs()}
    assert all(r["health"] in ("ok", "unknown") for r in rules), [(r["name"], r.get("lastError")) for r in rules]
