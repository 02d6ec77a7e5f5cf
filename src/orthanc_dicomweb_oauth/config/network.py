"""How a server's token requests reach their endpoint. Network options its section leaves
unset fall back on Orthanc's own: HttpsCACertificates, HttpsVerifyPeers, HttpProxy,
HttpTimeout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import keys
from ..sources.settings import HttpSettings
from .schema import ServerSection

DEFAULT_TOKEN_REQUEST_TIMEOUT = 30.0


def http_settings(section: ServerSection, orthanc: Mapping[str, Any]) -> HttpSettings:
    ca = section.token_endpoint_ca_certificates or _orthanc_string(
        orthanc, keys.HTTPS_CA_CERTIFICATES
    )
    verify = section.token_endpoint_verify_peer
    verify_key = keys.TOKEN_ENDPOINT_VERIFY_PEER
    if verify is None:
        verify = orthanc.get(keys.HTTPS_VERIFY_PEERS) is not False
        verify_key = keys.HTTPS_VERIFY_PEERS
    proxy = section.token_endpoint_proxy
    if proxy is None:
        proxy = _orthanc_string(orthanc, keys.HTTP_PROXY)
    timeout = section.token_request_timeout
    if timeout is None:
        timeout = _orthanc_http_timeout(orthanc) or DEFAULT_TOKEN_REQUEST_TIMEOUT
    return HttpSettings(
        ca_certificates=ca,
        verify_peer=verify,
        verify_peer_key=None if verify else verify_key,
        proxy=proxy or None,
        connect_timeout=section.token_request_connect_timeout,
        read_timeout=timeout,
    )


def _orthanc_http_timeout(orthanc: Mapping[str, Any]) -> float | None:
    value = orthanc.get(keys.HTTP_TIMEOUT)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _orthanc_string(orthanc: Mapping[str, Any], key: str) -> str | None:
    value = orthanc.get(key)
    return value if isinstance(value, str) and value else None
