"""Nothing the tests run in their own process leaves this machine: names other than
loopback's are not resolved, connections go to loopback only. A cloud library that tries
its real endpoints (169.254.169.254, a Google or Microsoft host) fails at once, with the
destination named, instead of reaching out."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class LeftTheMachineError(OSError):
    pass


def is_loopback(host: object) -> bool:
    if host is None or host == "":
        return True  # a bind to any address, or a local lookup
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def install() -> None:
    resolve = socket.getaddrinfo
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(host):
            raise LeftTheMachineError(f"the tests reach loopback only, not {host}")
        return resolve(host, *args, **kwargs)

    def _check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address[0]):
            raise LeftTheMachineError(f"the tests reach loopback only, not {address[0]}")

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        _check(sock, address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        _check(sock, address)
        return connect_ex(sock, address)

    socket.getaddrinfo = guarded_getaddrinfo
    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
