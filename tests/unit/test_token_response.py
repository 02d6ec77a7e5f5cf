"""Token answers: property-based fuzzing of what a provider may send, and the pieces of
the parser that HTTP tests do not reach."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.sources.access_token import AccessToken
from orthanc_dicomweb_oauth.sources.client_credentials.token_response import (
    TokenHttpAnswer,
    parse_token_answer,
)
from orthanc_dicomweb_oauth.sources.lifetime import MAX_TRUSTED_LIFETIME

from ..helpers import CLIENT_SECRET, make_jwt

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
token_fields = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.one_of(st.text(), json_values, st.just(make_jwt())),
        "token_type": st.one_of(
            st.sampled_from(["Bearer", "bearer", "BEARER", "mac"]), json_values
        ),
        "expires_in": st.one_of(
            st.integers(), st.floats(allow_nan=True), st.text(), st.just("3599"), json_values
        ),
        "error": st.one_of(
            st.sampled_from(["invalid_client", "temporarily_unavailable"]), json_values
        ),
        "error_description": st.one_of(st.text(), st.just(f"echo {CLIENT_SECRET}"), json_values),
        "scope": json_values,
    },
)


def parse(status: int, body: bytes, content_type: str = "application/json") -> AccessToken:
    return parse_token_answer(
        TokenHttpAnswer(status=status, content_type=content_type, body=body),
        default_lifetime=300,
        secrets=[CLIENT_SECRET],
    )


def outcome(status: int, body: bytes, content_type: str = "application/json") -> Any:
    """The token, or the error: for fuzzing, where either is a right answer."""
    try:
        return parse(status, body, content_type)
    except TokenRequestError as error:
        return error


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.sampled_from([200, 201, 400, 401, 429, 500, 503]), fields=token_fields)
def test_any_json_answer_gives_a_token_or_a_clear_error(
    status: int, fields: dict[str, Any]
) -> None:
    result = outcome(status, json.dumps(fields).encode())
    if isinstance(result, TokenRequestError):
        message = str(result)
        assert message
        assert CLIENT_SECRET not in message
        assert "\n" not in message
        return
    token = result
    assert 200 <= status < 300
    assert "error" not in fields
    assert isinstance(token.value, str) and token.value.strip()
    assert 0 < token.lifetime <= MAX_TRUSTED_LIFETIME
    if len(token.value) >= 8:  # a short value like "0" occurs in any text
        assert token.value not in repr(token)


@settings(max_examples=300)
@given(status=st.integers(100, 599), content_type=st.text(max_size=40), body=st.binary())
def test_any_bytes_give_a_token_or_a_clear_error(
    status: int, content_type: str, body: bytes
) -> None:
    result = outcome(status, body, content_type)
    if isinstance(result, TokenRequestError):
        assert str(result)
        assert len(str(result)) < 1000
    else:
        assert isinstance(result, AccessToken)
        assert 200 <= status < 300


def test_retry_after_as_an_http_date() -> None:
    answer = TokenHttpAnswer(
        status=503,
        content_type="text/plain",
        body=b"busy",
        retry_after="Wed, 21 Oct 2015 07:28:00 GMT",
    )
    with pytest.raises(TokenRequestError) as caught:
        parse_token_answer(answer, default_lifetime=300, secrets=[])
    assert caught.value.retry_after == 0.0
    assert caught.value.transient


def test_expires_in_longer_than_the_jwt_exp_is_cut_to_the_exp() -> None:
    body = json.dumps({"access_token": make_jwt(lifetime=100), "expires_in": 3600}).encode()
    token = parse(200, body)
    assert 95 < token.lifetime <= 100


def test_expired_jwt_without_expires_in_is_refused() -> None:
    body = json.dumps({"access_token": make_jwt(lifetime=-10)}).encode()
    with pytest.raises(TokenRequestError, match="exp has already passed"):
        parse(200, body)


def test_control_characters_from_the_provider_cannot_forge_log_lines() -> None:
    body = json.dumps(
        {"error": "invalid_client", "error_description": "bad\nFAKE LOG LINE\r\x1b[31m"}
    ).encode()
    with pytest.raises(TokenRequestError) as caught:
        parse(401, body)
    assert str(caught.value) == "invalid_client: bad FAKE LOG LINE [31m (HTTP 401)"
