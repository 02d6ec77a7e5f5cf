"""Hints for names the configuration spells differently from what is asked for: the
section under another case (the official image's variables spell it ``DicomWebOauth``
unless written ``..._O_AUTH``), a server name that differs by case or by ``_`` and ``-``
(the image PascalCases server names: ``PACS`` is ``Pacs``, ``MY_PACS`` is ``MyPacs``)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .. import keys
from .image_environment import variable_words


def loose(name: str) -> str:
    """A name compared regardless of case and of the ``_`` and ``-`` between words."""
    return name.lower().replace("_", "").replace("-", "")


def missing_section_message(orthanc: Mapping[str, Any]) -> str:
    """Why the section is not found, naming a root key that spells it otherwise."""
    wanted = loose(keys.SECTION)
    near = [key for key in orthanc if isinstance(key, str) and loose(key) == wanted]
    if not near:
        return "section is missing"
    return (
        f"section is missing; the configuration has {json.dumps(near[0])}: the section is "
        f"spelled {keys.SECTION} (as a Docker variable: "
        f"ORTHANC__{variable_words(keys.SECTION)}__...)"
    )


def unknown_servers_message(unknown: Iterable[str], configured: Collection[str]) -> str:
    """The servers there are, and the one meant when a name differs by case, ``_`` or
    ``-`` only."""
    unknown = list(unknown)
    said = f"no server named {', '.join(unknown)} in {keys.SECTION}.{keys.SERVERS}"
    if not configured:
        return f"{said}: it has none"
    names = sorted(configured)
    by_loose = {loose(name): name for name in names}
    meant = {name: by_loose[loose(name)] for name in unknown if loose(name) in by_loose}
    hint = ""
    if meant:
        case_only = all(asked.lower() == name.lower() for asked, name in meant.items())
        why = "names are case-sensitive: " if case_only else ""
        hint = f" ({why}did you mean {', '.join(meant.values())}?)"
    return f"{said}; its servers: {', '.join(names)}{hint}"
