"""The benchmark: `make bench` (figures printed, written as JSON and to
docs/performance.md) or `python -m local_rig.bench --smoke` (a tiny run, for the tests).

1. Image path: STOW-RS and retrieve of a synthetic study from Orthanc A to the protected
   Orthanc B, alternating (a) a server managed by the plugin and (b) the same server
   defined statically with a valid bearer header, in two Orthanc processes, one without
   the plugin (and an identical control arm): median throughput of each arm, timed at the
   protected server's nginx, their ratio, each process's memory after start and its peak;
   what Orthanc's embedded Python and each library the plugin imports cost, measured
   inside a real Orthanc.
2. Token keeper: 64 threads reading tokens across several refreshes: token requests
   sent against refreshes needed, and the latency of a cached read.
3. Idle cost: CPU of Orthanc managing 10 servers, against Orthanc without the plugin,
   and the time the plugin adds to Orthanc's start.
4. Scale: 100 servers on four token lifetimes (20 s to 1 h): how many token requests the
   provider gets in its busiest second, at start and after, and all authorized.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from werkzeug import Request, Response
from werkzeug.serving import make_server

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.dicomweb.service import start_spread
from orthanc_dicomweb_oauth.tokens.server_tokens import create_server_tokens

from .cloud_emulations import pinned_environment
from .installations import plugin_environment
from .services import (
    CLIENT_SECRET,
    ROOT,
    Orthanc,
    ProtectedServer,
    Provider,
    Validator,
    orthanc_configuration,
)

# Token lifetimes of the scale section's clients: a short test setting, Keycloak's
# default-ish minute and five minutes, Entra ID's hour.
SCALE_LIFETIMES = (20, 60, 300, 3600)
CLIENTS = [
    {
        "client_id": client_id,
        "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_post",
        **({"token_ttl": lifetime} if lifetime else {}),
    }
    for client_id, lifetime in [
        ("bench", None),
        *((f"scale-{lifetime}", lifetime) for lifetime in SCALE_LIFETIMES),
    ]
]
MEMORY_GOAL_MIB = 32
TMPFS = "/dev/shm"  # noqa: S108 - TemporaryDirectory makes a private directory in it
GOALS = {
    "throughput_ratio": "at least 0.98",
    # Decided: no regression over the plugin before the cloud identities. The peak during
    # transfers and the figure over an Orthanc already running Python are reported in the
    # memory section, not held to a goal.
    "memory_added_mib": f"at most {MEMORY_GOAL_MIB} MiB",
    "extra_token_requests": "0 (requests sent = refreshes needed)",
    "cached_read_p50_us": "under 10 µs",
    "start_added_ms": "under 50 ms, nothing blocking",
}


def start_herd_limit(servers: int) -> tuple[float, int]:
    """The seconds over which the plugin spreads its servers' first token requests (each
    at a random time in it), and the most any one second should get: the binomial
    expectation plus three standard deviations. A herd would put them all in one."""
    spread = start_spread(servers)
    share = min(1.0, 1 / spread) if spread > 0 else 1.0
    expected = servers * share
    return spread, math.ceil(expected + 3 * math.sqrt(expected * (1 - share)))


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the benchmark reports to a person


# -- 1. Image path ---------------------------------------------------------------------


def synthetic_study(instances: int, side: int) -> list[bytes]:
    """A CT study of `instances` images of side x side 16-bit pixels, new UIDs."""
    template = dcmread(str(get_testdata_file("CT_small.dcm")))
    study, series = generate_uid(), generate_uid()
    rng = random.Random(7)
    files = []
    for number in range(instances):
        dataset = template.copy()
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.InstanceNumber = number + 1
        dataset.Rows = dataset.Columns = side
        dataset.PixelData = rng.randbytes(side * side * 2)
        buffer = io.BytesIO()
        dataset.save_as(buffer)
        files.append(buffer.getvalue())
    return files


def _status_mib(orthanc: Orthanc, field: str) -> float:
    assert orthanc.process is not None
    for line in Path(f"/proc/{orthanc.process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def peak_rss_mib(orthanc: Orthanc) -> float:
    return _status_mib(orthanc, "VmHWM")


def restart_peak_rss(orthanc: Orthanc) -> None:
    """The peak (VmHWM) starts again from the current resident size (Linux's clear_refs)."""
    assert orthanc.process is not None
    Path(f"/proc/{orthanc.process.pid}/clear_refs").write_text("5")


def rss_split_mib(orthanc: Orthanc) -> dict[str, float]:
    """Resident memory, and its part that is the process's own (anonymous: heap, stacks)
    and that mapped from files (libraries, shared with other processes, reclaimable)."""
    return {
        field.lower(): round(_status_mib(orthanc, name), 1)
        for field, name in (("Total", "VmRSS"), ("Anonymous", "RssAnon"), ("Files", "RssFile"))
    }


def cpu_seconds(orthanc: Orthanc) -> float:
    assert orthanc.process is not None
    fields = Path(f"/proc/{orthanc.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _wait_valid(client: httpx2.Client, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get("/dicomweb-oauth/servers")
        if answer.status_code == 200:
            servers = answer.json()["Servers"]
            if all(
                servers.get(n, {}).get("State") == "Valid" and servers[n]["DefinitionWrites"]
                for n in names
            ):
                return
        time.sleep(0.1)
    raise RuntimeError(f"servers not authorized within {timeout} s")


def transfer_seconds(
    client: httpx2.Client, access_log: Path, action: str, body: dict[str, Any]
) -> float:
    """Runs a STOW-RS or retrieve as an Orthanc job, and returns how long its requests took
    at the protected server's nginx: from the first request's start to the last answer's
    end. Neither the synchronous call nor the job's timestamps serve: both move in steps
    of about 0.5 s (the DICOMweb plugin polls its worker), a third of a 1.5 s transfer."""
    offset = access_log.stat().st_size
    answer = client.post(f"/dicom-web/servers/remote/{action}", json={**body, "Asynchronous": True})
    answer.raise_for_status()
    job_id = answer.json()["ID"]
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["State"] == "Success":
            break
        if job["State"] == "Failure":
            raise RuntimeError(f"{action} job failed: {job}")
        time.sleep(0.05)
    with access_log.open() as log:
        log.seek(offset)
        # Each line: the end (epoch s, ms precision), the duration (s), method, status, URI.
        requests = [line.split() for line in log if line.strip()]
    if not requests or any(not fields[3].startswith("2") for fields in requests):
        raise RuntimeError(f"{action}: unexpected requests at the protected server {requests}")
    ends = [float(fields[0]) for fields in requests]
    starts = [float(fields[0]) - float(fields[1]) for fields in requests]
    return max(ends) - min(starts)


def image_path(
    work: Path, rig: dict[str, Any], rounds: int, instances: int, side: int
) -> dict[str, Any]:
    provider, protected = rig["provider"], rig["protected"]
    entry = rig["entry"]
    files = synthetic_study(instances, side)
    size_mb = sum(len(f) for f in files) / 1e6
    say(f"  study: {instances} instances, {size_mb:.1f} MB")
    server = {"Url": protected.url, "Timeout": 600}
    managed = Orthanc(
        "bench-managed",
        work,
        work,
        orthanc_configuration(
            str(entry),
            {
                "Servers": {
                    "remote": {
                        **server,
                        "TokenEndpoint": provider.token_endpoint,
                        "ClientId": "bench",
                        "ClientSecretEnv": "BENCH_SECRET_VALUE",
                    }
                }
            },
        ),
        env={"BENCH_SECRET_VALUE": CLIENT_SECRET},
        verbose=False,
    )
    # Two identical static arms: how far apart they end tells the noise of a peak.
    static, control = (
        Orthanc(
            name,
            work,
            work,
            orthanc_configuration(dicomweb={"Servers": {"remote": server}}),
            verbose=False,
        )
        for name in ("bench-static", "bench-control")
    )
    processes = {"managed": managed, "static": static, "control": control}
    for process in processes.values():
        process.start()
    try:
        clients = {
            arm: httpx2.Client(base_url=process.url, timeout=900)
            for arm, process in processes.items()
        }
        _wait_valid(clients["managed"], ["remote"])
        idle_rss = {arm: rss_split_mib(process) for arm, process in processes.items()}
        studies = {}
        for arm, client in clients.items():
            for data in files:
                answer = client.post("/instances", content=data)
                answer.raise_for_status()
            studies[arm] = answer.json()["ParentStudy"]
        uid = dcmread(io.BytesIO(files[0])).StudyInstanceUID
        b = httpx2.Client(base_url=protected.orthanc.url, auth=protected.direct_auth, timeout=300)
        figures: dict[str, dict[str, list[float]]] = {
            arm: {"stow": [], "retrieve": [], "peak": []} for arm in clients
        }
        arms = list(clients.items())
        for round_number in range(rounds):
            # The arms take turns going first: no arm always finds warm caches.
            shift = round_number % len(arms)
            for arm, client in arms[shift:] + arms[:shift]:
                if arm != "managed":  # a fresh valid token, as a person would paste it
                    token = provider.issue_token("bench")
                    client.put(
                        "/dicom-web/servers/remote",
                        json={**server, "HttpHeaders": {"Authorization": f"Bearer {token}"}},
                    ).raise_for_status()
                restart_peak_rss(processes[arm])
                seconds = transfer_seconds(
                    client, protected.access_log, "stow", {"Resources": [studies[arm]]}
                )
                figures[arm]["stow"].append(size_mb / seconds)
                client.delete(f"/studies/{studies[arm]}").raise_for_status()
                seconds = transfer_seconds(
                    client, protected.access_log, "retrieve", {"Resources": [{"Study": str(uid)}]}
                )
                figures[arm]["retrieve"].append(size_mb / seconds)
                figures[arm]["peak"].append(peak_rss_mib(processes[arm]))
                for study in b.get("/studies").json():
                    b.delete(f"/studies/{study}")
        result: dict[str, Any] = {"study_mb": round(size_mb, 1), "rounds": rounds}
        for direction in ("stow", "retrieve"):
            medians = {arm: statistics.median(figures[arm][direction]) for arm in clients}
            result[direction] = {
                "managed_mb_s": round(medians["managed"], 1),
                "static_mb_s": round(medians["static"], 1),
                "ratio": round(medians["managed"] / medians["static"], 3),
                "control_mb_s": round(medians["control"], 1),
                # The same figure between two identical arms: how far noise alone goes.
                "identical_arms_ratio": round(medians["control"] / medians["static"], 3),
                "mb_s_by_round": {
                    arm: [round(value, 1) for value in figures[arm][direction]] for arm in clients
                },
            }
        result["rss_after_start_mib"] = idle_rss
        # Each round's peak, the median of the rounds: one peak over the whole run keeps
        # the worst heap growth of any round.
        result["peak_rss_mib"] = {
            arm: round(statistics.median(figures[arm]["peak"]), 1) for arm in processes
        }
        result["peak_rss_by_round_mib"] = {
            arm: [round(peak, 1) for peak in figures[arm]["peak"]] for arm in processes
        }
        peaks = result["peak_rss_mib"]
        result["memory_added_mib"] = round(peaks["managed"] - peaks["static"], 1)
        result["peak_difference_between_identical_arms_mib"] = round(
            abs(peaks["control"] - peaks["static"]), 1
        )
        return result
    finally:
        for process in processes.values():
            process.stop()


# Run as Orthanc's PythonScript: what each step adds to Orthanc's resident memory, in
# that order, written as JSON to the file named by the environment.
IMPORT_PROBE = """
import json, os, site, sys
before_path = list(sys.path)
site.addsitedir(os.environ["BENCH_SITE_PACKAGES"])
sys.path[:] = [entry for entry in sys.path if entry not in before_path] + before_path
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
costs = {}
first = rss()
for label, statement in json.loads(os.environ["BENCH_IMPORT_STEPS"]):
    start = rss()
    exec(statement)
    costs[label] = round(rss() - start, 1)
costs["total"] = round(rss() - first, 1)
with open(os.environ["BENCH_IMPORT_COSTS"], "w") as output:
    json.dump(costs, output)
"""
# What the plugin loads for client_secret servers, library by library: each step counts
# only what the steps before it did not load. The steps share one namespace.
TLS_STEP = "ssl and the system's CA store"
IMPORT_STEPS = (
    (TLS_STEP, "import ssl; context = ssl.create_default_context()"),
    # httpx2 loads its transport's modules (httpcore2, h11, anyio) only when one is made.
    (
        "httpx2 and its transport (httpcore2, h11, anyio)",
        "import httpx2; httpx2.HTTPTransport(verify=context)",
    ),
    ("Authlib's OAuth 2 client", "import authlib.oauth2.client"),
    ("pydantic", "import pydantic"),
    (
        "the plugin's configuration schema (pydantic models)",
        "import orthanc_dicomweb_oauth.config.schema",
    ),
    (
        "the rest of orthanc_dicomweb_oauth",
        "import orthanc_dicomweb_oauth.dicomweb.service, orthanc_dicomweb_oauth.orthanc.rest_api",
    ),
)


# What each further kind of credential imports, after a client-secret server's imports.
KIND_STEPS = (
    (
        "private_key_jwt (cryptography, joserfc, Authlib's JWT signer)",
        "import orthanc_dicomweb_oauth.credentials.key_loader, authlib.oauth2.rfc7523",
    ),
    ("ClientAssertionFile", "import orthanc_dicomweb_oauth.credentials.assertion_file"),
    (
        "GoogleCredentials, a key file (google-auth, cryptography)",
        "import orthanc_dicomweb_oauth.sources.google.source",
    ),
    (
        "GoogleCredentials, the metadata server (google-auth, cryptography, requests)",
        "import orthanc_dicomweb_oauth.sources.google.source, google.auth.compute_engine",
    ),
    (
        "AzureManagedIdentity (azure-identity, azure-core, msal, requests, cryptography)",
        "from orthanc_dicomweb_oauth.sources.azure_managed_identity import "
        "ManagedIdentityCredential as M; M(_exclude_workload_identity_credential=True).close()",
    ),
)


def kind_costs(work: Path, entry: Path) -> dict[str, float]:
    """Resident memory each kind of credential adds inside a real Orthanc, over a
    client-secret server's imports: one Orthanc per kind."""
    return {
        label: _import_costs(work, entry, (*IMPORT_STEPS, (label, statement)))[label]
        for label, statement in KIND_STEPS
    }


def import_costs(work: Path, entry: Path) -> dict[str, float]:
    """Resident memory each step of IMPORT_STEPS adds inside a real Orthanc."""
    return _import_costs(work, entry, IMPORT_STEPS)


def _import_costs(work: Path, entry: Path, steps: tuple[tuple[str, str], ...]) -> dict[str, float]:
    probe = work / "import_probe.py"
    probe.write_text(IMPORT_PROBE)
    output = work / "import_costs.json"
    orthanc = Orthanc(
        "bench-imports",
        work,
        work,
        orthanc_configuration(str(probe)),
        env={
            "BENCH_SITE_PACKAGES": str(entry.parents[2]),
            "BENCH_IMPORT_STEPS": json.dumps(steps),
            "BENCH_IMPORT_COSTS": str(output),
            # Importing the cloud libraries calls nothing; were it to, loopback only.
            **pinned_environment("127.0.0.1:9", work / "gcloud"),
        },
    )
    orthanc.start()
    orthanc.stop()
    costs: dict[str, float] = json.loads(output.read_text())
    return costs


def empty_script(work: Path) -> Path:
    script = work / "empty_script.py"
    script.write_text("")
    return script


def interpreter_cost(work: Path) -> dict[str, dict[str, float]]:
    """Orthanc after start without Python, and with Python running an empty script: what
    any Python plugin costs before importing anything."""
    configurations = {
        "without_python": {"Plugins": []},
        "python_empty_script": orthanc_configuration(str(empty_script(work))),
    }
    result = {}
    for name, configuration in configurations.items():
        orthanc = Orthanc(f"bench-{name.replace('_', '-')}", work, work, configuration)
        orthanc.start()
        try:
            time.sleep(2)
            result[name] = rss_split_mib(orthanc)
        finally:
            orthanc.stop()
    return result


# -- 2. Token keeper ---------------------------------------------------------------------


@contextmanager
def token_endpoint(lifetime: float) -> Iterator[tuple[str, list[int]]]:
    requests = [0]

    @Request.application
    def issue(_: Request) -> Response:
        requests[0] += 1
        body = {
            "access_token": f"token-{requests[0]}",
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        return Response(json.dumps(body), content_type="application/json")

    server = make_server("127.0.0.1", 0, issue, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token", requests
    finally:
        server.shutdown()


def token_keeper(seconds: float, threads: int) -> dict[str, Any]:
    lifetime = 2.0  # refresh due after about 1 s
    with token_endpoint(lifetime) as (url, requests):
        loaded = load_configuration(
            {
                "DicomWebOAuth": {
                    "Servers": {
                        "bench": {
                            "Url": "http://127.0.0.1:9/",
                            "TokenEndpoint": url,
                            "ClientId": "bench",
                            "ClientSecret": "bench-secret",
                        }
                    }
                }
            },
            environ={},
        )
        tokens = create_server_tokens(loaded.servers["bench"])
        keeper = tokens.keeper
        keeper.token()
        single = array("q")
        for _ in range(100_000):
            started = time.perf_counter_ns()
            keeper.token()
            single.append(time.perf_counter_ns() - started)
        samples = [array("q") for _ in range(threads)]
        stop = threading.Event()
        barrier = threading.Barrier(threads + 1)

        def read(sample: array[int]) -> None:
            barrier.wait()
            while not stop.is_set():
                started = time.perf_counter_ns()
                keeper.token()
                sample.append(time.perf_counter_ns() - started)

        workers = [threading.Thread(target=read, args=(s,)) for s in samples]
        for worker in workers:
            worker.start()
        requests_before = requests[0]
        refreshes_before = keeper.status().refreshes
        barrier.wait()
        time.sleep(seconds)
        stop.set()
        for worker in workers:
            worker.join()
        status = keeper.status()
        tokens.close()
    sent = requests[0] - requests_before
    needed = status.refreshes - refreshes_before
    merged = sorted(v for s in samples for v in s)
    single_sorted = sorted(single)
    return {
        "threads": threads,
        "seconds": seconds,
        "token_lifetime_s": lifetime,
        "reads": len(merged),
        "token_requests_sent": sent,
        "refreshes_needed": needed,
        "extra_token_requests": sent - needed,
        "cached_read_p50_us": round(single_sorted[len(single_sorted) // 2] / 1000, 2),
        "cached_read_p99_us": round(single_sorted[int(len(single_sorted) * 0.99)] / 1000, 2),
        "read_p50_us_64_threads": round(merged[len(merged) // 2] / 1000, 2),
        "read_p99_us_64_threads": round(merged[int(len(merged) * 0.99)] / 1000, 2),
    }


# -- 3. Idle cost and start time ---------------------------------------------------------


def idle_cost(work: Path, rig: dict[str, Any], seconds: float, starts: int) -> dict[str, Any]:
    provider, entry = rig["long_provider"], rig["entry"]
    servers = {
        f"server-{n}": {
            "Url": f"https://dicom-{n}.example.com/",
            "TokenEndpoint": provider.token_endpoint,
            "ClientId": "bench",
            "ClientSecretEnv": "BENCH_SECRET_VALUE",
        }
        for n in range(10)
    }
    with_plugin = orthanc_configuration(str(entry), {"Servers": servers})
    without = orthanc_configuration()
    # Any Python plugin's share of the start: the interpreter, running an empty script.
    python_only = orthanc_configuration(str(empty_script(work)))
    result: dict[str, Any] = {"servers": 10, "seconds": seconds}
    start_times: dict[str, list[float]] = {"with": [], "without": [], "python_only": []}
    for round_number in range(starts):
        for name, config in (
            ("with", with_plugin),
            ("without", without),
            ("python_only", python_only),
        ):
            orthanc = Orthanc(
                f"idle-{name}-{round_number}",
                work,
                work,
                config,
                env={"BENCH_SECRET_VALUE": CLIENT_SECRET},
                verbose=False,
            )
            orthanc.poll_interval = 0.002
            started = time.monotonic()
            orthanc.start()
            start_times[name].append(time.monotonic() - started)
            orthanc.stop()
    result["start_s"] = {name: round(statistics.median(v), 3) for name, v in start_times.items()}
    result["start_s_each"] = {
        name: [round(seconds, 3) for seconds in v] for name, v in start_times.items()
    }
    result["start_added_ms"] = round(
        (result["start_s"]["with"] - result["start_s"]["without"]) * 1000, 1
    )
    result["start_added_by_python_ms"] = round(
        (result["start_s"]["python_only"] - result["start_s"]["without"]) * 1000, 1
    )
    cpu: dict[str, float] = {}
    for name, config in (("with", with_plugin), ("without", without)):
        orthanc = Orthanc(
            f"idle-{name}",
            work,
            work,
            config,
            env={"BENCH_SECRET_VALUE": CLIENT_SECRET},
            verbose=False,
        )
        orthanc.start()
        try:
            if name == "with":
                _wait_valid(httpx2.Client(base_url=orthanc.url, timeout=30), list(servers))
            time.sleep(2)
            result.setdefault("rss_after_start_mib", {})[name] = rss_split_mib(orthanc)
            before = cpu_seconds(orthanc)
            time.sleep(seconds)
            cpu[name] = (cpu_seconds(orthanc) - before) / seconds * 3600
        finally:
            orthanc.stop()
    result["cpu_s_per_hour"] = {name: round(value, 2) for name, value in cpu.items()}
    return result


# -- 4. Scale ----------------------------------------------------------------------------


def scale(work: Path, rig: dict[str, Any], servers_count: int, seconds: float) -> dict[str, Any]:
    provider, protected, entry = rig["provider"], rig["protected"], rig["entry"]
    lifetime_of = {
        f"pacs-{n:03d}": SCALE_LIFETIMES[n % len(SCALE_LIFETIMES)] for n in range(servers_count)
    }
    servers = {
        name: {
            "Url": protected.url,
            "TokenEndpoint": provider.token_endpoint,
            "ClientId": f"scale-{lifetime}",
            "ClientSecretEnv": "BENCH_SECRET_VALUE",
        }
        for name, lifetime in lifetime_of.items()
    }
    orthanc = Orthanc(
        "scale",
        work,
        work,
        orthanc_configuration(str(entry), {"Servers": servers}, HttpThreadsCount=100),
        env={"BENCH_SECRET_VALUE": CLIENT_SECRET},
        verbose=False,
    )
    started = int(time.time())
    orthanc.start()
    try:
        client = httpx2.Client(base_url=orthanc.url, timeout=120)
        _wait_valid(client, list(servers), timeout=120)
        settled = int(time.time()) + 1
        time.sleep(seconds)
        listed = client.get("/dicomweb-oauth/servers").json()["Servers"]
        ended = int(time.time())
        tested = [
            client.post(f"/dicomweb-oauth/servers/{name}/test").status_code for name in servers
        ]
    finally:
        orthanc.stop()
    per_second = {int(second): count for second, count in provider.stats()["perSecond"].items()}

    def busiest(first: int, last: int) -> int:
        return max((per_second.get(second, 0) for second in range(first, last + 1)), default=0)

    by_lifetime = {
        str(lifetime): sorted(
            listed[name]["Refreshes"] for name, group in lifetime_of.items() if group == lifetime
        )
        for lifetime in SCALE_LIFETIMES
    }
    return {
        "servers": servers_count,
        "lifetimes_s": list(SCALE_LIFETIMES),
        "seconds": seconds,
        "valid": sum(s["State"] == "Valid" for s in listed.values()),
        "failures": sum(s["Failures"] for s in listed.values()),
        "tokens_per_server_by_lifetime": {
            lifetime: {"min": counts[0], "max": counts[-1]}
            for lifetime, counts in by_lifetime.items()
        },
        "token_requests": sum(per_second.get(s, 0) for s in range(started, ended + 1)),
        "busiest_second_at_start": busiest(started, settled),
        "busiest_second_after_start": busiest(settled + 1, ended),
        "qido_ok": sum(code == 200 for code in tested),
    }


# -- Running it ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_rig.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny, quick run")
    parser.add_argument("--output", type=Path, default=ROOT / "test-artifacts" / "bench.json")
    parser.add_argument("--write-docs", action="store_true", help="also write docs/performance.md")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per token request
    smoke = args.smoke
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "smoke": smoke,
    }
    # Orthancs' storage in memory where there is a tmpfs: the disk's write-back would add
    # its own noise to the image path's timings.
    in_memory = TMPFS if os.access(TMPFS, os.W_OK) else None
    results["storage"] = in_memory or tempfile.gettempdir()
    with tempfile.TemporaryDirectory(prefix="dicomweb-oauth-bench-", dir=in_memory) as temporary:
        work = Path(temporary)
        rig = _start_rig(work, token_ttl=20 if smoke else 60)
        try:
            say("1. Image path")
            results["image_path"] = image_path(
                work,
                rig,
                rounds=2 if smoke else 15,
                instances=4 if smoke else 200,
                side=64 if smoke else 512,
            )
            results["image_path"]["import_rss_mib"] = import_costs(work, rig["entry"])
            results["image_path"]["kind_rss_mib"] = kind_costs(work, rig["entry"])
            results["image_path"]["interpreter_rss_mib"] = interpreter_cost(work)
            say(json.dumps(results["image_path"], indent=2))
            say("2. Token keeper")
            results["token_keeper"] = token_keeper(2 if smoke else 10, 64)
            say(json.dumps(results["token_keeper"], indent=2))
            say("3. Idle cost")
            results["idle"] = idle_cost(work, rig, 3 if smoke else 60, 1 if smoke else 21)
            say(json.dumps(results["idle"], indent=2))
            say("4. Scale")
            results["scale"] = scale(work, rig, 10 if smoke else 100, 5 if smoke else 120)
            say(json.dumps(results["scale"], indent=2))
        finally:
            for stop in reversed(rig["stops"]):
                stop()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    say(f"\nResults written to {args.output}")
    say(summary(results))
    if args.write_docs:
        (ROOT / "docs" / "performance.md").write_text(performance_document(results))
    return 0


def _start_rig(work: Path, token_ttl: int) -> dict[str, Any]:
    stops: list[Callable[[], Any]] = []
    rig: dict[str, Any] = {"stops": stops, "entry": plugin_environment()}
    provider = Provider(work, work, token_ttl, CLIENTS)
    provider.start()
    stops.append(provider.stop)
    long_dir = work / "long"
    long_dir.mkdir()
    long_provider = Provider(long_dir, long_dir, 3600, CLIENTS)
    long_provider.start()
    stops.append(long_provider.stop)
    validator = Validator(work, provider)
    validator.start()
    stops.append(validator.stop)
    protected = ProtectedServer(work, work, validator)
    protected.start()
    stops.append(protected.stop)
    rig.update(provider=provider, long_provider=long_provider, protected=protected)
    return rig


def goal_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    image, keeper, idle = results["image_path"], results["token_keeper"], results["idle"]
    scale = results["scale"]
    spread, herd_limit = start_herd_limit(scale["servers"])
    rows = [
        (
            "STOW-RS throughput ratio (managed / static; two identical static arms)",
            f"{image['stow']['ratio']}; {image['stow']['identical_arms_ratio']}",
            GOALS["throughput_ratio"],
            image["stow"]["ratio"] >= 0.98,
        ),
        (
            "Retrieve throughput ratio (managed / static; two identical static arms)",
            f"{image['retrieve']['ratio']}; {image['retrieve']['identical_arms_ratio']}",
            GOALS["throughput_ratio"],
            image["retrieve"]["ratio"] >= 0.98,
        ),
        (
            "Memory added after start, before any transfer, client secret (MiB)",
            added_after_start(image)["total"],
            GOALS["memory_added_mib"],
            added_after_start(image)["total"] <= MEMORY_GOAL_MIB,
        ),
        (
            f"Token requests in the provider's busiest second, {scale['servers']} servers: "
            "at start / after",
            f"{scale['busiest_second_at_start']} / {scale['busiest_second_after_start']}",
            f"at most {herd_limit} at start (random times over {spread:g} s), no more after",
            scale["busiest_second_at_start"] <= herd_limit
            and scale["busiest_second_after_start"] <= scale["busiest_second_at_start"],
        ),
        (
            f"Servers authorized at the end, {scale['servers']} servers on "
            f"{len(scale['lifetimes_s'])} lifetimes",
            f"{scale['valid']} / {scale['servers']}",
            "all",
            scale["valid"] == scale["servers"] == scale["qido_ok"],
        ),
        (
            "Extra token requests (64 threads)",
            keeper["extra_token_requests"],
            GOALS["extra_token_requests"],
            keeper["extra_token_requests"] == 0,
        ),
        (
            "Cached read p50 (µs)",
            keeper["cached_read_p50_us"],
            GOALS["cached_read_p50_us"],
            keeper["cached_read_p50_us"] < 10,
        ),
        (
            "Start time added (ms), of which Orthanc's embedded Python itself",
            f"{idle['start_added_ms']}, {idle['start_added_by_python_ms']}",
            GOALS["start_added_ms"],
            idle["start_added_ms"] < 50,
        ),
    ]
    verdicts = {True: "yes", False: "NO", None: "cannot tell"}
    return [(name, str(value), goal, verdicts[met]) for name, value, goal, met in rows]


def summary(results: dict[str, Any]) -> str:
    return "\n".join(
        ["", "Figure | value | goal | met"] + [" | ".join(row) for row in goal_rows(results)]
    )


def added_after_start(image: dict[str, Any]) -> dict[str, float]:
    managed, static = (
        image["rss_after_start_mib"]["managed"],
        image["rss_after_start_mib"]["static"],
    )
    return {part: round(managed[part] - static[part], 1) for part in managed}


def added_to_python(image: dict[str, Any]) -> float:
    """The managed arm after start against Orthanc running an empty Python script."""
    managed: float = image["rss_after_start_mib"]["managed"]["total"]
    python: float = image["interpreter_rss_mib"]["python_empty_script"]["total"]
    return round(managed - python, 1)


def interpreter_added(image: dict[str, Any]) -> float:
    python: float = image["interpreter_rss_mib"]["python_empty_script"]["total"]
    without: float = image["interpreter_rss_mib"]["without_python"]["total"]
    return round(python - without, 1)


def memory_per_further_server(results: dict[str, Any]) -> float:
    """From one managed server (the image path's arm) to ten (the idle section's)."""
    one: float = results["image_path"]["rss_after_start_mib"]["managed"]["total"]
    idle = results["idle"]
    ten: float = idle["rss_after_start_mib"]["with"]["total"]
    servers: int = idle["servers"]
    return round((ten - one) / (servers - 1), 2)


def memory_section(results: dict[str, Any]) -> list[str]:
    image = results["image_path"]
    added = added_after_start(image)
    costs = image["import_rss_mib"]
    parts = ", ".join(f"{name} {value}" for name, value in costs.items() if name != "total")
    peaks = image["peak_rss_mib"]
    floor = round(interpreter_added(image) + costs[TLS_STEP], 1)
    kinds = image.get("kind_rss_mib", {})
    lines = [
        "## Memory",
        "",
        f"After start, before any transfer, the plugin with one client-secret server adds "
        f"{added['total']} MiB to Orthanc (the goal: at most {MEMORY_GOAL_MIB} MiB, no "
        f"regression): {added['anonymous']} MiB of its own memory (Python objects, heap, "
        f"stacks) and {added['files']} MiB of libraries mapped from files (shared with other "
        "processes using them, and reclaimable). Of that, "
        f"{interpreter_added(image)} MiB is Orthanc's embedded Python itself (Orthanc running "
        "an empty PythonScript, against Orthanc without Python), paid once by every site that "
        "runs any Python plugin; the plugin adds "
        f"{added_to_python(image)} MiB to an Orthanc already running Python. Each further "
        f"server adds {memory_per_further_server(results)} MiB (one server against ten).",
        "",
        "What the plugin loads for a client-secret server, one step after the other inside a "
        f"real Orthanc (MiB): {parts}; {costs['total']} in all. The embedded Python with ssl "
        f"and the system's CA store, the least any Python plugin verifying TLS needs, is "
        f"already {floor} MiB.",
        "",
        "At peak (each arm's median over the rounds of its peak during one round's STOW "
        f"and retrieve), the managed arm was {image['memory_added_mib']} MiB above the "
        f"static one ({peaks['managed']} against {peaks['static']} MiB), and two identical "
        f"static arms were {image['peak_difference_between_identical_arms_mib']} MiB apart "
        f"({peaks['static']} and {peaks['control']} MiB; every round's peak is in the "
        "figures below: each arm's rises unevenly from round to round, as Orthanc's heap "
        "grows during the transfers). The peak is reported, not held to the goal, which is "
        "about the memory after start: image data never passes through Python (both arms "
        "move it through the same C++ code), so the plugin's share of the peak should be its "
        "memory after start, and the rest Orthanc's heap, as uneven as the identical arms "
        "show.",
        "",
    ]
    if kinds:
        lines += [
            "### What each kind of credential adds",
            "",
            "Each kind's libraries load only for the servers that use it "
            "(tests/integration/test_imports.py checks it). Inside a real Orthanc, after the "
            "client-secret server's imports above (MiB):",
            "",
            "| Kind | Added |",
            "|---|---|",
            *(f"| {kind} | {value} |" for kind, value in kinds.items()),
            "",
        ]
    return lines


def _misses(results: dict[str, Any]) -> list[str]:
    missed = [row for row in goal_rows(results) if row[3] != "yes"]
    if not missed:
        return []
    lines = ["## Where a goal is missed, and why", ""]
    image = results["image_path"]
    if any("memory" in row[0].lower() for row in missed):
        lines += [
            "Memory: see the section Memory below, and the step of the client-secret "
            "server's imports that grew since the last run.",
            "",
        ]
    for name, value, goal, _ in missed:
        if "memory" in name.lower():
            continue
        reason = "This run does not explain it."
        if "throughput" in name.lower():
            figures = image["stow" if name.startswith("STOW") else "retrieve"]
            error = median_ratio_error(figures["mb_s_by_round"])
            rounds = len(figures["mb_s_by_round"]["static"])
            if abs(1 - figures["ratio"]) <= 2 * error:
                reason = (
                    "Within this machine's noise: between the two identical static arms, "
                    f"one round's ratio varies by {error_per_round(figures['mb_s_by_round'])} "
                    f"(standard deviation), so a median of {rounds} rounds is known to about "
                    f"±{error} and this run cannot tell a difference under {round(2 * error, 3)} "
                    "(every round's figure is below). Image data never passes through Python "
                    "(the plugin sees only Orthanc's change events): both arms move it through "
                    "the same C++ code."
                )
        lines += [f"{name}: {value}, goal {goal}. {reason}", ""]
    return lines


def error_per_round(by_round: dict[str, list[float]]) -> float:
    """The standard deviation of one round's ratio between the identical static arms."""
    ratios = [c / s for c, s in zip(by_round["control"], by_round["static"], strict=True)]
    return round(statistics.stdev(ratios), 3) if len(ratios) > 1 else 0.0


def median_ratio_error(by_round: dict[str, list[float]]) -> float:
    """The standard error of a median ratio over n rounds: 1.25 times the deviation of one
    round, over the square root of n."""
    rounds = len(by_round["static"])
    return round(1.25 * error_per_round(by_round) / math.sqrt(rounds), 3)


def performance_document(results: dict[str, Any]) -> str:
    table = ["| Figure | Value | Goal | Met |", "|---|---|---|---|"]
    table += ["| " + " | ".join(row) + " |" for row in goal_rows(results)]
    return "\n".join(
        [
            "# Performance",
            "",
            "<!-- Written by `make bench` (local_rig/bench.py). -->",
            "",
            f"Measured on {results['date']} on {results['machine']}, with Debian 12's Orthanc "
            "1.10.1 (DICOMweb 1.7, Python plugin 4.0), node-oidc-provider and an nginx-protected "
            f"Orthanc on loopback, their storage in {results['storage']}, by `make bench`.",
            "",
            *table,
            "",
            *_misses(results),
            *memory_section(results),
            "## All figures",
            "",
            "```json",
            json.dumps(results, indent=2),
            "```",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
