"""private_key_jwt on the wire, against a loopback token endpoint that verifies each
assertion with the client's public key, as a provider does (RFC 7523 §3)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from local_rig.client_keys import ClientKeyFiles, write_client_key
from orthanc_dicomweb_oauth.credentials.private_key import ASSERTION_LIFETIME
from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.sources.client_credentials.grant import ClientCredentialsSource

from ..helpers import CLIENT_ID, client_credentials_settings

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class VerifyingEndpoint:
    """Accepts an assertion signed by the registered key, for this client and endpoint,
    not expired and never seen before; records what it saw."""

    def __init__(self, registered: RSAKey | ECKey, audience: str) -> None:
        self.registered = registered
        self.audience = audience
        self.forms: list[dict[str, list[str]]] = []
        self.headers: list[dict[str, Any]] = []
        self.claims: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        form = parse_qs(request.get_data(as_text=True))
        self.forms.append(form)
        try:
            token = jwt.decode(
                form["client_assertion"][0], self.registered, algorithms=["RS256", "PS256", "ES256"]
            )
        except (JoseError, KeyError, ValueError):
            return self.refuse("the assertion's signature does not verify")
        self.headers.append(dict(token.header))
        self.claims.append(dict(token.claims))
        claims = token.claims
        seen = [earlier["jti"] for earlier in self.claims[:-1]]
        if form.get("client_assertion_type") != [ASSERTION_TYPE]:
            return self.refuse("wrong client_assertion_type")
        if (claims["iss"], claims["sub"], claims["aud"]) != (CLIENT_ID, CLIENT_ID, self.audience):
            return self.refuse("wrong iss, sub or aud")
        if claims["exp"] < time.time() or claims["jti"] in seen:
            return self.refuse("expired or replayed")
        body = {
            "access_token": f"token-{len(self.claims)}",
            "token_type": "Bearer",
            "expires_in": 600,
        }
        return Response(json.dumps(body), content_type="application/json")

    @staticmethod
    def refuse(description: str) -> Response:
        body = {"error": "invalid_client", "error_description": description}
        return Response(json.dumps(body), status=401, content_type="application/json")


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKeyFiles:
    return write_client_key(tmp_path_factory.mktemp("keys"), "client")


def source(server: HTTPServer, key: ClientKeyFiles, **overrides: Any) -> ClientCredentialsSource:
    return ClientCredentialsSource(
        client_credentials_settings(
            server.url_for("/token"),
            ClientSecret=None,
            ClientAuthMethod="private_key_jwt",
            ClientPrivateKeyFile=str(key.private_key),
            **overrides,
        )
    )


def test_each_request_carries_a_new_signed_assertion(
    token_server: HTTPServer, client_key: ClientKeyFiles
) -> None:
    endpoint = VerifyingEndpoint(
        RSAKey.import_key(client_key.public_jwk), token_server.url_for("/token")
    )
    token_server.expect_request("/token", method="POST").respond_with_handler(endpoint)
    token_source = source(
        token_server,
        client_key,
        ClientKeyId="orthanc-2026",
        ClientCertificateFile=str(client_key.certificate),
        Scope="dicom",
    )
    assert [token_source.fetch().value for _ in range(2)] == ["token-1", "token-2"]
    first, second = endpoint.claims
    assert first["jti"] != second["jti"]
    assert first["exp"] - first["iat"] == ASSERTION_LIFETIME
    header = endpoint.headers[0]
    assert (header["alg"], header["kid"]) == ("RS256", "orthanc-2026")
    assert {"x5t#S256", "x5t"} <= set(header)
    form = endpoint.forms[0]
    assert form["client_id"] == [CLIENT_ID]
    assert form["scope"] == ["dicom"]
    assert "client_secret" not in form


@pytest.mark.parametrize(("kind", "algorithm"), [("rsa", "PS256"), ("ec", "ES256")])
def test_the_other_algorithms(
    token_server: HTTPServer, tmp_path: Path, kind: Any, algorithm: str
) -> None:
    key = write_client_key(tmp_path, kind, kind=kind)
    registered = (ECKey if kind == "ec" else RSAKey).import_key(key.public_jwk)
    endpoint = VerifyingEndpoint(registered, token_server.url_for("/token"))
    token_server.expect_request("/token", method="POST").respond_with_handler(endpoint)
    assert source(token_server, key, ClientAssertionAlgorithm=algorithm).fetch().value == "token-1"
    assert endpoint.headers[0]["alg"] == algorithm


def test_a_key_the_provider_does_not_know(
    token_server: HTTPServer, client_key: ClientKeyFiles, tmp_path: Path
) -> None:
    registered = RSAKey.import_key(write_client_key(tmp_path, "registered").public_jwk)
    endpoint = VerifyingEndpoint(registered, token_server.url_for("/token"))
    token_server.expect_request("/token", method="POST").respond_with_handler(endpoint)
    with pytest.raises(TokenRequestError) as caught:
        source(token_server, client_key).fetch()
    assert str(caught.value) == (
        "invalid_client: the assertion's signature does not verify (HTTP 401)"
    )
    assert not caught.value.transient
