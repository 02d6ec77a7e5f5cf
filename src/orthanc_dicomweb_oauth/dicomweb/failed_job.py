"""A failed job of the DICOMweb plugin, as ``GET /jobs/ID`` describes it, read for what
healing a refused token needs: its kind, Orthanc's error code, and, where the plugin's
version gives them, the server and the instances it was sending."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

# Orthanc's error codes (OrthancPluginErrorCode), as the DICOMweb plugin's jobs report them.
NETWORK_PROTOCOL = 9
UNAUTHORIZED = 29


class JobKind(StrEnum):
    """The DICOMweb plugin's client jobs, by their ``Type``."""

    STOW = "DicomWebStowClient"
    RETRIEVE = "DicomWebWadoRetrieveClient"


@dataclass(frozen=True)
class FailedJob:
    id: str
    kind: JobKind
    error_code: int | None
    # Given from DICOMweb 1.18 on (STOW-RS only): older plugins and retrieve jobs say
    # neither.
    server: str | None
    instances: tuple[str, ...] | None

    @classmethod
    def from_job(cls, job_id: str, job: Mapping[str, Any]) -> FailedJob | None:
        """The job, if it is a failed client job of the DICOMweb plugin."""
        if job.get("State") != "Failure":
            return None
        try:
            kind = JobKind(str(job.get("Type")))
        except ValueError:
            return None
        content = job.get("Content")
        content = content if isinstance(content, Mapping) else {}
        server = content.get("Server")
        return cls(
            id=job_id,
            kind=kind,
            error_code=_error_code(job, content),
            server=server if isinstance(server, str) and server else None,
            instances=_instances(content),
        )

    @property
    def refused(self) -> bool:
        """Whether the error may be the remote server's HTTP 401. A STOW-RS job says so
        (Orthanc's "Unauthorized"); a retrieve job of DICOMweb 1.7 to 1.24 parses the 401's
        HTML page and fails with "Error in the network protocol", which needs confirming."""
        if self.kind is JobKind.STOW:
            return self.error_code == UNAUTHORIZED
        return self.error_code in (UNAUTHORIZED, NETWORK_PROTOCOL)


def _error_code(job: Mapping[str, Any], content: Mapping[str, Any]) -> int | None:
    # A plugin's job reports "Plugin" as its ErrorCode; the DICOMweb plugin puts the
    # error of its own code in the content.
    for code in (content.get("FunctionErrorCode"), job.get("ErrorCode")):
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def _instances(content: Mapping[str, Any]) -> tuple[str, ...] | None:
    resources = content.get("Resources")
    if not isinstance(resources, Mapping):
        return None
    instances = resources.get("Instances")
    if not isinstance(instances, list) or not instances:
        return None
    if not all(isinstance(instance, str) for instance in instances):
        return None
    return tuple(instances)
