"""The token request against a real HTTP server on loopback: each provider quirk, both
client authentication methods, timeouts, size cap, TLS."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, unquote_plus

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.sources.base import TokenSource
from orthanc_dicomweb_oauth.sources.client_credentials.grant import ClientCredentialsSource
from orthanc_dicomweb_oauth.sources.http_client import MAX_ANSWER_BYTES
from orthanc_dicomweb_oauth.tokens.server_tokens import token_source

from ..helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    client_credentials_settings,
    make_jwt,
    self_signed_certificate,
    server_section,
)


def source_for(server: HTTPServer, **overrides: Any) -> ClientCredentialsSource:
    return ClientCredentialsSource(
        client_credentials_settings(server.url_for("/token"), **overrides)
    )


def fetch_error(source: TokenSource) -> TokenRequestError:
    with pytest.raises(TokenRequestError) as caught:
        source.fetch()
    assert CLIENT_SECRET not in str(caught.value)
    assert CLIENT_SECRET not in repr(caught.value)
    return caught.value


def test_client_secret_post_sends_the_credentials_in_the_form(token_server: HTTPServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(
            json.dumps({"access_token": "opaque-1", "token_type": "Bearer", "expires_in": 3600}),
            content_type="application/json",
        )

    token_server.expect_request("/token", method="POST").respond_with_handler(handler)
    source = source_for(
        token_server,
        Scope="dicom.read dicom.write",
        TokenRequestParameters={"audience": "https://dicom.example"},
    )
    token = source.fetch()
    assert token.value == "opaque-1"
    assert token.lifetime == 3600
    assert token.lifetime_source == "expires_in"
    form = parse_qs(seen[0].get_data(as_text=True))
    assert form == {
        "grant_type": ["client_credentials"],
        "scope": ["dicom.read dicom.write"],
        "audience": ["https://dicom.example"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }
    assert "Authorization" not in seen[0].headers


def test_client_secret_basic_form_urlencodes_id_and_secret(token_server: HTTPServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(
            json.dumps({"access_token": "opaque-2", "token_type": "bearer", "expires_in": 60}),
            content_type="application/json",
        )

    token_server.expect_request("/token", method="POST").respond_with_handler(handler)
    source_for(token_server, ClientAuthMethod="client_secret_basic").fetch()
    scheme, encoded = seen[0].headers["Authorization"].split(" ", 1)
    user, password = base64.b64decode(encoded).decode("ascii").split(":", 1)
    assert scheme == "Basic"
    # RFC 6749 §2.3.1: each part form-urlencoded, so ':' '+' '%' and non-ASCII survive.
    assert ":" not in password and "+" not in password.replace("%2B", "")
    assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)
    form = parse_qs(seen[0].get_data(as_text=True))
    assert "client_secret" not in form and "client_id" not in form


@pytest.mark.parametrize(
    ("answer", "lifetime", "source"),
    [
        ({"expires_in": "3599", "token_type": "Bearer"}, 3599, "expires_in"),
        ({"expires_in": 7200.5, "token_type": "BEARER"}, 7200.5, "expires_in"),
        ({"expires_in": 10**12, "token_type": "Bearer"}, 86_400, "expires_in"),
        ({"token_type": "Bearer"}, 300, "default"),
        ({"expires_in": "soon"}, 300, "default"),
    ],
)
def test_lifetime_quirks(
    token_server: HTTPServer, answer: dict[str, object], lifetime: float, source: str
) -> None:
    token_server.expect_request("/token").respond_with_json({"access_token": "opaque", **answer})
    token = source_for(token_server).fetch()
    assert token.lifetime == pytest.approx(lifetime)
    assert token.lifetime_source == source


def test_missing_expires_in_uses_the_jwt_exp(token_server: HTTPServer) -> None:
    token_server.expect_request("/token").respond_with_json(
        {"access_token": make_jwt(lifetime=120, roles=["DICOM Data Owner"]), "token_type": "Bearer"}
    )
    token = source_for(token_server).fetch()
    assert token.lifetime_source == "jwt_exp"
    assert 115 <= token.lifetime <= 120
    assert token.claims is not None and token.claims["roles"] == ["DICOM Data Owner"]
    assert token.notes == ("no expires_in in the answer; using the JWT's exp claim",)


def test_default_lifetime_is_configurable(token_server: HTTPServer) -> None:
    token_server.expect_request("/token").respond_with_json({"access_token": "opaque"})
    token = source_for(token_server, DefaultTokenLifetime=90).fetch()
    assert (token.lifetime, token.lifetime_source) == (90, "default")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"access_token": "x", "token_type": "mac"}, "token of type 'mac', not Bearer"),
        ({"access_token": "x", "token_type": "DPoP"}, "token of type 'DPoP', not Bearer"),
        ({"token_type": "Bearer", "expires_in": 60}, "without an access_token"),
    ],
)
def test_unusable_tokens_are_permanent_errors(
    token_server: HTTPServer, answer: dict[str, object], message: str
) -> None:
    token_server.expect_request("/token").respond_with_json(answer)
    error = fetch_error(source_for(token_server))
    assert message in str(error)
    assert not error.transient


@pytest.mark.parametrize("expires_in", [0, -5])
def test_a_token_already_expired_is_retried_like_an_outage(
    token_server: HTTPServer, expires_in: int
) -> None:
    token_server.expect_request("/token").respond_with_json(
        {"access_token": "x", "expires_in": expires_in}
    )
    error = fetch_error(source_for(token_server))
    assert f"expires_in {expires_in}: already expired" in str(error)
    assert error.transient


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("invalid_request", 400, False),
        ("invalid_client", 401, False),
        ("invalid_grant", 400, False),
        ("unauthorized_client", 400, False),
        ("unsupported_grant_type", 400, False),
        ("invalid_scope", 400, False),
        ("temporarily_unavailable", 503, True),
        ("server_error", 500, True),
        ("some_new_error", 400, False),
        ("some_new_error", 502, True),
    ],
)
def test_rfc6749_errors(token_server: HTTPServer, code: str, status: int, transient: bool) -> None:
    token_server.expect_request("/token").respond_with_json(
        {"error": code, "error_description": "AADSTS7000215: Invalid client secret provided."},
        status=status,
    )
    error = fetch_error(source_for(token_server))
    assert str(error) == (f"{code}: AADSTS7000215: Invalid client secret provided. (HTTP {status})")
    assert (error.transient, error.oauth_error, error.http_status) == (transient, code, status)


def test_an_error_echoing_the_request_is_redacted(token_server: HTTPServer) -> None:
    def echo(request: Request) -> Response:
        body = {
            "error": "invalid_client",
            "error_description": f"bad: {request.get_data(as_text=True)}",
        }
        return Response(json.dumps(body), status=401, content_type="application/json")

    token_server.expect_request("/token").respond_with_handler(echo)
    error = fetch_error(source_for(token_server))
    assert "[redacted]" in str(error)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected", "transient"),
    [
        (
            200,
            "text/html",
            "<html>Sign in to the hotel wifi</html>",
            "HTTP 200 with text/html, not a JSON object (a proxy or captive portal?)",
            True,
        ),
        (
            200,
            "application/json",
            '{"access_token": "abc", "expires_in": 3',
            "HTTP 200 with application/json, not a JSON object",
            True,
        ),
        (200, "application/json", "", "HTTP 200 with an empty body", True),
        (
            200,
            "application/json",
            "[1, 2]",
            "HTTP 200 with application/json, not a JSON object",
            True,
        ),
        (503, "text/html", "<html>maintenance</html>", "HTTP 503 (text/html)", True),
        (502, "text/plain", "bad gateway", "HTTP 502 (text/plain)", True),
        (404, "text/html", "<html>not found</html>", "HTTP 404 (text/html)", False),
        (403, "application/json", '{"message": "forbidden"}', "HTTP 403 (application/json)", False),
    ],
)
def test_non_token_answers_are_reported_without_their_body(
    token_server: HTTPServer,
    status: int,
    content_type: str,
    body: str,
    expected: str,
    transient: bool,
) -> None:
    token_server.expect_request("/token").respond_with_data(
        body, status=status, content_type=content_type
    )
    error = fetch_error(source_for(token_server))
    assert expected in str(error)
    assert error.transient is transient
    if body:
        assert body not in str(error)


def test_429_carries_retry_after(token_server: HTTPServer) -> None:
    token_server.expect_request("/token").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    error = fetch_error(source_for(token_server))
    assert (error.transient, error.retry_after, error.http_status) == (True, 7.0, 429)


def test_redirects_are_not_followed(token_server: HTTPServer) -> None:
    token_server.expect_request("/token").respond_with_data(
        "", status=302, headers={"Location": "https://elsewhere.test/token"}
    )
    error = fetch_error(source_for(token_server))
    assert "HTTP 302, a redirect to https://elsewhere.test/token" in str(error)
    assert not error.transient


def test_huge_answers_are_cut_off(token_server: HTTPServer) -> None:
    padding = "x" * (MAX_ANSWER_BYTES + 1024)
    token_server.expect_request("/token").respond_with_json(
        {"access_token": "x", "padding": padding}
    )
    error = fetch_error(source_for(token_server))
    assert "more than 256 KiB" in str(error)
    assert error.transient


def test_read_timeout(token_server: HTTPServer) -> None:
    release, answered = threading.Event(), threading.Event()

    def slow(_: Request) -> Response:
        release.wait(30)
        answered.set()
        return Response("{}", content_type="application/json")

    token_server.expect_request("/token").respond_with_handler(slow)
    try:
        error = fetch_error(source_for(token_server, TokenRequestTimeout=0.3))
        # The client gave up while the provider still held its answer back.
        assert not answered.is_set()
    finally:
        release.set()
    assert str(error) == "timed out after 0.3 s waiting for the token endpoint"
    assert error.transient


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = ClientCredentialsSource(client_credentials_settings(f"http://127.0.0.1:{port}/token"))
    error = fetch_error(source)
    assert str(error).startswith("cannot reach the token endpoint:")
    assert "ConnectError" in str(error)
    assert error.transient


def test_tls_needs_the_right_ca(tmp_path: Path) -> None:
    context, ca_file = self_signed_certificate(tmp_path)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.start()
    try:
        server.expect_request("/token").respond_with_json(
            {"access_token": "tls-token", "token_type": "Bearer", "expires_in": 60}
        )
        url = server.url_for("/token")
        assert url.startswith("https://")
        untrusted = ClientCredentialsSource(client_credentials_settings(url))
        error = fetch_error(untrusted)
        assert "TLS certificate of the token endpoint not trusted" in str(error)
        assert not error.transient
        trusted = ClientCredentialsSource(
            client_credentials_settings(url, TokenEndpointCACertificates=str(ca_file))
        )
        assert trusted.fetch().value == "tls-token"
    finally:
        server.clear()
        server.stop()


def test_unusable_ca_bundle_is_reported(token_server: HTTPServer, tmp_path: Path) -> None:
    bundle = tmp_path / "not-a-bundle.pem"
    bundle.write_text("not a certificate")
    token_server.expect_request("/token").respond_with_json({"access_token": "x"})
    error = fetch_error(source_for(token_server, TokenEndpointCACertificates=str(bundle)))
    assert f"cannot use the CA bundle {bundle}" in str(error)
    assert not error.transient


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_a_rotated_secret_echoed_by_the_provider_is_redacted(
    token_server: HTTPServer, tmp_path: Path, method: str
) -> None:
    """The provider echoes the whole request, the Authorization header too: after the
    secret file rotates, the new secret is redacted in every form the request carried."""

    def echo(request: Request) -> Response:
        authorization = request.headers.get("Authorization", "")
        said = f"{request.get_data(as_text=True)} {authorization}"
        if authorization:
            decoded = base64.b64decode(authorization.split()[1])
            said += f" {decoded.decode(errors='replace')}"
        body = {"error": "invalid_client", "error_description": f"bad request: {said}"}
        return Response(json.dumps(body), status=401, content_type="application/json")

    token_server.expect_request("/token").respond_with_handler(echo)
    secret_file = tmp_path / "secret"
    secret_file.write_text("first+secret/é\n")
    loaded = load_configuration(
        {
            "DicomWebOAuth": {
                "Servers": {
                    "s": server_section(
                        token_server.url_for("/token"),
                        ClientSecret=None,
                        ClientSecretFile=str(secret_file),
                        ClientAuthMethod=method,
                    )
                }
            }
        },
        environ={},
    )
    source = token_source(loaded.servers["s"].tokens)
    rotated = "rotated+secret:%&=/ü"
    try:
        fetch_error(source)
        replacement = tmp_path / "secret.new"
        replacement.write_text(rotated + "\n")
        os.replace(replacement, secret_file)
        assert source.reload_credentials()
        error = str(fetch_error(source))
    finally:
        source.close()
    assert "[redacted]" in error
    basic = base64.b64encode(f"{quote_plus('orthanc-client')}:{quote_plus(rotated)}".encode())
    for form in (rotated, quote_plus(rotated), basic.decode()):
        assert form not in error, form
