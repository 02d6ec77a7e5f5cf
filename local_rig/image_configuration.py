"""The configuration step of the official ``orthancteam/orthanc`` image (26.8.x), run by
its entrypoint before Orthanc, reproduced from its description in the project's notes
(shared/notes/orthanc-facts.md), in this order:

1. every ``/etc/orthanc/*.json``, then every ``/run/secrets/*.json``, merged into the
   configuration's root, ``$VAR`` and ``${VAR}`` substituted first;
2. the environment: ``ORTHANC_JSON`` merged whole; ``ORTHANC__A__B=value`` sets
   ``{"A": {"B": value}}``, each ``__``-separated part PascalCased word by word, the value
   JSON when it reads as JSON; a name ending in ``_SECRET`` names a file of
   ``/run/secrets`` holding the value of the name without the suffix;
3. the files of ``/run/secrets``: the ones named by such variables, and the ones named
   ``ORTHANC__...``, set as the variables they name would be;
4. defaults that never overwrite: the image's own, then each enabled plugin's;
5. ``ORTHANC_PASSWORD`` declares a user ``orthanc``; with authentication and remote
   access on and no user, the step refuses to start Orthanc.

Left out: the variables whose names do not follow the rule (the image lists a few, none
of this plugin's), the deprecated names it refuses, and the plugins this project does not
use besides Orthanc Explorer 2 (on by default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The image whose step this is (its Dockerfile examples in the docs name it).
IMAGE_TAG = "26.8.1"
SETTING_PREFIX = "ORTHANC__"
WHOLE_DOCUMENT = "ORTHANC_JSON"
SECRET_FILE_SUFFIX = "_SECRET"
PASSWORD_VARIABLE = "ORTHANC_PASSWORD"
PASSWORD_USER = "orthanc"
SECRETS_DIR = "/run/secrets"
IMAGE_DEFAULTS: Mapping[str, Any] = {
    "StorageDirectory": "/var/lib/orthanc/db",
    "RemoteAccessAllowed": True,
    "AuthenticationEnabled": True,
    "HttpsCACertificates": "/etc/ssl/certs/ca-certificates.crt",
    "Plugins": ["/run/orthanc/plugins", "/usr/share/orthanc/plugins"],
}


@dataclass(frozen=True)
class ImagePlugin:
    """One of the image's plugins: what enables it, its defaults and its library (the
    image links the libraries of the enabled plugins only into its plugin folder)."""

    section: str
    enabling_variable: str
    library: str
    enabling_root_setting: str | None = None
    enabled_by_default: bool = False
    defaults: Mapping[str, Any] | None = None


PLUGINS = (
    ImagePlugin(
        "DicomWeb", "DICOM_WEB_PLUGIN_ENABLED", "libOrthancDicomWeb.so", defaults={"Enable": True}
    ),
    ImagePlugin(
        "Python",
        "PYTHON_PLUGIN_ENABLED",
        "libOrthancPython.so",
        enabling_root_setting="PythonScript",
    ),
    ImagePlugin(
        "OrthancExplorer2",
        "ORTHANC_EXPLORER_2_ENABLED",
        "libOrthancExplorer2.so",
        enabled_by_default=True,
        defaults={"Enable": True, "IsDefaultOrthancUI": True},
    ),
)


class ImageRefusedError(Exception):
    """The step stops before Orthanc starts; the container exits."""


@dataclass(frozen=True)
class GeneratedConfiguration:
    """What the step writes to /tmp/orthanc.json, and the plugins it enabled."""

    configuration: dict[str, Any]
    enabled_plugins: tuple[ImagePlugin, ...]


def key_of(word_group: str) -> str:
    """``DICOM_WEB_O_AUTH`` -> ``DicomWebOAuth``, ``SERVERS`` -> ``Servers``."""
    return "".join(word[:1] + word[1:].lower() for word in word_group.split("_"))


def generate_configuration(
    environ: Mapping[str, str],
    secrets: Mapping[str, str] | None = None,
    configuration_files: Sequence[str] = (),
) -> GeneratedConfiguration:
    """The image's configuration from its environment, the files of /run/secrets (name:
    content) and the texts of /etc/orthanc/*.json; ``ImageRefusedError`` where it stops."""
    secrets = secrets or {}
    configuration: dict[str, Any] = {}
    documents = [
        *configuration_files,
        *(text for name, text in secrets.items() if name.endswith(".json")),
    ]
    for text in documents:
        _merge(configuration, _json_document(substitute_variables(text, environ)), overwrite=True)

    secret_targets: dict[str, str] = {}
    enabled_by_variable: dict[str, bool] = {}
    for name, value in environ.items():
        if name == WHOLE_DOCUMENT:
            _merge(configuration, _json_document(value), overwrite=True)
        elif name.endswith(SECRET_FILE_SUFFIX):
            secret_targets[value] = name.removesuffix(SECRET_FILE_SUFFIX)
        elif name.startswith(SETTING_PREFIX):
            _set(configuration, name, value)
        else:
            for plugin in PLUGINS:
                if name == plugin.enabling_variable:
                    enabled_by_variable[plugin.section] = value != "false"

    for file_name, content in secrets.items():
        variable = secret_targets.get(file_name, file_name)
        if variable.startswith(SETTING_PREFIX):
            _set(configuration, variable, content.rstrip("\n"))

    _merge(configuration, IMAGE_DEFAULTS, overwrite=False)
    enabled = tuple(
        plugin for plugin in PLUGINS if _enabled(plugin, configuration, enabled_by_variable)
    )
    for plugin in enabled:
        if plugin.defaults:
            _merge(configuration, {plugin.section: plugin.defaults}, overwrite=False)

    password = environ.get(PASSWORD_VARIABLE)
    if password:
        users = configuration.get("RegisteredUsers") or {}
        configuration["RegisteredUsers"] = {**users, PASSWORD_USER: password}
    if (
        configuration.get("RemoteAccessAllowed", True)
        and configuration.get("AuthenticationEnabled", True)
        and not configuration.get("RegisteredUsers")
    ):
        raise ImageRefusedError(
            "HTTP authentication is enabled and remote access is allowed, but no user is "
            "declared: declare one in RegisteredUsers or give ORTHANC_PASSWORD"
        )
    return GeneratedConfiguration(configuration, enabled)


def substitute_variables(text: str, environ: Mapping[str, str]) -> str:
    """``$NAME``, ``${NAME}``, ``${NAME:-default}`` (the default also when empty) and
    ``${NAME-default}`` (only when unset); an unset name without default is empty."""

    def braced(match: re.Match[str]) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3)
        value = environ.get(name)
        if operator == ":-":
            return value or default
        if operator == "-":
            return default if value is None else value
        return value or ""

    text = re.sub(r"(?<!\\)\$([A-Za-z0-9_]+)", lambda m: environ.get(m.group(1), ""), text)
    return re.sub(r"(?<!\\)\$\{([A-Za-z0-9_]+)(?:(:?-)([^}]+))?\}", braced, text)


def _json_document(text: str) -> dict[str, Any]:
    """A JSON object, with the // and /* */ comments Orthanc's files may have."""
    without_comments = re.sub(
        r'"(?:\\.|[^\\"])*"|//[^\n]*|/\*.*?\*/',
        lambda m: m.group(0) if m.group(0).startswith('"') else " ",
        text,
        flags=re.DOTALL,
    )
    document = json.loads(without_comments)
    if not isinstance(document, dict):
        raise ImageRefusedError("a configuration document is not a JSON object")
    return document


def _set(configuration: dict[str, Any], variable: str, text: str) -> None:
    path = [key_of(part) for part in variable.removeprefix(SETTING_PREFIX).split("__")]
    nested: Any = _value(text)
    for key in reversed(path):
        nested = {key: nested}
    _merge(configuration, nested, overwrite=True)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _merge(into: dict[str, Any], other: Mapping[str, Any], *, overwrite: bool) -> None:
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, overwrite=overwrite)
        elif overwrite or key not in into:
            into[key] = json.loads(json.dumps(value))


def _enabled(
    plugin: ImagePlugin, configuration: Mapping[str, Any], by_variable: Mapping[str, bool]
) -> bool:
    if by_variable.get(plugin.section) is False:
        return False
    return (
        plugin.enabled_by_default
        or plugin.section in configuration
        or by_variable.get(plugin.section, False)
        or (
            plugin.enabling_root_setting is not None
            and plugin.enabling_root_setting in configuration
        )
    )
