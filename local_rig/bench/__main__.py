"""``python -m local_rig.bench [--smoke] [--output FILE] [--write-docs] [--document FILE]``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..client_keys import write_client_key
from ..cloud_emulations import CloudEmulation
from ..installations import plugin_environment
from ..services import CLIENT_SECRET, ROOT, Orthanc, ProtectedServer, Provider, Validator
from . import idle, keeper, memory, scale, throughput
from .document import performance_document, summary

DOCUMENT = ROOT / "docs" / "performance.md"
TMPFS = "/dev/shm"  # noqa: S108 - TemporaryDirectory makes a private directory in it


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the benchmark reports to a person


def _clients(jwt_public_key: dict[str, Any]) -> list[dict[str, Any]]:
    secret_clients = [
        {
            "client_id": client_id,
            "client_secret": CLIENT_SECRET,
            "token_endpoint_auth_method": "client_secret_post",
            **({"token_ttl": lifetime} if lifetime else {}),
        }
        for client_id, lifetime in [
            ("bench", None),
            *((f"scale-{lifetime}", lifetime) for lifetime in scale.LIFETIMES),
        ]
    ]
    jwt_client = {
        "client_id": "bench-jwt",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [jwt_public_key]},
    }
    return [*secret_clients, jwt_client]


def measure(work: Path, smoke: bool) -> dict[str, Any]:
    stops: list[Callable[[], Any]] = []
    try:
        entry = plugin_environment()
        jwt_key = write_client_key(work / "keys", "bench-jwt")
        clients = _clients(jwt_key.public_jwk)
        provider = Provider(work, work, 20 if smoke else 60, clients)
        provider.start()
        stops.append(provider.stop)
        (work / "long").mkdir()
        long_provider = Provider(work / "long", work / "long", 3600, clients)
        long_provider.start()
        stops.append(long_provider.stop)
        validator = Validator(work, provider)
        validator.start()
        stops.append(validator.stop)
        protected = ProtectedServer(work, work, validator)
        protected.start()
        stops.append(protected.stop)
        cloud = CloudEmulation(work / "cloud", lambda: (long_provider.issue_token("bench"), 300))
        cloud.start()
        stops.append(cloud.stop)
        results: dict[str, Any] = {}

        say("1. Throughput")
        orthanc_a = Orthanc(
            "bench-throughput",
            work,
            work,
            throughput.orthanc_a_configuration(str(entry), provider, protected),
            env={"BENCH_SECRET_VALUE": CLIENT_SECRET},
            verbose=False,
        )
        orthanc_a.start()
        stops.append(orthanc_a.stop)
        results["throughput"] = throughput.measure(
            orthanc_a,
            provider,
            protected,
            rounds=2 if smoke else 15,
            instances=4 if smoke else 200,
            side=64 if smoke else 512,
        )
        orthanc_a.stop()
        say(json.dumps(results["throughput"], indent=2))

        say("2. Memory")
        rig = memory.MemoryRig(
            work,
            entry,
            long_provider,
            protected,
            cloud,
            jwt_key.private_key,
            settle=1.0 if smoke else memory.SETTLE,
            starts=1 if smoke else memory.STARTS,
        )
        results["memory"] = memory.measure(rig, 2 if smoke else 9, say)
        say(json.dumps(results["memory"], indent=2))

        say("3. Token keeper")
        results["token_keeper"] = keeper.measure(2 if smoke else 10, 64)
        say(json.dumps(results["token_keeper"], indent=2))

        say("4. Idle cost")
        results["idle"] = idle.measure(
            work, entry, long_provider, 3 if smoke else 60, 1 if smoke else 21
        )
        say(json.dumps(results["idle"], indent=2))

        say("5. Scale")
        results["scale"] = scale.measure(
            work, entry, provider, protected, 10 if smoke else 100, 5 if smoke else 120
        )
        say(json.dumps(results["scale"], indent=2))
        return results
    finally:
        for stop in reversed(stops):
            stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_rig.bench")
    parser.add_argument("--smoke", action="store_true", help="a tiny, quick run")
    parser.add_argument("--output", type=Path, default=ROOT / "test-artifacts" / "bench.json")
    parser.add_argument("--write-docs", action="store_true", help="also write docs/performance.md")
    parser.add_argument(
        "--document",
        type=Path,
        metavar="FILE",
        help="write docs/performance.md from FILE, the figures of an earlier run; measure nothing",
    )
    args = parser.parse_args(argv)
    if args.document is not None:
        results = json.loads(args.document.read_text())
        DOCUMENT.write_text(performance_document(results))
        say(summary(results))
        return 0
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per token request
    # Orthancs' storage in memory where there is a tmpfs: the disk's write-back would add
    # its own noise to the image path's timings.
    in_memory = TMPFS if os.access(TMPFS, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="dicomweb-oauth-bench-", dir=in_memory) as temporary:
        figures = measure(Path(temporary), args.smoke)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "smoke": args.smoke,
        "storage": in_memory or tempfile.gettempdir(),
        **figures,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    say(f"\nResults written to {args.output}")
    say(summary(results))
    if args.write_docs:
        DOCUMENT.write_text(performance_document(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
