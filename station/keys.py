"""CURVE key files: making them (``station keys``) and loading them for the station and gateways.

Key files are ZeroMQ's own certificate format (``NAME.key`` public, ``NAME.key_secret`` secret).
A missing or malformed file is a ConfigError naming the config key that points at it.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog
import zmq
import zmq.auth
import zmq.utils.z85

from station.config import CurveSection
from station.endpoints import ipc_in_use, is_ipv6
from station.errors import ConfigError, InputError, StationError

log = structlog.get_logger()
STOP_S = 2.0  # the longest a stop waits for the ZAP handler's thread


@dataclass(frozen=True)
class KeyPair:
    public: bytes
    secret: bytes


def create_keys(folder: Path, name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` and ``NAME.key_secret`` (mode 600 from its first byte) in ``folder``; never overwrite, never through
    a link (a dangling one would have put the secret where it leads)."""
    if not zmq.has("curve"):
        raise StationError("this libzmq was built without CURVE support")
    if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}", name):  # "" made hidden files; "../x" and "a/b" left the folder
        why = "at most 64 characters" if len(name) > 64 else "one word of letters, digits, '.', '-' or '_', not starting with '.'"
        raise InputError(f"--name {name[:80]!r}: {why}")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: not a folder (the keys are written into a folder)")
    public, secret = folder / f"{name}.key", folder / f"{name}.key_secret"
    for p in (public, secret):
        if os.path.lexists(p):
            raise InputError(f"{p}: already exists; refusing to overwrite a key")
    (key, secret_key), made = zmq.curve_keypair(), list[Path]()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _key_file(public, 0o644, "Public", key, None, made)
        _key_file(secret, 0o600, "**Secret**", key, secret_key, made)
    except OSError as exc:
        for path in made:  # half a pair is no pair: gone, so that the next try is not told a key already exists
            with contextlib.suppress(OSError):
                path.unlink()
        raise StationError(f"{exc.filename or folder}: cannot write keys: {exc.strerror or exc}") from None
    return public, secret


def _key_file(path: Path, mode: int, kind: str, public: bytes, secret: bytes | None, made: list[Path]) -> None:
    """One key file in ZeroMQ's certificate format (``zmq.auth.load_certificate`` reads it), created with ``mode`` whatever the
    umask: a new file only (O_EXCL: a link at its name, even one leading nowhere, is refused). ``made`` gets it once created."""
    lines = [f"#   ZeroMQ CURVE {kind} Certificate, made by station keys"]
    if secret is not None:
        lines.append("#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.")
    lines += ["metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode()}"')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    made.append(path)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        os.fchmod(fd, mode)  # whatever the umask took away from the public file's read bits
        f.write("\n".join(lines) + "\n")


def _z85_key(value: bytes | None) -> bool:
    """A CURVE key as ZeroMQ's key files hold it: 40 characters of Z85 for 32 bytes."""
    if value is None or len(value) != 40:
        return False
    try:
        return len(zmq.utils.z85.decode(value)) == 32
    except (ValueError, KeyError, TypeError):
        return False


def _load(path: Path, key: str) -> tuple[bytes, bytes | None]:
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a pipe named .key would block start-up for ever
            raise ConfigError(key, f"{path}: not a regular file")
        public, secret = zmq.auth.load_certificate(str(path))
    except OSError as exc:
        hint = credential_hint(exc, path) if path.suffix == ".key_secret" else ""
        raise ConfigError(key, f"{path}: cannot read key file: {exc.strerror or exc}{hint}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"{path}: not a ZeroMQ key file: {exc}") from None
    if public is None:
        raise ConfigError(key, f"{path}: no public key in the file")
    if not _z85_key(public):
        raise ConfigError(key, f"{path}: the public key is not 40 characters of Z85 (a 32-byte CURVE key)")
    if secret is not None and not _z85_key(secret):
        raise ConfigError(key, f"{path}: the secret key is not 40 characters of Z85 (a 32-byte CURVE key)")
    return public, secret


def load_secret(path: Path | None, key: str) -> KeyPair:
    """A key pair from a ``.key_secret`` file; a file others can read is allowed, with a warning.

    Under systemd, a credential of the file's own name (``LoadCredential=NAME.key_secret:PATH`` in the unit) is read in its
    place: a service that runs as a dynamic user cannot read a secret only root may read, and the config keeps naming the
    file where it lies (``check-config``, run by root, reads that)."""
    if path is None:
        raise ConfigError(key, "required when CURVE is enabled")
    path = credential(path, key)
    public, secret = _load(path, key)
    if secret is None:
        raise ConfigError(key, f"{path}: holds no secret key (use the .key_secret file)")
    warn_if_others_read(path, key, "secret_key_readable")
    return KeyPair(public, secret)


def credential(path: Path, key: str) -> Path:
    """``path``, or systemd's copy of it: ``$CREDENTIALS_DIRECTORY/<its name>`` when the service was given one."""
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if folder:
        given = Path(folder) / path.name
        try:
            if given.is_file():
                return given
        except OSError as exc:  # a folder this process may not look into (another unit's), a name too long
            raise ConfigError(key, f"{given}: cannot look for the credential: {exc.strerror or exc}") from None
    return path


def credential_hint(exc: OSError, path: Path) -> str:
    """How a systemd unit is given a secret file it may not read (most likely a service's dynamic user and a file only root
    may read), for an error's end; "" when it was not refused."""
    if not isinstance(exc, PermissionError):
        return ""
    return f"; a systemd unit is given it with LoadCredential={path.name}:{path} (docs/service.md)"


def warn_if_others_read(path: Path, key: str, event: str) -> None:
    """Log ``event`` when users other than the owner may read the secret in ``path`` (it still works: a warning, not a refusal)."""
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            log.warning(event, key=key, file=str(path), mode=oct(mode & 0o777), fix=f"chmod 600 {path}")


def load_public(path: Path | None, key: str) -> bytes:
    """The public key from a ``.key`` (or ``.key_secret``) file."""
    if path is None:
        raise ConfigError(key, "required when CURVE is enabled")
    return _load(path, key)[0]


def check_clients(folder: Path, key: str = "publisher.curve.clients_dir") -> int:
    """How many client keys ``folder`` holds; a folder without any, or any malformed ``*.key``, is an error naming it."""
    if not folder.is_dir():
        raise ConfigError(key, f"{folder}: not a folder")
    files = sorted(folder.glob("*.key"))
    if not files:
        raise ConfigError(key, f"{folder}: no public key files (*.key) there")
    for f in files:
        _load(f, key)
    return len(files)


def server_keys(curve: CurveSection) -> KeyPair | None:
    """The station's key pair when CURVE is on (None when off), with its clients folder checked: what run and check-config both use."""
    if not curve.enabled:
        return None
    keys = load_secret(curve.secret_key_file, "publisher.curve.secret_key_file")
    if curve.clients_dir is not None:
        check_clients(curve.clients_dir)
    return keys


def ephemeral() -> KeyPair:
    public, secret = zmq.curve_keypair()
    return KeyPair(public, secret)


def curve_server(sock: zmq.Socket[bytes], keys: KeyPair) -> None:
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)


def curve_client(sock: zmq.Socket[bytes], keys: KeyPair, server_public: bytes) -> None:
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.secret)


class ClientAllowList:
    """ZeroMQ's ZAP handler admitting only the CURVE clients whose public keys are in a folder."""

    def __init__(self, folder: Path) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        check_clients(folder)
        self._auth = ThreadAuthenticator(zmq.Context.instance())
        self._auth.start()
        self._auth.configure_curve(domain="*", location=str(folder))

    def stop(self, timeout_s: float = STOP_S) -> bool:
        """Stop the ZAP handler's thread, waiting at most ``timeout_s`` (pyzmq's own stop joins it without a bound); False
        when it did not stop in time: it is a daemon thread, and the stop goes on without it."""
        stopping = threading.Thread(target=self._auth.stop, name="zap-stop", daemon=True)
        stopping.start()
        stopping.join(timeout_s)
        if stopping.is_alive():
            log.warning("zap_stop_timeout", timeout_s=timeout_s)
            return False
        return True


def bind_server(kind: int, endpoint: str, key: str, keys: KeyPair | None, options: dict[int, int]) -> tuple[zmq.Socket[bytes], str]:
    """A socket of ``kind`` with ``options``, a CURVE server if ``keys``, bound at ``endpoint``.

    Returns the socket and the endpoint actually bound; a bind failure is a ConfigError naming ``key``.
    """
    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(kind)
    for opt, value in options.items():
        sock.setsockopt(opt, value)
    sock.setsockopt(zmq.IPV6, int(is_ipv6(endpoint)))
    if keys is not None:
        curve_server(sock, keys)
    if ipc_in_use(endpoint):  # libzmq would take the path over: the other process's subscribers would hear nothing more
        sock.close(0)
        raise ConfigError(key, f"{endpoint}: another process is listening there (a second station?)")
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise ConfigError(key, f"cannot bind {endpoint}: {exc.strerror}") from None
    return sock, str(sock.getsockopt_string(zmq.LAST_ENDPOINT))
