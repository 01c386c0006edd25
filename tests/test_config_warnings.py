"""Settings that are valid but unwise, or given and not read: one warning each, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.config import SHIPPED_MODEL, load_config
from station.config_warnings import warnings


def test_timing_that_makes_the_gateway_reject_on_time_verdicts_is_warned_of() -> None:
    assert warnings(load_config()) == []
    w, silence = warnings(load_config(None, ["gateway.actuator_delay_ms=400"]))
    assert w.startswith("gateway.actuator_delay_ms: the actuator comes 400 ms after capture; less gateway.margin_ms (20), that "
                        "leaves 380 ms, under publisher.deadline_ms (500)")  # fmt: skip
    assert silence.startswith("gateway.missed_heartbeats: 3 heartbeats")  # 750 ms of silence: over the 380 ms too


def test_a_silence_that_trips_vision_only_after_a_part_reached_the_actuator_is_warned_of() -> None:
    """20 heartbeats of silence before vision trips: parts captured as the station fell silent reached the actuator with
    the healthy coil still 1 (4.6 s against a 1.5 s actuator delay, found by a hostile pass)."""
    (w,) = warnings(load_config(None, ["gateway.missed_heartbeats=20"]))
    assert w.startswith("gateway.missed_heartbeats: 20 heartbeats of publisher.heartbeat_ms (250) is 5000 ms of silence before "
                        "vision is unhealthy, not under the 1480 ms")  # fmt: skip
    assert warnings(load_config(None, ["gateway.missed_heartbeats=5"])) == []  # 1250 ms


def test_a_deadline_shorter_than_inspection_takes_is_warned_of() -> None:
    assert warnings(load_config(None, ["publisher.deadline_ms=50"])) == []
    (w,) = warnings(load_config(None, ["publisher.deadline_ms=1"]))
    assert w.startswith("publisher.deadline_ms: 1 ms is under 50 ms") and "rejected as late" in w


@pytest.mark.parametrize(("key", "then"), [("publisher.endpoint", "every part is rejected"), ("publisher.resend_endpoint", "ask again")])
def test_an_endpoint_no_other_process_can_reach_is_warned_of(key: str, then: str) -> None:
    assert warnings(load_config(None, [f"{key}=ipc:///run/station/{key}.sock"])) == []
    (w,) = warnings(load_config(None, [f"{key}=inproc://verdicts"]))
    assert w.startswith(f"{key}: inproc://verdicts reaches only this process") and then in w


def test_a_shadow_wait_longer_than_a_verdict_can_give_is_warned_of() -> None:
    shadow = f"model.shadow={SHIPPED_MODEL}"
    assert warnings(load_config(None, [shadow, "model.shadow_wait_ms=250"])) == []  # half the 500 ms deadline: honoured
    (w,) = warnings(load_config(None, [shadow, "model.shadow_wait_ms=400"]))
    assert w.startswith("model.shadow_wait_ms: 400 ms") and "publisher.deadline_ms (500)" in w
    assert warnings(load_config(None, ["model.shadow_wait_ms=400"])) == []  # no shadow: nothing waits


def test_a_modbus_timeout_a_stop_cannot_wait_out_is_warned_of() -> None:
    assert warnings(load_config(None, ["gateway.output=modbus", "gateway.modbus.timeout_s=1.25"])) == []  # four of them: 5 s
    (w,) = warnings(load_config(None, ["gateway.output=modbus", "gateway.modbus.timeout_s=1.5"]))
    assert w.startswith("gateway.modbus.timeout_s: 1.5 s") and "exits 1" in w


def test_a_drain_longer_than_the_systemd_unit_lets_a_stop_take_is_warned_of() -> None:
    assert warnings(load_config(None, ["shutdown.timeout_s=26"])) == []  # 26 + 1 + 3: the unit's 30 s
    (w,) = warnings(load_config(None, ["shutdown.timeout_s=20", "publisher.linger_ms=10000"]))
    assert w.startswith("shutdown.timeout_s: 20 s") and "33 s, over the 30 s" in w and "TimeoutStopSec" in w


def test_the_line_trigger_with_a_hardware_trigger_is_warned_of() -> None:
    gige = ["camera.source=gige:Cam1", "camera.trigger=Line1"]
    assert warnings(load_config(None, gige)) == []  # auto: one part a frame
    (w,) = warnings(load_config(None, [*gige, "trigger.mode=line"]))
    assert w.startswith("trigger.mode: line with a hardware trigger") and "only counted" in w


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (["camera.loop=true"], "camera.loop"),  # usb:0: a live camera
        (["camera.source=gige:Cam1", "camera.decode_threads=2"], "camera.decode_threads"),
        (["camera.source=rtsp://cam/1", "camera.loop=true"], "camera.loop"),
        (["camera.source=gige:Cam1", "camera.fps=10"], "camera.fps"),  # acquisition_fps is the camera's rate
        (["gateway.belt_speed_mm_s=250"], "gateway.belt_speed_mm_s"),  # tracking: delay
        (["gateway.actuator_distance_mm=900"], "gateway.actuator_distance_mm"),
        (["publisher.curve.clients_dir=/etc/station/clients"], "publisher.curve.clients_dir"),  # CURVE off
        (["gateway.curve_public_key_file=/etc/station/station.key"], "gateway.curve_public_key_file"),
        (["gateway.modbus.host=10.0.0.5"], "gateway.modbus.host"),  # output: log drives no PLC
        (["gateway.modbus.reject_coil=3"], "gateway.modbus.reject_coil"),
        (["gateway.output=modbus", "gateway.modbus.decision_block=10", "gateway.modbus.event_register=5"], "gateway.modbus.event_register"),
        (["metrics.enabled=false", "metrics.port=9200"], "metrics.port"),
        (["camera.source=line.mp4", "camera.stale_after_s=3"], "camera.stale_after_s"),  # a recording is never silent
        (["camera.source=line.mp4", "camera.read_timeout_s=1"], "camera.read_timeout_s"),
    ],
)
def test_a_key_given_that_nothing_reads_is_warned_of_by_name(sets: list[str], key: str) -> None:
    (w,) = warnings(load_config(None, sets))
    assert w.startswith(f"{key}: ") and "not read" in w


def test_a_frame_rate_given_for_a_video_file_is_warned_of(tmp_path: Path) -> None:
    (w,) = warnings(load_config(None, [f"camera.source={tmp_path / 'line.mp4'}", "camera.fps=30"]))
    assert w.startswith("camera.fps: ") and "its own frame rate paces it" in w


def test_what_is_read_is_not_warned_of(tmp_path: Path) -> None:
    video, folder = tmp_path / "line.mp4", tmp_path / "photos"
    folder.mkdir()
    assert warnings(load_config(None, [f"camera.source={video}", "camera.loop=true", "camera.decode_threads=2"])) == []
    assert warnings(load_config(None, ["camera.source=rtsp://cam/1", "camera.decode_threads=2", "camera.fps=12"])) == []
    assert warnings(load_config(None, [f"camera.source={folder}", "camera.fps=6"])) == []
    distance = ["gateway.tracking=distance", "gateway.actuator_distance_mm=900", "gateway.belt_speed_mm_s=250"]
    assert warnings(load_config(None, distance)) == []
    assert warnings(load_config(None, ["gateway.output=modbus", "gateway.modbus.host=10.0.0.5", "camera.stale_after_s=3"])) == []
    assert warnings(load_config(None, ["gateway.output=modbus", "gateway.modbus.decision_block=10", "gateway.modbus.healthy_coil=9"])) == []
    assert warnings(load_config(None, ["metrics.enabled=false", "metrics.port=9108"])) == []  # the default, written out
    gateway_metrics = ["metrics.enabled=false", "metrics.host=0.0.0.0", "gateway.metrics_port=9109"]  # the gateway serves there
    assert warnings(load_config(None, gateway_metrics)) == []
    camera = load_config(None, ["camera.source=gige:Cam1", "camera.stale_after_s=3"])  # a camera's config, a video replayed
    assert warnings(camera) == [] and warnings(camera, str(video)) == []
    (w,) = warnings(load_config(None, [f"camera.source={folder}", "camera.loop=true"]))  # an image folder plays once
    assert w.startswith("camera.loop: ")
    looped = load_config(None, ["camera.loop=true"])  # usb:0 in the file, a recording replayed (tools/soak.py)
    assert warnings(looped, str(video)) == [] and len(warnings(looped)) == 1


@pytest.mark.parametrize("line", [0.1, 0.95])
def test_a_trigger_line_near_a_side_of_the_frame_is_warned_of(line: float) -> None:
    """Near the exit side, a part cut by the frame or never seen whole left without a verdict (measured at 0.92 and 0.98)."""
    said = [w for w in warnings(load_config(None, [f"trigger.line={line}"])) if w.startswith("trigger.line:")]
    assert len(said) == 1 and "may leave without a verdict" in said[0]
    assert not [w for w in warnings(load_config(None, ["trigger.line=0.5"])) if w.startswith("trigger.line:")]


def test_a_trigger_line_is_not_warned_of_where_each_frame_is_a_part(tmp_path: Path) -> None:
    """trigger.mode auto reads no line for images or a hardware-triggered camera: warned of, it was a needless warning."""

    def line_warned(*sets: str, source: str | None = None) -> bool:
        cfg = load_config(None, ["trigger.line=0.1", *sets])
        return any(w.startswith("trigger.line:") for w in warnings(cfg, source))

    (tmp_path / "photos").mkdir()
    video = tmp_path / "line.mp4"
    video.write_bytes(b"")
    assert not line_warned(source=str(tmp_path / "photos"))
    assert not line_warned("camera.source=gige:Cam1", "camera.trigger=Line1")
    assert not line_warned("trigger.mode=frame", source=str(video))
    assert line_warned(source=str(video)) and line_warned("camera.source=gige:Cam1")
    assert line_warned("camera.source=gige:Cam1", "camera.trigger=Line1", "trigger.mode=line")


def test_the_line_trigger_on_an_image_folder_is_warned_of(tmp_path: Path) -> None:
    """Replaying a folder of photos of separate parts with it gave one verdict for 18 photos."""
    cfg = load_config(None, ["trigger.mode=line"])
    assert any(w.startswith("trigger.mode: line on an image folder") for w in warnings(cfg, str(tmp_path)))
    assert not any("image folder" in w for w in warnings(load_config(None, []), str(tmp_path)))
