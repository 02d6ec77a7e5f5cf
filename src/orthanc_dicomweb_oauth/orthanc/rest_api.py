"""The plugin's REST API, independent of Orthanc: what ``/dicomweb-oauth/servers...``
answers, through the service's named methods. Answers never hold a secret or a token."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config.name_hints import unknown_servers_message
from ..dicomweb.service import OAuthService
from ..errors import (
    InvalidServerError,
    QidoError,
    RefreshRefusedError,
    TokenRequestError,
    TokenUnavailableError,
    UnknownServerError,
)

# A server's routes: the action after its name (None for the server itself) -> the one
# method it answers.
METHOD_OF_ACTION = {None: "GET", "refresh": "POST", "test": "POST"}

# Sends QIDO-RS /studies?limit=1 to the named server through the DICOMweb plugin and
# returns the number of studies found.
Qido = Callable[[str], int]


@dataclass(frozen=True)
class RestAnswer:
    status: int
    body: dict[str, Any] | None = None
    allowed: str | None = None  # for 405
    retry_after: int | None = None  # seconds, for a refusal to come back later


def handle(
    service: OAuthService, method: str, name: str | None, action: str | None, qido: Qido
) -> RestAnswer:
    if name is None:
        if method != "GET":
            return RestAnswer(405, allowed="GET")
        return RestAnswer(200, {"Servers": service.statuses(), "Errors": service.general_errors()})
    expected = METHOD_OF_ACTION.get(action)
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
        return RestAnswer(404, {"Error": unknown_servers_message([name], service.server_names())})
    except InvalidServerError as invalid:
        return RestAnswer(
            409,
            {"Error": "invalid configuration", "Errors": [str(p) for p in invalid.problems]},
        )


def handle_ready(service: OAuthService, method: str) -> RestAnswer:
    """``/dicomweb-oauth/ready``, for readiness probes and load balancers' health checks:
    200 when every server can be reached authorized, 503 with the reasons otherwise."""
    if method != "GET":
        return RestAnswer(405, allowed="GET")
    reasons = service.unready()
    if reasons:
        return RestAnswer(503, {"Ready": False, "Reasons": reasons})
    return RestAnswer(200, {"Ready": True, "Servers": sorted(service.statuses())})


def _refresh(service: OAuthService, name: str) -> RestAnswer:
    try:
        service.refresh(name)
    except RefreshRefusedError as refused:
        # 503 with Retry-After (RFC 9110 §10.2.3): the 429 that fits better is not among
        # the statuses Orthanc's plugin SDK can send (its list stops at 426).
        return RestAnswer(
            503,
            {"Error": str(refused), **service.server_status(name)},
            retry_after=max(1, math.ceil(refused.retry_after)),
        )
    except (TokenRequestError, TokenUnavailableError) as error:
        return RestAnswer(502, {"Error": str(error), **service.server_status(name)})
    return RestAnswer(200, service.server_status(name))


def _test(service: OAuthService, name: str, qido: Qido) -> RestAnswer:
    try:
        summary = service.token_summary(name)
    except TokenUnavailableError as error:
        return RestAnswer(502, {"Token": {"Success": False, "Error": str(error)}})
    token_report = {
        "Success": True,
        "ExpiresIn": summary.expires_in,
        "LifetimeSource": summary.lifetime_source,
    }
    try:
        studies = qido(name)
    except QidoError as error:
        return RestAnswer(
            502, {"Token": token_report, "Qido": {"Success": False, "Error": str(error)}}
        )
    return RestAnswer(200, {"Token": token_report, "Qido": {"Success": True, "Studies": studies}})
