"""Where the plugin agrees to send credentials and tokens: absolute http(s) URLs without
embedded credentials, in clear text only on loopback or when the configuration allows it."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def url_problem(url: str, allow_http: bool) -> str | None:
    """What is wrong with a URL that credentials or tokens will be sent to, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http:// or https:// URL"
    if parts.scheme == "http" and not allow_http and not is_loopback(host):
        return (
            f"http:// to {host} would send credentials in clear text: use https://, or "
            "set AllowInsecureHttp to true"
        )
    if parts.username or parts.password:
        return "must not carry credentials (user:password@)"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
