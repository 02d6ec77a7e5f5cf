"""Builders shared by the tests: settings made through the real configuration loader,
and JWTs signed with a throw-away key."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

from orthanc_dicomweb_oauth.configuration import ServerSettings, load_configuration

# Distinctive values: tests search captured output for them.
CLIENT_SECRET = "s3cr3t+/:%&=Zq9-LEAKCHECK-é"
CLIENT_ID = "orthanc-client"
_SIGNING_KEY = OctKey.generate_key(256)


def server_section(token_endpoint: str, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "Url": "http://127.0.0.1:9/dicom-web/",
        "TokenEndpoint": token_endpoint,
        "ClientId": CLIENT_ID,
        "ClientSecret": CLIENT_SECRET,
    }
    section.update(overrides)
    return {key: value for key, value in section.items() if value is not None}


def server_settings(token_endpoint: str, name: str = "remote", **overrides: Any) -> ServerSettings:
    loaded = load_configuration(
        {"DicomWebOAuth": {"Servers": {name: server_section(token_endpoint, **overrides)}}},
        environ={},
    )
    assert not loaded.errors, [str(error) for error in loaded.errors]
    return loaded.servers[name]


def make_jwt(lifetime: float | None = 300, **claims: Any) -> str:
    payload: dict[str, Any] = {"iss": "https://issuer.test", "aud": "dicom", "sub": CLIENT_ID}
    if lifetime is not None:
        payload["exp"] = int(time.time() + lifetime)
    payload.update(claims)
    return jwt.encode({"alg": "HS256", "typ": "at+jwt"}, payload, _SIGNING_KEY)
