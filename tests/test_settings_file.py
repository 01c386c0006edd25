from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from station.config import load_config
from station.errors import ConfigError
from station.settings_file import Unreadable, apply_override, load_yaml, paths_in, read_mapping, resolve_paths


def test_an_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    assert read_mapping(p) == {}


@pytest.mark.parametrize(("text", "says"), [("- a\n- b\n", "top level must be a mapping"), ("a: [b\n", "invalid YAML at line")])
def test_a_file_that_is_not_a_mapping_is_named(tmp_path: Path, text: str, says: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_mapping(p)
    assert str(err.value).startswith(f"{p}: ") and says in str(err.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file") as err:
        read_mapping(tmp_path / "none.yaml")
    assert str(tmp_path / "none.yaml") in str(err.value)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)  # nine levels of ten: 10**9 values once written out, from a few hundred bytes


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (BOMB, "holds more than 100000 values once its aliases"),
        ("a: &a [*a]\n", "or an alias holds itself"),
        ("a: " + "[" * 50000 + "]" * 50000 + "\n", "nests lists or mappings too deep"),
    ],
    ids=["alias-bomb", "alias-to-itself", "deep"],
)
def test_a_file_its_aliases_or_nesting_would_blow_up_is_refused_before_it_is_built(tmp_path: Path, text: str, says: str) -> None:
    p = tmp_path / "bomb.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=says) as err:
        read_mapping(p)  # the bomb hung check-config while its memory grew; deep nesting was a RecursionError's traceback
    assert str(err.value).startswith(f"{p}: ")


def test_a_set_value_its_aliases_would_blow_up_is_refused_naming_its_key() -> None:
    levels = ["&a [x, x, x, x, x, x, x, x, x, x]"] + [f"&{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    with pytest.raises(ConfigError, match="holds more than 100000 values once its aliases") as err:
        apply_override({}, f"station.id=[{', '.join(levels)}]")
    assert err.value.key == "station.id"


def test_a_few_aliases_are_still_yaml(tmp_path: Path) -> None:
    p = tmp_path / "ok.yaml"
    p.write_text("camera: &cam {fps: 25}\nother: *cam\n")
    assert read_mapping(p) == {"camera": {"fps": 25}, "other": {"fps": 25}}


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "binary", "huge"])
def test_a_config_that_is_no_text_file_is_named_never_read_forever(tmp_path: Path, kind: str) -> None:
    import os

    p = tmp_path / "station.yaml"
    if kind == "fifo":
        os.mkfifo(p)  # reading it blocked check-config forever
    elif kind == "dev-zero":
        p = Path("/dev/zero")  # read until the memory ran out
    elif kind == "binary":
        p.write_bytes(b"\xff\xfe\x00a: 1")
    else:
        p.write_bytes(b"#" * (2 << 20))
    says = {"fifo": "not a regular file", "dev-zero": "not a regular file", "binary": "not text", "huge": "more than 1048576"}[kind]
    with pytest.raises(ConfigError, match=says) as err:
        read_mapping(p)
    assert str(err.value).startswith(f"{p}: ")


def test_an_override_makes_its_sections_and_parses_yaml() -> None:
    data: dict[str, object] = {"a": {"x": 1}}
    apply_override(data, "a.b.c=[1, 2]")
    apply_override(data, "a.x=")
    assert data == {"a": {"x": "", "b": {"c": [1, 2]}}}


@pytest.mark.parametrize(("assignment", "key"), [("a.x.y=1", "a.x.y"), ("novalue", ""), ("=3", ""), ("a.z=[", "a.z")])
def test_a_bad_override_is_refused_naming_its_key(assignment: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        apply_override({"a": {"x": 1}}, assignment)
    assert err.value.key == key


class _Inner(BaseModel):
    file: Path
    elsewhere: Path


class _Outer(BaseModel):
    inner: _Inner
    top: Path | None = None


def test_relative_paths_at_any_depth_are_taken_against_the_folder(tmp_path: Path) -> None:
    model = _Outer(inner=_Inner(file=Path("k/a.key"), elsewhere=Path("/etc/b.key")), top=Path("m.onnx"))
    fixed = resolve_paths(model, tmp_path)
    assert isinstance(fixed, _Outer)
    assert fixed.inner.file == (tmp_path / "k/a.key").resolve() and fixed.inner.elsewhere == Path("/etc/b.key")
    assert fixed.top == (tmp_path / "m.onnx").resolve() and model.top == Path("m.onnx")


def test_paths_set_on_the_command_line_are_taken_against_the_working_directory(tmp_path: Path) -> None:
    model = _Outer(inner=_Inner(file=Path("a.key"), elsewhere=Path("b.key")), top=Path("m.onnx"))
    here, there = tmp_path / "cwd", tmp_path / "config"
    one = resolve_paths(model, there, frozenset({"inner.file"}), here)
    assert isinstance(one, _Outer)
    assert (one.inner.file, one.inner.elsewhere, one.top) == (
        (here / "a.key").resolve(),
        (there / "b.key").resolve(),
        (there / "m.onnx").resolve(),
    )
    section = resolve_paths(model, there, frozenset({"inner"}), here)  # --set inner={...}: everything in it was typed
    assert isinstance(section, _Outer)
    assert (section.inner.file, section.inner.elsewhere, section.top) == (
        (here / "a.key").resolve(),
        (here / "b.key").resolve(),
        (there / "m.onnx").resolve(),
    )


def test_a_relative_path_whose_links_loop_is_a_config_error_naming_its_key(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    model = _Outer(inner=_Inner(file=Path("a/x.key"), elsewhere=Path("/etc/b.key")))
    with pytest.raises(ConfigError, match=r"inner\.file: .*a/x\.key: cannot follow its links"):
        resolve_paths(model, tmp_path)
    absolute = _Outer(inner=_Inner(file=Path("/etc/a.key"), elsewhere=tmp_path / "b" / "y.key"))  # absolute: kept, still checked
    with pytest.raises(ConfigError, match=r"inner\.elsewhere: .*b/y\.key: cannot follow its links"):
        resolve_paths(absolute, tmp_path)


def test_an_override_says_which_key_it_set() -> None:
    assert apply_override({}, "model.path=x.onnx") == "model.path"


def test_paths_in_names_every_file_and_folder_of_every_section(tmp_path: Path) -> None:
    cfg = load_config(None, [f"archive.dir={tmp_path / 'a'}", f"model.shadow={tmp_path / 'm.onnx'}"])
    found = paths_in(cfg)
    assert {cfg.model.path, tmp_path / "m.onnx", tmp_path / "a"} <= set(found)
    assert all(isinstance(p, Path) for p in found)


def test_a_merge_key_given_twice_is_refused_and_one_merging_a_list_is_yaml(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("a: &a {source: 'usb:1'}\nb: &b {fps: 5}\ncamera:\n  <<: *a\n  <<: *b\n")
    with pytest.raises(ConfigError, match="the key '<<' is given twice"):
        read_mapping(p)
    p.write_text("a: &a {source: 'usb:1'}\nb: &b {fps: 5}\ncamera:\n  <<: [*a, *b]\n")
    assert read_mapping(p)["camera"] == {"source": "usb:1", "fps": 5}


def test_sections_an_alias_shares_are_each_their_own_and_a_base_60_number_is_refused(tmp_path: Path) -> None:
    """``pipeline: *q`` made one object of two sections: a --set of one set the other (and an unknown key in one was
    named under the other). ``deadline_ms: 8:20`` was 500 to YAML 1.1, without a word."""
    data = load_yaml("camera: &q\n  queue_size: 8\npipeline: *q\n")
    apply_override(data, "camera.queue_size=4")
    assert data == {"camera": {"queue_size": 4}, "pipeline": {"queue_size": 8}}
    with pytest.raises(Unreadable, match=r"8:20 \(line 2\) is a base-60 number to YAML \(500\)"):
        load_yaml("publisher:\n  deadline_ms: 8:20\n")
    assert load_yaml('a: "8:20"\nb: 1.5\n') == {"a": "8:20", "b": 1.5}


def test_a_key_yaml_reads_as_a_number_null_or_bool_is_refused_naming_it_and_its_line() -> None:
    """``null: 2`` under camera was named ``camera.None`` by the model, ``true: 1`` under gateway ``gateway.1``."""
    for text, named in (("camera:\n  null: 2\n", "null (line 2) is read as nothing (null)"),
                        ("gateway:\n  true: 1\n", "true (line 2) is read as true or false"),
                        ("1: 2\n", "1 (line 1) is read as a number")):  # fmt: skip
        with pytest.raises(Unreadable, match=rf"the key {re.escape(named)}, not a name: quote it"):
            load_yaml(text)
    assert load_yaml('camera:\n  "1": 2\nb: &b {x: 1}\nc:\n  <<: *b\n') == {"camera": {"1": 2}, "b": {"x": 1}, "c": {"x": 1}}


def test_an_integer_yaml_reads_as_octal_binary_or_hex_is_refused_naming_its_line() -> None:
    """``actuator_delay_ms: 01500`` was 832 ms to YAML 1.1 without a word (and a quoted "01500" 1500 ms)."""
    for text, read in (("gateway:\n  actuator_delay_ms: 01500\n", "01500 (line 2) is read by YAML as 832"),
                       ("a: 0x10\n", "0x10 (line 1) is read by YAML as 16"),
                       ("a:\n- 1\n- -0b101\n", "-0b101 (line 3) is read by YAML as -5")):  # fmt: skip
        with pytest.raises(Unreadable, match=rf"{re.escape(read)} \(octal, binary or hexadecimal\): write the number in decimal"):
            load_yaml(text)
    assert load_yaml("a: [0, -0, +7, 1_000, 10, 08, 010.5]\n") == {"a": [0, 0, 7, 1000, 10, "08", 10.5]}
    with pytest.raises(ConfigError, match=r"gateway\.modbus\.port: --set value: 0502 \(line 1\) is read by YAML as 322"):
        apply_override({}, "gateway.modbus.port=0502")


def test_a_relative_path_through_a_link_is_kept_as_the_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """model.watch stats the path it is given: made the link's target, a link moved to a taught model went unseen."""
    (tmp_path / "base.onnx").write_bytes(b"x")
    (tmp_path / "live.onnx").symlink_to("base.onnx")
    fixed = resolve_paths(_Outer(inner=_Inner(file=Path("live.onnx"), elsewhere=Path("/etc/b.key"))), tmp_path)
    assert isinstance(fixed, _Outer) and fixed.inner.file == tmp_path / "live.onnx"
    monkeypatch.chdir(tmp_path.parent)  # a config given by a relative path (-c NAME/station.yaml): its paths still absolute
    fixed = resolve_paths(_Outer(inner=_Inner(file=Path("live.onnx"), elsewhere=Path("/etc/b.key"))), Path(tmp_path.name))
    assert isinstance(fixed, _Outer) and fixed.inner.file == tmp_path / "live.onnx"


def test_a_set_of_a_whole_section_is_refused_never_resetting_the_files_other_keys() -> None:
    """``--set model={watch: true}`` replaced the file's model section: its path went back to the shipped model, and
    ``--set publisher.curve={}`` turned the file's CURVE off, without a word."""
    data = {"model": {"path": "taught.onnx"}}
    for assignment in ("model={watch: true}", "publisher.curve={}"):
        with pytest.raises(ConfigError, match=r"--set takes a value, not a mapping: a section's keys are set one at a time"):
            apply_override(data, assignment)
    assert data == {"model": {"path": "taught.onnx"}}
    apply_override(data, "model.watch=true")
    assert data == {"model": {"path": "taught.onnx", "watch": True}}


@pytest.mark.parametrize("path", ["~/arch", "$HOME/arch", "${STATE}/arch", "/srv/$LINE/arch"])
def test_a_path_written_for_a_shell_to_expand_is_refused_naming_its_key(path: str, tmp_path: Path) -> None:
    """``archive.dir: ~/arch`` was taken as a folder named ``~`` beside the config, check-config saying OK."""
    config = tmp_path / "station.yaml"
    config.write_text(f"archive:\n  dir: '{path}'\n")
    with pytest.raises(ConfigError, match=rf"^archive\.dir: {re.escape(path)}: no shell reads the config, so ~ and \$NAME stay"):
        load_config(config)
    config.write_text("archive:\n  dir: 'a~b/c$/price$list'\n")  # a ~ or $ inside a name is that name's
    assert load_config(config).archive.dir == tmp_path / "a~b/c$/price$list"
