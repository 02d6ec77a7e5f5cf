"""What the plugin costs Orthanc's memory, every figure taken the same way: resident memory
(VmRSS) at steady state, SETTLE seconds after Orthanc started or, with servers, after every
server was authorized; the median of STARTS starts of each configuration; against one
baseline, Orthanc with the DICOMweb plugin and no Python plugin, the configuration
otherwise the same. Its parts telescope, so the total is their sum:

- the embedded Python: Orthanc running an empty PythonScript, over the baseline;
- the plugin's imports: a script importing exactly the modules the running plugin has
  loaded with one client-secret server (read from such a plugin), over the empty script;
- its running state: the plugin itself managing that server, over its imports.

Each kind of identity and each further server is reported on top of the client-secret
server, the same way. Where the imports' memory goes, library by library, is measured
apart, inside one Orthanc importing them one after the other (``import_steps``).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from ..cloud_emulations import ASSERTION_CLIENT_ID, CloudEmulation, pinned_environment
from ..services import (
    CLIENT_SECRET,
    DICOMWEB_PLUGIN,
    Orthanc,
    ProtectedServer,
    Provider,
    orthanc_configuration,
)
from .processes import rss_mib, wait_valid

SETTLE = 8.0
STARTS = 3
# Run as PythonScript: the plugin's entry script, then the loaded modules written to a
# file once the bench asks (after the servers were authorized).
MODULES_PROBE = """
import json, os, runpy, sys, threading, time
runpy.run_path(os.environ["BENCH_ENTRY"])
def dump():
    while not os.path.exists(os.environ["BENCH_DUMP_REQUEST"]):
        time.sleep(0.1)
    with open(os.environ["BENCH_MODULES"], "w") as output:
        json.dump(sorted(name for name in sys.modules if not name.startswith("__")), output)
threading.Thread(target=dump, daemon=True).start()
"""
# Run as PythonScript: the plugin's imports, and nothing else.
IMPORTS_ONLY = """
import importlib, json, os, site, sys
before = list(sys.path)
site.addsitedir(os.environ["BENCH_SITE_PACKAGES"])
sys.path[:] = [entry for entry in sys.path if entry not in before] + before
for name in json.load(open(os.environ["BENCH_MODULES"])):
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""
# Run as PythonScript: what each step adds to Orthanc's resident memory, in that order.
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
TLS_STEP = "ssl and the system's CA store"
# What the plugin loads for client_secret servers, library by library: each step counts
# only what the steps before it did not load. The steps share one namespace.
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


@dataclass
class MemoryRig:
    """What the memory figures need: the services, a folder, the plugin's entry script."""

    work: Path
    entry: Path
    provider: Provider
    protected: ProtectedServer
    cloud: CloudEmulation
    jwt_key: Path  # the private key of the provider's client "bench-jwt"
    settle: float = SETTLE
    starts: int = STARTS
    _started: int = 0  # Orthancs started, for their names

    def orthanc(self, configuration: dict[str, Any], env: Mapping[str, str]) -> Orthanc:
        self._started += 1
        return Orthanc(
            f"bench-memory-{self._started}",
            self.work,
            self.work,
            configuration,
            env={
                "BENCH_SECRET_VALUE": CLIENT_SECRET,
                # Nothing reaches beyond loopback; the kinds that need a cloud get its
                # emulation.
                **pinned_environment("127.0.0.1:9", self.work / "gcloud"),
                **env,
            },
            verbose=False,
        )

    def steady_rss(
        self, configuration: dict[str, Any], env: Mapping[str, str], servers: list[str]
    ) -> float:
        """The median over ``starts`` of the resident memory ``settle`` seconds after the
        servers were authorized (after the start, without servers)."""
        figures = []
        for _ in range(self.starts):
            orthanc = self.orthanc(configuration, env)
            orthanc.start()
            try:
                if servers:
                    wait_valid(httpx2.Client(base_url=orthanc.url, timeout=30), servers)
                time.sleep(self.settle)
                figures.append(rss_mib(orthanc))
            finally:
                orthanc.stop()
        return statistics.median(figures)

    def script(self, name: str, text: str) -> str:
        path = self.work / name
        path.write_text(text)
        return str(path)

    def server(self, **keys: Any) -> dict[str, Any]:
        return {"Url": self.protected.url, **keys}

    def client_secret_server(self) -> dict[str, Any]:
        return self.server(
            TokenEndpoint=self.provider.token_endpoint,
            ClientId="bench",
            ClientSecretEnv="BENCH_SECRET_VALUE",
        )


def baseline_configuration() -> dict[str, Any]:
    """Orthanc with the DICOMweb plugin, no Python plugin."""
    return {"Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True}}


def plugin_modules(rig: MemoryRig) -> list[str]:
    """The modules the running plugin has loaded with one client-secret server."""
    output, request = rig.work / "plugin-modules.json", rig.work / "dump-modules"
    request.unlink(missing_ok=True)
    orthanc = rig.orthanc(
        orthanc_configuration(
            rig.script("modules_probe.py", MODULES_PROBE),
            {"Servers": {"one": rig.client_secret_server()}},
        ),
        {
            "BENCH_ENTRY": str(rig.entry),
            "BENCH_DUMP_REQUEST": str(request),
            "BENCH_MODULES": str(output),
        },
    )
    orthanc.start()
    try:
        wait_valid(httpx2.Client(base_url=orthanc.url, timeout=30), ["one"])
        request.touch()
        deadline = time.monotonic() + 30
        while not output.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        modules: list[str] = json.loads(output.read_text())
    finally:
        orthanc.stop()
    return modules


def parts(rig: MemoryRig) -> dict[str, Any]:
    """The baseline, each part and the total, for one client-secret server."""
    modules = plugin_modules(rig)
    modules_file = rig.work / "plugin-modules.json"
    empty = rig.script("empty_script.py", "")
    one = {"Servers": {"one": rig.client_secret_server()}}
    rss = {
        "baseline": rig.steady_rss(baseline_configuration(), {}, []),
        "python": rig.steady_rss(orthanc_configuration(empty), {}, []),
        "imports": rig.steady_rss(
            orthanc_configuration(rig.script("imports_only.py", IMPORTS_ONLY)),
            {
                "BENCH_SITE_PACKAGES": str(rig.entry.parents[2]),
                "BENCH_MODULES": str(modules_file),
            },
            [],
        ),
        "plugin": rig.steady_rss(orthanc_configuration(str(rig.entry), one), {}, ["one"]),
    }
    python = rss["python"] - rss["baseline"]
    imports = rss["imports"] - rss["python"]
    running = rss["plugin"] - rss["imports"]
    return {
        "rss_mib": {name: round(value, 1) for name, value in rss.items()},
        "modules_loaded": len(modules),
        "parts_mib": {
            "embedded_python": round(python, 1),
            "imports": round(imports, 1),
            "running_state": round(running, 1),
        },
        # The sum of the rounded parts, so that the published figures add up.
        "total_mib": round(round(python, 1) + round(imports, 1) + round(running, 1), 1),
    }


# Each kind of identity: its server's keys, and the environment its library needs.
def kinds(rig: MemoryRig) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    cloud = rig.cloud
    return {
        "private_key_jwt": (
            rig.server(
                TokenEndpoint=rig.provider.token_endpoint,
                ClientId="bench-jwt",
                ClientAuthMethod="private_key_jwt",
                ClientPrivateKeyFile=str(rig.jwt_key),
            ),
            {},
        ),
        "ClientAssertionFile": (
            rig.server(
                TokenEndpoint=cloud.assertion_token_endpoint,
                ClientId=ASSERTION_CLIENT_ID,
                ClientAssertionFile=str(cloud.assertion_file(rig.provider.issue_token("bench"))),
            ),
            {},
        ),
        "GoogleCredentials, a key file": (
            rig.server(GoogleCredentials=str(cloud.service_account_file())),
            cloud.environment(),
        ),
        "GoogleCredentials, the metadata server": (
            rig.server(GoogleCredentials="default"),
            cloud.environment(),
        ),
        "AzureManagedIdentity": (
            rig.server(
                AzureManagedIdentity=True, Scope="https://dicom.healthcareapis.azure.com/.default"
            ),
            cloud.app_service_environment(),
        ),
    }


def on_top(rig: MemoryRig, plugin_rss: float, further_servers: int) -> dict[str, Any]:
    """Each kind of identity, one server of it, and each further client-secret server,
    over the plugin with one client-secret server."""
    kind_costs = {}
    for kind, (server, env) in kinds(rig).items():
        rss = rig.steady_rss(
            orthanc_configuration(str(rig.entry), {"Servers": {"one": server}}), env, ["one"]
        )
        kind_costs[kind] = round(rss - plugin_rss, 1)
    servers = {f"server-{n}": rig.client_secret_server() for n in range(1 + further_servers)}
    many = rig.steady_rss(
        orthanc_configuration(str(rig.entry), {"Servers": servers}), {}, list(servers)
    )
    return {
        "kinds_mib": kind_costs,
        "further_servers": further_servers,
        "per_further_server_mib": round((many - plugin_rss) / further_servers, 2),
    }


def import_steps(rig: MemoryRig) -> dict[str, float]:
    """What each step of IMPORT_STEPS adds, inside one Orthanc, one after the other."""
    output = rig.work / "import_costs.json"
    orthanc = rig.orthanc(
        orthanc_configuration(rig.script("import_probe.py", IMPORT_PROBE)),
        {
            "BENCH_SITE_PACKAGES": str(rig.entry.parents[2]),
            "BENCH_IMPORT_STEPS": json.dumps(IMPORT_STEPS),
            "BENCH_IMPORT_COSTS": str(output),
        },
    )
    orthanc.start()
    orthanc.stop()
    costs: dict[str, float] = json.loads(output.read_text())
    return costs


def measure(rig: MemoryRig, further_servers: int, say: Callable[[str], None]) -> dict[str, Any]:
    say("  the parts of one client-secret server")
    result = parts(rig)
    say("  each kind of identity, and further servers")
    result.update(on_top(rig, result["rss_mib"]["plugin"], further_servers))
    result["import_steps_mib"] = import_steps(rig)
    result["settle_s"] = rig.settle
    result["starts"] = rig.starts
    return result
