"""What ``check`` prints: text for a person, or JSON for a script. Neither holds a secret
or a token."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from ..errors import ConfigurationProblem
from .check import ServerCheck

# A server's result: its check, or why its configuration is invalid.
CheckResult = ServerCheck | tuple[ConfigurationProblem, ...]


def print_fatal(message: str, as_json: bool, out: TextIO) -> None:
    if as_json:
        _say(out, json.dumps({"servers": {}, "errors": [message]}, indent=2))
    else:
        _say(out, f"ERROR {message}")


def print_text(
    results: Mapping[str, CheckResult],
    general_errors: Sequence[str],
    warnings: Sequence[str],
    out: TextIO,
) -> None:
    for warning in warnings:
        _say(out, f"WARNING {warning}")
    for general_error in general_errors:
        _say(out, f"INVALID {general_error}")
    for name, result in results.items():
        if not isinstance(result, ServerCheck):
            for problem in result:
                _say(out, f"{name}: INVALID {problem}")
            continue
        if result.expires_in is None:
            _say(out, f"{name}: FAIL {result.error}")
            _print_credential(result, out)
            continue
        verdict = "OK" if result.ok else "FAIL"
        _say(
            out,
            f"{name}: {verdict} token valid for {result.expires_in} s "
            f"(lifetime from {result.lifetime_source}, {result.client_auth_method})",
        )
        _print_credential(result, out)
        if result.discovered_token_endpoint:
            _say(
                out,
                f"  token endpoint: {result.discovered_token_endpoint} (from the issuer's "
                "metadata)",
            )
        for note in result.notes:
            _say(out, f"  note: {note}")
        for claim, value in (result.claims or {}).items():
            _say(out, f"  {claim}: {_claim_text(claim, value)}")
        if result.claims is None:
            _say(out, "  (opaque token: no claims to show)")
        if result.probe is not None:
            _say(out, f"  probe: {result.probe.detail}")


def print_json(
    results: Mapping[str, CheckResult],
    general_errors: Sequence[str],
    warnings: Sequence[str],
    out: TextIO,
) -> None:
    servers: dict[str, dict[str, Any]] = {}
    for name, result in results.items():
        if isinstance(result, ServerCheck):
            servers[name] = {
                "ok": result.ok,
                "expires_in": result.expires_in,
                "error": result.error,
                "lifetime_source": result.lifetime_source,
                "client_auth_method": result.client_auth_method,
                "credential": result.credential,
                "discovered_token_endpoint": result.discovered_token_endpoint,
                "claims": result.claims,
                "notes": list(result.notes),
                "probe": None
                if result.probe is None
                else {
                    "ok": result.probe.ok,
                    "http_status": result.probe.http_status,
                    "detail": result.probe.detail,
                },
            }
        else:
            servers[name] = {
                "ok": False,
                "expires_in": None,
                "error": "; ".join(str(problem) for problem in result),
                "configuration_errors": [str(problem) for problem in result],
            }
    document = {"servers": servers, "errors": list(general_errors), "warnings": list(warnings)}
    _say(out, json.dumps(document, indent=2))


def _say(out: TextIO, line: str) -> None:
    out.write(line + "\n")


def _print_credential(result: ServerCheck, out: TextIO) -> None:
    for line in result.credential_lines:
        _say(out, f"  {line}")


def _claim_text(claim: str, value: Any) -> str:
    if claim in ("exp", "iat", "nbf") and isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
        return f"{value} ({moment})"
    return value if isinstance(value, str) else json.dumps(value)
