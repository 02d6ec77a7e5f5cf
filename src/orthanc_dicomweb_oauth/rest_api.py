"""The plugin's REST API, independent of Orthanc: ``/dicomweb-oauth/servers...``.
Answers never hold a secret or a token."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import QidoError, TokenRequestError, TokenUnavailableError
from .service import InvalidServerError, OAuthService, UnknownServerError

ROUTE_PREFIX = "/dicomweb-oauth/servers"
# (method, action): None for the server itself, "refresh" or "test".
ALLOWED = {None: "GET", "refresh": "POST", "test": "POST"}


# Sends QIDO-RS /studies?limit=1 to the named server through the DICOMweb plugin and
# returns the number of studies found.
Qido = Callable[[str], int]


@dataclass(frozen=True)
class RestAnswer:
    status: int
    body: dict[str, Any] | None = None
    allowed: str | None = None  # for 405


def handle(
    service: OAuthService, method: str, name: str | None, action: str | None, qido: Qido
) -> RestAnswer:
    if name is None:
        if method != "GET":
            return RestAnswer(405, allowed="GET")
        return RestAnswer(200, {"Servers": service.status(), "Errors": service.general_errors()})
    expected = ALLOWED.get(action)
    if expected is None:
        return RestAnswer(404, {"Error": f"no such route: {action}"})
    if method != expected:
        return RestAnswer(405, allowed=expected)
    try:
        if action is None:
            return RestAnswer(200, service.server_status(name))
        if action == "refresh":
            return _refresh(service, name)
        return _test(service, name, qido)
    except UnknownServerError:
        return RestAnswer(404, {"Error": f"no server named {name} in DicomWebOAuth.Servers"})
    except InvalidServerError as invalid:
        return RestAnswer(
            409, {"Error": "invalid configuration", "Errors": [str(e) for e in invalid.errors]}
        )


def _refresh(service: OAuthService, name: str) -> RestAnswer:
    worker = service.worker(name)
    try:
        worker.refresh()
    except (TokenRequestError, TokenUnavailableError) as error:
        return RestAnswer(502, {"Error": str(error), **service.server_status(name)})
    return RestAnswer(200, service.server_status(name))


def _test(service: OAuthService, name: str, qido: Qido) -> RestAnswer:
    worker = service.worker(name)
    try:
        token = worker.keeper.token()
    except TokenUnavailableError as error:
        return RestAnswer(502, {"Token": {"Success": False, "Error": str(error)}})
    token_report = {
        "Success": True,
        "ExpiresIn": service.server_status(name)["ExpiresIn"],
        "LifetimeSource": token.lifetime_source,
    }
    try:
        studies = qido(name)
    except QidoError as error:
        return RestAnswer(
            502, {"Token": token_report, "Qido": {"Success": False, "Error": str(error)}}
        )
    return RestAnswer(200, {"Token": token_report, "Qido": {"Success": True, "Studies": studies}})
