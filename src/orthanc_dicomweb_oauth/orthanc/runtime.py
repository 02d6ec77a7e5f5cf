"""The plugin's work inside Orthanc once it has started: reads the configuration, starts
and stops the service, answers the REST routes, hands it the failed jobs, publishes
metrics, and sends the package's log lines to Orthanc's log. Imported by ``plugin`` on
ORTHANC_STARTED, never on Orthanc's start path.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import orthanc

from ..config.loader import load_configuration
from ..dicomweb.service import OAuthService
from ..logs import LOGGER
from .dicomweb_client import OrthancDicomWebServers, qido_study_count
from .job_client import OrthancJobsApi
from .log_handler import OrthancLogHandler
from .rest_api import RestAnswer, handle, handle_ready
from .routes import READY_ROUTE, answer_starting, send_json_status

_service: OAuthService | None = None


def start() -> None:
    """Loads the configuration and starts the servers' workers. Runs in a thread of its
    own: Orthanc has started and keeps serving meanwhile."""
    global _service  # noqa: PLW0603 - Orthanc's callbacks are module-level
    LOGGER.setLevel(logging.DEBUG)
    LOGGER.propagate = False
    LOGGER.addHandler(OrthancLogHandler())
    try:
        configuration = load_configuration(json.loads(orthanc.GetConfiguration()))
        service = OAuthService(
            configuration,
            OrthancDicomWebServers(),
            OrthancJobsApi(),
            publish_metrics=_publish_metrics,
        )
        service.start()
    except Exception:
        # Orthanc keeps running; the REST API keeps answering 503.
        LOGGER.exception("cannot start: no server is managed")
        return
    _service = service


def stop() -> None:
    if _service is not None:
        _service.stop()


def job_failed(job_id: str) -> None:
    """Orthanc's JOB_FAILURE change."""
    if _service is not None:
        _service.job_failed(job_id)


def answer_rest(output: Any, uri: str, **request: Any) -> None:
    """Orthanc's REST callback for the plugin's routes."""
    service = _service
    if service is None:
        answer_starting(output)
        return
    if uri == READY_ROUTE:
        answer = handle_ready(service, request["method"])
    else:
        groups = list(request.get("groups") or ())
        name = groups[0] if groups else None
        action = groups[1] if len(groups) > 1 else None
        answer = handle(service, request["method"], name, action, qido_study_count)
    send_answer(output, answer)


def send_answer(output: Any, answer: RestAnswer) -> None:
    """The answer through Orthanc: a JSON body, or the methods allowed for a 405."""
    if answer.allowed is not None:
        output.SendMethodNotAllowed(answer.allowed)
    elif answer.status == 200:
        output.AnswerBuffer(json.dumps(answer.body, indent=2), "application/json")
    else:
        headers = {} if answer.retry_after is None else {"Retry-After": str(answer.retry_after)}
        text = json.dumps(answer.body or {}, indent=2, ensure_ascii=True)
        send_json_status(output, answer.status, text, headers)


def _publish_metrics(values: Mapping[str, float]) -> None:
    for name, value in values.items():
        orthanc.SetMetricsValue(name, value, orthanc.MetricsType.DEFAULT)
