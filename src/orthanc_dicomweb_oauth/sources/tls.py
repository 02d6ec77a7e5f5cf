"""The TLS contexts token requests verify providers with, one per CA bundle for the whole
process: each context parses its whole bundle (Debian's has some 150 certificates),
which cost every server's client about half a MiB of Orthanc's memory."""

from __future__ import annotations

import functools
import ssl

import httpx2


@functools.cache
def tls_context(ca_certificates: str | None) -> ssl.SSLContext:
    """The system's trust store when ``ca_certificates`` is None, else that bundle only.
    Raises ssl.SSLError or OSError (not cached) when the bundle cannot be used."""
    if ca_certificates is None:
        return httpx2.create_ssl_context(verify=True)
    return ssl.create_default_context(cafile=ca_certificates)
