"""`python -m build` gives a wheel and an sdist that carry the plugin's entry script, the
type marker, the command line and the licence; the version comes from one place."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from orthanc_dicomweb_oauth import __version__

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_and_sdist(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = tmp_path / f"orthanc_dicomweb_oauth-{__version__}-py3-none-any.whl"
    sdist = tmp_path / f"orthanc_dicomweb_oauth-{__version__}.tar.gz"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"orthanc_dicomweb_oauth-{__version__}.dist-info/METADATA").decode()
        entry_points = archive.read(
            f"orthanc_dicomweb_oauth-{__version__}.dist-info/entry_points.txt"
        ).decode()
    assert "orthanc_dicomweb_oauth/orthanc_entry/dicomweb_oauth_plugin.py" in names
    assert "orthanc_dicomweb_oauth/py.typed" in names
    assert "orthanc_dicomweb_oauth/orthanc/plugin.py" in names
    assert "orthanc_dicomweb_oauth/credentials/base.py" in names
    assert f"orthanc_dicomweb_oauth-{__version__}.dist-info/licenses/LICENSE" in names
    assert not any(name.startswith(("tests/", "local_rig/")) for name in names)
    assert "License-Expression: AGPL-3.0-or-later" in metadata
    assert "Requires-Python: <3.15,>=3.11" in metadata
    assert "orthanc-dicomweb-oauth = orthanc_dicomweb_oauth.cli.main:main" in entry_points
    with tarfile.open(sdist) as archive:
        members = {
            member.name.split("/", 1)[1] for member in archive.getmembers() if "/" in member.name
        }
    assert {
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "src/orthanc_dicomweb_oauth/orthanc_entry/dicomweb_oauth_plugin.py",
    } <= members
