"""The DICOMweb plugin, called through Orthanc's REST API from inside Orthanc: its server
definitions, and a QIDO-RS request through one of its servers. The ``AfterPlugins`` calls
reach routes served by other plugins."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orthanc

from ..errors import DicomWebApiError, QidoError


class OrthancDicomWebServers:
    """``/dicom-web/servers``, as the workers write and check it."""

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


def qido_study_count(name: str) -> int:
    """QIDO-RS ``/studies?limit=1`` through the server: the number of studies found."""
    body = json.dumps({"Uri": "/studies", "Arguments": {"limit": "1"}})
    try:
        answer = orthanc.RestApiPostAfterPlugins(f"{_server_uri(name)}/qido", body)
    except orthanc.OrthancException as error:
        message = f"QIDO-RS through the DICOMweb plugin failed: {_orthanc_error(error)}"
        raise QidoError(message) from None
    studies = json.loads(answer)
    return len(studies) if isinstance(studies, list) else 0


def _server_uri(name: str) -> str:
    return f"/dicom-web/servers/{quote(name, safe='')}"


def _orthanc_error(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
