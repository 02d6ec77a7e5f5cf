"""The plugin's servers: one worker each for the valid ones, the configuration errors of
the others, and what the REST API and the metrics show of them."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .client_signing_key import ClientSigningKey
from .configuration import ConfigurationError, LoadedConfiguration
from .keeper_factory import create_server_tokens
from .server_worker import DicomWebServers, ServerWorker
from .token_keeper import LOGGER, KeeperState

# Threads get this long, together, to end when Orthanc stops.
STOP_TIMEOUT = 2.0
METRICS_INTERVAL = 5.0
# Many servers do not ask their providers at the same instant when Orthanc starts: the
# first requests are spread over this much time per server, two seconds at most. Their
# refreshes, scheduled from the first token, stay spread.
START_SPREAD_PER_SERVER = 0.02
MAX_START_SPREAD = 2.0


@dataclass(frozen=True)
class UnknownServerError(Exception):
    name: str


@dataclass(frozen=True)
class InvalidServerError(Exception):
    name: str
    errors: tuple[ConfigurationError, ...]


class OAuthService:
    def __init__(
        self,
        configuration: LoadedConfiguration,
        dicomweb: DicomWebServers,
        publish_metrics: Callable[[Mapping[str, float]], None],
        logger: logging.Logger = LOGGER,
    ) -> None:
        self._configuration = configuration
        self._logger = logger
        self._publish_metrics = publish_metrics
        self._stopping = threading.Event()
        self._metrics_thread = threading.Thread(
            target=self._publish_metrics_until_stopped, name="dicomweb-oauth-metrics", daemon=True
        )
        spread = min(MAX_START_SPREAD, START_SPREAD_PER_SERVER * (len(configuration.servers) - 1))
        rng = random.Random()  # noqa: S311 - spreading load, not secrecy
        self.workers = {
            name: ServerWorker(
                settings,
                create_server_tokens(settings, logger),
                dicomweb,
                check_interval=configuration.check_interval,
                start_delay=rng.uniform(0, max(spread, 0.0)),
                logger=logger,
            )
            for name, settings in sorted(configuration.servers.items())
        }

    def start(self) -> None:
        for warning in self._configuration.warnings:
            self._logger.warning("%s", warning)
        for error in self._configuration.errors:
            self._logger.error("configuration error: %s", error)
        for worker in self.workers.values():
            worker.start()
        self._metrics_thread.start()
        if self.workers:
            self._logger.info(
                "managing %d DICOMweb server(s): %s", len(self.workers), ", ".join(self.workers)
            )

    def stop(self) -> bool:
        started = time.monotonic()
        self._stopping.set()
        for worker in self.workers.values():
            worker.request_stop()
        end = time.monotonic() + STOP_TIMEOUT
        # Every worker is joined, even after one that did not end in time.
        joined = [worker.join(max(0.0, end - time.monotonic())) for worker in self.workers.values()]
        stopped = all(joined)
        if self._metrics_thread.ident is not None:
            self._metrics_thread.join(max(0.0, end - time.monotonic()))
            stopped = stopped and not self._metrics_thread.is_alive()
        if stopped:
            self._logger.info("stopped: all threads ended in %.2f s", time.monotonic() - started)
        else:
            self._logger.warning("a token request was still running when Orthanc stopped")
        return stopped

    def worker(self, name: str) -> ServerWorker:
        if name in self.workers:
            return self.workers[name]
        errors = self._configuration.errors_of(name)
        if errors:
            raise InvalidServerError(name, errors)
        raise UnknownServerError(name)

    def status(self) -> dict[str, dict[str, Any]]:
        answer: dict[str, dict[str, Any]] = {
            name: self.server_status(name) for name in self.workers
        }
        for error in self._configuration.errors:
            if error.server is not None and error.server not in answer:
                answer[error.server] = self.server_status(error.server)
        return dict(sorted(answer.items()))

    def general_errors(self) -> list[str]:
        return [str(error) for error in self._configuration.errors if error.server is None]

    def server_status(self, name: str) -> dict[str, Any]:
        """What the REST API shows of a server: never a secret or a token."""
        try:
            worker = self.worker(name)
        except InvalidServerError as invalid:
            return {"State": "Invalid", "Errors": [str(error) for error in invalid.errors]}
        keeper, sync = worker.status()
        endpoint = worker.settings.token_endpoint
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
            "Url": worker.settings.dicomweb_definition["Url"],
            "TokenEndpoint": worker.token_endpoint,
            "Issuer": endpoint.issuer,
            "ClientId": endpoint.client_id,
            "ClientAuthMethod": endpoint.auth_method,
            "ClientKey": endpoint.credential.public_description()
            if isinstance(endpoint.credential, ClientSigningKey)
            else None,
        }

    def metrics(self) -> Mapping[str, float]:
        """Per-server values for Orthanc's /tools/metrics-prometheus."""
        values: dict[str, float] = {}
        for name, worker in self.workers.items():
            keeper, _ = worker.status()
            suffix = _metric_name(name)
            values[f"dicomweb_oauth_token_expires_in_seconds_{suffix}"] = keeper.expires_in or 0.0
            values[f"dicomweb_oauth_token_valid_{suffix}"] = float(
                keeper.state in (KeeperState.VALID, KeeperState.DEGRADED)
            )
            values[f"dicomweb_oauth_refreshes_total_{suffix}"] = keeper.refreshes
            values[f"dicomweb_oauth_failures_total_{suffix}"] = keeper.failures
        return values

    def _publish_metrics_until_stopped(self) -> None:
        while not self._stopping.is_set():
            self._publish_metrics(self.metrics())
            self._stopping.wait(METRICS_INTERVAL)


def _metric_name(server: str) -> str:
    return "".join(char if char.isascii() and char.isalnum() else "_" for char in server)


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
