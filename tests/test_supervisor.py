"""station/supervisor.py: what a SIGHUP takes from the config file as it is now."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from station.camera import CameraSettings
from station.config import Config, load_config
from station.errors import ConfigError
from station.supervisor import _model_section, camera_settings


def test_sighup_takes_the_model_files_and_names_keys_that_need_a_restart(tmp_path: Path) -> None:
    """model.path and model.shadow take effect; model.watch, like every other key, waits for a restart (it was not said)."""
    cfg = load_config(None, [])
    now = load_config(None, [f"model.shadow={tmp_path / 'b.onnx'}", "publisher.heartbeat_ms=500", "model.watch=true"])
    with capture_logs() as logs:
        got = _model_section(cfg, lambda: now)
    assert got == now.model
    assert [(e["event"], e["keys"]) for e in logs] == [("config_needs_restart", ["model.watch", "publisher.heartbeat_ms"])]


def test_a_config_that_cannot_be_read_again_is_refused_in_one_line_and_the_station_goes_on() -> None:
    cfg = load_config(None, [])

    def invalid() -> Config:
        raise ConfigError("model.path", "no such file")

    def faulty() -> Config:  # whatever fails while reading it: never the station's end
        raise RuntimeError("Symlink loop from '/etc/station/l1'")

    for reread, why in ((invalid, "no such file"), (faulty, "RuntimeError: Symlink loop")):
        with capture_logs() as logs:
            assert _model_section(cfg, reread) is None
        assert len(logs) == 1 and logs[0]["event"] == "config_refused" and why in logs[0]["why"]
    assert _model_section(cfg, None) is None


def test_a_config_file_that_holds_no_settings_is_refused(tmp_path: Path) -> None:
    """Saved empty, or read as an editor wrote it: the shipped model would have gone on the line at a SIGHUP."""
    for text in ("", "# comments only\n"):
        (tmp_path / "station.yaml").write_text(text)
        with pytest.raises(ConfigError, match="holds no settings"):
            load_config(tmp_path / "station.yaml")


def test_a_gige_cameras_settings_are_each_camera_key_as_configured() -> None:
    keys = ["camera.source='gige:'", "camera.exposure_us=800", "camera.gain_db=2.5", "camera.acquisition_fps=40",
            "camera.roi=[8, 16, 640, 480]", "camera.pixel_format=Mono8", "camera.trigger=Line1"]  # fmt: skip
    got = camera_settings(load_config(None, keys))
    want = CameraSettings(exposure_us=800, gain_db=2.5, acquisition_fps=40, roi=(8, 16, 640, 480), pixel_format="Mono8", trigger="Line1")
    assert got == want
