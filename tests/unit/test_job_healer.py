"""The healer of refused tokens, with Orthanc's jobs as the DICOMweb plugin 1.7 and 1.20
report them (``GET /jobs/ID`` of a real Orthanc, trimmed) and a fake clock."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from orthanc_dicomweb_oauth.dicomweb.failed_job import FailedJob, JobKind
from orthanc_dicomweb_oauth.dicomweb.job_healer import REFRESH_INTERVAL, RefusedJobHealer
from orthanc_dicomweb_oauth.errors import (
    DicomWebOAuthError,
    RefreshRefusedError,
    TokenRequestError,
    TokenUnavailableError,
)
from orthanc_dicomweb_oauth.sources.access_token import AccessToken

from ..helpers import Clock, FakeJobs, wait_for

INSTANCE = "cf3d2dba-fb44b74f-f61730a6-4ca9d81e-2213d85a"


def stow_job(*, lists: bool = True, server: str = "pacs", code: int = 29) -> dict[str, Any]:
    """A failed STOW-RS job: DICOMweb 1.20 lists its server and instances, 1.7 neither."""
    content: dict[str, Any] = {
        "FunctionErrorCode": code,
        "FunctionErrorDescription": "Bad credentials were provided to an HTTP request",
        "InstancesCount": "1",
        "NetworkSizeMB": "0",
    }
    if lists:
        content["Resources"] = {"Instances": [INSTANCE], "Studies": ["af1c537e-894f69da"]}
        content["Server"] = server
    return {
        "Content": content,
        "ErrorCode": 1,
        "ErrorDescription": "Error encountered within the plugin engine",
        "State": "Failure",
        "Type": "DicomWebStowClient",
    }


def retrieve_job(code: int = 9) -> dict[str, Any]:
    return {
        "Content": {"FunctionErrorCode": code, "FunctionErrorDescription": "..."},
        "ErrorCode": 1,
        "State": "Failure",
        "Type": "DicomWebWadoRetrieveClient",
    }


class Server:
    """A managed server's worker as the healer sees it."""

    def __init__(self, valid: bool = True, refresh_error: DicomWebOAuthError | None = None):
        self.valid = valid
        self.refresh_error = refresh_error
        self.refreshes = 0

    def token(self) -> AccessToken:
        if not self.valid:
            raise TokenUnavailableError("no valid token")
        return AccessToken("token", 3600, "expires_in")

    def refresh(self) -> AccessToken:
        self.refreshes += 1
        if self.refresh_error is not None:
            raise self.refresh_error
        return self.token()


class Rig:
    def __init__(self, servers: dict[str, Server], *, resend: bool = True) -> None:
        self.servers = servers
        self.jobs = FakeJobs()
        self.clock = Clock()
        self.healer = RefusedJobHealer(servers, self.jobs, resend=resend, clock=self.clock)

    def fail(self, job_id: str, job: dict[str, Any]) -> None:
        self.jobs.jobs[job_id] = job
        self.healer.heal(job_id)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="orthanc_dicomweb_oauth")
    return caplog


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_a_refused_stow_job_is_sent_again_as_a_new_job(logs: pytest.LogCaptureFixture) -> None:
    rig = Rig({"pacs": Server(), "other": Server()})
    rig.fail("stow-1", stow_job())
    assert rig.servers["pacs"].refreshes == 1
    assert rig.servers["other"].refreshes == 0
    assert rig.jobs.sent == [("pacs", (INSTANCE,))]
    assert rig.jobs.resubmitted == []
    assert messages(logs) == [
        "pacs: job stow-1 was refused as unauthorized while the token was still valid; token "
        "refreshed, its 1 instance(s) sent again as job sent-1"
    ]
    # The job it sent fails too: not healed again.
    rig.clock.advance(REFRESH_INTERVAL + 1)
    rig.fail("sent-1", stow_job())
    assert rig.jobs.sent == [("pacs", (INSTANCE,))]
    assert rig.servers["pacs"].refreshes == 1


def test_a_stow_job_that_lists_nothing_is_never_resubmitted(
    logs: pytest.LogCaptureFixture,
) -> None:
    """DICOMweb 1.7: a resubmitted STOW-RS job would succeed and send nothing."""
    rig = Rig({"pacs": Server()})
    rig.jobs.refusing.add("pacs")
    rig.fail("stow-1", stow_job(lists=False))
    assert rig.servers["pacs"].refreshes == 1
    assert rig.jobs.sent == []
    assert rig.jobs.resubmitted == []
    assert "token refreshed, the job must be sent again by hand" in messages(logs)[0]


def test_a_stow_job_that_names_no_server_is_another_s_unless_ours_refuses() -> None:
    """DICOMweb 1.7 does not say where a STOW-RS job went: with one managed server, only
    that server refusing a QIDO-RS now ties the job to it."""
    rig = Rig({"pacs": Server()})
    rig.fail("stow-1", stow_job(lists=False))
    assert rig.servers["pacs"].refreshes == 0
    rig.jobs.refusing.add("pacs")
    rig.fail("stow-2", stow_job(lists=False))
    assert rig.servers["pacs"].refreshes == 1


def test_a_job_is_healed_once_whatever_fails_again(logs: pytest.LogCaptureFixture) -> None:
    """The original job and the one sent in its place are both remembered: a second
    failure of the original (resubmitted by hand, say) sends nothing again."""
    rig = Rig({"pacs": Server()})
    rig.fail("stow-1", stow_job())
    rig.clock.advance(REFRESH_INTERVAL + 1)
    rig.fail("stow-1", stow_job())
    rig.fail("sent-1", stow_job())
    assert rig.jobs.sent == [("pacs", (INSTANCE,))]
    assert rig.servers["pacs"].refreshes == 1


def test_a_refresh_that_failed_is_not_counted_as_one() -> None:
    """Jobs failing after a failed refresh are not sent again with the refused token."""
    error = TokenRequestError("temporarily_unavailable (HTTP 503)", transient=True)
    server = Server(refresh_error=error)
    rig = Rig({"pacs": server})
    rig.fail("stow-1", stow_job())
    assert rig.jobs.sent == []
    server.refresh_error = None
    rig.clock.advance(5)
    rig.fail("stow-2", stow_job())
    assert server.refreshes == 2
    assert rig.jobs.sent == [("pacs", (INSTANCE,))]


def test_a_refresh_asked_moments_ago_still_sends_the_job_again(
    logs: pytest.LogCaptureFixture,
) -> None:
    refused = RefreshRefusedError("asked 1 s ago", retry_after=4, recent=True)
    rig = Rig({"pacs": Server(refresh_error=refused)})
    rig.fail("stow-1", stow_job())
    assert rig.jobs.sent == [("pacs", (INSTANCE,))]
    assert (
        "a new token was asked for moments ago, its 1 instance(s) sent again" in (messages(logs)[0])
    )


def test_a_stow_job_without_its_server_among_several_is_left_to_the_administrator(
    logs: pytest.LogCaptureFixture,
) -> None:
    rig = Rig({"pacs": Server(), "other": Server()})
    rig.fail("stow-1", stow_job(lists=False))
    assert rig.servers["pacs"].refreshes == rig.servers["other"].refreshes == 0
    assert rig.jobs.sent == []
    (line,) = messages(logs)
    assert "does not say to which server" in line
    assert "/dicomweb-oauth/servers/NAME/refresh" in line


def test_a_refused_retrieve_job_is_resubmitted_once(logs: pytest.LogCaptureFixture) -> None:
    rig = Rig({"pacs": Server()})
    rig.jobs.refusing.add("pacs")
    rig.fail("retrieve-1", retrieve_job())
    assert rig.jobs.resubmitted == ["retrieve-1"]
    assert rig.servers["pacs"].refreshes == 1
    assert messages(logs)[0].endswith("token refreshed, job resubmitted")
    rig.clock.advance(REFRESH_INTERVAL + 1)
    rig.fail("retrieve-1", retrieve_job())  # failed again after its resubmission
    assert rig.jobs.resubmitted == ["retrieve-1"]
    assert rig.servers["pacs"].refreshes == 1


def test_a_retrieve_job_is_healed_only_when_a_qido_is_refused() -> None:
    """Error 9 is also a broken answer, a wrong Url...: nothing is done unless the server
    refuses a QIDO-RS as unauthorized."""
    rig = Rig({"pacs": Server()})
    rig.fail("retrieve-1", retrieve_job())
    assert rig.jobs.resubmitted == []
    assert rig.servers["pacs"].refreshes == 0


def test_a_retrieve_job_among_several_servers_is_not_guessed() -> None:
    rig = Rig({"pacs": Server(), "other": Server()})
    rig.jobs.refusing.update({"pacs", "other"})
    rig.fail("retrieve-1", retrieve_job())
    assert rig.jobs.resubmitted == []
    assert rig.servers["pacs"].refreshes == rig.servers["other"].refreshes == 0


def test_one_refresh_a_minute_however_many_jobs_fail(logs: pytest.LogCaptureFixture) -> None:
    rig = Rig({"pacs": Server()})
    for number in range(5):
        rig.clock.advance(5)
        rig.fail(f"stow-{number}", stow_job())
    assert rig.servers["pacs"].refreshes == 1
    assert len(rig.jobs.sent) == 5
    assert "a new token was had 5 s ago, its 1 instance(s) sent again" in messages(logs)[1]
    rig.clock.advance(REFRESH_INTERVAL)
    rig.fail("stow-late", stow_job())
    assert rig.servers["pacs"].refreshes == 2


def test_resubmit_refused_jobs_false_refreshes_only(logs: pytest.LogCaptureFixture) -> None:
    rig = Rig({"pacs": Server()}, resend=False)
    rig.jobs.refusing.add("pacs")
    rig.fail("stow-1", stow_job())
    rig.fail("retrieve-1", retrieve_job())
    assert rig.servers["pacs"].refreshes == 1
    assert not rig.jobs.sent
    assert not rig.jobs.resubmitted
    lines = messages(logs)
    assert len(lines) == 2
    assert all(line.endswith("not sent again (ResubmitRefusedJobs is false)") for line in lines)


def test_nothing_is_done_without_a_valid_token() -> None:
    """The keeper already knows: a refusal then is no surprise."""
    rig = Rig({"pacs": Server(valid=False)})
    rig.fail("stow-1", stow_job())
    assert rig.servers["pacs"].refreshes == 0
    assert rig.jobs.sent == []


def test_a_failed_refresh_is_said_and_nothing_is_sent(logs: pytest.LogCaptureFixture) -> None:
    error = TokenRequestError("invalid_client: revoked (HTTP 401)", transient=False)
    rig = Rig({"pacs": Server(refresh_error=error)})
    rig.fail("stow-1", stow_job())
    assert rig.jobs.sent == []
    assert messages(logs) == [
        "pacs: job stow-1 was refused as unauthorized; no new token: "
        "invalid_client: revoked (HTTP 401)"
    ]


def test_a_job_that_cannot_be_sent_again_is_said(logs: pytest.LogCaptureFixture) -> None:
    rig = Rig({"pacs": Server()})
    rig.jobs.broken = True
    rig.fail("stow-1", stow_job())
    assert messages(logs) == [
        "pacs: job stow-1 was refused as unauthorized; token refreshed, but it cannot be sent "
        "again: Bad request"
    ]


@pytest.mark.parametrize(
    "job",
    [
        stow_job(code=9),  # not a refusal
        stow_job(server="not-managed"),
        {**stow_job(), "State": "Success"},
        {**stow_job(), "Type": "DicomWebGetClient"},
        {"State": "Failure", "Type": "DicomModalityStore", "ErrorCode": 29},
    ],
)
def test_other_jobs_are_left_alone(job: dict[str, Any]) -> None:
    rig = Rig({"pacs": Server()})
    rig.jobs.refusing.add("pacs")
    rig.fail("job-1", job)
    assert rig.servers["pacs"].refreshes == 0
    assert not rig.jobs.sent
    assert not rig.jobs.resubmitted


def test_a_job_gone_from_orthanc_s_history_is_left_alone() -> None:
    rig = Rig({"pacs": Server()})
    rig.healer.heal("gone")
    assert rig.servers["pacs"].refreshes == 0


def test_failures_are_healed_in_the_healer_s_thread() -> None:
    rig = Rig({"pacs": Server()})
    rig.jobs.jobs["stow-1"] = stow_job()
    rig.healer.start()
    try:
        rig.healer.job_failed("stow-1")
        wait_for("the job sent again", lambda: rig.jobs.sent)
    finally:
        rig.healer.request_stop()
        assert rig.healer.join(2.0)


def test_a_failed_job_is_read_as_each_dicomweb_version_reports_it() -> None:
    recent = FailedJob.from_job("a", stow_job())
    assert recent == FailedJob("a", JobKind.STOW, 29, "pacs", (INSTANCE,))
    assert recent.refused
    old = FailedJob.from_job("b", stow_job(lists=False))
    assert old == FailedJob("b", JobKind.STOW, 29, None, None)
    retrieve = FailedJob.from_job("c", retrieve_job())
    assert retrieve is not None and retrieve.refused
    assert retrieve.kind is JobKind.RETRIEVE
    without_content = FailedJob.from_job("d", {"State": "Failure", "Type": "DicomWebStowClient"})
    assert without_content == FailedJob("d", JobKind.STOW, None, None, None)
    assert not without_content.refused


def test_an_unexpected_error_leaves_the_healer_running(logs: pytest.LogCaptureFixture) -> None:
    rig = Rig({"pacs": Server()})
    rig.jobs.jobs["odd"] = {"State": "Failure", "Type": "DicomWebStowClient", "Content": []}
    rig.jobs.jobs["stow-1"] = stow_job()
    broken_job = rig.jobs.job

    def job(job_id: str) -> Any:
        if job_id == "odd":
            raise ValueError("unexpected answer")
        return broken_job(job_id)

    rig.jobs.job = job  # type: ignore[method-assign]
    rig.healer.start()
    try:
        rig.healer.job_failed("odd")
        rig.healer.job_failed("stow-1")
        wait_for("the next job healed", lambda: rig.jobs.sent)
    finally:
        rig.healer.request_stop()
        assert rig.healer.join(2.0)
    assert messages(logs)[0] == "job odd: cannot look at it: ValueError: unexpected answer"
