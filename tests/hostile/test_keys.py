"""CURVE misconfiguration: every bad key is exit 2 naming the key (or the file), and check-config says what run would."""

from __future__ import annotations

from pathlib import Path

import pytest

from station.keys import create_keys

from ..conftest import SAMPLE
from ..proc import one_line_error, run, sets

SECRET = "publisher.curve.secret_key_file"
PORTS = ("metrics.port=0", "publisher.endpoint=tcp://127.0.0.1:*", "publisher.resend_endpoint=tcp://127.0.0.1:*")


def _curve(secret: Path | None, *more: str) -> list[str]:
    return sets("publisher.curve.enabled=true", *([f"{SECRET}={secret}"] if secret is not None else []), *more, *PORTS)


def _short(tmp_path: Path) -> Path:
    _pub, secret = create_keys(tmp_path, "st")
    lines = [('    secret-key = "' + "x" * 39 + '"') if "secret-key" in x else x for x in secret.read_text().splitlines()]
    secret.write_text("\n".join(lines) + "\n")
    return secret


@pytest.mark.parametrize("command", [["check-config"], ["replay", str(SAMPLE / "ok_front"), "--no-progress"]])
def test_a_secret_key_of_the_wrong_length_is_exit_2_naming_the_key(tmp_path: Path, command: list[str]) -> None:
    one_line_error(run(*command, *_curve(_short(tmp_path))), SECRET, "40 characters")


@pytest.mark.parametrize("case", ["none", "missing", "garbage"])
def test_check_config_refuses_what_run_refuses(tmp_path: Path, case: str) -> None:
    secret = {"none": None, "missing": tmp_path / "gone.key_secret", "garbage": tmp_path / "g.key_secret"}[case]
    if case == "garbage":
        (tmp_path / "g.key_secret").write_bytes(b"\x00\xffnot a key\n")
    one_line_error(run("check-config", *_curve(secret)), SECRET)
    one_line_error(run("run", *_curve(secret, f"camera.source={SAMPLE / 'ok_front'}")), SECRET)


def test_a_malformed_client_key_is_an_error_naming_the_file(tmp_path: Path) -> None:
    _pub, secret = create_keys(tmp_path, "st")
    create_keys(tmp_path / "clients", "gw1")
    bad = tmp_path / "clients" / "gw2.key"
    bad.write_text('curve\n    public-key = "too short"\n')
    one_line_error(run("check-config", *_curve(secret, f"publisher.curve.clients_dir={tmp_path / 'clients'}")), str(bad))


def test_a_world_readable_secret_key_is_warned_of(tmp_path: Path) -> None:
    _pub, secret = create_keys(tmp_path, "st")
    secret.chmod(0o644)
    p = run("check-config", *_curve(secret, "logging.format=json"))
    assert p.returncode == 0, p.stderr
    assert "secret_key_readable" in p.stdout + p.stderr and "chmod 600" in p.stdout + p.stderr
