"""What the benchmark reads of a running Orthanc: its resident memory and CPU time from
/proc, and when its servers are authorized."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx2

from ..services import Orthanc


def _status_mib(orthanc: Orthanc, field: str) -> float:
    assert orthanc.process is not None
    for line in Path(f"/proc/{orthanc.process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def rss_mib(orthanc: Orthanc) -> float:
    return _status_mib(orthanc, "VmRSS")


def cpu_seconds(orthanc: Orthanc) -> float:
    assert orthanc.process is not None
    fields = Path(f"/proc/{orthanc.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def wait_valid(client: httpx2.Client, names: list[str], timeout: float = 60) -> None:
    """Until every named server holds a valid token written into its definition."""
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
