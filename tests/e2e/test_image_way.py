"""The official ``orthancteam/orthanc`` image's way (local_rig/image_way.py), driven by
the compose file of docs/running.md: its variables and secrets, read from the document,
go through the image's configuration step (local_rig/image_configuration.py) with the
rig's addresses in place of the examples; Orthanc 1.13 in the sid chroot (the image's
Orthanc, plugins and Python, the plugin installed by the system pip) starts with what the
step generated and sends a study through the servers it defines."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_rig.chroots import OrthancRoot
from local_rig.dicom_samples import study_instance
from local_rig.image_configuration import (
    SECRETS_DIR,
    GeneratedConfiguration,
    generate_configuration,
)
from local_rig.image_way import (
    SECRET_STAND_INS,
    ComposeService,
    configuration_for_the_rig,
    documented_compose,
    missing_libraries,
)
from local_rig.installations import Installation
from local_rig.services import ADMIN, AUDIENCE, CLIENT_SECRET, Orthanc, ProtectedServer, Provider

from .rig import b_study_uids, client_for, upload, wait_authorized, wait_job

SERVER_PREFIX = "ORTHANC__DICOM_WEB_O_AUTH__SERVERS__"
DOCUMENTED_SERVER = f"{SERVER_PREFIX}PACS__"
# Not a setting: read by the server below through ClientSecretEnv, to show the warning a
# name ending in _SECRET gets.
SUFFIXED_VARIABLE = "LEGACY_CLIENT_SECRET"


def _site_environment(compose: ComposeService, provider: Provider, url: str) -> dict[str, str]:
    """The compose file's environment with the rig's provider, client and DICOMweb server
    in place of the examples; every other variable as the document gives it."""
    examples = {
        f"{DOCUMENTED_SERVER}URL": url,
        f"{DOCUMENTED_SERVER}TOKEN_ENDPOINT": provider.token_endpoint,
        f"{DOCUMENTED_SERVER}CLIENT_ID": "orthanc-post",
    }
    assert set(examples) <= set(compose.environment)
    return {**compose.environment, **examples}


def _more_servers(provider: Provider, url: str) -> dict[str, str]:
    """Beyond the document: a lower-case name given as a JSON value, and a secret read
    from a variable whose name ends in _SECRET (the plugin warns)."""
    legacy = f"{SERVER_PREFIX}LEGACY__"
    return {
        "ORTHANC__DICOM_WEB_O_AUTH__SERVERS": json.dumps(
            {
                "pacs-eu": {
                    "Url": url,
                    "TokenEndpoint": provider.token_endpoint,
                    "ClientId": "orthanc-basic",
                    "ClientAuthMethod": "client_secret_basic",
                    "ClientSecretFile": f"{SECRETS_DIR}/pacs-client-secret",
                    "TokenRequestParameters": {"audience": AUDIENCE},
                }
            }
        ),
        f"{legacy}CLIENT_SECRET_ENV": SUFFIXED_VARIABLE,
        f"{legacy}URL": url,
        f"{legacy}TOKEN_ENDPOINT": provider.token_endpoint,
        f"{legacy}CLIENT_ID": "orthanc-post",
        SUFFIXED_VARIABLE: CLIENT_SECRET,
        "ORTHANC__DICOM_WEB_O_AUTH__CHECK_INTERVAL": "2",
    }


@pytest.fixture
def secret_files(image_way: tuple[Installation, str]) -> Iterator[dict[str, str]]:
    """The compose file's secrets as Docker gives them: files in /run/secrets, named
    after the secrets."""
    installed, _ = image_way
    compose = documented_compose()
    assert set(compose.secrets) == set(SECRET_STAND_INS)
    folder = installed.root.path / SECRETS_DIR.lstrip("/")
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in SECRET_STAND_INS.items():
        (folder / name).write_text(content + "\n")
        (folder / name).chmod(0o444)
    yield {name: (folder / name).read_text() for name in SECRET_STAND_INS}
    for name in SECRET_STAND_INS:
        (folder / name).unlink()


def test_the_documented_compose_file_in_the_image_s_way(
    image_way: tuple[Installation, str],
    secret_files: dict[str, str],
    provider: Provider,
    protected: ProtectedServer,
    tmp_path: Path,
    log_dir: Path,
) -> None:
    installed, entry_script = image_way
    compose = documented_compose()
    assert compose.environment["ORTHANC__PYTHON_SCRIPT"] == entry_script
    root = installed.root
    environment = {
        **_site_environment(compose, provider, protected.url),
        **_more_servers(provider, protected.url),
    }
    generated = generate_configuration(environment, secret_files)
    section = generated.configuration["DicomWebOAuth"]
    assert set(section["Servers"]) == {"Pacs", "pacs-eu", "Legacy"}
    assert section["Servers"]["Pacs"]["Timeout"] == 120
    assert generated.configuration["RegisteredUsers"] == {ADMIN[0]: ADMIN[1]}
    # Debian packages no Orthanc Explorer 2: the image's other enabled plugins are here.
    assert missing_libraries(generated, root.path) == {"OrthancExplorer2"}

    orthanc = _start(root, generated, environment, tmp_path, log_dir)
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
        # What Orthanc Explorer 2, the image's default interface, sends for its "Send to
        # DICOMweb server" (read in its source: orthancApi.js, sendToDicomWebServer).
        job = client.post(
            "/dicom-web/servers/Pacs/stow", json={"Resources": [study], "Synchronous": False}
        )
        assert job.status_code == 200, job.text
        assert wait_job(client, job.json()["ID"])["State"] == "Success"
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
    # check prints what the plugin logged at start.
    assert f"the environment variable {SUFFIXED_VARIABLE} ends in _SECRET" in checked.stdout


def _start(
    root: OrthancRoot,
    generated: GeneratedConfiguration,
    environment: dict[str, str],
    tmp_path: Path,
    log_dir: Path,
) -> Orthanc:
    orthanc = Orthanc(
        "orthanc-a-image-way",
        root.work_dir(tmp_path),
        log_dir,
        configuration_for_the_rig(generated, root.path),
        env=environment,
        verbose=True,
        root=root,
    )
    orthanc.start()
    return orthanc


def _check_inside(
    root: OrthancRoot, config_path: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """``docker compose exec orthanc orthanc-dicomweb-oauth check /tmp/orthanc.json
    --probe``: the configuration file Orthanc read, in the container's environment."""
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
