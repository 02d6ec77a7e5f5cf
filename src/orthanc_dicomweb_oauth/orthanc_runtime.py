"""The plugin's work inside Orthanc once it has started: reads the configuration, starts
and stops the workers, serves the REST routes, publishes metrics, and sends the package's
log lines to Orthanc's log. Imported by ``orthanc_plugin`` on ORTHANC_STARTED, never on
Orthanc's start path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orthanc

from .configuration import load_configuration
from .errors import DicomWebApiError, QidoError
from .orthanc_plugin import answer_starting, send_json_status
from .rest_api import handle
from .service import OAuthService

LOGGER_NAME = "orthanc_dicomweb_oauth"

_service: OAuthService | None = None


class OrthancLogHandler(logging.Handler):
    """The package's log records, one line each, in Orthanc's log. Orthanc shows only its
    warnings and errors unless started with --verbose: the package's INFO lines (a token
    acquired, a recovery, a definition restored: state changes an administrator needs to
    see) become Orthanc warnings, its DEBUG lines (routine refreshes) Orthanc info."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = f"DicomWebOAuth: {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                message += f" ({type(error).__name__}: {error})"
        except Exception:  # a bad record must not break the caller
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            orthanc.LogError(message)
        elif record.levelno >= logging.INFO:
            orthanc.LogWarning(message)
        else:
            orthanc.LogInfo(message)


class OrthancDicomWebServers:
    """The DICOMweb plugin's server definitions, through Orthanc's REST API. The
    ``AfterPlugins`` calls reach routes served by other plugins."""

    def put(self, name: str, definition: Mapping[str, Any]) -> None:
        try:
            orthanc.RestApiPutAfterPlugins(_server_uri(name), json.dumps(definition))
        except orthanc.OrthancException as error:
            raise DicomWebApiError(_orthanc_error(error)) from None

    def list_expanded(self) -> Mapping[str, Any]:
        try:
            listed = json.loads(orthanc.RestApiGetAfterPlugins("/dicom-web/servers?expand"))
        except orthanc.OrthancException as error:
            raise DicomWebApiError(_orthanc_error(error)) from None
        return listed if isinstance(listed, dict) else {}


def start() -> None:
    """Loads the configuration and starts the servers' workers. Runs in a thread of its
    own: Orthanc has started and keeps serving meanwhile."""
    global _service  # noqa: PLW0603 - Orthanc's callbacks are module-level
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(OrthancLogHandler())
    try:
        configuration = load_configuration(json.loads(orthanc.GetConfiguration()))
        service = OAuthService(
            configuration,
            OrthancDicomWebServers(),
            publish_metrics=_publish_metrics,
            logger=logger,
        )
        service.start()
    except Exception:
        # Orthanc keeps running; the REST API keeps answering 503.
        logger.exception("cannot start: no server is managed")
        return
    _service = service


def stop() -> None:
    if _service is not None:
        _service.stop()


def _publish_metrics(values: Mapping[str, float]) -> None:
    for name, value in values.items():
        orthanc.SetMetricsValue(name, value, orthanc.MetricsType.DEFAULT)


def _qido(name: str) -> int:
    body = json.dumps({"Uri": "/studies", "Arguments": {"limit": "1"}})
    try:
        answer = orthanc.RestApiPostAfterPlugins(f"{_server_uri(name)}/qido", body)
    except orthanc.OrthancException as error:
        message = f"QIDO-RS through the DICOMweb plugin failed: {_orthanc_error(error)}"
        raise QidoError(message) from None
    studies = json.loads(answer)
    return len(studies) if isinstance(studies, list) else 0


def answer_rest(output: Any, uri: str, **request: Any) -> None:
    """Orthanc's REST callback for the plugin's routes."""
    service = _service
    if service is None:
        answer_starting(output)
        return
    groups = list(request.get("groups") or ())
    name = groups[0] if groups else None
    action = groups[1] if len(groups) > 1 else None
    answer = handle(service, request["method"], name, action, _qido)
    if answer.allowed is not None:
        output.SendMethodNotAllowed(answer.allowed)
    elif answer.status == 200:
        output.AnswerBuffer(json.dumps(answer.body, indent=2), "application/json")
    else:
        _send_error(output, answer.status, answer.body or {})


def _send_error(output: Any, status: int, body: Mapping[str, Any]) -> None:
    send_json_status(output, status, json.dumps(body, indent=2, ensure_ascii=True))


def _server_uri(name: str) -> str:
    return f"/dicom-web/servers/{quote(name, safe='')}"


def _orthanc_error(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
