"""The official ``orthancteam/orthanc`` image's way, reproduced in the sid chroot, which
has the same Orthanc, DICOMweb plugin, Python plugin and Python as image 26.8.1:

- the plugin installed by the system's pip with ``--break-system-packages``, no virtual
  environment, as a derived image's ``RUN pip install`` does;
- Orthanc's configuration generated from ``ORTHANC__...`` environment variables by the
  rule the image documents, written here from that description: each
  ``__``-separated part of the name is a key, each ``_``-separated word of it capitalized
  and the rest lower-cased; a value that reads as JSON is that JSON, otherwise text;
  ``ORTHANC_JSON`` is a whole document merged in; a name ending in ``_SECRET`` names a
  secret file and sets nothing itself.

The image's own defaults and its moving of plugin libraries are not reproduced: the rig's
configuration loads the Python and DICOMweb plugins as the image does once a setting of
theirs is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .chroots import output_of, run_in
from .installations import CHROOT_WHEELS, ENTRY, Installation
from .services import AUDIENCE

IMAGE_SUITE = "sid"
SETTING_PREFIX = "ORTHANC__"
WHOLE_DOCUMENT = "ORTHANC_JSON"
SECRET_FILE_SUFFIX = "_SECRET"
SECRETS_DIR = "/run/secrets"
SYSTEM_ENTRY_SCRIPT = "/usr/local/bin/orthanc-dicomweb-oauth"
SECRET_NAME = "pacs-client-secret"
# Where the image's pip puts the entry script (the compose file in the docs names it).
IMAGE_ENTRY_SCRIPT = (
    "/usr/local/lib/python3.14/dist-packages/orthanc_dicomweb_oauth/orthanc_entry/"
    "dicomweb_oauth_plugin.py"
)
SERVER_PREFIX = "ORTHANC__DICOM_WEB_O_AUTH__SERVERS__"


def image_environment(entry_script: str, token_endpoint: str, protected: str) -> dict[str, str]:
    """What the compose file in docs/running.md sets, with the rig's addresses."""
    pacs = f"{SERVER_PREFIX}PACS__"
    return {
        "ORTHANC__PYTHON_SCRIPT": entry_script,
        "ORTHANC__DICOM_WEB__ENABLE": "true",
        f"{pacs}URL": protected,
        f"{pacs}TOKEN_ENDPOINT": token_endpoint,
        f"{pacs}CLIENT_ID": "orthanc-post",
        f"{pacs}CLIENT_SECRET_FILE": f"{SECRETS_DIR}/{SECRET_NAME}",
        f"{pacs}TIMEOUT": "120",
        "ORTHANC__DICOM_WEB_O_AUTH__CHECK_INTERVAL": "2",
        # A lower-case name, or any key the rule cannot spell, goes in a JSON value.
        "ORTHANC__DICOM_WEB_O_AUTH__SERVERS": json.dumps(
            {
                "pacs-eu": {
                    "Url": protected,
                    "TokenEndpoint": token_endpoint,
                    "ClientId": "orthanc-basic",
                    "ClientAuthMethod": "client_secret_basic",
                    "ClientSecretFile": f"{SECRETS_DIR}/{SECRET_NAME}",
                    "TokenRequestParameters": {"audience": AUDIENCE},
                }
            }
        ),
    }


def key_of(word_group: str) -> str:
    """``DICOM_WEB_O_AUTH`` -> ``DicomWebOAuth``, ``SERVERS`` -> ``Servers``."""
    return "".join(word[:1] + word[1:].lower() for word in word_group.split("_"))


def configuration_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The configuration the image generates from ``environ``."""
    configuration: dict[str, Any] = {}
    if WHOLE_DOCUMENT in environ:
        _merge(configuration, json.loads(environ[WHOLE_DOCUMENT]))
    for name, value in sorted(environ.items()):
        if name.endswith(SECRET_FILE_SUFFIX) or not name.startswith(SETTING_PREFIX):
            continue
        path = [key_of(part) for part in name.removeprefix(SETTING_PREFIX).split("__")]
        nested: Any = _value(value)
        for key in reversed(path):
            nested = {key: nested}
        _merge(configuration, nested)
    return configuration


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


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
