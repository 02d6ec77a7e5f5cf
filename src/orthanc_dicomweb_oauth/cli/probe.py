"""Sends one QIDO request with a token and explains the answer: the `check --probe`
question "does the DICOMweb server accept this token?"."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import httpx2

from .. import keys
from ..redaction import sanitize_external_text
from ..sources.access_token import AccessToken

PROBE_TIMEOUT = 30.0
# Of a refused request's answer, shown shortened: more is never read.
MAX_BODY_READ = 4096


class Provider(Enum):
    """Whose permissions a refusal is about: its advice differs."""

    GOOGLE = "google"
    AZURE = "azure"
    OTHER = "other"


@dataclass(frozen=True)
class Refusal:
    """Who asks: the kind of provider, and the identity the permission is granted to."""

    provider: Provider
    identity: str | None = None


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    http_status: int | None
    detail: str
    # What the server answered to a refused request: sanitized, on one line, shortened.
    body: str | None = None


def provider_of(credential_kind: str, url: str, token_endpoint: str | None) -> Provider:
    """Google's or Azure's, from the credential or from the hosts of their services."""
    dicomweb_host = urlsplit(url).hostname or ""
    issuer_host = urlsplit(token_endpoint or "").hostname or ""
    if credential_kind == keys.GOOGLE_CREDENTIALS or dicomweb_host == "healthcare.googleapis.com":
        return Provider.GOOGLE
    if (
        credential_kind == keys.AZURE_MANAGED_IDENTITY
        or dicomweb_host.endswith(".azurehealthcareapis.com")
        or issuer_host == "login.microsoftonline.com"
    ):
        return Provider.AZURE
    return Provider.OTHER


def probe_dicomweb(
    url: str, token: AccessToken, ca_certificates: str | None, refusal: Refusal
) -> ProbeResult:
    target = url.rstrip("/") + "/studies?limit=1"
    try:
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_certificates) if ca_certificates else True
        )
    except (OSError, ssl.SSLError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return ProbeResult(
            False, None, f"cannot use Orthanc's HttpsCACertificates {ca_certificates}: {reason}"
        )
    try:
        with (
            httpx2.Client(verify=verify, timeout=PROBE_TIMEOUT, trust_env=False) as client,
            client.stream(
                "GET",
                target,
                headers={
                    "Authorization": token.authorization_header(),
                    "Accept": "application/dicom+json",
                },
            ) as response,
        ):
            beginning = _beginning(response)
    # Not only httpx2's errors: h11 refuses a header it cannot send with a ValueError, and
    # its message, like any other, has the token redacted in whatever escaping it shows.
    except (httpx2.HTTPError, ssl.SSLError, OSError, ValueError) as error:
        reason = sanitize_external_text(str(error) or type(error).__name__, [token.value])
        return ProbeResult(False, None, f"GET {target} failed: {reason}")
    return _explain(target, response, beginning, token, refusal)


def _beginning(response: httpx2.Response) -> str:
    """The first MAX_BODY_READ bytes of the answer, as text: only its beginning is shown,
    and a server may answer with anything."""
    read = bytearray()
    for chunk in response.iter_bytes():
        read += chunk[: MAX_BODY_READ - len(read)]
        if len(read) >= MAX_BODY_READ:
            break
    return read.decode(response.encoding or "utf-8", errors="replace")


def _explain(
    target: str, response: httpx2.Response, beginning: str, token: AccessToken, refusal: Refusal
) -> ProbeResult:
    status = response.status_code
    if 200 <= status < 300:
        return ProbeResult(True, status, f"GET {target}: HTTP {status}, the token is accepted")
    challenge = sanitize_external_text(response.headers.get("www-authenticate", ""), [token.value])
    said = f" (WWW-Authenticate: {challenge})" if challenge else ""
    body = sanitize_external_text(beginning, [token.value]) or None
    if status == 401:
        detail = (
            f"GET {target}: HTTP 401, the server refused the token{said}. Check that the "
            "token's audience (aud) and issuer (iss) are those the server expects, and the "
            "Scope or TokenRequestParameters that select them."
        )
    elif status == 403:
        detail = (
            f"GET {target}: HTTP 403, the token is valid but not allowed to read studies"
            f"{said}. {_forbidden_advice(refusal)}"
        )
    elif status == 404:
        detail = f"GET {target}: HTTP 404, no DICOMweb service at this Url{_url_hint(refusal)}."
    else:
        detail = f"GET {target}: HTTP {status}"
    return ProbeResult(False, status, detail, body)


def _url_hint(refusal: Refusal) -> str:
    if refusal.provider is Provider.AZURE:
        return " (Azure: the Url must end with /v1 or /v2)"
    if refusal.provider is Provider.GOOGLE:
        return (
            " (Google: https://healthcare.googleapis.com/v1/projects/PROJECT/locations/LOCATION"
            "/datasets/DATASET/dicomStores/STORE/dicomWeb)"
        )
    return ""


def _forbidden_advice(refusal: Refusal) -> str:
    """What grants the permission, at the provider the token comes from."""
    if refusal.provider is Provider.GOOGLE:
        account = f" {refusal.identity}" if refusal.identity else ""
        return (
            f"Grant the service account{account} a Cloud Healthcare role on the DICOM store or "
            "its dataset: roles/healthcare.dicomEditor (roles/healthcare.dicomViewer to read "
            "only). With the metadata server of a Compute Engine VM, the VM's access scopes "
            "must also include cloud-platform."
        )
    if refusal.provider is Provider.AZURE:
        return (
            "Grant the client a role on the DICOM service (Azure: 'DICOM Data Reader' or "
            "'DICOM Data Owner') and check the roles/scp claims."
        )
    return (
        "Give the client the permission to read studies at the DICOMweb server (its role, "
        "group or scope there), and compare the token's claims (scope, roles), when check "
        "shows them, with what the server requires."
    )
