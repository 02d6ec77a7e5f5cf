"""The benchmark's tiny version: every section runs and reports its figures. Timings are
not asserted here: `make bench` measures them (docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from local_rig.bench import IMPORT_STEPS, KIND_STEPS
from local_rig.services import ROOT


def test_bench_smoke(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "local_rig.bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(output.read_text())
    image = figures["image_path"]
    assert image["stow"]["managed_mb_s"] > 0 and image["retrieve"]["static_mb_s"] > 0
    assert set(image["peak_rss_mib"]) == {"managed", "static", "control"}
    assert image["rss_after_start_mib"]["managed"]["anonymous"] > 0
    assert set(image["import_rss_mib"]) == {label for label, _ in IMPORT_STEPS} | {"total"}
    assert image["import_rss_mib"]["total"] > 0
    # Each kind of credential that brings libraries adds memory of its own; the assertion
    # file brings none.
    kinds = image["kind_rss_mib"]
    assert set(kinds) == {label for label, _ in KIND_STEPS}
    assert all(cost > 0 for label, cost in kinds.items() if "(" in label), kinds
    assert kinds["ClientAssertionFile"] < 1, kinds
    interpreter = image["interpreter_rss_mib"]
    assert interpreter["python_empty_script"]["total"] > interpreter["without_python"]["total"]
    keeper = figures["token_keeper"]
    assert keeper["extra_token_requests"] == 0
    assert keeper["token_requests_sent"] == keeper["refreshes_needed"] >= 1
    assert set(figures["idle"]["cpu_s_per_hour"]) == {"with", "without"}
    assert set(figures["idle"]["rss_after_start_mib"]) == {"with", "without"}
    assert set(figures["idle"]["start_s"]) == {"with", "without", "python_only"}
    scale = figures["scale"]
    assert scale["valid"] == scale["servers"] == scale["qido_ok"]
    assert scale["busiest_second_at_start"] >= 1
    assert set(scale["tokens_per_server_by_lifetime"]) == {"20", "60", "300", "3600"}
    assert "Figure | value | goal | met" in result.stdout
