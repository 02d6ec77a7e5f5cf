"""Whatever a provider, a careless operator or a broken mount hands the plugin, each reader
gives a result or one of the package's named errors, never another exception: property
tests over the token answer, the credential files, Google's file, the provider's metadata
and the configuration. Bounded examples: CI time stays the same from run to run."""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.schema import ServerSection
from orthanc_dicomweb_oauth.credentials.secret_sources import (
    MAX_CREDENTIAL_FILE_BYTES,
    read_credential_bytes,
    secret_from_file,
)
from orthanc_dicomweb_oauth.errors import CredentialError, DicomWebOAuthError, TokenRequestError
from orthanc_dicomweb_oauth.redaction import REDACTED, HeldSecrets, forms, redact
from orthanc_dicomweb_oauth.sources.access_token import B64TOKEN
from orthanc_dicomweb_oauth.sources.client_credentials.discovery import (
    token_endpoint_from_metadata,
)
from orthanc_dicomweb_oauth.sources.client_credentials.token_response import (
    TokenHttpAnswer,
    parse_token_answer,
)
from orthanc_dicomweb_oauth.sources.google.credentials_file import (
    GoogleCredentialsFile,
    read_google_credentials_file,
)
from orthanc_dicomweb_oauth.sources.google.file_types import MACHINE_TYPES
from orthanc_dicomweb_oauth.sources.lifetime import MIN_USABLE_LIFETIME
from orthanc_dicomweb_oauth.sources.transient import retry_after_seconds

from ..helpers import CLIENT_SECRET, make_jwt

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    # The files are rewritten at each example: tmp_path is reused on purpose.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def outcome(read: Callable[[], object]) -> object:
    """What ``read`` returns, or the package's error it raises; any other exception
    fails the test."""
    try:
        return read()
    except DicomWebOAuthError as error:
        return error


# -- The token endpoint's answer ----------------------------------------------------------

hostile_answers = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.one_of(
            st.just(make_jwt()),
            st.just("abc\r\nX-Injected: 1"),
            st.just("tökén"),
            st.text(alphabet=string.printable, max_size=30),
            json_values,
        ),
        "token_type": st.one_of(st.just("Bearer"), json_values),
        "expires_in": st.one_of(
            st.just(10**400),
            st.just("1" * 400),
            st.just(0.001),
            st.just("nan"),
            st.floats(),
            json_values,
        ),
        "error": st.one_of(st.just("invalid_client"), json_values),
        "error_description": st.one_of(st.text(max_size=50), json_values),
    },
)


def answer_outcome(answer: TokenHttpAnswer) -> object:
    return outcome(
        lambda: parse_token_answer(answer, default_lifetime=300, secrets=[CLIENT_SECRET])
    )


@EXAMPLES
@given(
    status=st.sampled_from([200, 400, 401, 429, 503]),
    fields=hostile_answers,
    retry_after=st.one_of(st.none(), st.text(max_size=40), st.just("²"), st.just("9" * 400)),
)
def test_a_token_answer_gives_a_usable_bearer_token_or_a_named_error(
    status: int, fields: dict[str, Any], retry_after: str | None
) -> None:
    body = json.dumps(fields).encode()
    result = answer_outcome(TokenHttpAnswer(status, "application/json", body, retry_after))
    if isinstance(result, TokenRequestError):
        assert "\n" not in str(result) and "\r" not in str(result)
        assert result.retry_after is None or result.retry_after >= 0
        return
    assert B64TOKEN.fullmatch(result.value)  # type: ignore[attr-defined]
    assert result.lifetime >= MIN_USABLE_LIFETIME  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"access_token": "abc\r\nX-Injected: 1", "expires_in": 60}, "not all those of a bearer"),
        ({"access_token": "tökén", "expires_in": 60}, "not all those of a bearer"),
        ({"access_token": "abc", "expires_in": 10**400}, "expires_in that is not a finite"),
        ({"access_token": "abc", "expires_in": 0.001}, "expires_in 0.001: too short to use"),
    ],
)
def test_answers_a_provider_should_not_give_are_its_fault(
    fields: dict[str, Any], expected: str
) -> None:
    """Retried like an outage; the token is never shown."""
    result = answer_outcome(TokenHttpAnswer(200, "application/json", json.dumps(fields).encode()))
    assert isinstance(result, TokenRequestError)
    assert expected in str(result)
    assert result.transient
    assert "Injected" not in str(result) and "tökén" not in str(result)


def test_json_nested_too_deeply_is_the_provider_s_fault() -> None:
    result = answer_outcome(TokenHttpAnswer(200, "application/json", deep(100_000).encode()))
    assert isinstance(result, TokenRequestError)
    assert result.transient
    assert "nested too deeply" in str(result)


@pytest.mark.parametrize("header", ["²", "٣", "9" * 400, "Mon, 99 Foo 99999 99:99:99 GMT"])
def test_odd_retry_after_values_are_ignored(header: str) -> None:
    assert retry_after_seconds(header) is None


# -- Credential files ----------------------------------------------------------------------


@EXAMPLES
@given(content=st.binary(max_size=2048))
def test_any_secret_file_gives_a_secret_or_a_named_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "secret"
    path.write_bytes(content)
    secret = outcome(lambda: secret_from_file(str(path)))
    if isinstance(secret, SecretStr):
        assert secret.get_secret_value().strip()
    else:
        assert isinstance(secret, CredentialError)
        assert str(path) in str(secret)


def test_what_is_not_a_regular_file_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")
    large = tmp_path / "large"
    large.write_bytes(b"x" * (MAX_CREDENTIAL_FILE_BYTES + 1))
    refusals = {}
    for path in (fifo, zero, large, tmp_path):
        with pytest.raises(CredentialError) as refused:
            read_credential_bytes(str(path))
        refusals[path.name] = str(refused.value)
    assert refusals == {
        "fifo": f"{fifo} is not a regular file (a FIFO): a credential is read from a file",
        "zero": f"{zero} is not a regular file (a character device): a credential is read "
        "from a file",
        "large": f"file {large} is larger than 1 MiB: not a credential",
        tmp_path.name: f"{tmp_path} is a folder, not a file",
    }


# -- Google's credentials file -------------------------------------------------------------

GOOGLE_FIELDS = (
    "client_email",
    "private_key",
    "token_uri",
    "audience",
    "subject_token_type",
    "token_url",
    "credential_source",
    "service_account_impersonation_url",
    "service_account_impersonation",
    "source_credentials",
    "delegates",
)
google_files = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(MACHINE_TYPES), json_values)},
    optional={
        field: st.one_of(st.just("https://oauth2.googleapis.com/token"), json_values)
        for field in GOOGLE_FIELDS
    },
)


@EXAMPLES
@given(document=google_files)
def test_any_google_file_gives_a_checked_file_or_a_named_error(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    path = tmp_path / "google.json"
    path.write_text(json.dumps(document))
    file = outcome(lambda: read_google_credentials_file(str(path), allow_insecure_http=False))
    if isinstance(file, GoogleCredentialsFile):
        assert file.type in MACHINE_TYPES
        assert all(isinstance(url, str) for url in file.urls)
    else:
        assert isinstance(file, CredentialError)
        assert str(path) in str(file)
        assert "\n" not in str(file)


def test_a_google_file_nested_too_deeply(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(deep(100_000))
    with pytest.raises(CredentialError, match="nested too deeply"):
        read_google_credentials_file(str(path), allow_insecure_http=False)


# -- The provider's metadata ---------------------------------------------------------------

ISSUER = "https://id.example.com"
metadata_documents = st.fixed_dictionaries(
    {},
    optional={
        "issuer": st.one_of(st.just(ISSUER), st.just(f"{ISSUER}\nFORGED LINE"), json_values),
        "token_endpoint": st.one_of(st.just(f"{ISSUER}/token"), st.just("x" * 5000), json_values),
        "token_endpoint_auth_methods_supported": st.one_of(
            st.just(["client_secret_basic"]), st.lists(st.text(max_size=300), max_size=50)
        ),
        "token_endpoint_auth_signing_alg_values_supported": json_values,
    },
)


@EXAMPLES
@given(document=metadata_documents)
def test_any_metadata_gives_an_endpoint_or_a_short_named_error(document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    endpoint = outcome(
        lambda: token_endpoint_from_metadata(
            ISSUER, "URL", body, "client_secret_basic", False, signing_algorithm="RS256"
        )
    )
    if isinstance(endpoint, str):
        assert endpoint == document["token_endpoint"]
    else:
        assert isinstance(endpoint, TokenRequestError)
        assert "\n" not in str(endpoint)
        assert len(str(endpoint)) < 2500


# -- The configuration ---------------------------------------------------------------------

SERVER_KEYS = [info.alias for info in ServerSection.model_fields.values() if info.alias]
servers = st.dictionaries(
    st.text(max_size=10),
    st.one_of(
        json_values,
        st.dictionaries(st.sampled_from(SERVER_KEYS), json_values, max_size=6),
    ),
    max_size=3,
)


@EXAMPLES
@given(section=st.one_of(json_values, st.fixed_dictionaries({"Servers": servers})))
def test_any_configuration_loads_with_named_problems(section: Any) -> None:
    loaded = load_configuration({"DicomWebOAuth": section}, environ={})
    for problem in loaded.problems:
        assert problem.key.startswith(("DicomWebOAuth", "DicomWeb"))
        assert "cannot be loaded (" not in problem.message  # no defect reached the guard


# -- Redaction -----------------------------------------------------------------------------


@EXAMPLES
@given(secret=st.text(min_size=6, max_size=40).filter(lambda text: text.strip() == text))
def test_a_secret_is_redacted_in_every_form_it_travels(secret: str) -> None:
    held = HeldSecrets()
    held.hold(secret)
    for form in forms(secret):
        shown = redact(f"the provider said: {form}!", held)
        assert form not in shown.replace(REDACTED, "")


def test_a_rotated_secret_and_a_basic_header_are_redacted() -> None:
    held = HeldSecrets()
    held.hold("first-secret")
    held.hold("second+secret/é", "b3J0aGFuYzpzZWNvbmQlMkJzZWNyZXQlMkYlQzMlQTk=")
    held.hold_briefly("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcnRoYW5jIn0.c2ln")
    echoed = (
        "first-secret second%2Bsecret%2F%C3%A9 'second+secret/\\xc3\\xa9' "
        "b3J0aGFuYzpzZWNvbmQlMkJzZWNyZXQlMkYlQzMlQTk= "
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvcnRoYW5jIn0.c2ln"
    )
    assert re.sub(r"\[redacted\]", "", redact(echoed, held)).strip(" '") == ""
