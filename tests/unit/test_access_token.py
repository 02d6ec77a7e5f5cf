"""The unverified claims reader: the same payloads as joserfc's compact reader, without
loading cryptography into Orthanc."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from orthanc_dicomweb_oauth.sources.access_token import read_jwt_claims

from ..helpers import make_jwt


def _part(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_signed_jwt_s_claims_are_read() -> None:
    claims = read_jwt_claims(make_jwt(lifetime=100, roles=["dicom.write"]))
    assert claims is not None
    assert claims["roles"] == ["dicom.write"]
    assert claims["iss"] == "https://issuer.test"


@pytest.mark.parametrize(
    "token",
    [
        "opaque-token-value",
        "a.b",
        "a.b.c.d",
        f"{_part({'alg': 'none'})}..sig",
        f"{_part({'alg': 'HS256'})}.{_part([1, 2])}.sig",  # payload not an object
        f"{_part('header')}.{_part({'exp': 1})}.sig",  # header not an object
        f"{_part({'alg': 'HS256'})}.bm90IGpzb24.sig",  # payload not JSON
        f"{_part({'alg': 'HS256'})}.{_part({'exp': 1})}x.sig",  # not base64url
    ],
)
def test_what_is_not_a_jwt_has_no_claims(token: str) -> None:
    assert read_jwt_claims(token) is None


@given(
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12),
)
def test_claims_agree_with_joserfc(payload: dict[str, object], signature: str) -> None:
    token = f"{_part({'alg': 'RS256', 'typ': 'JWT'})}.{_part(payload)}.{signature}"
    try:
        expected = json.loads(extract_compact(token.encode()).payload)
    except (JoseError, ValueError):
        expected = None
    assert read_jwt_claims(token) == expected
