"""What a server's tokens come from, described with public facts only: typed records that the
credentials and the sources fill in, and their one rendering as the REST status's and
``check --json``'s fields. ``check``'s text is written from the same records, in
cli/report.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class CertificateDescription:
    """The certificate of a private key, as uploaded to the provider."""

    thumbprint: str  # SHA-1 in hex, as Entra ID's portal shows the "Thumbprint"
    not_after: datetime
    headers: tuple[str, ...]  # the assertion's thumbprint headers (x5t#S256, x5t)


@dataclass(frozen=True)
class CredentialDescription:
    """A credential or a cloud's identity: its kind, and the facts of it that apply (the
    others are None). Never a secret."""

    kind: str
    read_from: str | None = None  # where a secret was read
    file: str | None = None
    type: str | None = None  # a Google credentials file's type
    environment: str | None = None  # where Azure's managed identity is found
    identity: str | None = None
    # The access scopes the metadata server lists for the machine's service account.
    scopes: tuple[str, ...] | None = None
    client_id: str | None = None
    algorithm: str | None = None
    key_id: str | None = None
    certificate: CertificateDescription | None = None
    # The claims of an assertion read from a file.
    issuer: str | None = None
    subject: str | None = None
    audience: str | None = None
    expires_at: datetime | None = None
    error: str | None = None  # why the credential cannot be described now


@dataclass(frozen=True)
class SourceDescription:
    """Where a server's tokens come from: the endpoint (None until known), and with a
    token endpoint of the configuration's, the issuer, the client and how it
    authenticates."""

    token_endpoint: str | None
    credential: CredentialDescription
    issuer: str | None = None
    client_id: str | None = None
    client_auth_method: str | None = None


def source_fields(description: SourceDescription) -> dict[str, Any]:
    """The description as the REST status and ``check --json`` show it."""
    return {
        "TokenEndpoint": description.token_endpoint,
        "Issuer": description.issuer,
        "ClientId": description.client_id,
        "ClientAuthMethod": description.client_auth_method,
        "Credential": credential_fields(description.credential),
    }


def credential_fields(credential: CredentialDescription) -> dict[str, str | list[str]]:
    certificate = credential.certificate
    fields: dict[str, str | list[str] | None] = {
        "Kind": credential.kind,
        "ReadFrom": credential.read_from,
        "File": credential.file,
        "Type": credential.type,
        "Environment": credential.environment,
        "Identity": credential.identity,
        "Scopes": None if credential.scopes is None else list(credential.scopes),
        "ClientId": credential.client_id,
        "Algorithm": credential.algorithm,
        "KeyId": credential.key_id,
        "CertificateThumbprint": None if certificate is None else certificate.thumbprint,
        "CertificateNotAfter": None if certificate is None else iso(certificate.not_after),
        "ThumbprintHeaders": None if certificate is None else ", ".join(certificate.headers),
        "Issuer": credential.issuer,
        "Subject": credential.subject,
        "Audience": credential.audience,
        "ExpiresAt": None if credential.expires_at is None else iso(credential.expires_at),
        "Error": credential.error,
    }
    return {name: value for name, value in fields.items() if value is not None}


def iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def moment(seconds: object) -> datetime | None:
    """A claim of seconds since 1970 (``exp``, ``iat``) as a UTC time; None when it is not
    a number, or one no calendar holds."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
