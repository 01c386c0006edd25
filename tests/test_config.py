from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from station.config import DEFAULT_CONFIG, SHIPPED_MODEL, Config, TriggerMode, load_config
from station.config_blocking import check_blocking
from station.errors import ConfigError
from station.model import Threads


def test_packaged_default_is_valid_and_resolves_model_path() -> None:
    cfg = load_config()
    assert cfg.trigger.mode is TriggerMode.AUTO
    assert cfg.model.path.is_absolute()
    assert cfg.model.path == SHIPPED_MODEL == DEFAULT_CONFIG.parent / "defect.onnx"


def _fields(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str, FieldInfo]]:
    """Every field of every section, nested ones included, as (dotted path, name, field)."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        yield f"{prefix}{name}", name, field
        if isinstance(value, BaseModel):
            yield from _fields(value, f"{prefix}{name}.")


def test_every_field_is_documented_in_the_default_yaml() -> None:
    text = DEFAULT_CONFIG.read_text()
    data = yaml.safe_load(text)
    for path, name, _field in _fields(load_config()):
        node = data
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, f"{path} missing from config/station.yaml"
            node = node[part]
        assert f"{name}:" in text


def test_the_default_yaml_holds_each_fields_own_default() -> None:
    """Every default is written twice, as the field's and in the packaged YAML: they must not drift (a YAML value other than
    the field's would run a partial -c config on other values than the packaged one, and warn of keys not read)."""
    packaged, fields = load_config().model_dump(), Config.model_validate({}).model_dump()

    def leaves(d: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
        for k, v in d.items():
            yield from leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]

    yaml_values, field_values = dict(leaves(packaged)), dict(leaves(fields))
    assert {k: (v, field_values.get(k)) for k, v in yaml_values.items() if field_values.get(k) != v} == {}
    assert yaml_values.keys() == field_values.keys()


def test_every_field_has_a_description() -> None:
    for path, _name, field in _fields(load_config()):
        assert field.description, path


@pytest.mark.parametrize("host", ["0.0.0.0", "::1", "localhost", "line-pc.local", "eth0"])
def test_an_address_or_a_host_or_interface_name_is_taken_for_metrics_and_the_publisher(host: str) -> None:
    bracketed = f"[{host}]" if ":" in host else host
    cfg = load_config(None, [f"metrics.host='{host}'", f"publisher.endpoint=tcp://{bracketed}:5556"])
    assert cfg.metrics.host == host and cfg.publisher.endpoint == f"tcp://{bracketed}:5556"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("metrics.port=70000", "metrics.port"),
        ("metrics.port=abc", "metrics.port"),
        ("publisher.endpoint=localhost:5556", "publisher.endpoint"),
        ("trigger.mode=sometimes", "trigger.mode"),
        ("trigger.line=1.5", "trigger.line"),
        ("camera.bogus=1", "camera.bogus"),
        ("nonsense.key=1", "nonsense"),
        ("camera.exposure_us=.inf", "camera.exposure_us"),
        ("camera.gain_db=.nan", "camera.gain_db"),
        ("camera.roi=[0, 0, -5, 99999999999999999999]", "camera.roi"),
        ("gateway.belt_speed_mm_s=.inf", "gateway.belt_speed_mm_s"),
        ("metrics.host=999.1.1.1", "metrics.host"),  # no IPv4 address, and digits and dots are no name: run could not bind it
        ("metrics.host=exa mple", "metrics.host"),
        ("metrics.host='[::1]'", "metrics.host"),  # brackets belong to an endpoint, not to an address
        ("publisher.endpoint=tcp://256.1.1.1:5556", "publisher.endpoint"),
        ("publisher.resend_endpoint=tcp://a b:5557", "publisher.resend_endpoint"),
        ("shutdown.timeout_s=0.000001", "shutdown.timeout_s"),  # taken, and SIGTERM ended in exit 1, the parts in flight unjudged
        ("camera.source=rtsp://", "camera.source"),  # a stream with no host: retried for ever, the station degraded
        ("camera.source='https://[::1'", "camera.source"),
    ],
)
def test_bad_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert err.value.key == key
    assert str(err.value).startswith(key)


def test_a_bad_value_is_shown_in_its_error_at_a_length_of_its_own() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, ["station.id=[" + ", ".join(["[1, 2, 3, 4, 5, 6, 7, 8]"] * 10000) + "]"])
    assert err.value.key == "station.id" and len(str(err.value)) < 300


@pytest.mark.parametrize(
    "override",
    ["archive.pass_sample=true", "archive.queue_size=yes", "gateway.modbus.port=false", "station.id=true", "camera.roi=[true,0,10,10]"],
)
def test_true_or_false_where_a_number_or_text_belongs_is_refused(override: str) -> None:
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert err.value.key == key and "not true/false" in str(err.value)


@pytest.mark.parametrize("key", ["archive.dir", "model.path", "model.shadow", "review.token_file", "publisher.curve.clients_dir"])
def test_an_empty_path_is_refused_naming_its_key_never_read_as_the_config_folder(key: str, tmp_path: Path) -> None:
    config = tmp_path / "station.yaml"
    section, _, name = key.rpartition(".")
    config.write_text(f"{section.replace('.', ': {')}: {{{name}: ''}}{'}' * section.count('.')}\n")
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.key == key and "an empty path" in str(err.value)


def test_true_or_false_still_set_the_switches() -> None:
    cfg = load_config(None, ["camera.loop=true", "model.watch=yes"])
    assert cfg.camera.loop is True and cfg.model.watch is True


def test_yaml_syntax_error_says_yaml_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("station:\n  id: a\ncamera: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert "YAML" in str(err.value) and "line" in str(err.value)


def test_set_parses_yaml_values() -> None:
    cfg = load_config(None, ["metrics.port=0", "trigger.direction=right_to_left", "camera.fps=12.5"])
    assert cfg.metrics.port == 0 and cfg.camera.fps == 12.5
    assert cfg.trigger.direction.value == "right_to_left"


def test_model_thread_settings_reach_the_session_as_one_value() -> None:
    cfg = load_config(None, ["model.intra_threads=2", "model.spin_wait=true"])
    assert cfg.model.threads() == Threads(intra=2, inter=1, spin_wait=True)


def test_relative_model_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  path: m/x.onnx\n")
    assert load_config(p).model.path == (tmp_path / "m/x.onnx").resolve()


def test_a_relative_recording_in_the_config_file_is_relative_to_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It was opened against the working directory: another video of the same name, and check-config said OK."""
    p = tmp_path / "c.yaml"
    p.write_text("camera:\n  source: vid/line.mp4\n")
    monkeypatch.chdir(tmp_path.parent)
    assert load_config(p).camera.source == str(tmp_path / "vid/line.mp4")
    assert load_config(p, ["camera.source=vid/other.mp4"]).camera.source == "vid/other.mp4"  # typed in a shell: as typed
    for live in ("usb:0", "rtsp://cam/1", "gige:", "gst:videotestsrc ! appsink", "/dev/video0", "udp://239.0.0.1:1234"):
        p.write_text(f"camera:\n  source: '{live}'\n")
        assert load_config(p).camera.source == live


def test_a_relative_path_given_with_set_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "etc" / "c.yaml"
    p.parent.mkdir()
    p.write_text("model:\n  path: m/x.onnx\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(p, ["model.shadow=line-a.onnx"])
    assert cfg.model.shadow == tmp_path / "line-a.onnx" and cfg.model.path == tmp_path / "etc" / "m" / "x.onnx"
    assert load_config(None, ["model.path=line-a.onnx"]).model.path == tmp_path / "line-a.onnx"  # not the packaged folder's


def test_key_file_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("publisher:\n  curve:\n    secret_key_file: keys/station.key_secret\n")
    assert load_config(p).publisher.curve.secret_key_file == tmp_path / "keys" / "station.key_secret"


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (["trigger.min_diameter_px=600"], "trigger.min_diameter_px"),
        (["metrics.port=5556", "publisher.endpoint=tcp://127.0.0.1:5556"], "metrics.port"),
        (["publisher.endpoint=tcp://*:7000", "publisher.resend_endpoint=tcp://127.0.0.1:7000"], "publisher.resend_endpoint"),
        (["metrics.port=9200", "gateway.metrics_port=9200"], "gateway.metrics_port"),  # both on metrics.host
        (["pipeline.stall_after_s=0.5"], "pipeline.stall_after_s"),  # under the loops' own turns
    ],
)
def test_contradictions_name_their_key(sets: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, sets)
    assert err.value.key == key


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (["camera.read_timeout_s=8"], "pipeline.stall_after_s"),  # usb:0: its open reads two frames of up to 8 s each
        (["camera.read_timeout_s=7.2", "pipeline.stall_after_s=15"], "pipeline.stall_after_s"),  # OpenCV waits 8 s twice
        (["camera.source=gige:Cam1", "pipeline.stall_after_s=9"], "pipeline.stall_after_s"),  # its open: 8 s, then commands
        (["camera.source=rtsp://cam/1", "shutdown.timeout_s=2"], "shutdown.timeout_s"),  # a stop waits for the read
    ],
)
def test_timing_a_live_camera_cannot_keep_names_its_key(sets: list[str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_blocking(load_config(None, sets))
    assert err.value.key == key


def test_a_recording_has_no_read_to_wait_for(tmp_path: Path) -> None:
    cfg = load_config(None, ["camera.read_timeout_s=20", "shutdown.timeout_s=1"])  # usb:0 in the config, but replayed:
    check_blocking(cfg, str(tmp_path))  # the source replay reads is what counts
    check_blocking(load_config(None, ["camera.source=rtsp://cam/1"]))  # the defaults hold for every live kind
    check_blocking(load_config(None, ["camera.source=gige:Cam1"]))
    check_blocking(load_config(None, []))


def test_ports_that_cannot_clash_are_fine() -> None:
    load_config(None, ["metrics.port=0", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=ipc:///tmp/r"])
    load_config(None, ["publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=tcp://127.0.0.1:*"])  # two free ports


@pytest.mark.parametrize(
    ("sets", "key", "said"),
    [
        (["camera.trigger=Line1"], "camera.trigger", "usb:0 is a USB camera, which has no hardware trigger line here"),
        (["camera.pixel_format=Mono8"], "camera.pixel_format", "pixel formats are set on GigE cameras only"),
        (["camera.roi=[8, 8, 640, 480]"], "camera.roi", "not an offset"),
        (["camera.source=rtsp://cam/1", "camera.exposure_us=2000"], "camera.exposure_us", "is a network stream or pipeline"),
        (["camera.source=line.mp4", "camera.trigger=Line1"], "camera.trigger", "is a recording"),
        (["camera.source=usb:abc"], "camera.source", "usb:N or /dev/videoN, N its device number"),
        (["camera.source=/dev/videofoo"], "camera.source", "usb:N or /dev/videoN, N its device number"),
        (["camera.source=usb:\u00b2"], "camera.source", "usb:N or /dev/videoN, N its device number"),  # a digit to isdigit()
        (["camera.source=rtsp://cam/1", "camera.trigger=freerun"], "camera.trigger", "free_run, or a hardware trigger line"),
        (["camera.source=rtsp://cam/1", "camera.trigger=FreeRun"], "camera.trigger", "free_run, or a hardware trigger line"),
        (["camera.source=gige:Cam1", 'camera.trigger="free run"'], "camera.trigger", "free_run, or a hardware trigger line"),
        (["camera.source=rtsp://cam/1", "camera.trigger=None"], "camera.trigger", "free_run, or a hardware trigger line"),
        (["camera.source=gige:Cam1", "camera.pixel_format=RGB8"], "camera.pixel_format", "the station reads Mono8"),
        (["publisher.endpoint=ipc:///tmp/s", "publisher.resend_endpoint=ipc:///tmp/s"], "publisher.resend_endpoint", "already"),
        (["publisher.endpoint=ipc:///tmp/s", "publisher.resend_endpoint=ipc:///tmp//./s"], "publisher.resend_endpoint", "already"),
    ],
)
def test_a_camera_setting_the_source_cannot_take_is_refused_naming_the_key(sets: list[str], key: str, said: str) -> None:
    """A stream with camera.trigger ``freerun`` was taken as hardware-triggered: every frame a part, silence normal."""
    with pytest.raises(ConfigError, match=re.escape(key)) as err:
        load_config(None, sets)
    assert said in str(err.value)


def test_camera_settings_are_taken_where_they_are_written() -> None:
    assert load_config(None, ["camera.source=gige:Cam1", "camera.trigger=Line1", "camera.pixel_format=Mono8"]).camera.trigger == "Line1"
    assert load_config(None, ["camera.exposure_us=2000", "camera.roi=[0, 0, 640, 480]"]).camera.exposure_us == 2000  # usb:0
    assert load_config(None, ["camera.source=rtsp://cam/1"]).camera.source == "rtsp://cam/1"
    assert load_config(None, ["camera.source=rtsp://cam/1", "camera.trigger=Line1"]).camera.trigger == "Line1"  # triggered upstream
    for name in ("Line0", "Software", "Action1", "Line_1", "mvLogicGateOR1Output"):  # GenICam names are identifiers
        assert load_config(None, ["camera.source=gige:Cam1", f"camera.trigger={name}"]).camera.trigger == name


def test_a_value_ending_in_a_colon_is_told_to_be_quoted(tmp_path: Path) -> None:
    """`source: gige:` is YAML for a mapping: the README's own source spelling must not end in a puzzle."""
    with pytest.raises(ConfigError, match=r'camera\.source: .*a value with a colon is a string only in quotes: "gige:"'):
        load_config(None, ["camera.source=gige:"])
    bad = tmp_path / "station.yaml"
    bad.write_text("camera:\n  source: gige:\n")
    with pytest.raises(ConfigError, match=r'invalid YAML at line 2, column 15: .*only in quotes, e\.g\. source: "gige:"'):
        load_config(bad)
    bad.write_text('camera:\n  source: "gige:"\n')
    assert load_config(bad).camera.source == "gige:"


def test_a_key_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys without a word: a second `curve:` would turn encryption off."""
    dup = tmp_path / "station.yaml"
    dup.write_text("publisher:\n  curve:\n    enabled: true\n  curve:\n    enabled: false\n")
    with pytest.raises(ConfigError, match=r"the key 'curve' is given twice in one mapping \(line 4\)"):
        load_config(dup)
    dup.write_text("base: &b {fps: 25}\ncamera:\n  <<: *b\n  source: usb:1\n")  # a merge key is not a second key
    with pytest.raises(ConfigError, match=r"base: unknown key"):
        load_config(dup)


def test_a_number_python_cannot_write_out_and_a_path_with_a_nul_are_one_line_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"camera\.queue_size: --set value: a value it cannot read"):
        load_config(None, ["camera.queue_size=" + "9" * 5000])
    with pytest.raises(ConfigError, match=r"camera\.fps: --set value: 0xfff*\.\.\. \(line 1\) is read by YAML as another number"):
        load_config(None, ["camera.fps=0x" + "f" * 5000])
    with pytest.raises(ConfigError, match=r"model\.path: a path cannot hold a NUL character"):
        load_config(None, ['model.path="x\\0y"'])
    with pytest.raises(ConfigError, match=r"archive\.dir: a path cannot hold a NUL character"):
        load_config(None, ['archive.dir="/tmp/\\0x"'])


@pytest.mark.parametrize("key", [".camera", "camera..source", "camera."])
def test_a_set_key_with_an_empty_name_in_it_is_refused_naming_it(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: a key is names joined by dots, none of them empty"):
        load_config(None, [f"{key}=x"])
    with pytest.raises(ConfigError) as err:
        load_config(None, ["camera.source={a: 1}"])
    assert "quotes" not in str(err.value), "only a value that ends in a colon is told to be quoted"


def test_a_camera_source_is_classified_once_by_its_prefix_or_what_the_path_holds(tmp_path: Path) -> None:
    from station.source_kind import SourceKind, source_kind

    (tmp_path / "photos").mkdir()
    named = {"usb:0": SourceKind.USB, "/dev/video2": SourceKind.USB, "gige:Cam1": SourceKind.GIGE, "gige:": SourceKind.GIGE,
             "rtsp://cam/1": SourceKind.NETWORK, "https://cam/mjpg": SourceKind.NETWORK, "gst:videotestsrc ! appsink": SourceKind.PIPELINE,
             str(tmp_path / "photos"): SourceKind.FOLDER, str(tmp_path / "part.JPG"): SourceKind.STILL,
             str(tmp_path / "line.mp4"): SourceKind.VIDEO, str(tmp_path / "missing"): SourceKind.VIDEO}  # fmt: skip
    assert {src: source_kind(src) for src in named} == named


@pytest.mark.parametrize(("key", "value"), [("camera.read_timeout_s", "0.0001"), ("camera.backoff_max_s", "0.000001")])
def test_a_read_bound_or_backoff_too_short_to_be_one_is_a_config_error(key: str, value: str) -> None:
    """A read timeout under a millisecond reached the decoder as 0 ms, which is none (a stream that never answered held
    the read until SIGTERM's drain ran out); a backoff of a microsecond logged 5000 reconnect failures a second."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [f"{key}={value}"])


def test_a_station_id_is_printable_on_one_line() -> None:
    """A newline or a terminal escape in it went into every log line and message as it was."""
    for bad in ('"a\\nb"', '"a\\x1b[31mb"'):
        with pytest.raises(ConfigError, match=r"station\.id: .*printable characters on one line"):
            load_config(None, [f"station.id={bad}"])
    assert load_config(None, ["station.id=line 3 (café)"]).station.id == "line 3 (café)"
