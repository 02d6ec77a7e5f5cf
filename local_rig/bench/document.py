"""docs/performance.md and the printed summary, written from the benchmark's figures (the
JSON that ``python -m local_rig.bench`` writes): nothing here measures."""

from __future__ import annotations

import json
from typing import Any

from .memory import TLS_STEP
from .scale import start_herd_limit
from .spread import Ratio, verdict

THROUGHPUT_GOAL = 0.98
# Decided: no regression. One client-secret server, measured as docs/performance.md says,
# cost about 34 MiB on the main branch of 2026-12-07, before the second structural pass.
MEMORY_GOAL_MIB = 34.0
GOALS = {
    "throughput_ratio": f"at least {THROUGHPUT_GOAL}",
    "memory_mib": f"at most {MEMORY_GOAL_MIB:g} MiB (no regression)",
    "extra_token_requests": "0 (requests sent = refreshes needed)",
    "cached_read_p50_us": "under 10 µs",
    "start_added_ms": "under 50 ms, nothing blocking",
}
YES_NO = {True: "yes", False: "NO"}


def _ratio(figures: dict[str, Any]) -> Ratio:
    return Ratio(figures["median"], figures["low"], figures["high"], figures["rounds"])


def goal_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    image, keeper, idle = results["throughput"], results["token_keeper"], results["idle"]
    memory, scale = results["memory"], results["scale"]
    spread, herd_limit = start_herd_limit(scale["servers"])
    rows = []
    for direction, name in (("stow", "STOW-RS"), ("retrieve", "Retrieve")):
        managed = _ratio(image[direction]["managed_over_static"])
        identical = _ratio(image[direction]["control_over_static"])
        rows.append(
            (
                f"{name} throughput, managed / static in one Orthanc (two identical static "
                "arms), median and 95 % interval",
                f"{managed.shown()}; ({identical.shown()})",
                GOALS["throughput_ratio"],
                verdict(managed, THROUGHPUT_GOAL),
            )
        )
    rows += [
        (
            "Memory, one client-secret server authorized, over Orthanc with DICOMweb and no "
            "Python (MiB)",
            f"{memory['total_mib']}",
            GOALS["memory_mib"],
            YES_NO[memory["total_mib"] <= MEMORY_GOAL_MIB],
        ),
        (
            f"Token requests in the provider's busiest second, {scale['servers']} servers: "
            "at start / after",
            f"{scale['busiest_second_at_start']} / {scale['busiest_second_after_start']}",
            f"at most {herd_limit} at start (random times over {spread:g} s), no more after",
            YES_NO[
                scale["busiest_second_at_start"] <= herd_limit
                and scale["busiest_second_after_start"] <= scale["busiest_second_at_start"]
            ],
        ),
        (
            f"Servers authorized at the end, {scale['servers']} servers on "
            f"{len(scale['lifetimes_s'])} lifetimes",
            f"{scale['valid']} / {scale['servers']}",
            "all",
            YES_NO[scale["valid"] == scale["servers"] == scale["qido_ok"]],
        ),
        (
            "Extra token requests (64 threads)",
            str(keeper["extra_token_requests"]),
            GOALS["extra_token_requests"],
            YES_NO[keeper["extra_token_requests"] == 0],
        ),
        (
            "Cached read p50 (µs)",
            str(keeper["cached_read_p50_us"]),
            GOALS["cached_read_p50_us"],
            YES_NO[keeper["cached_read_p50_us"] < 10],
        ),
        (
            "Start time added (ms), of which Orthanc's embedded Python itself",
            f"{idle['start_added_ms']}, {idle['start_added_by_python_ms']}",
            GOALS["start_added_ms"],
            YES_NO[idle["start_added_ms"] < 50],
        ),
    ]
    return rows


def summary(results: dict[str, Any]) -> str:
    return "\n".join(
        ["", "Figure | value | goal | met"] + [" | ".join(row) for row in goal_rows(results)]
    )


def _throughput_section(results: dict[str, Any]) -> list[str]:
    image = results["throughput"]
    return [
        "## Throughput",
        "",
        f"A study of {image['study_mb']} MB sent by STOW-RS and retrieved again, {image['rounds']} "
        "rounds, through three definitions of the same protected server inside one Orthanc: "
        "`managed` (kept authorized by the plugin), `static` and `control` (defined in "
        "`DicomWeb.Servers` with a valid bearer header pasted before each transfer). The arms "
        "take turns within each round, their order rotating; each round gives a ratio of the "
        "managed arm's throughput over the static arm's, timed at the protected server's nginx. "
        "The table gives the median of those ratios and its 95 % interval (the rounds drawn "
        "again with replacement); `control` over `static` shows how far two identical arms "
        "drift. The verdict is *within noise* when the interval holds the goal: image data "
        "never passes through Python (the plugin only writes the definition's header), so "
        "both arms move it through the same C++ code.",
        "",
    ]


def _memory_section(results: dict[str, Any]) -> list[str]:
    memory = results["memory"]
    rss, parts = memory["rss_mib"], memory["parts_mib"]
    steps = memory["import_steps_mib"]
    listed = ", ".join(f"{name} {value}" for name, value in steps.items() if name != "total")
    return [
        "## Memory",
        "",
        "Every figure is taken the same way: Orthanc's resident memory (VmRSS) "
        f"{memory['settle_s']:g} s after it started or, with servers, after every server was "
        f"authorized; the median of {memory['starts']} starts of each configuration; over one "
        "baseline, Debian 12's Orthanc with its DICOMweb plugin and no Python plugin, the "
        f"configuration otherwise the same ({rss['baseline']} MiB).",
        "",
        "| Part | MiB | Taken as |",
        "|---|---|---|",
        f"| Orthanc's embedded Python | {parts['embedded_python']} | Orthanc running an empty "
        f"`PythonScript` ({rss['python']}), over the baseline: paid once by every site running "
        "any Python plugin |",
        f"| The plugin's imports | {parts['imports']} | a `PythonScript` importing the "
        f"{memory['modules_loaded']} modules the running plugin had loaded ({rss['imports']}), "
        "over the empty script |",
        f"| Its running state | {parts['running_state']} | the plugin managing one "
        f"client-secret server, authorized ({rss['plugin']}), over its imports: threads, the "
        "TLS context, the HTTP client, the configuration |",
        f"| **In all** | **{memory['total_mib']}** | the plugin with one client-secret server, "
        f"over the baseline (goal: at most {MEMORY_GOAL_MIB:g} MiB, no regression) |",
        "",
        "On top of that, taken the same way (MiB):",
        "",
        "| Over the plugin with one client-secret server | Added |",
        "|---|---|",
        *(
            f"| one server of {kind} instead | {value} |"
            for kind, value in memory["kinds_mib"].items()
        ),
        f"| each further client-secret server ({memory['further_servers']} more) | "
        f"{memory['per_further_server_mib']} |",
        "",
        "Each kind's libraries load only for the servers that use it "
        "(tests/integration/test_imports.py checks it).",
        "",
        "Where the imports go, library by library: inside one Orthanc, each step importing "
        "after the steps before it, measured while importing rather than at rest "
        f"(MiB): {listed}; {steps['total']} in all, against {parts['imports']} for the "
        f"imports at rest above. The embedded Python with `{TLS_STEP}` is the least any "
        "Python plugin verifying TLS needs.",
        "",
    ]


def _misses(results: dict[str, Any]) -> list[str]:
    missed = [row for row in goal_rows(results) if row[3] not in ("yes", "within noise")]
    if not missed:
        return []
    return [
        "## Where a goal is missed",
        "",
        *(f"- {name}: {value}, goal {goal}." for name, value, goal, _ in missed),
        "",
    ]


def performance_document(results: dict[str, Any]) -> str:
    table = ["| Figure | Value | Goal | Met |", "|---|---|---|---|"]
    table += ["| " + " | ".join(row) + " |" for row in goal_rows(results)]
    return "\n".join(
        [
            "# Performance",
            "",
            "<!-- Written by `make bench` (local_rig/bench/). -->",
            "",
            f"Measured on {results['date']} on {results['machine']}, with Debian 12's Orthanc "
            "1.10.1 (DICOMweb 1.7, Python plugin 4.0), node-oidc-provider and an nginx-protected "
            f"Orthanc on loopback, their storage in {results['storage']}, by `make bench`.",
            "",
            *table,
            "",
            *_misses(results),
            *_throughput_section(results),
            *_memory_section(results),
            "## All figures",
            "",
            "```json",
            json.dumps(results, indent=2),
            "```",
            "",
        ]
    )
