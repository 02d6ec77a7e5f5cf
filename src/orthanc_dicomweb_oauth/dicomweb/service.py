"""The plugin's servers: one worker each for the valid ones, the configuration errors of
the others, the healer of their refused jobs, and what the REST API and the metrics show
of them."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..config.settings import LoadedConfiguration
from ..descriptions import iso, source_fields
from ..errors import ConfigurationProblem, InvalidServerError, UnknownServerError
from ..keys import SECTION, SERVERS
from ..logs import LOGGER
from ..redaction import sanitize_external_text
from ..sources.access_token import LifetimeSource
from ..tokens.keeper import KeeperState
from ..tokens.server_tokens import create_server_tokens
from .job_healer import OrthancJobs, RefusedJobHealer
from .worker import DicomWebServers, ServerWorker

# Threads get this long, together, to end when Orthanc stops.
STOP_TIMEOUT = 2.0
METRICS_INTERVAL = 5.0
# Many servers do not ask their providers at the same instant when Orthanc starts: the
# first requests are spread over this much time per server, two seconds at most. Their
# refreshes, scheduled from the first token, stay spread.
START_SPREAD_PER_SERVER = 0.02
MAX_START_SPREAD = 2.0
# Tokens asked for through the REST API are at least this far apart, whoever asks: any
# REST user could otherwise exhaust a provider's quota or get every replica throttled.
REST_REFRESH_SPACING = 5.0


@dataclass(frozen=True)
class TokenSummary:
    """A server's valid token, described: never the token."""

    expires_in: int
    lifetime_source: LifetimeSource


class OAuthService:
    def __init__(
        self,
        configuration: LoadedConfiguration,
        dicomweb: DicomWebServers,
        jobs: OrthancJobs,
        *,
        publish_metrics: Callable[[Mapping[str, float]], None],
        logger: logging.Logger = LOGGER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configuration = configuration
        self._clock = clock
        self._logger = logger
        self._publish_metrics = publish_metrics
        self._stopping = threading.Event()
        self._metrics_thread = threading.Thread(
            target=self._publish_metrics_until_stopped, name="dicomweb-oauth-metrics", daemon=True
        )
        servers = sorted(configuration.servers.items())
        delays = start_delays(len(servers), random.Random())  # noqa: S311 - load, not secrecy
        self._workers: dict[str, ServerWorker] = {}
        refused: list[ConfigurationProblem] = []
        for (name, settings), delay in zip(servers, delays, strict=True):
            try:
                tokens = create_server_tokens(settings, logger)
            except Exception as error:  # one server's defect never stops the others
                said = sanitize_external_text(str(error), ())
                refused.append(
                    ConfigurationProblem(
                        f"{SECTION}.{SERVERS}.{name}",
                        f"cannot be set up ({type(error).__name__}: {said})",
                        name,
                    )
                )
                continue
            self._workers[name] = ServerWorker(
                settings,
                tokens,
                dicomweb,
                check_interval=configuration.check_interval,
                start_delay=delay,
                logger=logger,
            )
        if refused:
            self._configuration = replace(
                configuration,
                servers={name: configuration.servers[name] for name in self._workers},
                problems=(*configuration.problems, *refused),
            )
        self._healer = RefusedJobHealer(
            self._workers, jobs, resend=configuration.resubmit_refused_jobs, logger=logger
        )

    def start(self) -> None:
        for warning in self._configuration.warnings:
            self._logger.warning("%s", warning)
        for problem in self._configuration.problems:
            self._logger.error("configuration error: %s", problem)
        for worker in self._workers.values():
            worker.start()
        self._healer.start()
        self._metrics_thread.start()
        if self._workers:
            self._logger.info(
                "managing %d DICOMweb server(s): %s", len(self._workers), ", ".join(self._workers)
            )

    def stop(self) -> bool:
        started = self._clock()
        self._stopping.set()
        for worker in self._workers.values():
            worker.request_stop()
        self._healer.request_stop()
        end = self._clock() + STOP_TIMEOUT
        # Every thread is joined, even after one that did not end in time.
        threads: list[ServerWorker | RefusedJobHealer] = [*self._workers.values(), self._healer]
        joined = [thread.join(max(0.0, end - self._clock())) for thread in threads]
        stopped = all(joined)
        if self._metrics_thread.ident is not None:
            self._metrics_thread.join(max(0.0, end - self._clock()))
            stopped = stopped and not self._metrics_thread.is_alive()
        if stopped:
            self._logger.info("stopped: all threads ended in %.2f s", self._clock() - started)
        else:
            self._logger.warning("a token request was still running when Orthanc stopped")
        return stopped

    def server_names(self) -> list[str]:
        """Every configured server's name, the invalid ones included."""
        return sorted([*self._workers, *self._configuration.invalid_servers()])

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Every configured server's status, the invalid ones included, by name."""
        return {name: self.server_status(name) for name in self.server_names()}

    def general_errors(self) -> list[str]:
        """Problems of the configuration that belong to no one server."""
        return [str(problem) for problem in self._configuration.general_problems()]

    def server_status(self, name: str) -> dict[str, Any]:
        """What the REST API shows of a server: never a secret or a token. Raises
        UnknownServerError."""
        try:
            worker = self._worker(name)
        except InvalidServerError as invalid:
            return {"State": "Invalid", "Errors": [str(problem) for problem in invalid.problems]}
        keeper, sync = worker.status()
        return {
            "State": keeper.state.value,
            "ExpiresIn": _seconds(keeper.expires_in),
            "Lifetime": _seconds(keeper.lifetime),
            "LifetimeSource": keeper.lifetime_source,
            "LastRefresh": _iso(keeper.last_refresh),
            "LastError": keeper.last_error,
            "LastErrorTime": _iso(keeper.last_error_at),
            "NextTokenRequestIn": _seconds(keeper.next_request_in),
            "TokenRequests": keeper.token_requests,
            "Refreshes": keeper.refreshes,
            "Failures": keeper.failures,
            "ConsecutiveFailures": keeper.consecutive_failures,
            "DefinitionWrites": sync.definition_writes,
            "DefinitionRestores": sync.definition_restores,
            "LastDefinitionWrite": _iso(sync.last_write),
            "LastDefinitionError": sync.last_sync_error,
            "InternalErrors": sync.internal_errors,
            "LastInternalError": sync.last_internal_error,
            "Url": worker.settings.dicomweb_definition["Url"],
            **source_fields(worker.source_description()),
        }

    def unready(self) -> dict[str, str]:
        """Why requests through the DICOMweb plugin would not be authorized now, by server
        name (``DicomWebOAuth`` for the section as a whole); empty when every managed
        server holds a valid token and its definition, written with it, is in the DICOMweb
        plugin."""
        reasons: dict[str, str] = {}
        if self._configuration.general_problems():
            reasons[SECTION] = "; ".join(self.general_errors())
        for name in self._configuration.invalid_servers():
            problems = self._configuration.problems_of(name)
            reasons[name] = "invalid configuration: " + "; ".join(map(str, problems))
        for name, worker in self._workers.items():
            reason = worker.unready()
            if reason is not None:
                reasons[name] = reason
        return dict(sorted(reasons.items()))

    def refresh(self, name: str) -> None:
        """A new token for the server now, written to the DICOMweb plugin. Raises
        TokenRequestError or TokenUnavailableError when none can be had, InvalidServerError
        and UnknownServerError; RefreshRefusedError when one was asked for less than
        REST_REFRESH_SPACING ago, or when the server waits after a refusal."""
        self._worker(name).refresh(REST_REFRESH_SPACING)

    def token_summary(self, name: str) -> TokenSummary:
        """The server's valid token, described. Raises TokenUnavailableError when there is
        none, InvalidServerError and UnknownServerError."""
        worker = self._worker(name)
        token = worker.token()
        keeper, _ = worker.status()
        return TokenSummary(round(keeper.expires_in or 0.0), token.lifetime_source)

    def job_failed(self, job_id: str) -> None:
        """Orthanc's JOB_FAILURE change: the job is looked at in the healer's thread."""
        self._healer.job_failed(job_id)

    def metrics(self) -> Mapping[str, float]:
        """Per-server values for Orthanc's /tools/metrics-prometheus."""
        values: dict[str, float] = {}
        for name, worker in self._workers.items():
            keeper, sync = worker.status()
            suffix = _metric_name(name)
            values[f"dicomweb_oauth_token_expires_in_seconds_{suffix}"] = keeper.expires_in or 0.0
            values[f"dicomweb_oauth_token_valid_{suffix}"] = float(
                keeper.state in (KeeperState.VALID, KeeperState.DEGRADED)
            )
            values[f"dicomweb_oauth_refreshes_total_{suffix}"] = keeper.refreshes
            values[f"dicomweb_oauth_failures_total_{suffix}"] = keeper.failures
            values[f"dicomweb_oauth_internal_errors_total_{suffix}"] = sync.internal_errors
        return values

    def _worker(self, name: str) -> ServerWorker:
        if name in self._workers:
            return self._workers[name]
        problems = self._configuration.problems_of(name)
        if problems:
            raise InvalidServerError(name, problems)
        raise UnknownServerError(name)

    def _publish_metrics_until_stopped(self) -> None:
        while not self._stopping.is_set():
            self._publish_metrics(self.metrics())
            self._stopping.wait(METRICS_INTERVAL)


def start_spread(count: int) -> float:
    """Seconds over which ``count`` servers send their first token requests:
    START_SPREAD_PER_SERVER per other server, MAX_START_SPREAD at most."""
    return min(MAX_START_SPREAD, START_SPREAD_PER_SERVER * max(count - 1, 0))


def start_delays(count: int, rng: random.Random) -> list[float]:
    """When each of ``count`` servers sends its first token request, in seconds after the
    start, at random within ``start_spread``: a single server asks at once."""
    spread = start_spread(count)
    return [rng.uniform(0, spread) for _ in range(count)]


def _metric_name(server: str) -> str:
    return "".join(char if char.isascii() and char.isalnum() else "_" for char in server)


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)
