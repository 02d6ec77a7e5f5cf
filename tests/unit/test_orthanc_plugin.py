"""What Orthanc's start waits for: the entry script and the registration import nothing
but the plugin's own two small modules (and ``orthanc``); the rest loads after the start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from orthanc_dicomweb_oauth import orthanc_entry

ENTRY = Path(orthanc_entry.__path__[0]) / "dicomweb_oauth_plugin.py"
# Runs the entry script as Orthanc's Python plugin would, with a stand-in ``orthanc`` that
# records the registrations, and prints the modules the script loaded.
RUN_ENTRY = """
import json, sys, types
orthanc = types.ModuleType("orthanc")
registered = []
orthanc.RegisterOnChangeCallback = lambda callback: registered.append("change")
orthanc.RegisterRestCallback = lambda pattern, callback: registered.append(pattern)
sys.modules["orthanc"] = orthanc
before = set(sys.modules)
path = sys.argv[1]
exec(compile(open(path).read(), path, "exec"), {"__file__": path, "__name__": "entry"})
print(json.dumps({"loaded": sorted(set(sys.modules) - before), "registered": registered}))
"""


def test_orthanc_s_start_loads_only_the_registration() -> None:
    result = subprocess.run(
        [sys.executable, "-c", RUN_ENTRY, str(ENTRY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(result.stdout)
    loaded = {name for name in answer["loaded"] if not name.startswith("_")}
    assert loaded <= {"orthanc_dicomweb_oauth", "orthanc_dicomweb_oauth.orthanc_plugin"}, loaded
    assert "orthanc_dicomweb_oauth.orthanc_plugin" in loaded
    assert answer["registered"][0] == "change"
    assert len(answer["registered"]) == 4
