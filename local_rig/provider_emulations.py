"""Loopback emulations of real token endpoints, as docs/providers describes them: what each
requires of a client-credentials request and what it answers (see the provider guides).
They are not the providers: the guides' `check` outputs come from these emulations, and say
so. Tokens are JWTs signed with a throw-away key.

    python -m local_rig.provider_emulations PORT    # serves /entra-v2, /entra-v1, ...
"""

from __future__ import annotations

import atexit
import base64
import functools
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from werkzeug import Request, Response
from werkzeug.serving import make_server

from .client_keys import ClientKeyFiles, write_client_key

CLIENT_ID = "6c1f0c4e-orthanc"
CLIENT_SECRET = "emulated-secret+with/special=chars"
TENANT = "00000000-0000-0000-0000-00000000beef"
_KEY = RSAKey.generate_key(2048, parameters={"kid": "emulation"})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The public key registered at the emulated providers has this id (Keycloak's JWKS).
CLIENT_KEY_ID = "orthanc-2026"
KEYCLOAK_ISSUER = "https://keycloak.example.com/realms/imaging"
# Keycloak's clients are named by the administrator, as in its guide.
KEYCLOAK_CLIENT_ID = "orthanc"
KEYCLOAK_JWT_CLIENT_ID = "orthanc-jwt"
_SEEN_ASSERTIONS: set[str] = set()


@functools.cache
def client_key() -> ClientKeyFiles:
    """The client's key pair and certificate, as registered at the emulated providers;
    removed when the process ends."""
    directory = Path(tempfile.mkdtemp(prefix="emulated-client-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return write_client_key(directory, "orthanc")


def _registered_thumbprints() -> dict[str, str]:
    der = x509.load_pem_x509_certificate(client_key().certificate.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    digests = {"x5t#S256": hashlib.sha256(der), "x5t": hashlib.sha1(der)}  # noqa: S324
    return {
        name: base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        for name, digest in digests.items()
    }


class _AssertionRefusedError(Exception):
    pass


def _verified_assertion(
    request: Request, audiences: set[str], client_id: str = CLIENT_ID
) -> dict[str, Any]:
    """RFC 7523 §3 checks of a client assertion signed with the registered key."""
    if request.form.get("client_assertion_type") != ASSERTION_TYPE:
        raise _AssertionRefusedError("client_assertion_type")
    try:
        token = jwt.decode(
            request.form.get("client_assertion", ""),
            RSAKey.import_key(client_key().public_jwk),
            algorithms=["RS256", "PS256"],
        )
    except (JoseError, ValueError):
        raise _AssertionRefusedError("signature") from None
    claims = dict(token.claims)
    now = time.time()
    if not (claims.get("iss") == claims.get("sub") == client_id):
        raise _AssertionRefusedError("issuer")
    if claims.get("aud") not in audiences:
        raise _AssertionRefusedError("audience")
    if not isinstance(claims.get("exp"), int) or not now < claims["exp"] <= now + 600:
        raise _AssertionRefusedError("time")
    if claims.get("jti") in _SEEN_ASSERTIONS:
        raise _AssertionRefusedError("replay")
    _SEEN_ASSERTIONS.add(str(claims.get("jti")))
    return {"header": dict(token.header), **claims}


def _sign(claims: dict[str, Any], lifetime: int) -> str:
    now = int(time.time())
    payload = {"iat": now, "nbf": now, "exp": now + lifetime, **claims}
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": "emulation"}, payload, _KEY)


def _error(status: int, error: str, description: str) -> Response:
    body = {"error": error, "error_description": description}
    return Response(json.dumps(body), status=status, content_type="application/json")


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), content_type="application/json")


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return unquote_plus(user), unquote_plus(password)


def _post_credentials(request: Request) -> tuple[str, str] | None:
    if "client_secret" not in request.form:
        return None
    return request.form.get("client_id", ""), request.form["client_secret"]


def _entra_token() -> str:
    claims = {
        "iss": f"https://sts.windows.net/{TENANT}/",
        "aud": "https://dicom.healthcareapis.azure.com",
        "appid": CLIENT_ID,
        "tid": TENANT,
        "roles": ["DICOM Data Owner"],
    }
    return _sign(claims, 3599)


def entra_v2(request: Request) -> Response:
    """Entra ID v2: scope `<resource>/.default`, expires_in a number."""
    if _post_credentials(request) != (CLIENT_ID, CLIENT_SECRET):
        return _error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    return _entra_v2_answer(request)


def _entra_v2_answer(request: Request) -> Response:
    if request.form.get("scope") != "https://dicom.healthcareapis.azure.com/.default":
        return _error(
            400, "invalid_scope", "AADSTS70011: The provided value for scope is not valid."
        )
    token = _entra_token()
    return _json(
        {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
    )


def entra_v2_certificate(request: Request) -> Response:
    """Entra ID v2 with certificate credentials: the assertion names the uploaded
    certificate by its thumbprint (`x5t#S256` or `x5t`), its `aud` is the token endpoint,
    its `exp` at most 10 minutes ahead; `client_id` is in the form."""
    if request.form.get("client_id") != CLIENT_ID:
        return _error(
            400,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'client_id'.",
        )
    failed = _error(
        401, "invalid_client", "AADSTS700027: Client assertion failed signature validation."
    )
    try:
        assertion = _verified_assertion(request, {request.base_url})
    except _AssertionRefusedError as refused:
        if str(refused) == "time":
            return _error(
                401,
                "invalid_client",
                "AADSTS700024: Client assertion is not within its valid time range.",
            )
        return failed
    header = assertion["header"]
    if not any(header.get(name) == value for name, value in _registered_thumbprints().items()):
        return failed
    return _entra_v2_answer(request)


def entra_v1(request: Request) -> Response:
    """Entra ID v1: `resource` instead of scope; expires_in and expires_on as strings."""
    if _post_credentials(request) != (CLIENT_ID, CLIENT_SECRET):
        return _error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    if request.form.get("resource") != "https://dicom.healthcareapis.azure.com":
        return _error(
            400, "invalid_resource", "AADSTS500011: The resource principal was not found."
        )
    token = _entra_token()
    return _json(
        {
            "token_type": "Bearer",
            "expires_in": "3599",
            "ext_expires_in": "3599",
            "expires_on": str(int(time.time()) + 3599),
            "resource": "https://dicom.healthcareapis.azure.com",
            "access_token": token,
        }
    )


def keycloak(request: Request) -> Response:
    """Keycloak: 300 s tokens; Basic credentials must be form-urlencoded (RFC 6749 §2.3.1)."""
    credentials = _basic_credentials(request) or _post_credentials(request)
    if credentials != (KEYCLOAK_CLIENT_ID, CLIENT_SECRET):
        return _error(401, "unauthorized_client", "Invalid client or Invalid client credentials")
    return _keycloak_answer(KEYCLOAK_CLIENT_ID)


def _keycloak_answer(client_id: str) -> Response:
    token = _sign(
        {
            "iss": KEYCLOAK_ISSUER,
            "aud": "dicomweb",
            "azp": client_id,
            "scope": "profile email",
        },
        300,
    )
    return _json(
        {
            "access_token": token,
            "expires_in": 300,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "profile email",
        }
    )


def keycloak_signed_jwt(request: Request) -> Response:
    """Keycloak's "Signed JWT" client authenticator: the key from the client's JWKS by
    `kid` (without one, its first key); `aud` the realm's issuer or token endpoint. Its
    refusals are Keycloak 26.7's: 400 and `invalid_client`."""
    if request.form.get("client_assertion") and json.loads(
        base64.urlsafe_b64decode(request.form["client_assertion"].split(".")[0] + "==")
    ).get("kid") not in (None, CLIENT_KEY_ID):
        return _error(400, "invalid_client", "Unable to load public key")
    try:
        _verified_assertion(request, {KEYCLOAK_ISSUER, request.base_url}, KEYCLOAK_JWT_CLIENT_ID)
    except _AssertionRefusedError:
        return _error(
            400,
            "invalid_client",
            "Client authentication with signed JWT failed: "
            "Signature on JWT token failed validation",
        )
    return _keycloak_answer(KEYCLOAK_JWT_CLIENT_ID)


def auth0(request: Request) -> Response:
    """Auth0: the API is chosen with `audience`; tokens live 86400 s."""
    if _post_credentials(request) != (CLIENT_ID, CLIENT_SECRET):
        return _error(401, "access_denied", "Unauthorized")
    if request.form.get("audience") != "https://dicomweb.example.com":
        return _error(
            403,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        )
    token = _sign(
        {
            "iss": "https://example.eu.auth0.com/",
            "aud": "https://dicomweb.example.com",
            "azp": CLIENT_ID,
            "scope": "read:studies write:studies",
            "gty": "client-credentials",
        },
        86400,
    )
    return _json(
        {
            "access_token": token,
            "scope": "read:studies write:studies",
            "expires_in": 86400,
            "token_type": "Bearer",
        }
    )


def okta(request: Request) -> Response:
    """Okta custom authorization server: the app's method only (Basic here), one custom
    scope at least."""
    if _post_credentials(request) is not None:
        return _error(
            401,
            "invalid_client",
            "Client authentication failed. Either the client or "
            "the client credentials are invalid.",
        )
    if _basic_credentials(request) != (CLIENT_ID, CLIENT_SECRET):
        return _error(401, "invalid_client", "Client authentication failed.")
    if request.form.get("scope") != "dicomweb":
        return _error(
            400,
            "invalid_scope",
            "The authorization server resource does not have any "
            "configured default scopes, 'scope' must be provided.",
        )
    token = _sign(
        {
            "iss": "https://example.okta.com/oauth2/aus1dicomweb",
            "aud": "api://dicomweb",
            "cid": CLIENT_ID,
            "scp": ["dicomweb"],
            "sub": CLIENT_ID,
        },
        3600,
    )
    return _json(
        {"token_type": "Bearer", "expires_in": 3600, "access_token": token, "scope": "dicomweb"}
    )


EMULATIONS: dict[str, Callable[[Request], Response]] = {
    "/entra-v2": entra_v2,
    "/entra-v2-certificate": entra_v2_certificate,
    "/entra-v1": entra_v1,
    "/keycloak": keycloak,
    "/keycloak-signed-jwt": keycloak_signed_jwt,
    "/auth0": auth0,
    "/okta": okta,
}


@Request.application
def application(request: Request) -> Response:
    handler = EMULATIONS.get(request.path)
    if handler is None or request.method != "POST":
        return Response("not found", status=404)
    if request.form.get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "client_credentials only")
    return handler(request)


if __name__ == "__main__":
    server = make_server("127.0.0.1", int(sys.argv[1]), application, threaded=True)
    server.serve_forever()
