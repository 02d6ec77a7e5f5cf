"""Reliability with figures, in a real Orthanc: bad configurations, tampering, restarts,
load and a soak. The figures go to docs/reliability.md."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2

from local_rig.client_keys import write_client_key
from local_rig.dicom_samples import study_instance
from local_rig.services import CLIENT_SECRET, Orthanc, ProtectedServer, Provider, Validator

from ..helpers import wait_for
from ..reliability_report import ReliabilityReport
from .rig import (
    CLIENTS,
    SERVER,
    StartOrthanc,
    client_for,
    oauth_server,
    qido_studies,
    server_status,
    upload,
    wait_authorized,
)

GOOD = "good"


# Broken credential files: the servers' own errors, looked at again, not the configuration's.
FILE_CASES = (
    "missing-secret-file",
    "secret-file-is-a-folder",
    "empty-secret-file",
    "private-key-not-pem",
    "private-key-wrong-algorithm",
    "certificate-of-another-key",
)


def broken_servers(
    provider: Provider, protected: ProtectedServer, work: Path
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, str]]:
    """(DicomWebOAuth.Servers, DicomWeb.Servers, expected error) for 30+ broken servers;
    those of FILE_CASES are managed, their error their status's."""
    empty_file = work / "empty-secret"
    empty_file.write_text("")

    def server(**keys: Any) -> dict[str, Any]:
        section = oauth_server(provider, protected, **keys)
        return {key: value for key, value in section.items() if value is not None}

    key = write_client_key(work / "keys", "key")
    other_key = write_client_key(work / "keys", "other")

    def signed(**keys: Any) -> dict[str, Any]:
        keys = {"ClientPrivateKeyFile": str(key.private_key), **keys}
        return server(ClientAuthMethod="private_key_jwt", **keys)

    cases: dict[str, tuple[Any, str]] = {
        "no-token-endpoint": (
            server(TokenEndpoint=None),
            "exactly one of TokenEndpoint or Issuer is required",
        ),
        "no-client-id": (server(ClientId=None), "ClientId: is required"),
        "empty-client-id": (server(ClientId=""), "ClientId: String should have at least 1"),
        "boolean-client-id": (server(ClientId=True), "ClientId: Input should be a valid string"),
        "no-secret": (server(ClientSecretEnv=None), "exactly one of ClientSecret, "),
        "two-secrets": (server(ClientSecret="x"), "(found ClientSecret, ClientSecretEnv)"),
        "empty-literal-secret": (
            server(ClientSecretEnv=None, ClientSecret=""),
            "ClientSecret: is empty",
        ),
        "unset-variable": (
            server(ClientSecretEnv="NOT_SET_ANYWHERE"),
            "environment variable NOT_SET_ANYWHERE is not set",
        ),
        "empty-variable": (
            server(ClientSecretEnv="EMPTY_SECRET_VALUE"),
            "environment variable EMPTY_SECRET_VALUE is empty",
        ),
        "missing-secret-file": (
            server(ClientSecretEnv=None, ClientSecretFile="/nonexistent"),
            "file /nonexistent does not exist",
        ),
        "secret-file-is-a-folder": (
            server(ClientSecretEnv=None, ClientSecretFile=str(work)),
            f"{work} is a folder, not a file",
        ),
        "empty-secret-file": (
            server(ClientSecretEnv=None, ClientSecretFile=str(empty_file)),
            f"file {empty_file} is empty",
        ),
        "http-token-endpoint": (
            server(TokenEndpoint="http://idp.example.com/token"),
            "http:// to idp.example.com would send credentials",
        ),
        "relative-token-endpoint": (
            server(TokenEndpoint="idp/token"),
            "TokenEndpoint: must be an absolute http:// or https:// URL",
        ),
        "token-endpoint-with-credentials": (
            server(TokenEndpoint="https://user:pw@idp.example.com/token"),
            "TokenEndpoint: must not carry credentials",
        ),
        "http-url": (
            server(Url="http://pacs.example.com/dicom-web/"),
            "Url: http:// to pacs.example.com would send credentials",
        ),
        "ftp-url": (
            server(Url="ftp://pacs.example.com/"),
            "Url: must be an absolute http:// or https:// URL",
        ),
        "no-url-anywhere": (server(Url=None), "Url: missing: set Url here or define"),
        "timeout-as-string": (server(Timeout="30"), "Timeout: Input should be a valid integer"),
        "negative-timeout": (server(Timeout=-1), "Timeout: Input should be greater than or equal"),
        "chunked-as-string": (
            server(ChunkedTransfers="yes"),
            "ChunkedTransfers: Input should be a valid boolean",
        ),
        "headers-as-list": (
            server(HttpHeaders=["X: y"]),
            "HttpHeaders: Input should be a valid dictionary",
        ),
        "static-authorization": (
            server(HttpHeaders={"Authorization": "Bearer pasted"}),
            "HttpHeaders.Authorization: reserved for the bearer token",
        ),
        "parameter-not-a-string": (
            server(TokenRequestParameters={"audience": 1}),
            "TokenRequestParameters.audience: Input should be a valid",
        ),
        "unknown-auth-method": (
            server(ClientAuthMethod="tls_client_auth"),
            "ClientAuthMethod: Input should be 'client_secret_post', 'client_secret_basic' or",
        ),
        "private-key-and-secret": (
            signed(),
            "ClientSecretEnv: is not used with ClientAuthMethod private_key_jwt: remove it",
        ),
        "private-key-not-pem": (
            signed(ClientSecretEnv=None, ClientPrivateKeyFile=str(key.certificate)),
            "ClientPrivateKeyFile: is not a PEM private key",
        ),
        "private-key-wrong-algorithm": (
            signed(ClientSecretEnv=None, ClientAssertionAlgorithm="ES256"),
            "ClientPrivateKeyFile: ES256 needs an EC key on P-256; this is an RSA key",
        ),
        "certificate-of-another-key": (
            signed(ClientSecretEnv=None, ClientCertificateFile=str(other_key.certificate)),
            "ClientCertificateFile: the certificate in ",
        ),
        "key-id-with-a-secret": (
            server(ClientKeyId="orthanc-1"),
            "ClientKeyId: is not used with ClientAuthMethod client_secret_post: remove it",
        ),
        "margin-too-large": (
            server(RefreshMarginRatio=0.9),
            "RefreshMarginRatio: Input should be less than or equal to 0.5",
        ),
        "zero-timeout": (
            server(TokenRequestTimeout=0),
            "TokenRequestTimeout: Input should be greater than 0",
        ),
        "negative-lifetime": (
            server(DefaultTokenLifetime=-5),
            "DefaultTokenLifetime: Input should be greater than 0",
        ),
        "empty-scope": (server(Scope=""), "Scope: String should have at least 1 character"),
        "typo-key": (
            server(ClientSecrt="x"),
            "ClientSecrt: unknown key; did you mean ClientSecret?",
        ),
        "wrong-case-key": (server(clientId="x"), "clientId: unknown key; did you mean ClientId?"),
        "section-is-a-string": ("https://pacs.example.com/", "must be a JSON object"),
        "basic-credentials-in-dicomweb": (server(Url=None), "remove Username and Password"),
    }
    dicomweb = {"basic-credentials-in-dicomweb": [protected.url, "user", "password"]}
    servers = {f"bad-{name}": section for name, (section, _) in cases.items()}
    servers[GOOD] = server()
    dicomweb_servers = {f"bad-{name}": entry for name, entry in dicomweb.items()}
    expected = {f"bad-{name}": message for name, (_, message) in cases.items()}
    return servers, dicomweb_servers, expected


def test_bad_configurations(
    start_orthanc_a: StartOrthanc,
    provider: Provider,
    protected: ProtectedServer,
    tmp_path: Path,
    reliability_report: ReliabilityReport,
) -> None:
    servers, dicomweb_servers, expected = broken_servers(provider, protected, tmp_path)
    assert len(expected) >= 30
    orthanc = start_orthanc_a(
        servers=servers,
        DicomWeb={"Servers": dicomweb_servers},
        env_extra={"EMPTY_SECRET_VALUE": ""},
    )
    client = client_for(orthanc)
    wait_authorized(client, GOOD)
    assert qido_studies(client, GOOD).status_code == 200
    listed = client.get("/dicomweb-oauth/servers").json()["Servers"]
    section = reliability_report.section(
        "Bad configurations",
        f"One Orthanc with {len(expected)} broken servers and a good one in the same "
        "`DicomWebOAuth` section. Orthanc started, the good server was authorized and "
        "answered QIDO-RS, each broken server got exactly one error naming its key (as "
        "`GET /dicomweb-oauth/servers` shows it), and `orthanc-dicomweb-oauth check` on "
        "the same configuration exited with status 2. A credential file that cannot be used "
        "is not a configuration error: its server is managed, in state Failed, and says why "
        "in its `LastError` (marked *file* below) until the file is usable. Three "
        "section-level errors, each in an Orthanc of its own, follow.",
        ("Server", "Error"),
    )
    log = orthanc.log()
    file_cases = {f"bad-{name}" for name in FILE_CASES}
    for name, message in expected.items():
        if name in file_cases:
            status = wait_for(
                f"{name} failed",
                lambda: (s := server_status(client, name))["State"] == "Failed" and s,  # noqa: B023
            )
            errors = [status["LastError"]]
        else:
            assert listed[name]["State"] == "Invalid", name
            errors = listed[name]["Errors"]
        assert len(errors) == 1, (name, errors)
        assert message in errors[0], (name, errors)
        assert errors[0] in log
        # The test folder changes every run: a placeholder keeps the report stable.
        shown = errors[0].replace(str(tmp_path), "<test folder>")
        marked = " (*file*)" if name in file_cases else ""
        section.rows.append((f"`{name}`{marked}", f"`{shown}`"))
    config = json.loads(orthanc.config_path.read_text())
    check_file = tmp_path / "check.json"
    check_file.write_text(json.dumps({key: config[key] for key in ("DicomWeb", "DicomWebOAuth")}))
    check = subprocess.run(
        [sys.executable, "-m", "orthanc_dicomweb_oauth", "check", str(check_file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "RIG_CLIENT_SECRET_VALUE": CLIENT_SECRET, "EMPTY_SECRET_VALUE": ""},
    )
    assert check.returncode == 2, check.stdout
    assert check.stdout.count("INVALID") == len(expected) - len(FILE_CASES)
    assert all(f"bad-{name}: FAIL " in check.stdout for name in FILE_CASES)
    assert f"{GOOD}: OK" in check.stdout

    for title, oauth_section, dicomweb, message in (
        ("`DicomWebOAuth` is a list", [], {}, "DicomWebOAuth: must be a JSON object"),
        ("`Servers` is missing", {}, {}, "DicomWebOAuth.Servers: is required"),
        (
            "`DicomWeb.ServersInDatabase` is true",
            {"Servers": servers},
            {"ServersInDatabase": True},
            "DicomWeb.ServersInDatabase: is true",
        ),
    ):
        alone = start_orthanc_a(
            servers={}, DicomWebOAuth=oauth_section, DicomWeb=dicomweb, replace_section=True
        )
        alone_client = client_for(alone)
        answer = wait_for(
            "plugin started",
            lambda: (
                (a := alone_client.get("/dicomweb-oauth/servers")).status_code == 200  # noqa: B023
                and a.json()
            ),
        )
        assert answer["Servers"] == {}
        assert answer["Errors"][0].startswith(message), answer
        section.rows.append((title, f"`{answer['Errors'][0]}`"))
        alone.stop()


def _wait_timed(what: str, condition: Callable[[], object], timeout: float = 20) -> float:
    started = time.monotonic()
    wait_for(what, condition, timeout)
    return time.monotonic() - started


def test_tampering_and_restart(
    start_orthanc_a: StartOrthanc, reliability_report: ReliabilityReport
) -> None:
    orthanc = start_orthanc_a()
    client = client_for(orthanc)
    wait_authorized(client)
    interval = 2.0
    section = reliability_report.section(
        "Tampering and restarts",
        f"Changes made through Orthanc's REST API to the managed definition, with "
        f"`CheckInterval` {interval:.0f} s. *Restored after*: from the change to the "
        "definition being right again (seen through `?expand`, or QIDO-RS working again when "
        "only the token's value was replaced, which `?expand` cannot show). *Log lines*: "
        "lines saying the definition was restored.",
        ("Change", "Restored after", "Log lines"),
    )

    def restored_lines() -> int:
        return orthanc.log().count("definition was changed")

    def listed() -> dict[str, Any]:
        servers: dict[str, dict[str, Any]] = client.get("/dicom-web/servers?expand").json()
        return servers.get(SERVER, {})

    url = listed()["Url"]
    changes: list[tuple[str, Callable[[], object], Callable[[], bool]]] = [
        (
            "deleted (`DELETE /dicom-web/servers/NAME`)",
            lambda: client.delete(f"/dicom-web/servers/{SERVER}"),
            lambda: "Authorization" in listed().get("HttpHeaders", []),
        ),
        (
            "Url changed",
            lambda: client.put(
                f"/dicom-web/servers/{SERVER}",
                json={
                    "Url": "http://127.0.0.1:9/elsewhere/",
                    "HttpHeaders": {"Authorization": "Bearer x"},
                },
            ),
            lambda: listed().get("Url") == url,
        ),
        (
            "Authorization header removed",
            lambda: client.put(f"/dicom-web/servers/{SERVER}", json={"Url": url}),
            lambda: "Authorization" in listed().get("HttpHeaders", []),
        ),
        (
            "Authorization header replaced by another value",
            lambda: client.put(
                f"/dicom-web/servers/{SERVER}",
                json={"Url": url, "HttpHeaders": {"Authorization": "Bearer forged"}},
            ),
            lambda: qido_studies(client).status_code == 200,
        ),
    ]
    for title, change, is_restored in changes:
        before = restored_lines()
        change()
        if "replaced" in title:
            assert qido_studies(client).status_code == 401
        elapsed = _wait_timed(title, is_restored)
        # A replaced header value cannot be seen: it is overwritten at the check, silently.
        expected_lines = 0 if "replaced" in title else 1
        if expected_lines:  # the line follows the write
            wait_for(f"{title}: logged", lambda: restored_lines() > before)  # noqa: B023
        lines = restored_lines() - before
        section.rows.append((title, f"{elapsed:.2f} s", str(lines)))
        assert lines == expected_lines, title

    orthanc.stop()
    started = time.monotonic()
    orthanc.start()
    authorized = _wait_timed(
        "authorized after restart",
        lambda: (
            client.get(f"/dicomweb-oauth/servers/{SERVER}").status_code == 200
            and server_status(client)["DefinitionWrites"] > 0
        ),
        timeout=20,
    )
    since_start = time.monotonic() - started
    assert qido_studies(client).status_code == 200
    section.rows.append(
        (
            "Orthanc restarted",
            f"{since_start:.2f} s after the process "
            f"started ({authorized:.2f} s after its REST API answered)",
            "0",
        )
    )


def _process_figures(orthanc: Orthanc) -> tuple[int, int, float]:
    assert orthanc.process is not None
    pid = orthanc.process.pid
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    threads = int(fields["Threads"].strip())
    rss_mib = int(fields["VmRSS"].split()[0]) / 1024
    sockets = sum(
        1 for fd in Path(f"/proc/{pid}/fd").iterdir() if os.readlink(fd).startswith("socket:")
    )
    return threads, sockets, rss_mib


def _traffic(
    client: httpx2.Client, study: str, stop: threading.Event, results: list[tuple[str, int, float]]
) -> None:
    """QIDO-RS and STOW-RS in turn until stopped; a request that fails without an HTTP
    status (a dropped connection) counts as status 0."""
    while not stop.is_set():
        for kind in ("qido", "stow"):
            started = time.monotonic()
            try:
                if kind == "qido":
                    status = qido_studies(client).status_code
                else:
                    status = client.post(
                        f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [study]}
                    ).status_code
            except httpx2.HTTPError:
                status = 0
            results.append((kind, status, time.monotonic() - started))


def test_load_while_tokens_refresh(
    start_orthanc_a: StartOrthanc, reliability_report: ReliabilityReport
) -> None:
    # Orthanc 1.10.1 with DICOMweb 1.7 stops answering when more synchronous STOW-RS
    # requests run at once than ConcurrentJobs (default 2) allows, with or without this
    # plugin (measured: docs/troubleshooting.md). 50 clients need more job threads. A
    # synchronous STOW-RS polls its job until it ends: with 50 at once, a finished job can
    # leave Orthanc's history (JobsHistorySize, default 10) before its poll, and the STOW
    # answers 404 ("Accessing an inexistent item", seen here).
    orthanc = start_orthanc_a(ConcurrentJobs=64, JobsHistorySize=1000)
    client = client_for(orthanc)
    wait_authorized(client)
    section = reliability_report.section(
        "Load and time",
        "Concurrent clients of Orthanc's REST API while the plugin refreshes tokens (8 s "
        "tokens, a refresh every 4 s or so), and a soak of at least 30 token lifetimes with "
        "continuous traffic (figures of Orthanc's process from /proc at start and end). "
        "Synchronous STOW-RS runs as an Orthanc job: the load test sets `ConcurrentJobs` to "
        "64, because Orthanc 1.10.1 with DICOMweb 1.7 stops answering when more synchronous "
        "STOW-RS requests run at once than `ConcurrentJobs` (default 2), with or without this "
        "plugin, and `JobsHistorySize` to 1000, because a finished job that leaves Orthanc's "
        "history (10 jobs by default) before the DICOMweb plugin polls it makes its STOW-RS "
        "answer 404.",
        ("Test", "Result"),
    )
    studies = [upload(client, study_instance(f"LOAD^{n}")[0]) for n in range(50)]
    refreshes_before = server_status(client)["Refreshes"]
    results: list[tuple[str, int, float]] = []
    stop = threading.Event()
    workers = [
        threading.Thread(target=_traffic, args=(client_for(orthanc), study, stop, results))
        for study in studies
    ]
    for worker in workers:
        worker.start()
    time.sleep(20)
    stop.set()
    for worker in workers:
        worker.join(120)
    refreshes = server_status(client)["Refreshes"] - refreshes_before
    failures = [r for r in results if r[1] != 200]
    latencies = sorted(r[2] for r in results)
    section.rows.append(
        (
            "50 clients doing QIDO-RS and STOW-RS through Orthanc for 20 s",
            f"{len(results)} requests, {len(failures)} failed, {refreshes} token refreshes during "
            f"the run; latency p50 {statistics.median(latencies) * 1000:.0f} ms, p95 "
            f"{latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms",
        )
    )
    assert not failures, failures[:5]
    assert refreshes >= 3

    barrier = threading.Barrier(200)
    codes: list[int] = []

    def status_call() -> None:
        local = client_for(orthanc)
        barrier.wait()
        codes.append(local.get("/dicomweb-oauth/servers").status_code)

    callers = [threading.Thread(target=status_call) for _ in range(200)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(60)
    section.rows.append(
        (
            "200 concurrent calls of `GET /dicomweb-oauth/servers`",
            f"{len(codes)} answered, {sum(code != 200 for code in codes)} failed",
        )
    )
    assert codes == [200] * 200


def test_soak_of_thirty_token_lifetimes(
    start_orthanc_a: StartOrthanc,
    work_dir: Path,
    log_dir: Path,
    reliability_report: ReliabilityReport,
) -> None:
    """A chain of its own with 3 s tokens: 30 lifetimes in about 90 s."""
    lifetime = 3
    soak_dir = work_dir / "soak"
    soak_dir.mkdir()
    provider = Provider(soak_dir, log_dir, lifetime, CLIENTS)
    provider.start()
    validator = Validator(log_dir, provider)
    validator.start()
    protected = ProtectedServer(soak_dir, log_dir, validator)
    try:
        protected.start()
        orthanc = start_orthanc_a(servers={SERVER: oauth_server(provider, protected)})
        client = client_for(orthanc)
        wait_authorized(client)
        study = upload(client, study_instance("SOAK^TEST")[0])
        for _ in range(3):  # warm up: connections and caches of the first transfers
            qido_studies(client)
        start_figures = _process_figures(orthanc)
        refused_before = validator.stats()["refused"]
        results: list[tuple[str, int, float]] = []
        stop = threading.Event()
        traffic = threading.Thread(target=_traffic, args=(client, study, stop, results))
        traffic.start()
        time.sleep(30 * lifetime + 2)
        stop.set()
        traffic.join(60)
        end_figures = _process_figures(orthanc)
        status = server_status(client)
        refused = validator.stats()["refused"] - refused_before
    finally:
        protected.stop()
        validator.stop()
        provider.stop()
    failures = [r for r in results if r[1] != 200]
    section = reliability_report.section("Load and time", "", ())
    section.rows.append(
        (
            f"Soak: {30 * lifetime + 2} s, {lifetime} s tokens, continuous QIDO-RS and STOW-RS",
            f"{len(results)} requests, {len(failures)} failed, {refused} refused by the protected "
            f"server, {status['Refreshes']} token refreshes, {status['Failures']} failed token "
            f"requests. Orthanc at start / end: {start_figures[0]} / {end_figures[0]} threads, "
            f"{start_figures[1]} / {end_figures[1]} sockets, {start_figures[2]:.1f} / "
            f"{end_figures[2]:.1f} MiB resident",
        )
    )
    assert not failures, failures[:5]
    assert refused == 0
    assert status["Refreshes"] >= 30
    assert end_figures[0] == start_figures[0]
    assert end_figures[1] <= start_figures[1] + 3
    assert end_figures[2] <= start_figures[2] + 16
