"""Several Orthanc replicas with the plugin on one PostgreSQL database, behind nginx
(local_rig/balancer.py), as Orthanc scales out: each replica keeps its own definitions and
tokens, and the database never holds one. Debian 12's Orthanc 1.10.1 with its
PostgreSQL plugin 4.0."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest

from local_rig.balancer import Balancer
from local_rig.dicom_samples import study_instance
from local_rig.installations import Installation
from local_rig.postgresql import PostgreSQL, server_binaries
from local_rig.services import (
    ADMIN,
    CLIENT_SECRET,
    DICOMWEB_PLUGIN,
    PLUGINS,
    PYTHON_PLUGIN,
    Orthanc,
    ProtectedServer,
    Provider,
    Validator,
    orthanc_configuration,
)

from ..helpers import wait_for
from ..reliability_report import ReliabilityReport
from .explorer import CHROMIUM, send_with_the_explorer_button
from .rig import (
    SERVER,
    b_study_uids,
    client_for,
    oauth_server,
    qido_studies,
    upload,
    wait_authorized,
    wait_job,
)

POSTGRESQL_INDEX_PLUGIN = PLUGINS / "libOrthancPostgreSQLIndex.so"
REPLICAS = 3
# Clients sending QIDO-RS through the balancer at once while a replica restarts, and
# how many requests they send from the restart on before the test ends.
TRAFFIC_THREADS = 4
REQUESTS_AFTER_THE_RESTART = 20

pytestmark = pytest.mark.skipif(
    server_binaries() is None or not POSTGRESQL_INDEX_PLUGIN.exists() or not CHROMIUM.exists(),
    reason="Debian's postgresql, orthanc-postgresql or chromium is not installed "
    "(scripts/setup installs them)",
)

StartReplicas = Callable[..., list[Orthanc]]


def database_of(request: pytest.FixtureRequest) -> str:
    """The test's own database (PostgreSQL names are 63 bytes at most)."""
    name: str = request.node.name
    return name.lower()[:63]


@pytest.fixture(scope="module")
def postgresql(log_dir: Path) -> Iterator[PostgreSQL]:
    server = PostgreSQL(log_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()  # removes its directory, even after a failed start


@pytest.fixture
def start_replicas(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    log_dir: Path,
    orthanc_installation: Installation,
    postgresql: PostgreSQL,
    provider: Provider,
    protected: ProtectedServer,
) -> Iterator[StartReplicas]:
    """Starts replicas of one Orthanc on a new database: the same configuration but for
    ``DatabaseServerIdentifier``, one storage folder, ``SaveJobs`` false."""
    started: list[Orthanc] = []
    storage = tmp_path / "shared-storage"
    storage.mkdir()

    def start(count: int = REPLICAS, **dicomweb: Any) -> list[Orthanc]:
        database = database_of(request)
        postgresql.create_database(database)
        section = {
            # Hour-long tokens: each replica asks for one, so each one's token is its own.
            "Servers": {SERVER: oauth_server(provider, protected, ClientId="orthanc-1h")},
            "CheckInterval": 2,
        }
        replicas = []
        for number in range(1, count + 1):
            name = f"replica-{number}"
            configuration = orthanc_configuration(
                orthanc_installation.entry_script,
                section,
                dicomweb,
                Plugins=[str(PYTHON_PLUGIN), str(DICOMWEB_PLUGIN), str(POSTGRESQL_INDEX_PLUGIN)],
                PostgreSQL=postgresql.orthanc_section(database),
                SaveJobs=False,
                DatabaseServerIdentifier=name,
                StorageDirectory=str(storage),
                AuthenticationEnabled=True,
                RegisteredUsers={ADMIN[0]: ADMIN[1]},
            )
            replica = Orthanc(
                f"orthanc-a-{request.node.name}-{name}",
                tmp_path,
                log_dir,
                configuration,
                env={"RIG_CLIENT_SECRET_VALUE": CLIENT_SECRET},
                verbose=True,
            )
            started.append(replica)
            replicas.append(replica)
            replica.start()
        return replicas

    yield start
    for replica in started:
        replica.stop()


@pytest.fixture
def balancer_for(tmp_path: Path, log_dir: Path) -> Iterator[Callable[[list[Orthanc]], Balancer]]:
    balancers: list[Balancer] = []

    def start(replicas: list[Orthanc]) -> Balancer:
        balancer = Balancer(tmp_path, log_dir, replicas)
        balancers.append(balancer)
        balancer.start()
        return balancer

    yield start
    for balancer in balancers:
        balancer.stop()


def _tokens(validator: Validator) -> set[str]:
    return set(httpx2.get(f"{validator.url}/tokens", timeout=10).json()["tokens"])


def test_replicas_share_the_database_but_not_their_tokens(
    start_replicas: StartReplicas,
    balancer_for: Callable[[list[Orthanc]], Balancer],
    protected: ProtectedServer,
    validator: Validator,
    postgresql: PostgreSQL,
    request: pytest.FixtureRequest,
    reliability_report: ReliabilityReport,
) -> None:
    replicas = start_replicas()
    clients = [client_for(replica) for replica in replicas]
    tokens_before = _tokens(validator)
    for client in clients:
        status = wait_authorized(client)
        assert status["TokenRequests"] == 1
        assert qido_studies(client).status_code == 200
    # Each replica sent its own token: as many new tokens as replicas.
    assert len(_tokens(validator) - tokens_before) == REPLICAS
    balancer = balancer_for(replicas)
    wait_for("every replica in the balancer", lambda: len(balancer.ready_replicas()) == REPLICAS)

    # Stored through the first, sent by the second, retrieved through the third.
    dicom, study_uid = study_instance("REPLICAS^SHARED")
    study = upload(clients[0], dicom)
    stow = clients[1].post(f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [study]})
    assert stow.status_code == 200, stow.text
    assert study_uid in b_study_uids(protected)
    clients[1].delete(f"/studies/{study}").raise_for_status()
    assert clients[0].get(f"/studies/{study}").status_code == 404
    retrieve = clients[2].post(
        f"/dicom-web/servers/{SERVER}/retrieve",
        json={"Resources": [{"Study": study_uid}], "Asynchronous": True},
    )
    assert retrieve.status_code == 200, retrieve.text
    assert wait_job(clients[2], retrieve.json()["ID"])["State"] == "Success"
    assert clients[0].get(f"/studies/{study}").status_code == 200

    # Through the balancer: Orthanc Explorer's button, then QIDO-RS while a replica is
    # killed and restarted.
    dicom, button_uid = study_instance("REPLICAS^BUTTON")
    button_study = upload(clients[0], dicom)
    send_with_the_explorer_button(balancer.url, button_study, button_uid, protected)
    restart = _kill_and_restart(replicas[1], balancer)
    # Only a request the killed replica had already taken may fail; none after the
    # restart, while the replica answers before its servers are authorized.
    assert set(restart.failed()) <= set(restart.in_flight_at_the_kill()), restart.failed()
    assert wait_authorized(clients[1])["TokenRequests"] == 1

    dump = postgresql.dump(database_of(request))
    assert study_uid in dump  # the dump is the index, studies included
    assert "Bearer" not in dump
    assert CLIENT_SECRET not in dump
    for token in _tokens(validator):
        assert token not in dump

    section = reliability_report.section(
        "Several replicas",
        f"{REPLICAS} replicas of Orthanc 1.10.1 with the plugin and the PostgreSQL plugin "
        "4.0 on one database, behind nginx that takes a replica in only once its "
        "`GET /dicomweb-oauth/ready` answers 200 (checked every 0.2 s). One replica is "
        f"killed (SIGKILL) and started again while {TRAFFIC_THREADS} clients send QIDO-RS "
        "through the balancer, each every 0.05 s: a request the killed replica had already "
        "taken fails with it "
        "(nginx does not send a POST twice). The same QIDO-RS is sent to the restarted "
        "replica directly from the moment its HTTP server answers.",
        ("Measure", "Figure"),
    )
    section.rows += [
        (
            "QIDO-RS through the balancer, from before the kill to the "
            f"{REQUESTS_AFTER_THE_RESTART}th after the restart",
            f"{len(restart.requests)} sent, {len(restart.failed())} failed (in flight at "
            f"the kill: {len(restart.in_flight_at_the_kill())})",
        ),
        (
            "QIDO-RS through the balancer from the restart on (of which while the "
            "restarted replica answered but was not ready)",
            f"{len(restart.after_the_restart())} sent "
            f"({len(restart.while_not_ready())}), "
            f"{sum(r.status != 200 for r in restart.after_the_restart())} failed",
        ),
        (
            "Restarted replica: from its HTTP server's first answer to its first "
            "successful QIDO-RS",
            f"{restart.authorized - restart.answering:.2f} s ({restart.direct_refusals} "
            f"refused: HTTP {', '.join(sorted(restart.direct_statuses))})",
        ),
        (
            "Restarted replica: from its HTTP server's first answer to `/dicomweb-oauth/ready` 200",
            f"{restart.ready - restart.answering:.2f} s",
        ),
        ("Token requests per replica since its start", "1 (hour-long tokens)"),
        ("Tokens or the client secret in `pg_dump` of the shared database", "none"),
    ]


@dataclass(frozen=True)
class BalancedRequest:
    sent: float  # time.monotonic()
    answered: float
    status: int | str  # the HTTP status, or the client's error


@dataclass
class RestartFigures:
    requests: list[BalancedRequest] = field(default_factory=list)
    killed: float = 0.0  # SIGKILL sent
    dead: float = 0.0  # the process seen gone: it took requests until then
    restarting: float = 0.0
    answering: float = 0.0  # the restarted replica's HTTP server answers
    authorized: float = 0.0  # its first QIDO-RS that succeeded
    ready: float = 0.0  # its first 200 from /dicomweb-oauth/ready
    direct_statuses: set[str] = field(default_factory=set)
    direct_refusals: int = 0

    def failed(self) -> list[BalancedRequest]:
        return [request for request in self.requests if request.status != 200]

    def in_flight_at_the_kill(self) -> list[BalancedRequest]:
        """Requests the killed replica may have taken: sent before it was seen gone and
        answered after the signal. Lost with it, whatever the balancer."""
        return [r for r in self.requests if r.sent < self.dead and self.killed <= r.answered]

    def after_the_restart(self) -> list[BalancedRequest]:
        return [request for request in self.requests if request.sent >= self.restarting]

    def while_not_ready(self) -> list[BalancedRequest]:
        """Sent while the restarted replica answered HTTP but was not ready."""
        return [r for r in self.requests if self.answering <= r.sent < self.ready]


def _kill_and_restart(replica: Orthanc, balancer: Balancer) -> RestartFigures:
    figures = RestartFigures()
    stop = threading.Event()

    def through_the_balancer() -> None:
        with client_for_url(balancer.url) as client:
            while not stop.is_set():
                sent = time.monotonic()
                status: int | str
                try:
                    status = qido_studies(client).status_code
                except httpx2.HTTPError as error:
                    status = type(error).__name__
                figures.requests.append(BalancedRequest(sent, time.monotonic(), status))
                stop.wait(0.05)

    traffic = [
        threading.Thread(target=through_the_balancer, daemon=True) for _ in range(TRAFFIC_THREADS)
    ]
    for thread in traffic:
        thread.start()
    try:
        wait_for(
            "requests through the balancer before the kill",
            lambda: len(figures.requests) >= TRAFFIC_THREADS,
        )
        process = replica.process
        assert process is not None
        figures.killed = time.monotonic()
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        figures.dead = time.monotonic()
        wait_for(
            "the killed replica out of the balancer",
            lambda: replica.name not in balancer.ready_replicas(),
        )
        figures.restarting = time.monotonic()
        replica.start()  # returns once its HTTP server answers
        figures.answering = time.monotonic()
        with client_for_url(replica.url) as direct:
            while (status := qido_studies(direct).status_code) != 200:
                figures.direct_refusals += 1
                figures.direct_statuses.add(str(status))
                time.sleep(0.01)
            figures.authorized = time.monotonic()
            while direct.get("/dicomweb-oauth/ready").status_code != 200:
                time.sleep(0.01)
            figures.ready = time.monotonic()
        wait_for(
            "the restarted replica back in the balancer",
            lambda: replica.name in balancer.ready_replicas(),
        )
        # However slow the machine, the balancer is seen at work after the restart.
        wait_for(
            f"{REQUESTS_AFTER_THE_RESTART} requests through the balancer since the restart",
            lambda: len(figures.after_the_restart()) >= REQUESTS_AFTER_THE_RESTART,
            timeout=120,
        )
    finally:
        stop.set()
        for thread in traffic:
            thread.join(10)
    return figures


def client_for_url(url: str) -> httpx2.Client:
    return httpx2.Client(base_url=url, auth=ADMIN, timeout=60)


def test_servers_in_database_is_refused_by_every_replica(
    start_replicas: StartReplicas, postgresql: PostgreSQL, request: pytest.FixtureRequest
) -> None:
    replicas = start_replicas(ServersInDatabase=True)
    for replica in replicas:
        client = client_for(replica)

        def refused(client: httpx2.Client = client) -> dict[str, Any] | None:
            answer = client.get("/dicomweb-oauth/ready")
            return (
                answer.json() if answer.status_code == 503 and "Reasons" in answer.json() else None
            )

        reasons = wait_for(f"{replica.name} refusing", refused)["Reasons"]
        assert list(reasons) == ["DicomWebOAuth"]
        assert reasons["DicomWebOAuth"].startswith(
            "DicomWeb.ServersInDatabase: is true: the DICOMweb plugin would store every "
            "bearer token in plain text in Orthanc's database, so no server is managed."
        )
        assert client.get("/dicom-web/servers").json() == []
    dump = postgresql.dump(database_of(request))
    assert "Bearer" not in dump
    assert CLIENT_SECRET not in dump
