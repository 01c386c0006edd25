from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from station.metrics import Metrics
from station.model import Model
from station.web import Health, LiveView, WebServer

from .conftest import MODEL, SERIES, free_port

pytestmark = pytest.mark.integration  # real processes, sockets, servers or browsers


def test_all_series_exported_from_the_start_over_real_http() -> None:
    m = Metrics(CollectorRegistry(), deadline_s=0.5)
    m.model_info.info({"id": "x"})
    m.build_info.info({"version": "0"})
    port = free_port()
    server = WebServer("127.0.0.1", port, m, LiveView(m), lambda: Health(True, {}))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        server.close()
    for name in SERIES:
        assert name in text, name
    assert 'station_parts_total{reason="uncertain",verdict="reject"} 0.0' in text
    assert 'station_latency_seconds_bucket{le="0.5"}' in text  # a bucket exactly at the deadline
    for stage in ("trigger", "preprocess", "inference", "decision", "shadow"):  # each stage whose handler may raise on a part
        assert f'station_part_errors_total{{stage="{stage}"}} 0.0' in text, stage


def test_the_model_in_use_shows_the_scores_it_passes_below_and_rejects_above() -> None:
    info = Model(MODEL).info
    m = Metrics(CollectorRegistry())
    m.set_model(info)
    text = generate_latest(m.registry).decode()
    assert f'pass_below="{info.band[0]}"' in text and f'defect_above="{info.band[1]}"' in text
    assert "threshold=" not in text, "the file's threshold lies inside the band and decides no verdict"


def test_the_shadows_totals_are_read_from_its_counters() -> None:
    """What a replay with a shadow model logs at its end (shadow_summary): parts judged, disagreements, each skip's cause."""
    from station.messages import ShadowSkip

    m = Metrics()
    m.shadow_parts.inc(5)
    m.shadow_disagreements.labels(active="pass", shadow="reject").inc(2)
    m.shadow_disagreements.labels(active="reject", shadow="pass").inc()
    m.shadow_skipped.labels(cause=ShadowSkip.NOT_READY.value).inc(7)
    totals = m.shadow_totals()
    assert (totals["judged"], totals["disagreed"], totals["skipped_not_ready"], totals["skipped_busy"]) == (5, 3, 7, 0)
    assert set(totals) == {"judged", "disagreed", *(f"skipped_{c.value}" for c in ShadowSkip)}
