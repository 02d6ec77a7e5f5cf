"""``orthanc-dicomweb-oauth``: ``check CONFIG`` validates the DicomWebOAuth section of an
Orthanc configuration and gets a token for each server, without Orthanc; ``entry-script``
prints the path of the script to name as Orthanc's ``PythonScript``.

``check``'s exit status: 0 all servers OK, 1 a server failed, 2 the configuration is
invalid.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TextIO

from ..config.loader import load_configuration
from ..config.name_hints import unknown_servers_message
from ..config.orthanc_file import read_orthanc_configuration, unset_variables
from ..errors import OrthancConfigFileError
from .check import ServerCheck, check_server
from .report import CheckResult, print_fatal, print_json, print_text

DISTRIBUTION = "orthanc-dicomweb-oauth"
EXIT_OK = 0
EXIT_SERVER_FAILED = 1
EXIT_INVALID_CONFIGURATION = 2
# The entry script, from the package's folder: sites name it as Orthanc's PythonScript.
ENTRY_SCRIPT = Path("orthanc_entry") / "dicomweb_oauth_plugin.py"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orthanc-dicomweb-oauth",
        description="OAuth2 client credentials for Orthanc's DICOMweb servers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version(DISTRIBUTION)}")
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
    commands.add_parser(
        "entry-script",
        help="print the path to give Orthanc as PythonScript",
        description="Print the path of the installed entry script, to name as Orthanc's "
        "PythonScript: it embeds the Python version and differs between installations.",
    )
    args = parser.parse_args(argv)
    if args.command == "entry-script":
        sys.stdout.write(f"{entry_script()}\n")
        return EXIT_OK
    return run_check(
        args.config,
        args.server,
        probe=args.probe,
        as_json=args.json,
        environ=os.environ,
        out=sys.stdout,
    )


def entry_script() -> Path:
    """The installed entry script's absolute path."""
    return (Path(__file__).resolve().parents[1] / ENTRY_SCRIPT).resolve()


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
        print_fatal(str(error), as_json, out)
        return EXIT_INVALID_CONFIGURATION
    loaded = load_configuration(orthanc, environ)
    configured = {*loaded.servers, *loaded.invalid_servers()}
    unknown = sorted(set(only or ()) - configured)
    # Without a server, the configuration's own errors say why (the section is missing).
    if unknown and (configured or not loaded.general_problems()):
        print_fatal(unknown_servers_message(unknown, configured), as_json, out)
        return EXIT_INVALID_CONFIGURATION
    selected = [name for name in sorted(configured) if not only or name in only]
    general_errors = [str(problem) for problem in loaded.general_problems()]
    warnings = [
        f"environment variable {name} is not set: Orthanc substitutes an empty string"
        for name in unset_variables(config, environ)
    ]
    # What the plugin would log when Orthanc starts.
    warnings += loaded.warnings
    ca = orthanc.get("HttpsCACertificates")
    results: dict[str, CheckResult] = {}
    for name in selected:
        if name in loaded.servers:
            results[name] = check_server(
                loaded.servers[name],
                probe=probe,
                dicomweb_ca_certificates=ca if isinstance(ca, str) and ca else None,
            )
        else:
            results[name] = loaded.problems_of(name)
    if as_json:
        print_json(results, general_errors, warnings, out)
    else:
        print_text(results, general_errors, warnings, out)
    if general_errors or any(not isinstance(r, ServerCheck) for r in results.values()):
        return EXIT_INVALID_CONFIGURATION
    failed = any(isinstance(r, ServerCheck) and not r.ok for r in results.values())
    return EXIT_SERVER_FAILED if failed else EXIT_OK
