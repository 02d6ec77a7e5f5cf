"""Tokens from Google, through google-auth: for a service account's key (RFC 7523's JWT
bearer grant), an external account (workload identity federation), an impersonated
service account, or from the metadata server of Compute Engine, GKE and Cloud Run.

Imported only for servers that use GoogleCredentials: google-auth and its cryptography
cost Orthanc about 16 MiB (docs/performance.md).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from typing import Any

import google.auth.credentials
import google.auth.exceptions
from google.auth import aws, identity_pool, impersonated_credentials, pluggable
from google.oauth2 import service_account

from ...credentials.base import CredentialChange
from ...credentials.reloading import FileBacked
from ...descriptions import CredentialDescription, SourceDescription
from ...errors import CredentialError, TokenRequestCancelledError, TokenRequestError
from ...keys import GOOGLE_CREDENTIALS as KIND
from ...redaction import HeldSecrets, redact, sanitize_external_text
from ..access_token import AccessToken
from ..http_client import TokenHttpClient
from ..lifetime import token_until
from ..settings import GoogleSettings
from ..transient import status_is_transient
from .access_scopes import missing_healthcare_scope
from .credentials_file import (
    ALLOW_EXECUTABLES,
    GoogleCredentialsFile,
    read_google_credentials_file,
)
from .file_types import EXTERNAL_ACCOUNT, SERVICE_ACCOUNT
from .transport import HttpClientRequest

METADATA_SERVER = "the metadata server"
# google-auth retries the metadata server up to five times within a refresh and logs a
# warning at each attempt: the keeper says once what happened instead.
logging.getLogger("google.auth.compute_engine._metadata").setLevel(logging.ERROR)
# The subject token type of AWS workload identity federation (google-auth's own test).
_AWS_SUBJECT_TYPE = "urn:ietf:params:aws:token-type:aws4_request"


class GoogleSource:
    """Requests Google tokens for one server. Not meant for concurrent calls: the
    TokenKeeper lets one request out at a time."""

    def __init__(
        self, settings: GoogleSettings, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._settings = settings
        self._wall_clock = wall_clock
        self._held = HeldSecrets()
        # The credentials file, read again when it changes (None: the metadata server).
        self._file = None if settings.file is None else self._watched(settings.file)
        self._credentials: google.auth.credentials.Credentials | None = None
        self._http: TokenHttpClient | None = None
        self._closed = False
        self._lock = threading.Lock()

    def fetch(self) -> AccessToken:
        if self._closed:
            raise TokenRequestCancelledError
        credentials = self._google_credentials()
        http = self._http_client()
        request = HttpClientRequest(http, self._held)
        try:
            credentials.refresh(request)
        except google.auth.exceptions.GoogleAuthError as error:
            if self._closed:
                raise TokenRequestCancelledError from None
            raise self._translated(error, request, http) from None
        if credentials.token is None or credentials.expiry is None:
            raise TokenRequestError("Google issued no token and no expiry", transient=True)
        # ``expiry`` is naive UTC; ``valid`` would count a token expired 3 min 45 s early.
        expires_at = credentials.expiry.replace(tzinfo=UTC).timestamp()
        token = token_until(credentials.token, expires_at, self._wall_clock)
        scopes = getattr(credentials, "account_scopes", None)
        # The keeper logs a note once: the same warning check gives, in Orthanc's log.
        lacking = None if scopes is None else missing_healthcare_scope(scopes)
        return token if lacking is None else replace(token, notes=(*token.notes, lacking))

    def description(self) -> SourceDescription:
        if self._file is None:
            identity = getattr(self._credentials, "service_account_email", "default")
            return SourceDescription(
                _metadata_root(),
                CredentialDescription(
                    KIND,
                    type="metadata server",
                    identity=identity if isinstance(identity, str) else "default",
                    scopes=getattr(self._credentials, "account_scopes", None),
                ),
            )
        try:
            file = self._file.current
        except CredentialError as error:
            return SourceDescription(
                None, CredentialDescription(KIND, file=self._settings.file, error=str(error))
            )
        return SourceDescription(
            file.urls[0],
            CredentialDescription(KIND, type=file.type, file=file.path, identity=file.identity),
        )

    def redact(self, text: str) -> str:
        return redact(text, self._held)

    def reload_credentials(self) -> list[CredentialChange]:
        if self._file is None:
            return []
        changes = self._file.reload()
        if changes:
            self._credentials = None
        return changes

    def close(self) -> None:
        self._closed = True
        with self._lock:
            if self._http is not None:
                self._http.interrupt()

    def _watched(self, path: str) -> FileBacked[GoogleCredentialsFile]:
        """The credentials file, read now and again when it changes; its private keys
        held for redacting, those of every version read."""
        named_by = self._settings.named_by
        said = f" (named by {named_by})" if named_by else ""

        def load() -> GoogleCredentialsFile:
            try:
                file = read_google_credentials_file(path, self._settings.allow_insecure_http)
            except CredentialError as error:
                raise CredentialError(f"{error}{said}", key=KIND) from None
            self._held.hold(*file.redacted_values())
            return file

        return FileBacked(load, [(KIND, path)])

    def _loaded_file(self) -> GoogleCredentialsFile | None:
        """The credentials file, None for the metadata server; raises TokenRequestError
        while the file cannot be used."""
        if self._file is None:
            return None
        try:
            return self._file.current
        except CredentialError as error:
            raise TokenRequestError(f"{KIND}: {error}", transient=False) from None

    def _http_client(self) -> TokenHttpClient:
        with self._lock:
            if self._http is None:
                self._http = (
                    TokenHttpClient(self._settings.http, "Google's token endpoint")
                    if self._file is not None
                    # The metadata server is on the machine's own network: never proxied.
                    else TokenHttpClient(
                        self._settings.http, METADATA_SERVER, direct_hosts=_metadata_hosts()
                    )
                )
            return self._http

    def _google_credentials(self) -> google.auth.credentials.Credentials:
        if self._credentials is None:
            file = self._loaded_file()
            if (
                file is not None
                and file.runs_a_program()
                and os.environ.get(ALLOW_EXECUTABLES) != "1"
            ):
                raise TokenRequestError(_programs_not_allowed(file), transient=False)
            try:
                self._credentials = _credentials(self._settings, file)
            # The file's fields were checked; what google-auth refuses beyond that is said.
            except (
                google.auth.exceptions.GoogleAuthError,
                ValueError,
                TypeError,
                KeyError,
                AttributeError,
            ) as error:
                raise TokenRequestError(
                    f"{KIND}: google-auth cannot use {self._where(file)}: "
                    f"{sanitize_external_text(str(error), self._held)}",
                    transient=False,
                ) from None
        return self._credentials

    def _translated(
        self,
        error: google.auth.exceptions.GoogleAuthError,
        request: HttpClientRequest,
        http: TokenHttpClient,
    ) -> TokenRequestError:
        network = request.last_error
        if network is not None and request.last_status is None:
            if self._file is None:
                return TokenRequestError(
                    f"no metadata server answered at {_metadata_root()}: not running on Google "
                    f"Cloud? Off Google Cloud, set {KIND} to a workload identity federation "
                    "file (an external_account file, from gcloud iam workload-identity-pools "
                    "create-cred-config), or, failing that, to a service account key file",
                    transient=False,
                )
            return http.translated(network, self._held)
        status = request.last_status
        transient = bool(getattr(error, "retryable", False)) or (
            status is not None and status_is_transient(status)
        )
        said = f" (HTTP {status})" if status is not None else ""
        where = self._where(None if self._file is None else self._file.current)
        return TokenRequestError(
            f"{where} refused: {sanitize_external_text(_message(error), self._held)}{said}",
            transient=transient,
            http_status=status,
        )

    @staticmethod
    def _where(file: GoogleCredentialsFile | None) -> str:
        return METADATA_SERVER if file is None else f"Google ({file.type} {file.identity})"


def _credentials(
    settings: GoogleSettings, file: GoogleCredentialsFile | None
) -> google.auth.credentials.Credentials:
    scopes = [settings.scope]
    if file is None:
        # Imported for the metadata server only: it loads requests, for mTLS to it.
        from .metadata_server import MetadataServerCredentials  # noqa: PLC0415

        return MetadataServerCredentials(scopes=scopes)
    info = dict(file.info)
    if file.type == SERVICE_ACCOUNT:
        return service_account.Credentials.from_service_account_info(info, scopes=scopes)
    if file.type == EXTERNAL_ACCOUNT:
        return _external_account(info, scopes)
    return _impersonated(file, scopes)


def _external_account(
    info: dict[str, Any], scopes: list[str]
) -> google.auth.credentials.Credentials:
    """As google-auth's own loader tells them apart, without its call to Resource Manager
    for a project id that no token needs."""
    if info.get("subject_token_type") == _AWS_SUBJECT_TYPE:
        return aws.Credentials.from_info(info, scopes=scopes)
    if info["credential_source"].get("executable") is not None:
        return pluggable.Credentials.from_info(info, scopes=scopes)
    return identity_pool.Credentials.from_info(info, scopes=scopes)


def _impersonated(
    file: GoogleCredentialsFile, scopes: list[str]
) -> google.auth.credentials.Credentials:
    """The file's source service account impersonates its target at the file's own
    impersonation URL (google-auth would build Google's from the target's email)."""
    url = file.info["service_account_impersonation_url"]
    source = service_account.Credentials.from_service_account_info(
        dict(file.info["source_credentials"])
    )
    return impersonated_credentials.Credentials(
        source,
        target_principal=file.identity,
        target_scopes=scopes,
        delegates=file.info.get("delegates"),
        iam_endpoint_override=url,
    )


def _programs_not_allowed(file: GoogleCredentialsFile) -> str:
    return (
        f"{KIND}: {file.path} gets its subject token by running a program "
        f"(credential_source.executable), and google-auth runs one only when Orthanc's "
        f"environment has {ALLOW_EXECUTABLES}=1: google-auth's own safety setting, so that a "
        "credentials file cannot run a program unless the machine's administrator allows it. "
        f"Set {ALLOW_EXECUTABLES}=1 in Orthanc's environment (systemd: an Environment= line in "
        "a drop-in for orthanc.service; Docker: -e) and restart Orthanc"
    )


def _message(error: google.auth.exceptions.GoogleAuthError) -> str:
    """google-auth puts its sentence first and the provider's answer after it."""
    first = error.args[0] if error.args else ""
    return str(first) or type(error).__name__


def _metadata_root() -> str:
    return f"http://{_metadata_hosts()[0]}"


def _metadata_hosts() -> tuple[str, ...]:
    """Where google-auth reaches the metadata server, as it read it at its import: its
    host, and the IP it pings."""
    from google.auth.compute_engine import _metadata  # noqa: PLC0415

    ip = os.environ.get("GCE_METADATA_IP", _metadata._GCE_DEFAULT_MDS_IP)
    return tuple(dict.fromkeys((str(_metadata._GCE_METADATA_HOST), ip)))
