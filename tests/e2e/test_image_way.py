"""The official ``orthancteam/orthanc`` image's way (local_rig/image_way.py): the plugin
installed by the system pip in the sid chroot (the image's Orthanc, plugins and Python),
configured by ``ORTHANC__`` environment variables turned into JSON by the image's rule,
its client secret a file under /run/secrets. The compose file in docs/running.md uses
the same variables (tests/test_docs.py compares them)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_rig.chroots import OrthancRoot
from local_rig.dicom_samples import study_instance
from local_rig.image_way import (
    IMAGE_ENTRY_SCRIPT,
    SECRET_NAME,
    SECRETS_DIR,
    SERVER_PREFIX,
    configuration_from_environment,
    image_environment,
)
from local_rig.installations import Installation
from local_rig.services import (
    ADMIN,
    CLIENT_SECRET,
    Orthanc,
    ProtectedServer,
    Provider,
    orthanc_configuration,
)

from .rig import b_study_uids, client_for, upload, wait_authorized

# Not a setting: read by the server below through ClientSecretEnv, to show the warning a
# name ending in _SECRET gets.
SUFFIXED_VARIABLE = "LEGACY_CLIENT_SECRET"


@pytest.fixture
def secret_file(image_way: tuple[Installation, str]) -> Iterator[Path]:
    """The client secret as Docker gives a secret: a file in /run/secrets."""
    installed, _ = image_way
    path = installed.root.path / SECRETS_DIR.lstrip("/") / SECRET_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CLIENT_SECRET + "\n")
    path.chmod(0o444)
    yield path
    path.unlink()


def test_the_official_image_s_way(
    image_way: tuple[Installation, str],
    secret_file: Path,
    provider: Provider,
    protected: ProtectedServer,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    installed, entry_script = image_way
    assert entry_script == IMAGE_ENTRY_SCRIPT
    root = installed.root
    environment = {
        **image_environment(entry_script, provider.token_endpoint, protected.url),
        f"{SERVER_PREFIX}LEGACY__CLIENT_SECRET_ENV": SUFFIXED_VARIABLE,
        f"{SERVER_PREFIX}LEGACY__URL": protected.url,
        f"{SERVER_PREFIX}LEGACY__TOKEN_ENDPOINT": provider.token_endpoint,
        f"{SERVER_PREFIX}LEGACY__CLIENT_ID": "orthanc-post",
        SUFFIXED_VARIABLE: CLIENT_SECRET,
    }
    configuration = configuration_from_environment(environment)
    section = configuration["DicomWebOAuth"]
    assert set(section["Servers"]) == {"Pacs", "pacs-eu", "Legacy"}
    assert section["CheckInterval"] == 2
    assert section["Servers"]["Pacs"]["Timeout"] == 120

    work = root.work_dir(tmp_path)
    orthanc = Orthanc(
        "orthanc-a-image-way",
        work,
        log_dir,
        {
            **orthanc_configuration(),
            **configuration,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {ADMIN[0]: ADMIN[1]},
        },
        env=environment,
        verbose=True,
        root=root,
    )
    orthanc.start()
    try:
        client = client_for(orthanc)
        for name in ("Pacs", "pacs-eu", "Legacy"):
            wait_authorized(client, name)
        ready = client.get("/dicomweb-oauth/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"Ready": True, "Servers": ["Legacy", "Pacs", "pacs-eu"]}

        dicom, study_uid = study_instance("IMAGE^WAY")
        study = upload(client, dicom)
        for name in ("Pacs", "pacs-eu"):
            stow = client.post(f"/dicom-web/servers/{name}/stow", json={"Resources": [study]})
            assert stow.status_code == 200, stow.text
        assert study_uid in b_study_uids(protected)
    finally:
        orthanc.stop()
    log = orthanc.log()
    assert (
        f"DicomWebOAuth.Servers.Legacy.ClientSecretEnv: the environment variable "
        f"{SUFFIXED_VARIABLE} ends in _SECRET" in log
    )
    checked = _check_inside(root, orthanc.config_path, environment)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert CLIENT_SECRET not in checked.stdout + checked.stderr
    for name in ("Pacs", "pacs-eu"):
        assert name in checked.stdout


def _check_inside(
    root: OrthancRoot, config_path: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``docker exec CONTAINER orthanc-dicomweb-oauth check /tmp/orthanc.json --probe``:
    the configuration file Orthanc read, in the container's environment."""
    return subprocess.run(
        [
            "/usr/sbin/chroot",
            str(root.path),
            "/usr/bin/env",
            "-i",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            *(f"{name}={value}" for name, value in environment.items()),
            "orthanc-dicomweb-oauth",
            "check",
            root.visible_path(config_path),
            "--probe",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
