"""What the official ``orthancteam/orthanc`` image's start-up does with environment
variables and secret files, as far as it touches this plugin's configuration."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import keys
from ..redaction import sanitize_external_text
from ..sources.google.file_types import SERVICE_ACCOUNT

# The image takes a variable named ``X_SECRET`` as the name of a file in /run/secrets that
# holds X's value, and prints the variable's value when it starts verbosely: a secret
# itself in such a variable ends up in the container's log.
IMAGE_SECRET_SUFFIX = "_SECRET"  # noqa: S105 - a name's suffix, not a password
SECRET_VARIABLE_KEYS = (keys.CLIENT_SECRET_ENV, keys.CLIENT_PRIVATE_KEY_ENV)


def secret_suffix_warnings(servers: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """A warning for each variable a server reads its secret from whose name the image
    would take as a secret file's name. Never the value."""
    warnings = []
    for name, section in servers.items():
        if not isinstance(section, Mapping):
            continue
        for key in SECRET_VARIABLE_KEYS:
            variable = section.get(key)
            if (
                isinstance(variable, str)
                and variable.endswith(IMAGE_SECRET_SUFFIX)
                and variable in environ
            ):
                warnings.append(
                    f"{keys.SECTION}.{keys.SERVERS}.{name}.{key}: the environment variable "
                    f"{variable} ends in {IMAGE_SECRET_SUFFIX}: the orthancteam/orthanc image "
                    "takes its value as the name of a file in /run/secrets and prints it when it "
                    "starts with "
                    "VERBOSE_STARTUP. Rename the variable, or give the secret as a file with "
                    f"{keys.CLIENT_SECRET_FILE}"
                )
    return warnings


def variable_words(key: str) -> str:
    """A key as the image's variables spell it: each capital starts a word, the words in
    capitals joined by ``_`` (``DicomWebOAuth``: ``DICOM_WEB_O_AUTH``), which the image
    turns back into the key."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()


def merged_key_warnings(orthanc: Mapping[str, Any]) -> list[str]:
    """A warning when the configuration's root holds a Google service account key: the
    image merges every /run/secrets/*.json file into the configuration, and a key mounted
    there lands in it. Names the account, never the key."""
    private_key = orthanc.get("private_key")
    if not isinstance(private_key, str) or not (
        "client_email" in orthanc or orthanc.get("type") == SERVICE_ACCOUNT
    ):
        return []
    email = orthanc.get("client_email")
    found = "private_key"
    if isinstance(email, str) and email:
        found += f", client_email of {sanitize_external_text(email, (private_key,))}"
    return [
        f"the configuration's root has a Google service account key ({found}): the official "
        "Docker image merges every /run/secrets/*.json file into Orthanc's configuration, the "
        "private key included, and prints it when it starts with VERBOSE_STARTUP. Mount the "
        "key without the .json suffix or outside /run/secrets, and name its path in "
        f"{keys.GOOGLE_CREDENTIALS}"
    ]
