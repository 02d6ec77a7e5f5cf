"""Issuer instead of TokenEndpoint: the metadata, then the token, over real HTTP."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pytest_httpserver import HTTPServer

from orthanc_dicomweb_oauth.cli.main import run_check
from orthanc_dicomweb_oauth.sources.client_credentials.grant import ClientCredentialsSource

from ..helpers import CLIENT_SECRET, client_credentials_settings, server_section


def serve_metadata(server: HTTPServer, methods: list[str]) -> str:
    issuer = server.url_for("/realms/imaging")
    server.expect_request("/realms/imaging/.well-known/openid-configuration").respond_with_json(
        {
            "issuer": issuer,
            "token_endpoint": server.url_for("/realms/imaging/token"),
            "token_endpoint_auth_methods_supported": methods,
        }
    )
    server.expect_request("/realms/imaging/token", method="POST").respond_with_json(
        {"access_token": "discovered", "token_type": "Bearer", "expires_in": 60}
    )
    return issuer


def test_the_token_endpoint_is_discovered_once(token_server: HTTPServer) -> None:
    issuer = serve_metadata(token_server, ["client_secret_post"])
    source = ClientCredentialsSource(
        client_credentials_settings("unused", TokenEndpoint=None, Issuer=issuer)
    )
    try:
        assert source.fetch().value == "discovered"
        assert source.fetch().value == "discovered"
        assert source.token_endpoint() == token_server.url_for("/realms/imaging/token")
    finally:
        source.close()
    metadata_requests = [r for r, _ in token_server.log if "well-known" in r.path]
    assert len(metadata_requests) == 1


def test_check_shows_the_discovered_endpoint_and_refuses_an_unsupported_method(
    token_server: HTTPServer, tmp_path: Path
) -> None:
    issuer = serve_metadata(token_server, ["client_secret_basic"])
    good = server_section(
        "unused", TokenEndpoint=None, Issuer=issuer, ClientAuthMethod="client_secret_basic"
    )
    refused = server_section("unused", TokenEndpoint=None, Issuer=issuer)
    config = tmp_path / "orthanc.json"
    config.write_text(
        json.dumps({"DicomWebOAuth": {"Servers": {"good": good, "refused": refused}}})
    )
    out = io.StringIO()
    code = run_check(config, None, probe=False, as_json=False, environ={}, out=out)
    text = out.getvalue()
    assert code == 1, text
    assert (
        f"  token endpoint: {token_server.url_for('/realms/imaging/token')} (from the "
        "issuer's metadata)"
    ) in text
    assert (
        "refused: FAIL the provider does not support client_secret_post at its token "
        "endpoint (it supports: client_secret_basic): set ClientAuthMethod"
    ) in text
    assert CLIENT_SECRET not in text
