"""Idle cost and start time: the CPU Orthanc spends managing 10 servers against Orthanc
without the plugin, and the time the plugin adds to Orthanc's start (and of that, any
Python plugin's own)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import httpx2

from ..services import CLIENT_SECRET, Orthanc, Provider, orthanc_configuration
from .processes import cpu_seconds, wait_valid


def measure(
    work: Path, entry: Path, provider: Provider, seconds: float, starts: int
) -> dict[str, Any]:
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
    empty_script = work / "idle_empty_script.py"
    empty_script.write_text("")
    python_only = orthanc_configuration(str(empty_script))
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
                wait_valid(httpx2.Client(base_url=orthanc.url, timeout=30), list(servers))
            time.sleep(2)
            before = cpu_seconds(orthanc)
            time.sleep(seconds)
            cpu[name] = (cpu_seconds(orthanc) - before) / seconds * 3600
        finally:
            orthanc.stop()
    result["cpu_s_per_hour"] = {name: round(value, 2) for name, value in cpu.items()}
    return result
