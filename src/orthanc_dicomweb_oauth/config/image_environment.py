"""What the official ``orthancteam/orthanc`` image's start-up does with environment
variables, as far as it touches this plugin's configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import keys

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
