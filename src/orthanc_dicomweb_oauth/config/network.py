"""How a server's token requests reach their endpoint. Network options its section leaves
unset fall back on Orthanc's own: HttpsCACertificates, HttpsVerifyPeers, HttpProxy,
HttpTimeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schema import ServerSection
from .settings import HttpSettings

DEFAULT_TOKEN_REQUEST_TIMEOUT = 30.0


def http_settings(keys: ServerSection, orthanc: Mapping[str, Any]) -> HttpSettings:
    ca = keys.token_endpoint_ca_certificates or _orthanc_string(orthanc, "HttpsCACertificates")
    verify = keys.token_endpoint_verify_peer
    if verify is None:
        verify = orthanc.get("HttpsVerifyPeers") is not False
    proxy = keys.token_endpoint_proxy
    if proxy is None:
        proxy = _orthanc_string(orthanc, "HttpProxy")
    timeout = keys.token_request_timeout
    if timeout is None:
        timeout = _orthanc_http_timeout(orthanc) or DEFAULT_TOKEN_REQUEST_TIMEOUT
    return HttpSettings(
        ca_certificates=ca,
        verify_peer=verify,
        proxy=proxy or None,
        connect_timeout=keys.token_request_connect_timeout,
        read_timeout=timeout,
    )


def _orthanc_http_timeout(orthanc: Mapping[str, Any]) -> float | None:
    value = orthanc.get("HttpTimeout")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _orthanc_string(orthanc: Mapping[str, Any], key: str) -> str | None:
    value = orthanc.get(key)
    return value if isinstance(value, str) and value else None
