"""The benchmark's tiny version: every section runs and reports its figures, and
docs/performance.md can be written from them. Timings are not asserted here: `make bench`
measures them (docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from local_rig.bench.document import goal_rows, performance_document
from local_rig.bench.memory import IMPORT_STEPS
from local_rig.services import ROOT


def test_bench_smoke(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "local_rig.bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(output.read_text())
    for direction in ("stow", "retrieve"):
        ratio = figures["throughput"][direction]["managed_over_static"]
        assert ratio["low"] <= ratio["median"] <= ratio["high"]
        assert all(figures["throughput"][direction]["mb_s_by_round"]["managed"])
    memory = figures["memory"]
    parts = memory["parts_mib"]
    # The published total is the sum of its published parts, all over one baseline.
    assert memory["total_mib"] == round(sum(parts.values()), 1)
    assert parts["embedded_python"] > 0 and parts["imports"] > 0
    assert memory["rss_mib"]["plugin"] > memory["rss_mib"]["baseline"]
    assert memory["modules_loaded"] > 100
    assert set(memory["import_steps_mib"]) == {label for label, _ in IMPORT_STEPS} | {"total"}
    # Each kind that brings libraries costs memory of its own; the assertion file brings none.
    kinds = memory["kinds_mib"]
    assert kinds["private_key_jwt"] > 0 and kinds["AzureManagedIdentity"] > 0
    assert kinds["GoogleCredentials, a key file"] > 0
    keeper = figures["token_keeper"]
    assert keeper["extra_token_requests"] == 0
    assert keeper["token_requests_sent"] == keeper["refreshes_needed"] >= 1
    assert set(figures["idle"]["cpu_s_per_hour"]) == {"with", "without"}
    assert set(figures["idle"]["start_s"]) == {"with", "without", "python_only"}
    scale = figures["scale"]
    assert scale["valid"] == scale["servers"] == scale["qido_ok"]
    assert scale["busiest_second_at_start"] >= 1
    assert set(scale["tokens_per_server_by_lifetime"]) == {"20", "60", "300", "3600"}
    assert "Figure | value | goal | met" in result.stdout
    # The document is written from the figures alone.
    document = performance_document(figures)
    assert all(row[0] in document for row in goal_rows(figures))
    assert f"| **In all** | **{memory['total_mib']}** |" in document
