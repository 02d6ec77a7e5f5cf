"""Reads an Orthanc configuration the way Orthanc does, for the command line: one JSON
file or every ``*.json`` file of a folder (top-level keys merged), with ``//`` and
``/* */`` comments, ``${VAR}`` replaced by the environment variable's value (an empty
string when it is unset) and ``${VAR:-default}`` by the default when it is unset."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import OrthancConfigFileError

_VARIABLE = re.compile(r"\$\{([^}:]*)(:-[^}]*)?\}")


def read_orthanc_configuration(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    if path.is_dir():
        files = sorted(child for child in path.iterdir() if child.suffix.lower() == ".json")
        if not files:
            raise OrthancConfigFileError(f"{path}: no .json file in this folder")
    elif path.exists():
        files = [path]
    else:
        raise OrthancConfigFileError(f"{path}: no such file or folder")
    merged: dict[str, Any] = {}
    for file in files:
        for key, value in _read_file(file, environ).items():
            if key in merged:
                raise OrthancConfigFileError(f"{file}: key {key} is also set in another file")
            merged[key] = value
    return merged


def unset_variables(path: Path, environ: Mapping[str, str]) -> list[str]:
    """The ``${VAR}`` names, without a default, used in the configuration but absent from
    the environment (Orthanc replaces them with an empty string)."""
    files = [path] if not path.is_dir() else sorted(path.glob("*.json"))
    names: set[str] = set()
    for file in files:
        for name, default in _VARIABLE.findall(_strip_comments(file.read_text(encoding="utf-8"))):
            if not default:
                names.add(name)
    return sorted(name for name in names if name not in environ)


def _read_file(file: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise OrthancConfigFileError(f"{file}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise OrthancConfigFileError(f"{file}: not UTF-8 text") from None
    text = _VARIABLE.sub(lambda match: _value(match, environ), _strip_comments(text))
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise OrthancConfigFileError(
            f"{file}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    if not isinstance(document, dict):
        raise OrthancConfigFileError(f"{file}: must hold a JSON object")
    return document


def _value(variable: re.Match[str], environ: Mapping[str, str]) -> str:
    name, default = variable.group(1), variable.group(2)
    if name in environ:
        return environ[name]
    return default[2:] if default else ""


def _strip_comments(text: str) -> str:
    """Removes // and /* */ comments outside JSON strings. Orthanc accepts them in its
    configuration files; Python's json module does not. Hand-written because no small,
    maintained library parses exactly "JSON plus comments" and nothing more."""
    result: list[str] = []
    index, length = 0, len(text)
    in_string = False
    while index < length:
        char = text[index]
        if in_string:
            result.append(char)
            if char == "\\" and index + 1 < length:
                result.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            result.append(char)
        elif text.startswith("//", index):
            end = text.find("\n", index)
            index = length if end == -1 else end
            continue
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            index = length if end == -1 else end + 2
            result.append(" ")
            continue
        else:
            result.append(char)
        index += 1
    return "".join(result)
