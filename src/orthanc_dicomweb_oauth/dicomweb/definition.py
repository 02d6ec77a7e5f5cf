"""The DICOMweb plugin's server definition with the bearer token, and how to tell that
the plugin's current definition is no longer the one this package wrote."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..sources.access_token import AccessToken

AUTHORIZATION = "Authorization"


def authorized_definition(base: Mapping[str, Any], token: AccessToken) -> dict[str, Any]:
    """The whole definition to PUT: a PUT replaces every option, so all are sent."""
    definition = dict(base)
    definition["HttpHeaders"] = {
        **base.get("HttpHeaders", {}),
        AUTHORIZATION: (token.authorization_header()),
    }
    return definition


def definition_drift(base: Mapping[str, Any], listed: Mapping[str, Any] | None) -> str | None:
    """Why the definition listed by ``GET /dicom-web/servers?expand`` (header names only)
    differs from ours, or None. Header values cannot be read back."""
    if listed is None:
        return "missing"
    if listed.get("Url") != base["Url"]:
        return "its Url was changed"
    names = listed.get("HttpHeaders")
    if not isinstance(names, list) or AUTHORIZATION not in names:
        return "its Authorization header was removed"
    return None
