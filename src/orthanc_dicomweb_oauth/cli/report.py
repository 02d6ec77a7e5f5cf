"""What ``check`` prints: text for a person, or JSON for a script. Neither holds a secret
or a token."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from .. import keys
from ..credentials import private_key
from ..descriptions import CredentialDescription, credential_fields, iso, moment
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
        for warning in result.warnings:
            _say(out, f"  WARNING {warning}")
        for claim, value in (result.claims or {}).items():
            _say(out, f"  {claim}: {_claim_text(claim, value)}")
        if result.claims is None:
            _say(out, "  (opaque token: no claims to show)")
        if result.probe is not None:
            _say(out, f"  probe: {result.probe.detail}")
            if result.probe.body is not None:
                _say(out, f"  the server answered: {result.probe.body}")


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
                "credential": credential_fields(result.description.credential),
                "discovered_token_endpoint": result.discovered_token_endpoint,
                "claims": result.claims,
                "notes": list(result.notes),
                "warnings": list(result.warnings),
                "probe": None
                if result.probe is None
                else {
                    "ok": result.probe.ok,
                    "http_status": result.probe.http_status,
                    "detail": result.probe.detail,
                    "body": result.probe.body,
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
    for line in credential_lines(result.description.credential):
        _say(out, f"  {line}")


def credential_lines(credential: CredentialDescription) -> list[str]:
    """What identifies the credential, as lines of the text output."""
    match credential.kind:
        case private_key.KIND:
            return _private_key_lines(credential)
        case keys.CLIENT_ASSERTION_FILE:
            if credential.error is not None:
                return [f"client assertion: {credential.error}"]
            said = ", ".join(
                f"{word} {value}"
                for word, value in (
                    ("issuer", credential.issuer),
                    ("subject", credential.subject),
                    ("expires", credential.expires_at and iso(credential.expires_at)),
                )
                if value is not None
            )
            return [f"client assertion: {said}"]
        case keys.GOOGLE_CREDENTIALS:
            lines = [f"Google {credential.type}: {credential.identity}"]
            if credential.scopes is not None:
                listed = ", ".join(credential.scopes) or "none"
                lines.append(f"access scopes (from the metadata server): {listed}")
            return lines
        case keys.AZURE_MANAGED_IDENTITY:
            client_id = f", client id {credential.client_id}" if credential.client_id else ""
            return [
                f"Azure managed identity ({credential.environment}): "
                f"{credential.identity}{client_id}"
            ]
    return []


def _private_key_lines(credential: CredentialDescription) -> list[str]:
    key_id = f"key id {credential.key_id}" if credential.key_id is not None else "no key id"
    lines = [f"client key: {credential.algorithm}, {key_id}"]
    certificate = credential.certificate
    if certificate is not None:
        lines.append(
            f"certificate: thumbprint {certificate.thumbprint}, valid until "
            f"{iso(certificate.not_after)}, sent as {', '.join(certificate.headers)}"
        )
    return lines


def _claim_text(claim: str, value: Any) -> str:
    when = moment(value) if claim in ("exp", "iat", "nbf") else None
    if when is not None:
        return f"{value} ({iso(when)})"
    return value if isinstance(value, str) else json.dumps(value)
