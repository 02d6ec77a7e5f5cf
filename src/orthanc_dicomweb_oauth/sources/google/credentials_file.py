"""A Google credentials JSON file, read and checked without google-auth: its type must be
one a machine uses (a service account's key, an external account of workload identity
federation, an impersonated service account), never a person's login, and every URL it
sends a secret or a token to must pass the URL policy. Errors describe the file, never its
secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...credentials.secret_sources import read_credential_file
from ...errors import CredentialError
from ...url_policy import url_problem

SERVICE_ACCOUNT = "service_account"
EXTERNAL_ACCOUNT = "external_account"
IMPERSONATED = "impersonated_service_account"
MACHINE_TYPES = (SERVICE_ACCOUNT, EXTERNAL_ACCOUNT, IMPERSONATED)
# A person's gcloud login, and Google's other user credentials.
USER_TYPES = ("authorized_user", "external_account_authorized_user")


@dataclass(frozen=True)
class GoogleCredentialsFile:
    path: str
    type: str
    # Who the tokens are for: the service account's email, or the workload pool.
    identity: str
    # Every URL the credentials send a secret or a token to, checked by the URL policy.
    urls: tuple[str, ...]
    info: Mapping[str, Any] = field(repr=False)

    def redacted_values(self) -> tuple[str, ...]:
        """The private keys the file holds, the impersonation's source included."""
        keys = [self.info.get("private_key")]
        source = self.info.get("source_credentials")
        if isinstance(source, dict):
            keys.append(source.get("private_key"))
        return tuple(key for key in keys if isinstance(key, str) and key)


def read_google_credentials_file(path: str, allow_insecure_http: bool) -> GoogleCredentialsFile:
    file = _typed_file(path)
    for url in file.urls:
        problem = url_problem(url, allow_insecure_http)
        if problem is not None:
            raise CredentialError(f"{path}: {url} {problem}")
    return file


def _typed_file(path: str) -> GoogleCredentialsFile:
    info = _json_object(path)
    kind = info.get("type")
    if kind in USER_TYPES:
        raise CredentialError(
            f"{path} holds a person's credentials (type {kind}, as `gcloud auth "
            "application-default login` writes them): a server needs a machine identity, "
            "a service account's key or workload identity federation (ADR 0001)"
        )
    if kind not in MACHINE_TYPES:
        raise CredentialError(
            f"{path} is a credentials file of type {kind!r}: the types used are "
            f"{', '.join(MACHINE_TYPES)}"
        )
    if kind == SERVICE_ACCOUNT:
        return _service_account(path, info)
    if kind == EXTERNAL_ACCOUNT:
        return _external_account(path, info)
    return _impersonated(path, info)


def _json_object(path: str) -> dict[str, Any]:
    try:
        document = json.loads(read_credential_file(path))
    except ValueError:
        raise CredentialError(f"file {path} is not JSON") from None
    if not isinstance(document, dict):
        raise CredentialError(f"file {path} does not hold a JSON object")
    return document


def _required(path: str, info: Mapping[str, Any], *keys: str) -> None:
    missing = [key for key in keys if not isinstance(info.get(key), str) or not info[key]]
    if missing:
        raise CredentialError(f"{path} is a {info.get('type')} file without {', '.join(missing)}")


def _service_account(path: str, info: dict[str, Any]) -> GoogleCredentialsFile:
    _required(path, info, "client_email", "private_key", "token_uri")
    return GoogleCredentialsFile(
        path, SERVICE_ACCOUNT, info["client_email"], (info["token_uri"],), info
    )


def _external_account(path: str, info: dict[str, Any]) -> GoogleCredentialsFile:
    _required(path, info, "audience", "subject_token_type", "token_url")
    if not isinstance(info.get("credential_source"), dict):
        raise CredentialError(f"{path} is an external_account file without credential_source")
    impersonation = info.get("service_account_impersonation_url")
    source_url = info["credential_source"].get("url")
    urls = [info["token_url"], *(url for url in (impersonation, source_url) if url)]
    identity = _impersonated_account(impersonation) or info["audience"]
    return GoogleCredentialsFile(path, EXTERNAL_ACCOUNT, identity, tuple(urls), info)


def _impersonated(path: str, info: dict[str, Any]) -> GoogleCredentialsFile:
    _required(path, info, "service_account_impersonation_url")
    source = info.get("source_credentials")
    if not isinstance(source, dict):
        raise CredentialError(f"{path} is an {IMPERSONATED} file without source_credentials")
    if source.get("type") != SERVICE_ACCOUNT:
        person = ", a person's login (ADR 0001)" if source.get("type") in USER_TYPES else ""
        raise CredentialError(
            f"{path} impersonates with source credentials of type {source.get('type')!r}"
            f"{person}: the source must be a {SERVICE_ACCOUNT} key"
        )
    source_file = _service_account(path, source)
    url = info["service_account_impersonation_url"]
    identity = _impersonated_account(url) or url
    return GoogleCredentialsFile(path, IMPERSONATED, identity, (url, *source_file.urls), info)


def _impersonated_account(url: str | None) -> str | None:
    """The service account of ``.../serviceAccounts/EMAIL:generateAccessToken``."""
    if not url or "/serviceAccounts/" not in url:
        return None
    return url.rsplit("/serviceAccounts/", 1)[1].split(":", 1)[0] or None
