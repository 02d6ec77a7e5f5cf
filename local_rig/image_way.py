"""The official ``orthancteam/orthanc`` image's way, reproduced in the sid chroot, which
has the same Orthanc, DICOMweb plugin, Python plugin and Python as image 26.8.1:

- the plugin installed by the system's pip with ``--break-system-packages``, no virtual
  environment, as a derived image's ``RUN pip install`` does;
- the compose file of docs/running.md read from the document itself: its environment
  and its secrets;
- Orthanc's configuration generated from them by the image's configuration step
  (local_rig/image_configuration.py), then given to Orthanc with the rig's own port and
  storage, and the libraries of the plugins the step enabled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .chroots import output_of, run_in
from .image_configuration import GeneratedConfiguration
from .installations import CHROOT_WHEELS, ENTRY, Installation
from .services import ADMIN, CLIENT_SECRET, ROOT

IMAGE_SUITE = "sid"
SYSTEM_ENTRY_SCRIPT = "/usr/local/bin/orthanc-dicomweb-oauth"
RUNNING_GUIDE = ROOT / "docs" / "running.md"
COMPOSE_SERVICE = "orthanc"
# Where the image's plugin folder is on Debian, whose packages install the libraries there.
PLUGIN_FOLDER = "/usr/share/orthanc/plugins"
# What the secret files of the compose file in docs/running.md hold, as the rig gives them.
SECRET_STAND_INS = {
    "orthanc-users": json.dumps({ADMIN[0]: ADMIN[1]}),
    "pacs-client-secret": CLIENT_SECRET,
}


@dataclass(frozen=True)
class ComposeService:
    """The Orthanc service of a compose file: its environment and its secrets (each
    secret's name, which is its file's name in /run/secrets, and the file it comes from)."""

    environment: dict[str, str]
    secrets: dict[str, str]


def documented_compose(guide: Path = RUNNING_GUIDE) -> ComposeService:
    """The one compose file of ``guide`` (a ``yaml`` block that starts with
    ``services:``)."""
    (block,) = re.findall(r"```yaml\n(services:.*?)```", guide.read_text(), re.DOTALL)
    document = yaml.safe_load(block)
    service = document["services"][COMPOSE_SERVICE]
    # Compose gives every value to the container as text.
    environment = {name: str(value) for name, value in service["environment"].items()}
    declared = document.get("secrets") or {}
    secrets = {name: str(declared[name]["file"]) for name in service.get("secrets", [])}
    return ComposeService(environment, secrets)


def configuration_for_the_rig(generated: GeneratedConfiguration, root: Path) -> dict[str, Any]:
    """The generated configuration, with the rig's storage (Orthanc's rig class gives each
    Orthanc its own) and, as ``Plugins``, the libraries of the enabled plugins that
    ``root`` has, which is what the image links into its plugin folder."""
    configuration = dict(generated.configuration)
    del configuration["StorageDirectory"]
    configuration["Plugins"] = [
        f"{PLUGIN_FOLDER}/{plugin.library}"
        for plugin in generated.enabled_plugins
        if (root / PLUGIN_FOLDER.lstrip("/") / plugin.library).is_file()
    ]
    return configuration


def missing_libraries(generated: GeneratedConfiguration, root: Path) -> set[str]:
    """The enabled plugins whose library ``root`` does not have."""
    folder = root / PLUGIN_FOLDER.lstrip("/")
    return {p.section for p in generated.enabled_plugins if not (folder / p.library).is_file()}


def install_system_wide(installed: Installation, log_path: Path) -> str:
    """Installs the plugin into the sid chroot's system Python as a derived image does
    (the system pip, ``--break-system-packages``, from the wheels the chroot's other
    installation downloaded); returns the entry script ``entry-script`` prints there."""
    root = installed.root.path
    pip = ["/usr/bin/python3", "-m", "pip", "install", "-q", "--break-system-packages"]
    pip += ["--disable-pip-version-check", "--root-user-action=ignore"]
    pip += ["--no-index", "--find-links", CHROOT_WHEELS]
    (wheel,) = (root / CHROOT_WHEELS.lstrip("/")).glob("orthanc_dicomweb_oauth-*.whl")
    project = f"{CHROOT_WHEELS}/{wheel.name}"
    with log_path.open("w") as log:
        if not (root / "usr" / "lib" / "python3" / "dist-packages" / "pip").is_dir():
            install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
            run_in(root, [*install, "python3-pip"], log.fileno())
        run_in(root, [*pip, project], log.fileno())
        run_in(root, [*pip, "--no-deps", "--force-reinstall", project], log.fileno())
    entry = output_of(root, [SYSTEM_ENTRY_SCRIPT, "entry-script"])
    if not entry.startswith("/usr/local/lib/python3") or not entry.endswith(ENTRY):
        raise RuntimeError(f"`{SYSTEM_ENTRY_SCRIPT} entry-script` printed {entry!r}")
    return entry
