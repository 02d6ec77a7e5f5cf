"""Heals a token the remote server refused while the plugin held it as valid (the provider
rotated its signing keys, the token was revoked, the server's clock is ahead): when a job
of the DICOMweb plugin fails for it, the server's token is refreshed at once and the work
is delivered again, as each kind of job allows.

A failed STOW-RS job is never resubmitted: Orthanc would resume it past the instances it
had already read, send nothing, and report success. Its instances go in a new STOW-RS job
instead, where the DICOMweb plugin lists them (1.18 and later). A retrieve job starts
again from the beginning when resubmitted. A job is healed once: the healer remembers the
jobs it looked at and acted on and those it sent. It acts only on a job it can tie to a
managed server: the job names it, or the one managed server refuses its token now."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..errors import (
    DicomWebApiError,
    DicomWebOAuthError,
    RefreshRefusedError,
    TokenUnavailableError,
)
from ..logs import LOGGER
from ..sources.access_token import AccessToken
from .failed_job import FailedJob, JobKind

# At most one refresh per server in this many seconds, however many jobs fail.
REFRESH_INTERVAL = 60.0
# How many of the jobs it acted on or sent the healer remembers, not to heal them again.
REMEMBERED_JOBS = 1000


class OrthancJobs(Protocol):
    """Orthanc's jobs and the DICOMweb plugin's client routes."""

    def job(self, job_id: str) -> Mapping[str, Any]:
        """``GET /jobs/ID``; raises DicomWebApiError."""
        ...

    def resubmit(self, job_id: str) -> None:
        """``POST /jobs/ID/resubmit``; raises DicomWebApiError."""
        ...

    def send_stow(self, server: str, instances: Sequence[str]) -> str:
        """A new asynchronous STOW-RS job of these instances; its id. Raises
        DicomWebApiError."""
        ...

    def refuses_token(self, server: str) -> bool:
        """Whether a QIDO-RS through the server is refused as unauthorized now."""
        ...


class HealedServer(Protocol):
    """What the healer needs of a managed server's worker."""

    def token(self) -> AccessToken: ...

    def refresh(self) -> AccessToken: ...


class RefusedJobHealer:
    def __init__(
        self,
        servers: Mapping[str, HealedServer],
        jobs: OrthancJobs,
        *,
        resend: bool,
        logger: logging.Logger = LOGGER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._servers = servers
        self._jobs = jobs
        self._resend = resend
        self._logger = logger
        self._clock = clock
        self._failed: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._own: OrderedDict[str, None] = OrderedDict()
        self._refreshed_at: dict[str, float] = {}
        self._thread = threading.Thread(target=self._run, name="dicomweb-oauth-jobs", daemon=True)

    def job_failed(self, job_id: str) -> None:
        """Orthanc's JOB_FAILURE change: queued, so that Orthanc's callback returns at once."""
        self._failed.put(job_id)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()
        self._failed.put(None)  # wakes the thread

    def join(self, timeout: float) -> bool:
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def heal(self, job_id: str) -> None:
        """Looks at one failed job and, if a managed server refused its token, refreshes
        the token and delivers the work again."""
        if job_id in self._own:
            return
        try:
            failed = FailedJob.from_job(job_id, self._jobs.job(job_id))
        except DicomWebApiError:
            return  # gone from Orthanc's history already
        if failed is None or not failed.refused:
            return
        server = self._server_of(failed)
        if server is None:
            return
        try:
            self._servers[server].token()
        except TokenUnavailableError:
            return  # no valid token: the refusal is no surprise, and the keeper is on it
        confirm = failed.kind is JobKind.RETRIEVE or failed.server is None
        if confirm and not self._jobs.refuses_token(server):
            # A retrieve job's error 9 also means a broken answer, and a job that names no
            # server may be another's: only the managed server refusing a QIDO-RS ties it.
            return
        self._remember(job_id)
        try:
            refreshed = self._refresh(server)
        except DicomWebOAuthError as error:
            self._logger.error(
                "%s: job %s was refused as unauthorized; no new token: %s", server, job_id, error
            )
            return
        try:
            delivered = self._deliver_again(server, failed)
        except DicomWebApiError as error:
            self._logger.error(
                "%s: job %s was refused as unauthorized; %s, but it cannot be sent again: %s",
                server,
                job_id,
                refreshed,
                error,
            )
            return
        self._logger.warning(
            "%s: job %s was refused as unauthorized while the token was still valid; %s, %s",
            server,
            job_id,
            refreshed,
            delivered,
        )

    def _server_of(self, failed: FailedJob) -> str | None:
        if failed.server is not None:
            return failed.server if failed.server in self._servers else None
        if len(self._servers) == 1:  # to be confirmed by a QIDO-RS through it
            return next(iter(self._servers))
        if failed.kind is JobKind.STOW:
            self._logger.warning(
                "job %s: a STOW-RS job was refused as unauthorized, but this DICOMweb plugin "
                "does not say to which server: refresh its token (POST "
                "/dicomweb-oauth/servers/NAME/refresh) and send the job's instances again",
                failed.id,
            )
        return None

    def _refresh(self, server: str) -> str:
        """A new token for the server, unless one was had for a refused job less than
        REFRESH_INTERVAL ago (the jobs of a batch fail together), or asked for moments
        ago by anyone; what was done, said. Raises TokenRequestError,
        TokenUnavailableError or RefreshRefusedError."""
        now = self._clock()
        last = self._refreshed_at.get(server)
        if last is not None and now - last < REFRESH_INTERVAL:
            return f"a new token was had {now - last:.0f} s ago"
        try:
            self._servers[server].refresh()
        except RefreshRefusedError as refused:
            if not refused.recent:
                raise
            return "a new token was asked for moments ago"
        self._refreshed_at[server] = self._clock()
        return "token refreshed"

    def _deliver_again(self, server: str, failed: FailedJob) -> str:
        """Delivers the job's work again, as its kind allows; what was done, said. Raises
        DicomWebApiError."""
        if not self._resend:
            return "not sent again (ResubmitRefusedJobs is false)"
        if failed.kind is JobKind.RETRIEVE:
            self._jobs.resubmit(failed.id)
            return "job resubmitted"
        if failed.instances is None:
            return (
                "the job must be sent again by hand: this DICOMweb plugin does not list its "
                "instances, and resubmitting it would send nothing"
            )
        sent = self._jobs.send_stow(server, failed.instances)
        self._remember(sent)
        return f"its {len(failed.instances)} instance(s) sent again as job {sent}"

    def _remember(self, job_id: str) -> None:
        self._own[job_id] = None
        while len(self._own) > REMEMBERED_JOBS:
            self._own.popitem(last=False)

    def _run(self) -> None:
        while not self._stopping.is_set():
            job_id = self._failed.get()
            if job_id is None:
                continue
            try:
                self.heal(job_id)
            except Exception as error:  # a bug or an odd answer: the next job still gets a look
                self._logger.error(
                    "job %s: cannot look at it: %s: %s", job_id, type(error).__name__, error
                )
