"""pydantic's validation errors as problems named by Orthanc's key paths."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from ..errors import ConfigurationProblem
from .name_hints import loose


def schema_problems(
    error: ValidationError, prefix: str, model: type[BaseModel], server: str | None = None
) -> list[ConfigurationProblem]:
    """Input values are left out: they may be secrets."""
    known = [info.alias for info in model.model_fields.values() if info.alias]
    result = []
    for detail in error.errors(include_input=False, include_url=False):
        location = [str(part) for part in detail["loc"]]
        key = ".".join([prefix, *location])
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(location[-1], known)
        elif detail["type"] == "missing":
            message = "is required"
        elif detail["type"] == "model_type":
            message = "must be a JSON object"
        result.append(ConfigurationProblem(key, message, server))
    return result


def _suggestion(key: str, known: Sequence[str]) -> str:
    by_lower = {candidate.lower(): candidate for candidate in known}
    if key.lower() in by_lower:
        return f"; did you mean {by_lower[key.lower()]}? (keys are case-sensitive)"
    by_loose = {loose(candidate): candidate for candidate in known}
    if loose(key) in by_loose:
        # CLIENT_ID or client_id: a variable's spelling, or another language's habit.
        return (
            f"; did you mean {by_loose[loose(key)]}? (keys are case-sensitive, their words "
            "joined without _)"
        )
    # Imported for a misspelt key only: a configuration without one never loads it.
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
