"""What Orthanc's start waits for: the entry script and the registration import nothing
but the package's face and the glue's registration module (and ``orthanc``); the rest
loads after the start."""

from __future__ import annotations

import json
import subprocess
import sys

from orthanc_dicomweb_oauth.cli.main import entry_script

ENTRY = entry_script()
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
    glue = {
        "orthanc_dicomweb_oauth.orthanc",
        "orthanc_dicomweb_oauth.orthanc.plugin",
        "orthanc_dicomweb_oauth.orthanc.routes",
    }
    assert loaded <= {"orthanc_dicomweb_oauth", *glue}, loaded
    assert "orthanc_dicomweb_oauth.orthanc.plugin" in loaded
    assert answer["registered"][0] == "change"
    assert len(answer["registered"]) == 5  # the change callback and four REST routes


def test_the_package_s_face_is_its_public_api() -> None:
    """``register`` and ``on_change`` come from the glue on first use: without Orthanc,
    the package imports, and only asking for them needs ``orthanc``."""
    result = subprocess.run(
        [sys.executable, "-c", PUBLIC_API],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout) == {
        "all": ["__version__", "on_change", "register"],
        "without_orthanc": "ModuleNotFoundError",
        "register_is_the_glue_s": True,
    }


PUBLIC_API = """
import json, sys, types
import orthanc_dicomweb_oauth as package
try:
    package.register
    without = "imported"
except ModuleNotFoundError as error:
    without = type(error).__name__
sys.modules["orthanc"] = types.ModuleType("orthanc")
from orthanc_dicomweb_oauth.orthanc import plugin
print(json.dumps({
    "all": sorted(package.__all__),
    "without_orthanc": without,
    "register_is_the_glue_s": package.register is plugin.register
    and package.on_change is plugin.on_change,
}))
"""
