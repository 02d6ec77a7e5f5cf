"""The README's demo, in its non-interactive mode, as a person would run it."""

from __future__ import annotations

import subprocess
import sys

from local_rig.services import ROOT


def test_the_demo_runs_once_and_cleans_up() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_rig.demo",
            "--once",
            "--token-lifetime",
            "8",
            "--refreshes",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    for expected in (
        "(without a token: HTTP 401)",
        "(token acquired, valid for ",
        "through the DICOMweb plugin (STOW-RS): stored",
        "Querying it back (QIDO-RS): 1 study found",
        "/app/explorer.html",
        "After the refreshes, QIDO-RS still works: 1 study found",
        "Demo finished: every step worked.",
    ):
        assert expected in output
    leftovers = subprocess.run(
        ["pgrep", "-f", "dicomweb-oauth-demo-"], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout == ""
