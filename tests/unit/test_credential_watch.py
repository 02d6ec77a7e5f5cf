"""After the provider refuses the client, its credential files are read again and, when
they changed, the request is made again at once, once: the provider may know the new
secret before the plugin looked at the file."""

from __future__ import annotations

import logging

import pytest

from orthanc_dicomweb_oauth.credentials.base import CredentialChange
from orthanc_dicomweb_oauth.descriptions import CredentialDescription, SourceDescription
from orthanc_dicomweb_oauth.errors import CredentialError, TokenRequestError
from orthanc_dicomweb_oauth.sources.access_token import AccessToken
from orthanc_dicomweb_oauth.tokens.credential_watch import CredentialWatch

REFUSED = TokenRequestError(
    "invalid_client: bad secret (HTTP 401)", transient=False, oauth_error="invalid_client"
)
FAILING = TokenRequestError("token endpoint answered HTTP 503", transient=True)


class FakeSource:
    """Answers with the scripted outcomes; its files change when ``changes`` says so."""

    def __init__(self, *outcomes: AccessToken | TokenRequestError) -> None:
        self.outcomes = list(outcomes)
        self.fetches = 0
        self.changes: list[CredentialChange] | CredentialError = []

    def fetch(self) -> AccessToken:
        outcome = self.outcomes[self.fetches]
        self.fetches += 1
        if isinstance(outcome, TokenRequestError):
            raise outcome
        return outcome

    def reload_credentials(self) -> list[CredentialChange]:
        if isinstance(self.changes, CredentialError):
            raise self.changes
        changes, self.changes = self.changes, []
        return changes

    def close(self) -> None: ...

    def description(self) -> SourceDescription:
        return SourceDescription(None, CredentialDescription("Fake"))

    def redact(self, text: str) -> str:
        return text


TOKEN = AccessToken("new", 300, "expires_in")


def watch_for(source: FakeSource) -> CredentialWatch:
    return CredentialWatch("remote", source, logging.getLogger("test.watch"))


def test_a_refused_client_with_a_new_file_is_retried_at_once() -> None:
    source = FakeSource(REFUSED, TOKEN)
    source.changes = [CredentialChange("ClientSecretFile", "/run/secrets/s")]
    assert watch_for(source).fetch() is TOKEN
    assert source.fetches == 2


def test_a_refused_client_with_the_same_files_is_not_retried() -> None:
    source = FakeSource(REFUSED, TOKEN)
    with pytest.raises(TokenRequestError, match="invalid_client"):
        watch_for(source).fetch()
    assert source.fetches == 1


def test_only_once_and_only_for_a_refused_client() -> None:
    twice = FakeSource(REFUSED, REFUSED, TOKEN)
    twice.changes = [CredentialChange("ClientSecretFile", "/run/secrets/s")]
    with pytest.raises(TokenRequestError, match="invalid_client"):
        watch_for(twice).fetch()
    assert twice.fetches == 2
    outage = FakeSource(FAILING, TOKEN)
    outage.changes = [CredentialChange("ClientSecretFile", "/run/secrets/s")]
    with pytest.raises(TokenRequestError, match="503"):
        watch_for(outage).fetch()
    assert outage.fetches == 1


def test_an_unusable_file_keeps_the_refusal(caplog: pytest.LogCaptureFixture) -> None:
    source = FakeSource(REFUSED, TOKEN)
    source.changes = CredentialError("file /run/secrets/s is empty", key="ClientSecretFile")
    caplog.set_level(logging.INFO, logger="test.watch")
    with pytest.raises(TokenRequestError, match="invalid_client"):
        watch_for(source).fetch()
    assert [record.getMessage() for record in caplog.records] == [
        "remote: a credential file changed but cannot be used (ClientSecretFile: file "
        "/run/secrets/s is empty)"
    ]
