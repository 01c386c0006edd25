from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.errors import ConfigError, InputError, StationError
from station.keys import create_keys, load_public, load_secret

from .conftest import ROOT

STATION = [sys.executable, "-m", "station.cli"]


@pytest.mark.integration
def test_keys_command_makes_a_pair_and_refuses_to_overwrite(tmp_path: Path) -> None:
    args = [*STATION, "keys", str(tmp_path), "--name", "gw"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert first.returncode == 0 and "gw.key_secret" in first.stdout
    again = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr  # bad input
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


@pytest.mark.parametrize("which", ["station.key", "station.key_secret"])
def test_a_link_at_a_key_files_name_is_refused_and_nothing_written_where_it_leads(tmp_path: Path, which: str) -> None:
    """A dangling link does not exist to Path.exists: pyzmq's writer followed it and put the secret where it led."""
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / which).symlink_to(tmp_path / "stolen")
    with pytest.raises(InputError, match=rf"{which}: already exists; refusing to overwrite a key"):
        create_keys(tmp_path / "keys", "station")
    assert not (tmp_path / "stolen").exists() and [p.name for p in (tmp_path / "keys").iterdir()] == [which]


def test_a_secret_key_file_is_never_readable_by_others_and_both_files_load(tmp_path: Path) -> None:
    old = os.umask(0)  # the most open umask: the secret is still the owner's alone
    try:
        public, secret = create_keys(tmp_path, "st")
    finally:
        os.umask(old)
    assert secret.stat().st_mode & 0o777 == 0o600 and public.stat().st_mode & 0o777 == 0o644
    pair = load_secret(secret, "publisher.curve.secret_key_file")
    assert pair.public == load_public(public, "gateway.curve_public_key_file") and len(pair.secret) == 40


def test_a_pair_whose_secret_cannot_be_written_leaves_no_half_and_a_retry_makes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def full(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if str(path).endswith(".key_secret"):
            raise OSError(28, "No space left on device", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", full)
    with pytest.raises(StationError, match=r"st\.key_secret: cannot write keys: No space left on device"):
        create_keys(tmp_path, "st")
    assert list(tmp_path.iterdir()) == []  # the public half written first is gone: a retry is not told it exists
    monkeypatch.setattr(os, "open", real_open)
    assert [p.name for p in create_keys(tmp_path, "st")] == ["st.key", "st.key_secret"]


@pytest.mark.parametrize("name", ["", ".hidden", "../outside", "a/b", "two\nlines", "x" * 65])
def test_a_key_name_that_is_no_plain_word_is_refused_and_nothing_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match="--name"):
        create_keys(tmp_path / "keys", name)
    assert not (tmp_path / "keys").exists() and list(tmp_path.iterdir()) == []


def test_keys_into_a_file_are_refused_as_bad_input(tmp_path: Path) -> None:
    (tmp_path / "station.yaml").write_text("x: 1\n")
    with pytest.raises(InputError, match="not a folder"):
        create_keys(tmp_path / "station.yaml", "st")


@pytest.mark.integration
def test_curve_on_without_a_key_is_a_config_error(tmp_path: Path) -> None:
    p = subprocess.run([*STATION, "gateway", "--set", "publisher.curve.enabled=true"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and p.stderr.startswith("station: config error: gateway.curve_public_key_file")


def _short_secret(tmp_path: Path) -> Path:
    """A key file in ZeroMQ's format whose secret key is 30 characters instead of 40."""
    _public, secret = create_keys(tmp_path, "st")
    text = secret.read_text()
    line = next(x for x in text.splitlines() if "secret-key" in x)
    secret.write_text(text.replace(line, '    secret-key = "' + "a" * 30 + '"'))
    return secret


def test_a_key_of_the_wrong_length_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_secret(_short_secret(tmp_path), "publisher.curve.secret_key_file")
    assert err.value.key == "publisher.curve.secret_key_file" and "40 characters" in str(err.value)


def test_a_malformed_client_key_names_its_file(tmp_path: Path) -> None:
    from station.keys import check_clients

    create_keys(tmp_path / "clients", "gw1")
    bad = tmp_path / "clients" / "gw2.key"
    bad.write_text('metadata\ncurve\n    public-key = "short"\n')
    with pytest.raises(ConfigError) as err:
        check_clients(tmp_path / "clients")
    assert err.value.key == "publisher.curve.clients_dir" and str(bad) in str(err.value)


def test_a_secret_key_others_can_read_is_warned_of(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _public, secret = create_keys(tmp_path, "st")
    secret.chmod(0o644)
    load_secret(secret, "publisher.curve.secret_key_file")
    out = capsys.readouterr()
    assert "secret_key_readable" in out.out + out.err and "chmod 600" in out.out + out.err


def test_a_pipe_named_like_a_key_is_refused_not_waited_on(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "st.key_secret")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_secret(tmp_path / "st.key_secret", "publisher.curve.secret_key_file")


def test_a_secret_systemd_hands_the_service_is_read_in_place_of_the_file_the_config_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    _, secret = create_keys(tmp_path / "made", "station")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secret.rename(credentials / "station.key_secret")  # LoadCredential=station.key_secret:/etc/station/keys/station.key_secret
    named = tmp_path / "etc" / "station.key_secret"  # where the config says it is; this process could not read it there
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert len(load_secret(named, "publisher.curve.secret_key_file").secret) == 40
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError) as err:  # outside the unit: the file the config names, which is not there
        load_secret(named, "publisher.curve.secret_key_file")
    assert err.value.key == "publisher.curve.secret_key_file" and str(named) in str(err.value)


def test_a_secret_this_process_may_not_read_says_how_a_unit_is_given_it(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to read the key as another user (nobody)")
    _, secret = create_keys(tmp_path, "station")
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom station.keys import load_secret\nos.setgid(65534); os.setuid(65534)\n"
        f"try:\n    load_secret(Path({str(secret)!r}), 'k')\nexcept Exception as e:\n    print(e)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    said = f"cannot read key file: Permission denied; a systemd unit is given it with LoadCredential=station.key_secret:{secret}"
    assert said in p.stdout, p.stdout + p.stderr


def test_a_credentials_folder_that_cannot_be_looked_into_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(ConfigError) as err:  # a name longer than any file system takes (ENAMETOOLONG), as one odd path may be
        load_secret(tmp_path / ("k" * 300 + ".key_secret"), "gateway.curve_secret_key_file")
    assert err.value.key == "gateway.curve_secret_key_file" and "cannot look for the credential" in str(err.value)


def test_the_client_allow_list_stops_within_its_bound_even_when_its_thread_hangs(tmp_path: Path) -> None:
    import threading
    import time

    from station.keys import ClientAllowList

    create_keys(tmp_path / "clients", "gw1")
    allow = ClientAllowList(tmp_path / "clients")
    assert allow.stop(5.0) is True  # a ZAP thread that answers stops at once

    release = threading.Event()

    class Stuck:  # pyzmq's stop joins its thread without a bound: one that never ends is stood in for here
        def stop(self) -> None:
            release.wait(30.0)

    allow._auth = Stuck()  # type: ignore[assignment]
    t0 = time.monotonic()
    try:
        assert allow.stop(0.2) is False
        assert time.monotonic() - t0 < 5.0
    finally:
        release.set()
