"""A token the protected server refuses while the plugin holds it as valid: the provider
signs with a new key, and the validator, restarted, knows only that one. The hour-long
token Orthanc A holds is refused; the job that fails for it heals it. On each Orthanc
generation: a retrieve job is resubmitted; a STOW-RS job's instances are sent again where
the DICOMweb plugin lists them (1.18 and later), and nowhere does a STOW-RS job claim
success for a study the server does not hold."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest

from local_rig.dicom_samples import study_instance
from local_rig.services import Orthanc, ProtectedServer, Provider, Validator

from ..helpers import wait_for
from ..reliability_report import ReliabilityReport
from .rig import (
    SERVER,
    StartOrthanc,
    b_study_uids,
    client_for,
    oauth_server,
    qido_studies,
    server_status,
    upload,
    wait_authorized,
    wait_job,
)

pytestmark = pytest.mark.orthanc_generations

# How long the tests wait for an event. The time the study took is a figure of the
# reliability report, measured, not asserted.
WAIT = 60.0


def _section(report: ReliabilityReport) -> Any:
    return report.section(
        "A refused token healed",
        "The provider signs with a new key and the protected server's validator is "
        "restarted: the hour-long token Orthanc A holds is refused (HTTP 401) long before it "
        "expires. Then one job is submitted. *Arrived*: from the job's submission to the "
        "study in the server it was sent to (goal 60 s).",
        ("Orthanc (DICOMweb plugin)", "Job", "What the plugin did", "Arrived"),
    )


def _refused_orthanc(
    start_orthanc_a: StartOrthanc,
    provider: Provider,
    validator: Validator,
    protected: ProtectedServer,
    **section: Any,
) -> tuple[Orthanc, httpx2.Client]:
    """Orthanc A, authorized with an hour-long token that the server now refuses."""
    orthanc = start_orthanc_a(
        servers={SERVER: oauth_server(provider, protected, ClientId="orthanc-1h")},
        DicomWebOAuth=section,
    )
    client = client_for(orthanc)
    wait_authorized(client)
    provider.rotate_signing_key()
    validator.stop()
    validator.start()
    refused = qido_studies(client)
    assert refused.status_code != 200, refused.text
    assert server_status(client)["State"] == "Valid"
    return orthanc, client


def _dicomweb_version(client: httpx2.Client) -> tuple[int, ...]:
    version: str = client.get("/plugins/dicom-web").json()["Version"]
    return tuple(int(part) for part in version.split(".")[:2])


def _versions(client: httpx2.Client) -> str:
    orthanc = client.get("/system").json()["Version"]
    dicomweb = client.get("/plugins/dicom-web").json()["Version"]
    return f"{orthanc} ({dicomweb})"


def _refused_stow_job(client: httpx2.Client, study: str) -> str:
    """An asynchronous STOW-RS job of the study, once it has failed: its id."""
    job = client.post(
        f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [study], "Asynchronous": True}
    )
    assert job.status_code == 200, job.text
    job_id: str = job.json()["ID"]
    assert wait_job(client, job_id)["State"] == "Failure"
    return job_id


def _successful_stow_jobs(client: httpx2.Client) -> int:
    jobs = client.get("/jobs?expand").json()
    return sum(job["Type"] == "DicomWebStowClient" and job["State"] == "Success" for job in jobs)


def test_a_refused_retrieve_job_is_resubmitted(
    start_orthanc_a: StartOrthanc,
    provider: Provider,
    validator: Validator,
    protected: ProtectedServer,
    reliability_report: ReliabilityReport,
) -> None:
    dicom, study_uid = study_instance("HEALED^RETRIEVE")
    httpx2.post(
        f"{protected.orthanc.url}/instances", content=dicom, auth=protected.direct_auth
    ).raise_for_status()
    orthanc, client = _refused_orthanc(start_orthanc_a, provider, validator, protected)

    submitted = time.monotonic()
    job = client.post(
        f"/dicom-web/servers/{SERVER}/retrieve",
        json={"Resources": [{"Study": study_uid}], "Asynchronous": True},
    )
    assert job.status_code == 200, job.text
    job_id = job.json()["ID"]

    def retrieved() -> bool:
        studies = client.get("/studies?expand").json()
        return any(study["MainDicomTags"]["StudyInstanceUID"] == study_uid for study in studies)

    wait_for("the retrieved study", retrieved, timeout=WAIT)
    arrived = time.monotonic() - submitted
    assert wait_job(client, job_id)["State"] == "Success"
    log = orthanc.log()
    assert f"job {job_id} was refused as unauthorized while the token was still valid" in log
    assert "token refreshed, job resubmitted" in log
    assert server_status(client)["State"] == "Valid"
    assert qido_studies(client).status_code == 200
    _section(reliability_report).rows.append(
        (_versions(client), "retrieve", "token refreshed, job resubmitted", f"{arrived:.1f} s")
    )


def test_a_refused_stow_job_is_sent_again_never_resubmitted(
    start_orthanc_a: StartOrthanc,
    provider: Provider,
    validator: Validator,
    protected: ProtectedServer,
    reliability_report: ReliabilityReport,
) -> None:
    orthanc, client = _refused_orthanc(start_orthanc_a, provider, validator, protected)
    dicom, study_uid = study_instance("HEALED^STOW")
    study = upload(client, dicom)
    lists_instances = _dicomweb_version(client) >= (1, 18)

    submitted = time.monotonic()
    job_id = _refused_stow_job(client, study)
    refused = f"job {job_id} was refused as unauthorized while the token was still valid"
    wait_for("the healer's log line", lambda: refused in orthanc.log(), timeout=WAIT)

    if lists_instances:
        wait_for("the study sent again", lambda: study_uid in b_study_uids(protected), WAIT)
        arrived = time.monotonic() - submitted
        line = next(line for line in orthanc.log().splitlines() if refused in line)
        assert "token refreshed, its 1 instance(s) sent again as job" in line
        sent_again = line.rsplit(" ", 1)[-1]
        assert wait_job(client, sent_again)["State"] == "Success"
        done, figure = "token refreshed, a new STOW-RS job of its instances", f"{arrived:.1f} s"
    else:
        assert "the job must be sent again by hand" in orthanc.log()
        assert study_uid not in b_study_uids(protected)
        assert _successful_stow_jobs(client) == 0
        # The token is healed: the same study sent again by hand arrives.
        again = client.post(f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [study]})
        assert again.status_code == 200, again.text
        assert study_uid in b_study_uids(protected)
        done, figure = "token refreshed; the job is left failed, said in the log", "by hand"
    # No STOW-RS job claims success for a study the server did not receive: the healer
    # resubmitted none (a resubmitted STOW-RS job succeeds and sends nothing).
    assert wait_job(client, job_id)["State"] == "Failure"
    assert server_status(client)["State"] == "Valid"
    _section(reliability_report).rows.append((_versions(client), "STOW-RS", done, figure))


def test_a_resubmitted_stow_job_sends_nothing_and_claims_success(
    start_orthanc_a: StartOrthanc,
    provider: Provider,
    validator: Validator,
    protected: ProtectedServer,
    reliability_report: ReliabilityReport,
) -> None:
    """Why the healer never resubmits a STOW-RS job, measured on each generation: with
    ``ResubmitRefusedJobs: false``, the token is healed and the job left failed; resubmitted
    by hand, it ends in success and the server has nothing."""
    orthanc, client = _refused_orthanc(
        start_orthanc_a, provider, validator, protected, ResubmitRefusedJobs=False
    )
    dicom, study_uid = study_instance("RESUBMITTED^STOW")
    job_id = _refused_stow_job(client, upload(client, dicom))
    wait_for(
        "the token healed, the job left failed",
        lambda: (
            f"job {job_id} was refused" in orthanc.log()
            and "not sent again (ResubmitRefusedJobs is false)" in orthanc.log()
        ),
        timeout=WAIT,
    )
    assert qido_studies(client).status_code == 200  # the token is accepted again

    client.post(f"/jobs/{job_id}/resubmit", content=b"").raise_for_status()
    resubmitted = wait_job(client, job_id, timeout=WAIT)  # Pending at once, then ends
    assert resubmitted["State"] == "Success", resubmitted
    assert study_uid not in b_study_uids(protected)
    _section(reliability_report).rows.append(
        (
            _versions(client),
            "STOW-RS, `ResubmitRefusedJobs: false`, then resubmitted by hand",
            "token refreshed; the job left failed. Resubmitted, it ends in Success",
            "never (nothing sent)",
        )
    )
