"""The DICOMweb plugin, called through Orthanc's REST API from inside Orthanc: its server
definitions, a QIDO-RS request and a STOW-RS job through one of its servers. The
``AfterPlugins`` calls reach routes served by other plugins."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orthanc

from ..dicomweb.failed_job import UNAUTHORIZED
from ..errors import DicomWebApiError, QidoError


class OrthancDicomWebServers:
    """``/dicom-web/servers``, as the workers write and check it."""

    def put(self, name: str, definition: Mapping[str, Any]) -> None:
        try:
            orthanc.RestApiPutAfterPlugins(server_uri(name), json.dumps(definition))
        except orthanc.OrthancException as error:
            raise DicomWebApiError(orthanc_error_text(error)) from None

    def list_expanded(self) -> Mapping[str, Any]:
        try:
            listed = json.loads(orthanc.RestApiGetAfterPlugins("/dicom-web/servers?expand"))
        except orthanc.OrthancException as error:
            raise DicomWebApiError(orthanc_error_text(error)) from None
        return listed if isinstance(listed, dict) else {}


def qido_study_count(name: str) -> int:
    """QIDO-RS ``/studies?limit=1`` through the server: the number of studies found."""
    try:
        answer = _qido_one_study(name)
    except orthanc.OrthancException as error:
        message = f"QIDO-RS through the DICOMweb plugin failed: {orthanc_error_text(error)}"
        raise QidoError(message) from None
    studies = json.loads(answer)
    return len(studies) if isinstance(studies, list) else 0


def qido_refused(name: str) -> bool:
    """Whether the server refuses a QIDO-RS through it as unauthorized (HTTP 401) now."""
    try:
        _qido_one_study(name)
    except orthanc.OrthancException as error:
        return bool(error.args) and error.args[0] == UNAUTHORIZED
    return False


def send_stow_job(name: str, instances: Sequence[str]) -> str:
    """A new asynchronous STOW-RS job sending these instances to the server: its id."""
    body = json.dumps({"Resources": list(instances), "Synchronous": False})
    try:
        answer = json.loads(orthanc.RestApiPostAfterPlugins(f"{server_uri(name)}/stow", body))
    except orthanc.OrthancException as error:
        raise DicomWebApiError(orthanc_error_text(error)) from None
    job_id = answer.get("ID") if isinstance(answer, dict) else None
    if not isinstance(job_id, str):
        raise DicomWebApiError("the DICOMweb plugin answered a STOW-RS request without a job")
    return job_id


def _qido_one_study(name: str) -> Any:
    body = json.dumps({"Uri": "/studies", "Arguments": {"limit": "1"}})
    return orthanc.RestApiPostAfterPlugins(f"{server_uri(name)}/qido", body)


def server_uri(name: str) -> str:
    return f"/dicom-web/servers/{quote(name, safe='')}"


def orthanc_error_text(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
