"""``orthanc-dicomweb-oauth check CONFIG``: validates the DicomWebOAuth section of an
Orthanc configuration and gets a token for each server, without Orthanc.

Exit status: 0 all servers OK, 1 a server failed, 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .check import ServerCheck, check_server
from .configuration import ConfigurationError, load_configuration
from .orthanc_config_file import (
    OrthancConfigFileError,
    read_orthanc_configuration,
    unset_variables,
)

EXIT_OK = 0
EXIT_SERVER_FAILED = 1
EXIT_INVALID_CONFIGURATION = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orthanc-dicomweb-oauth",
        description="OAuth2 client credentials for Orthanc's DICOMweb servers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="validate a configuration and get a token for each server",
        description="Validate the DicomWebOAuth section of an Orthanc configuration and get "
        "a token for each server. Exit 0: all OK; 1: a server failed; 2: invalid "
        "configuration.",
    )
    check.add_argument("config", type=Path, help="Orthanc configuration file or folder")
    check.add_argument("--server", metavar="NAME", action="append", help="check only NAME")
    check.add_argument(
        "--probe", action="store_true", help="also send GET {Url}/studies?limit=1 with the token"
    )
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    return run_check(
        args.config,
        args.server,
        probe=args.probe,
        as_json=args.json,
        environ=os.environ,
        out=sys.stdout,
    )


def run_check(
    config: Path,
    only: Sequence[str] | None,
    *,
    probe: bool,
    as_json: bool,
    environ: Mapping[str, str],
    out: TextIO,
) -> int:
    try:
        orthanc = read_orthanc_configuration(config, environ)
    except OrthancConfigFileError as error:
        _print_fatal(str(error), as_json, out)
        return EXIT_INVALID_CONFIGURATION
    loaded = load_configuration(orthanc, environ)
    configured = {*loaded.servers, *(e.server for e in loaded.errors if e.server)}
    unknown = sorted(set(only or ()) - configured)
    if unknown:
        _print_fatal(f"no server named {', '.join(unknown)} in DicomWebOAuth.Servers", as_json, out)
        return EXIT_INVALID_CONFIGURATION
    selected = [name for name in sorted(configured) if not only or name in only]
    general_errors = [str(e) for e in loaded.errors if e.server is None]
    warnings = [
        f"environment variable {name} is not set: Orthanc substitutes an empty string"
        for name in unset_variables(config, environ)
    ]
    ca = orthanc.get("HttpsCACertificates")
    results: dict[str, ServerCheck | tuple[ConfigurationError, ...]] = {}
    for name in selected:
        if name in loaded.servers:
            results[name] = check_server(
                loaded.servers[name],
                probe=probe,
                dicomweb_ca_certificates=ca if isinstance(ca, str) and ca else None,
            )
        else:
            results[name] = loaded.errors_of(name)
    if as_json:
        _print_json(results, general_errors, warnings, out)
    else:
        _print_text(results, general_errors, warnings, out)
    if general_errors or any(not isinstance(r, ServerCheck) for r in results.values()):
        return EXIT_INVALID_CONFIGURATION
    failed = any(isinstance(r, ServerCheck) and not r.ok for r in results.values())
    return EXIT_SERVER_FAILED if failed else EXIT_OK


def _print_fatal(message: str, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps({"servers": {}, "errors": [message]}, indent=2), file=out)
    else:
        print(f"ERROR {message}", file=out)


def _print_text(
    results: Mapping[str, ServerCheck | tuple[ConfigurationError, ...]],
    general_errors: Sequence[str],
    warnings: Sequence[str],
    out: TextIO,
) -> None:
    for warning in warnings:
        print(f"WARNING {warning}", file=out)
    for general_error in general_errors:
        print(f"INVALID {general_error}", file=out)
    for name, result in results.items():
        if not isinstance(result, ServerCheck):
            for error in result:
                print(f"{name}: INVALID {error}", file=out)
            continue
        if result.expires_in is None:
            print(f"{name}: FAIL {result.error}", file=out)
            _print_client_key(result, out)
            continue
        verdict = "OK" if result.ok else "FAIL"
        print(
            f"{name}: {verdict} token valid for {result.expires_in} s "
            f"(lifetime from {result.lifetime_source}, {result.client_auth_method})",
            file=out,
        )
        _print_client_key(result, out)
        if result.discovered_token_endpoint:
            print(
                f"  token endpoint: {result.discovered_token_endpoint} (from the issuer's "
                "metadata)",
                file=out,
            )
        for note in result.notes:
            print(f"  note: {note}", file=out)
        for claim, value in (result.claims or {}).items():
            print(f"  {claim}: {_claim_text(claim, value)}", file=out)
        if result.claims is None:
            print("  (opaque token: no claims to show)", file=out)
        if result.probe is not None:
            print(f"  probe: {result.probe.detail}", file=out)


def _print_client_key(result: ServerCheck, out: TextIO) -> None:
    key = result.client_key
    if key is None:
        return
    key_id = f"key id {key['KeyId']}" if "KeyId" in key else "no key id"
    print(f"  client key: {key['Algorithm']}, {key_id}", file=out)
    if "CertificateThumbprint" in key:
        print(
            f"  certificate: thumbprint {key['CertificateThumbprint']}, valid until "
            f"{key['CertificateNotAfter']}, sent as {key['ThumbprintHeaders']}",
            file=out,
        )


def _claim_text(claim: str, value: Any) -> str:
    if claim in ("exp", "iat", "nbf") and isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
        return f"{value} ({moment})"
    return value if isinstance(value, str) else json.dumps(value)


def _print_json(
    results: Mapping[str, ServerCheck | tuple[ConfigurationError, ...]],
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
                "client_key": result.client_key,
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
                "error": "; ".join(str(error) for error in result),
                "configuration_errors": [str(error) for error in result],
            }
    document = {"servers": servers, "errors": list(general_errors), "warnings": list(warnings)}
    print(json.dumps(document, indent=2), file=out)
