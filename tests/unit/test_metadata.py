from __future__ import annotations

import json

import pytest

from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.sources.client_credentials.discovery import (
    discover_token_endpoint,
    metadata_urls,
    token_endpoint_from_metadata,
)

ISSUER = "https://id.example.com/realms/imaging"
METADATA = {
    "issuer": ISSUER,
    "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
}


def test_metadata_locations() -> None:
    assert metadata_urls(ISSUER) == [
        f"{ISSUER}/.well-known/openid-configuration",
        "https://id.example.com/.well-known/oauth-authorization-server/realms/imaging",
    ]


def parse(document: object, method: str = "client_secret_post") -> str:
    return token_endpoint_from_metadata(
        ISSUER, "URL", json.dumps(document).encode(), method, allow_http=False
    )


def test_the_token_endpoint_is_read() -> None:
    assert parse(METADATA) == METADATA["token_endpoint"]
    assert parse({**METADATA, "issuer": ISSUER + "/"}) == METADATA["token_endpoint"]


@pytest.mark.parametrize(
    ("document", "method", "message"),
    [
        (
            {**METADATA, "issuer": "https://evil.example.com"},
            "client_secret_post",
            "names another issuer (https://evil.example.com)",
        ),
        ({"issuer": ISSUER}, "client_secret_post", "has no token_endpoint"),
        (
            {**METADATA, "token_endpoint": "http://id.example.com/token"},
            "client_secret_post",
            "http:// to id.example.com would send credentials in clear text",
        ),
        (
            {**METADATA, "token_endpoint_auth_methods_supported": ["private_key_jwt"]},
            "client_secret_post",
            "does not support client_secret_post at its token endpoint "
            "(it supports: private_key_jwt): set ClientAuthMethod",
        ),
        (
            {k: v for k, v in METADATA.items() if k != "token_endpoint_auth_methods_supported"},
            "client_secret_post",
            "(it supports: client_secret_basic)",
        ),
        ([1, 2], "client_secret_post", "is not a JSON object"),
    ],
)
def test_bad_metadata(document: object, method: str, message: str) -> None:
    with pytest.raises(TokenRequestError) as caught:
        parse(document, method)
    assert message in str(caught.value)


def test_rfc8414_location_after_a_404() -> None:
    asked: list[str] = []

    def get(url: str) -> tuple[int, bytes]:
        asked.append(url)
        if "openid-configuration" in url:
            return 404, b"not found"
        return 200, json.dumps(METADATA).encode()

    endpoint = discover_token_endpoint(ISSUER, "client_secret_basic", False, get)
    assert endpoint == METADATA["token_endpoint"]
    assert asked == metadata_urls(ISSUER)


def test_no_metadata_anywhere() -> None:
    with pytest.raises(TokenRequestError) as caught:
        discover_token_endpoint(ISSUER, "client_secret_basic", False, lambda url: (404, b""))
    assert str(caught.value).startswith("cannot read the provider's metadata (https://")
    assert not caught.value.transient
    with pytest.raises(TokenRequestError) as unavailable:
        discover_token_endpoint(ISSUER, "client_secret_basic", False, lambda url: (503, b""))
    assert unavailable.value.transient


def test_the_assertion_algorithm_must_be_supported() -> None:
    document = {
        **METADATA,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
    }

    def parse_signed(metadata: object, algorithm: str) -> str:
        return token_endpoint_from_metadata(
            ISSUER,
            "URL",
            json.dumps(metadata).encode(),
            "private_key_jwt",
            allow_http=False,
            signing_algorithm=algorithm,
        )

    assert parse_signed(document, "PS256") == METADATA["token_endpoint"]
    with pytest.raises(TokenRequestError) as caught:
        parse_signed(document, "ES256")
    assert str(caught.value) == (
        "the provider does not support ES256 at its token endpoint (it supports: RS256, "
        "PS256): set ClientAssertionAlgorithm to one of them"
    )
    unsaid = {
        key: value
        for key, value in document.items()
        if key != "token_endpoint_auth_signing_alg_values_supported"
    }
    assert parse_signed(unsaid, "ES256") == METADATA["token_endpoint"]
