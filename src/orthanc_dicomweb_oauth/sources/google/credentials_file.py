"""A Google credentials JSON file, read and checked without google-auth: its type must be
one a machine uses (a service account's key, an external account of workload identity
federation, an impersonated service account), never a person's login, and every URL it
sends a secret or a token to must pass the URL policy. Errors describe the file, never its
secrets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from ...credentials.secret_sources import read_credential_file
from ...errors import CredentialError
from ...redaction import sanitize_external_text
from ...url_policy import url_problem
from .file_types import EXTERNAL_ACCOUNT, IMPERSONATED, MACHINE_TYPES, SERVICE_ACCOUNT, USER_TYPES

# google-auth runs an external account's program only when this variable is 1.
ALLOW_EXECUTABLES = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"


@dataclass(frozen=True)
class GoogleCredentialsFile:
    path: str
    type: str
    # Who the tokens are for: the service account's email, or the workload pool.
    identity: str
    # Every URL the credentials send a secret or a token to, checked by the URL policy.
    urls: tuple[str, ...]
    info: Mapping[str, Any] = field(repr=False)

    def runs_a_program(self) -> bool:
        """An external account whose subject token comes from a program it names."""
        source = self.info.get("credential_source")
        return (
            self.type == EXTERNAL_ACCOUNT
            and isinstance(source, dict)
            and source.get("executable") is not None
        )

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
            "application-default login` writes them): a server needs a machine identity (the "
            "metadata server, workload identity federation or a service account's key), not a "
            "person's login, which carries all that person's rights and ends with their account"
        )
    if kind not in MACHINE_TYPES:
        raise CredentialError(
            f"{path} is a credentials file of type {_shown(kind)}: the types used are "
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
    except RecursionError:
        raise CredentialError(f"file {path} holds JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise CredentialError(f"file {path} does not hold a JSON object")
    return document


class _Fields(BaseModel):
    """The fields google-auth reads, with the types it expects: a file checked here does
    not fail inside google-auth. Other fields are google-auth's business."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


_Text = Annotated[str, StringConstraints(min_length=1)]


class _ServiceAccountKey(_Fields):
    client_email: _Text
    private_key: _Text
    token_uri: _Text
    private_key_id: str | None = None
    client_id: str | None = None
    project_id: str | None = None
    quota_project_id: str | None = None
    universe_domain: str | None = None


class _Executable(_Fields):
    command: _Text
    timeout_millis: int | None = None
    output_file: str | None = None


class _SubjectTokenFormat(_Fields):
    type: str | None = None
    subject_token_field_name: str | None = None


class _CredentialSource(_Fields):
    file: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    format: _SubjectTokenFormat | None = None
    executable: _Executable | None = None
    environment_id: str | None = None
    region_url: str | None = None
    regional_cred_verification_url: str | None = None
    imdsv2_session_token_url: str | None = None


class _Impersonation(_Fields):
    token_lifetime_seconds: int | None = None


class _ExternalAccount(_Fields):
    audience: _Text
    subject_token_type: _Text
    token_url: _Text
    credential_source: _CredentialSource
    service_account_impersonation_url: str | None = None
    service_account_impersonation: _Impersonation | None = None
    token_info_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    quota_project_id: str | None = None
    workforce_pool_user_project: str | None = None
    universe_domain: str | None = None


class _ImpersonatedServiceAccount(_Fields):
    service_account_impersonation_url: _Text
    source_credentials: dict[str, Any]
    delegates: list[str] | None = None
    quota_project_id: str | None = None


Checked = TypeVar("Checked", bound=_Fields)


def _checked(path: str, kind: str, model: type[Checked], info: Mapping[str, Any]) -> Checked:
    """The fields, typed; the first wrong one said by its path, never its value."""
    try:
        return model.model_validate(info)
    except ValidationError as error:
        detail = error.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in detail["loc"])
        said = "is missing" if detail["type"] == "missing" else detail["msg"].lower()
        raise CredentialError(f"{path} ({kind} file): {where}: {said}") from None


def _service_account(path: str, info: Mapping[str, Any]) -> GoogleCredentialsFile:
    key = _checked(path, SERVICE_ACCOUNT, _ServiceAccountKey, info)
    return GoogleCredentialsFile(path, SERVICE_ACCOUNT, key.client_email, (key.token_uri,), info)


def _external_account(path: str, info: Mapping[str, Any]) -> GoogleCredentialsFile:
    account = _checked(path, EXTERNAL_ACCOUNT, _ExternalAccount, info)
    impersonation = account.service_account_impersonation_url
    urls = [
        account.token_url,
        *(url for url in (impersonation, account.credential_source.url) if url),
    ]
    identity = _impersonated_account(impersonation) or account.audience
    return GoogleCredentialsFile(path, EXTERNAL_ACCOUNT, identity, tuple(urls), info)


def _impersonated(path: str, info: Mapping[str, Any]) -> GoogleCredentialsFile:
    impersonated = _checked(path, IMPERSONATED, _ImpersonatedServiceAccount, info)
    source = impersonated.source_credentials
    if source.get("type") != SERVICE_ACCOUNT:
        person = ", a person's login" if source.get("type") in USER_TYPES else ""
        raise CredentialError(
            f"{path} impersonates with source credentials of type {_shown(source.get('type'))}"
            f"{person}: the source must be a {SERVICE_ACCOUNT} key"
        )
    source_file = _service_account(path, source)
    url = impersonated.service_account_impersonation_url
    identity = _impersonated_account(url) or url
    return GoogleCredentialsFile(path, IMPERSONATED, identity, (url, *source_file.urls), info)


def _impersonated_account(url: str | None) -> str | None:
    """The service account of ``.../serviceAccounts/EMAIL:generateAccessToken``."""
    if not url or "/serviceAccounts/" not in url:
        return None
    return url.rsplit("/serviceAccounts/", 1)[1].split(":", 1)[0] or None


def _shown(kind: object) -> str:
    """A file's type as the error shows it: a short text, or what JSON value it is."""
    if isinstance(kind, str):
        return repr(sanitize_external_text(kind, ()))
    return "missing" if kind is None else f"<{type(kind).__name__}>"
