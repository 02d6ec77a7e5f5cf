"""Scale: 100 servers on four token lifetimes (20 s to 1 h): how many token requests the
provider gets in its busiest second, at start and after, and all authorized."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx2

from orthanc_dicomweb_oauth.dicomweb.service import start_spread

from ..services import CLIENT_SECRET, Orthanc, ProtectedServer, Provider, orthanc_configuration
from .processes import wait_valid

# Token lifetimes of the clients: a short test setting, Keycloak's default-ish minute and
# five minutes, Entra ID's hour.
LIFETIMES = (20, 60, 300, 3600)


def start_herd_limit(servers: int) -> tuple[float, int]:
    """The seconds over which the plugin spreads its servers' first token requests (each
    at a random time in it), and the most any one second should get: the binomial
    expectation plus three standard deviations. A herd would put them all in one."""
    spread = start_spread(servers)
    share = min(1.0, 1 / spread) if spread > 0 else 1.0
    expected = servers * share
    return spread, math.ceil(expected + 3 * math.sqrt(expected * (1 - share)))


def measure(
    work: Path,
    entry: Path,
    provider: Provider,
    protected: ProtectedServer,
    servers_count: int,
    seconds: float,
) -> dict[str, Any]:
    lifetime_of = {f"pacs-{n:03d}": LIFETIMES[n % len(LIFETIMES)] for n in range(servers_count)}
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
        wait_valid(client, list(servers), timeout=120)
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
        for lifetime in LIFETIMES
    }
    return {
        "servers": servers_count,
        "lifetimes_s": list(LIFETIMES),
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
