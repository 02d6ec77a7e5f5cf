"""Sends one QIDO request with a token and explains the answer: the `check --probe`
question "does the DICOMweb server accept this token?"."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx2

from ..redaction import sanitize_external_text
from ..sources.access_token import AccessToken

PROBE_TIMEOUT = 30.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    http_status: int | None
    detail: str


def probe_dicomweb(url: str, token: AccessToken, ca_certificates: str | None) -> ProbeResult:
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
        with httpx2.Client(verify=verify, timeout=PROBE_TIMEOUT, trust_env=False) as client:
            response = client.get(
                target,
                headers={
                    "Authorization": token.authorization_header(),
                    "Accept": "application/dicom+json",
                },
            )
    # Not only httpx2's errors: h11 refuses a header it cannot send with a ValueError, and
    # its message, like any other, has the token redacted in whatever escaping it shows.
    except (httpx2.HTTPError, ssl.SSLError, OSError, ValueError) as error:
        reason = sanitize_external_text(str(error) or type(error).__name__, [token.value])
        return ProbeResult(False, None, f"GET {target} failed: {reason}")
    return _explain(target, response, token)


def _explain(target: str, response: httpx2.Response, token: AccessToken) -> ProbeResult:
    status = response.status_code
    challenge = sanitize_external_text(response.headers.get("www-authenticate", ""), [token.value])
    said = f" (WWW-Authenticate: {challenge})" if challenge else ""
    if 200 <= status < 300:
        return ProbeResult(True, status, f"GET {target}: HTTP {status}, the token is accepted")
    if status == 401:
        return ProbeResult(
            False,
            status,
            f"GET {target}: HTTP 401, the server refused the token{said}. Check that the "
            "token's audience (aud) and issuer (iss) are those the server expects, and the "
            "Scope or TokenRequestParameters that select them.",
        )
    if status == 403:
        return ProbeResult(
            False,
            status,
            f"GET {target}: HTTP 403, the token is valid but not allowed to read studies"
            f"{said}. Grant the client a role on the DICOM service (Azure: 'DICOM Data "
            "Reader' or 'DICOM Data Owner') and check the roles/scp claims.",
        )
    if status == 404:
        return ProbeResult(
            False,
            status,
            f"GET {target}: HTTP 404, no DICOMweb service at this Url (Azure: the Url must "
            "end with /v1 or /v2).",
        )
    return ProbeResult(False, status, f"GET {target}: HTTP {status}")
