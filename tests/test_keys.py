from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from station.errors import ConfigError, StationError
from station.keys import create_keys, load_public, load_secret

STATION = [sys.executable, "-m", "station.cli"]


def test_keys_command_makes_a_pair_and_refuses_to_overwrite(tmp_path: Path) -> None:
    args = [*STATION, "keys", str(tmp_path), "--name", "gw"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert first.returncode == 0 and "gw.key_secret" in first.stdout
    again = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert (tmp_path / "gw.key_secret").stat().st_mode & 0o077 == 0
    pair = load_secret(tmp_path / "gw.key_secret", "k")
    assert pair.public == load_public(tmp_path / "gw.key", "k")


def test_bad_key_files_name_the_key_and_the_file(tmp_path: Path) -> None:
    public, _secret = create_keys(tmp_path, "st")
    with pytest.raises(ConfigError) as err:
        load_secret(public, "publisher.curve.secret_key_file")  # the public half has no secret
    assert err.value.key == "publisher.curve.secret_key_file" and str(public) in str(err.value)
    junk = tmp_path / "junk.key"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as err:
        load_public(junk, "gateway.curve_public_key_file")
    assert str(junk) in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_public(tmp_path / "missing.key", "gateway.curve_public_key_file")
    assert "cannot read" in str(err.value)
    with pytest.raises(ConfigError):
        load_secret(None, "publisher.curve.secret_key_file")
    with pytest.raises(StationError):
        create_keys(tmp_path, "st")


def test_curve_on_without_a_key_is_a_config_error(tmp_path: Path) -> None:
    p = subprocess.run([*STATION, "gateway", "--set", "publisher.curve.enabled=true"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and p.stderr.startswith("station: config error: gateway.curve_public_key_file")
