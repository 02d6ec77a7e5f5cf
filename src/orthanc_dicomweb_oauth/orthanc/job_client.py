"""Orthanc's jobs, through its REST API from inside Orthanc, as the healer of refused
tokens uses them: a failed job read or resubmitted, its instances sent in a new STOW-RS
job, and whether a server refuses its token now."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orthanc

from ..errors import DicomWebApiError
from .dicomweb_client import orthanc_error_text, qido_refused, send_stow_job


class OrthancJobsApi:
    def job(self, job_id: str) -> Mapping[str, Any]:
        try:
            answer = json.loads(orthanc.RestApiGet(_job_uri(job_id)))
        except orthanc.OrthancException as error:
            raise DicomWebApiError(orthanc_error_text(error)) from None
        return answer if isinstance(answer, dict) else {}

    def resubmit(self, job_id: str) -> None:
        try:
            orthanc.RestApiPost(f"{_job_uri(job_id)}/resubmit", "")
        except orthanc.OrthancException as error:
            raise DicomWebApiError(orthanc_error_text(error)) from None

    def send_stow(self, server: str, instances: Sequence[str]) -> str:
        return send_stow_job(server, instances)

    def refuses_token(self, server: str) -> bool:
        return qido_refused(server)


def _job_uri(job_id: str) -> str:
    return f"/jobs/{quote(job_id, safe='')}"
