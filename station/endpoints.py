"""ZeroMQ endpoints as the config writes them: their syntax, their TCP address, and which bind hosts can collide; a
camera URL as the station shows it (its password hidden)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import stat

_ENDPOINT = re.compile(r"^(tcp://(\*|[A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):([0-9]{1,5}|\*)|ipc://.+|inproc://.+)$")


_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/@:?#\s]*):[^/?#\s]*@")  # scheme://user:PASSWORD@, anywhere
_SECRET = re.compile(r"((?:^|[?&;\s])(?:password|passwd|pwd|pass|user-pw|user_pw|token|secret|auth)=)(\"[^\"]*\"|[^&\s!]*)", re.I)


def without_password(text: str) -> str:
    """``text`` (a camera's URL, a pipeline naming one) with each URL's password, and each value of a parameter named
    for one (``?password=``, ``token=``, a GStreamer ``user-pw=``), shown as ***: what logs, errors and check-config say
    of camera.source (rtsp://admin:***@10.0.0.5/stream), so that journald never holds it. What is opened is unchanged."""
    return _SECRET.sub(r"\1***", _PASSWORD.sub(r"\1:***@", text))


HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")  # a host name's label (RFC 1123, and _ as hosts files allow)


def is_ip_address(host: str) -> bool:
    """An IPv4 or IPv6 address, not a name (a name is looked up by the system's resolver, which no setting here bounds)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_host(v: str) -> str:
    """``v``, when it is an address a socket can be bound to or connect to: an IPv4 or IPv6 address, or a host or
    interface name as DNS writes it (one that is all digits and dots is an IPv4 address or nothing); otherwise a
    ValueError saying why. Whether a name resolves is not looked up here: that is the bind's or the connect's."""
    if is_ip_address(v):
        return v
    labels = v.removesuffix(".").split(".")
    if len(v) > 253 or not all(HOST_LABEL.fullmatch(x) for x in labels) or all(x.isdigit() for x in labels):
        raise ValueError(f"{v!r} is not an IP address or a host name (letters, digits, hyphens and underscores, dots between)")
    try:  # the resolver reads such a name as a number ("0x0" is 0.0.0.0): an address that no check here would see
        address = socket.inet_ntoa(socket.inet_aton(v))
    except OSError:
        return v
    raise ValueError(f"{v!r} is read as the IPv4 address {address}: write the address itself")


def check_endpoint(v: str) -> str:
    """``v``, when it is a ZeroMQ endpoint the station can bind or connect to; otherwise a ValueError saying why."""
    if not _ENDPOINT.match(v):
        raise ValueError(f"{v!r} is not a ZeroMQ endpoint (tcp://HOST:PORT, ipc://PATH or inproc://NAME)")
    if "\0" in v:
        raise ValueError(f"{v!r}: an endpoint cannot hold a NUL character")
    port = v.rsplit(":", 1)[1]
    if v.startswith("tcp://") and port != "*" and not 0 < int(port) < 65536:
        raise ValueError(f"{v!r}: port out of range")
    host = v[len("tcp://") :].rsplit(":", 1)[0] if v.startswith("tcp://") else "*"
    if host.startswith("["):  # an IPv6 address, bracketed in an endpoint as in a URL
        host = host[1:-1]
    if host != "*":
        try:
            check_host(host)
        except ValueError as exc:
            raise ValueError(f"{v!r}: {exc}") from None
    return v


def tcp_address(endpoint: str | None) -> tuple[str, int] | None:
    """The host and fixed TCP port of a ZeroMQ endpoint; None for ipc, inproc, a wildcard port or no endpoint."""
    if endpoint is None or not endpoint.startswith("tcp://"):
        return None
    host, port = endpoint[len("tcp://") :].rsplit(":", 1)
    return None if port == "*" else (host.strip("[]"), int(port))


_ANY = {"*", "0.0.0.0", "::", ""}
_LOOPBACK = {"localhost", "127.0.0.1"}


def same_interface(a: str, b: str) -> bool:
    """Whether two bind hosts can collide on one port: the same address, or either one every address."""
    a, b = ("127.0.0.1" if h in _LOOPBACK else h for h in (a, b))
    return a == b or a in _ANY or b in _ANY


def local_endpoint(endpoint: str) -> str:
    """A bind endpoint as a client on this machine connects to it: a wildcard host becomes loopback."""
    return endpoint.replace("tcp://*", "tcp://127.0.0.1").replace("tcp://0.0.0.0", "tcp://127.0.0.1")


def check_connectable(v: str) -> str:
    """``v``, when a client in another process can connect to it (no wildcard host or port: those only bind; no inproc: it
    reaches only its own process); a ValueError saying why."""
    check_endpoint(v)
    if v.startswith("inproc://"):
        raise ValueError(f"{v!r}: inproc reaches only its own process, and the station is another: it cannot be connected to "
                         "from here: give the station's tcp://HOST:PORT or ipc://PATH")  # fmt: skip
    if v.startswith("tcp://") and ((address := tcp_address(v)) is None or address[0] in _ANY):
        raise ValueError(f"{v!r}: a wildcard host or port binds, it cannot be connected to: give the station's address and port")
    return v


def is_ipv6(endpoint: str) -> bool:
    """A tcp endpoint whose host is a bracketed IPv6 address: libzmq needs its IPV6 option to bind or connect to it."""
    return endpoint.startswith("tcp://[")


def same_socket(a: str, b: str) -> bool:
    """Two endpoints that name one socket: the same text, or ipc paths to one file (``/run//a`` and ``/run/./a``)."""
    if a.startswith("ipc://") and b.startswith("ipc://"):  # by the text of the path: no link is followed (a loop is no error)
        return os.path.normpath(os.path.abspath(a[len("ipc://") :])) == os.path.normpath(os.path.abspath(b[len("ipc://") :]))
    return a == b


def ipc_in_use(endpoint: str, timeout_s: float = 0.5) -> bool:
    """Whether another process listens on ``endpoint``'s ipc path: libzmq would take the path over without a word, and the
    other's subscribers would hear nothing more (a stale file of a process that ended is no one's)."""
    if not endpoint.startswith("ipc://"):
        return False
    path = endpoint[len("ipc://") :]
    abstract = path.startswith("@")  # Linux's abstract namespace: no file
    try:
        if not abstract and not stat.S_ISSOCK(os.stat(path).st_mode):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(timeout_s)
            probe.connect("\0" + path[1:] if abstract else path)
    except (OSError, ValueError):  # no such file, no one listening (refused), or no path a socket can have: bind says
        return False
    return True
