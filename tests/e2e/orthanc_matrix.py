"""The Orthanc matrix of a test run: for each Orthanc generation the tests ran on, the
versions its Orthanc reported and how its tests ended. Printed at the end of the run and
written to test-artifacts/orthanc-matrix.md and .json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

HEADER = (
    "Generation",
    "Orthanc",
    "DICOMweb",
    "Python plugin",
    "Python",
    "Passed",
    "Failed",
    "Skipped",
)


@dataclass
class GenerationResults:
    orthanc: str = "-"
    dicomweb: str = "-"
    python_plugin: str = "-"
    python: str = "-"
    outcomes: dict[str, str] = field(default_factory=dict)  # test id: passed, failed, skipped
    skip_reasons: set[str] = field(default_factory=set)

    def count(self, outcome: str) -> int:
        return sum(1 for value in self.outcomes.values() if value == outcome)


class OrthancMatrix:
    def __init__(self) -> None:
        self.generations: dict[str, GenerationResults] = {}

    def expect(self, generation: str) -> None:
        """Tests of ``generation`` were collected."""
        self.generations.setdefault(generation, GenerationResults())

    def versions_known(self, generation: str) -> bool:
        return self.generations[generation].orthanc != "-"

    def record_versions(
        self, generation: str, orthanc: str, dicomweb: str, python_plugin: str, python: str
    ) -> None:
        results = self.generations[generation]
        results.orthanc, results.dicomweb = orthanc, dicomweb
        results.python_plugin, results.python = python_plugin, python

    def record_outcome(
        self,
        generation: str,
        test_id: str,
        phase: str,
        outcome: str,
        skip_reason: str | None = None,
    ) -> None:
        """A phase's outcome (setup, call, teardown): a test failed when any phase failed,
        was skipped when its setup or call was, and passed when its call passed."""
        if outcome == "passed" and phase != "call":
            return
        results = self.generations.setdefault(generation, GenerationResults())
        if results.outcomes.get(test_id) != "failed":
            results.outcomes[test_id] = outcome
        if skip_reason:
            results.skip_reasons.add(skip_reason)

    def ran(self) -> bool:
        return any(results.outcomes for results in self.generations.values())

    def rows(self) -> list[tuple[str, ...]]:
        return [
            (
                name,
                results.orthanc,
                results.dicomweb,
                results.python_plugin,
                results.python,
                str(results.count("passed")),
                str(results.count("failed")),
                str(results.count("skipped")),
            )
            for name, results in self.generations.items()
        ]

    def render(self) -> str:
        """A Markdown table, then why tests were skipped."""
        lines = [
            "| " + " | ".join(HEADER) + " |",
            "|" + "|".join("---" for _ in HEADER) + "|",
            *("| " + " | ".join(row) + " |" for row in self.rows()),
        ]
        for name, results in self.generations.items():
            if results.skip_reasons:
                lines.append(f"{name} skipped: {'; '.join(sorted(results.skip_reasons))}")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "orthanc-matrix.md").write_text(self.render())
        document = {
            name: {
                **{key: value for key, value in asdict(results).items() if key != "skip_reasons"},
                "skip_reasons": sorted(results.skip_reasons),
                "passed": results.count("passed"),
                "failed": results.count("failed"),
                "skipped": results.count("skipped"),
            }
            for name, results in self.generations.items()
        }
        (directory / "orthanc-matrix.json").write_text(json.dumps(document, indent=2) + "\n")
