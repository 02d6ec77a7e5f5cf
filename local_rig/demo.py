"""The demo: the plugin in a real Orthanc, against a local OAuth2 provider and a
bearer-protected DICOMweb server, all on loopback.

    python -m local_rig.demo            # runs until Ctrl-C
    python -m local_rig.demo --once     # the same scenario once; exit 0 or 1
    python -m local_rig.demo --provider keycloak    # a real Keycloak instead

``make demo`` installs what is missing first (``make demo PROVIDER=keycloak``).
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx2

from . import keycloak
from .dicom_samples import study_instance
from .installations import plugin_environment
from .services import (
    Orthanc,
    ProtectedServer,
    Provider,
    TokenCheck,
    Validator,
    missing_prerequisites,
    orthanc_configuration,
    port_is_free,
)

PROVIDERS = ("node-oidc-provider", "keycloak")
SERVER = "protected-pacs"
CLIENT_ID = "orthanc-demo"
PREFERRED_PORT = 8042


class DemoError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_rig.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="run the scenario once, without waiting for Ctrl-C; exit 0 or 1",
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=20,
        metavar="SECONDS",
        help="lifetime of the provider's tokens (default: 20)",
    )
    parser.add_argument(
        "--provider",
        choices=PROVIDERS,
        default=PROVIDERS[0],
        help="the OAuth2 provider: node-oidc-provider (starts in a second, the default) or "
        f"Keycloak {keycloak.VERSION} (fetched with Maven; starts in about 25 s)",
    )
    parser.add_argument(
        "--refreshes",
        type=int,
        default=2,
        metavar="N",
        help="with --once: token refreshes to watch before stopping (default 2)",
    )
    args = parser.parse_args(argv)
    missing = missing_prerequisites()
    if missing:
        say(f"Missing: {', '.join(missing)}. Run `make demo`, which installs them.")
        return 1
    # Ctrl-C and SIGTERM both stop everything the demo started.
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="dicomweb-oauth-demo-"))
    try:
        with _stack() as stack:
            orthanc = _start_everything(work, args.provider, args.token_lifetime, stack)
            _exercise(orthanc)
            _watch(orthanc, refreshes=args.refreshes if args.once else None)
            if args.once:
                _final_query(orthanc)
                say("Demo finished: every step worked.")
    except KeyboardInterrupt:
        say("\nStopped.")
    except (DemoError, httpx2.HTTPError, RuntimeError) as error:
        say(f"\nDEMO FAILED: {error}\nLogs: {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201 - the demo talks to a person


def step(number: int, text: str) -> None:
    print(f"[{number}/6] {text} ... ", end="", flush=True)  # noqa: T201


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stack() -> Iterator[list[Callable[[], Any]]]:
    stops: list[Callable[[], Any]] = []
    try:
        yield stops
    finally:
        for stop in reversed(stops):
            stop()


def _start_everything(
    work: Path, provider_name: str, lifetime: int, stops: list[Callable[[], Any]]
) -> Orthanc:
    step(1, "Installing the plugin in a virtual environment of /usr/bin/python3")
    entry_script = plugin_environment()
    say("done")

    secret = secrets.token_urlsafe(24)
    if provider_name == "keycloak":
        step(2, f"Starting Keycloak {keycloak.VERSION} ({lifetime} s JWT tokens; about 25 s)")
        realm = keycloak.Keycloak(work, work, keycloak.demo_realm(CLIENT_ID, secret, lifetime))
        stops.append(realm.stop)
        realm.start()
        token_endpoint, issuer = realm.token_endpoint, realm.issuer
        check = TokenCheck(issuer, keycloak.AUDIENCE, jwks_url=realm.jwks_url, token_type="JWT")
        validator = Validator(work, check=check)
    else:
        step(2, f"Starting the OAuth2 provider (node-oidc-provider, {lifetime} s JWT tokens)")
        client = {
            "client_id": CLIENT_ID,
            "client_secret": secret,
            "token_endpoint_auth_method": "client_secret_post",
        }
        provider = Provider(work, work, lifetime, [client])
        stops.append(provider.stop)
        provider.start()
        token_endpoint, issuer = provider.token_endpoint, provider.issuer
        validator = Validator(work, provider)
    validator.start()
    stops.append(validator.stop)
    say(issuer)

    step(3, "Starting the protected DICOMweb server (Orthanc behind nginx, bearer tokens only)")
    protected = ProtectedServer(work, work, validator)
    protected.start()
    stops.append(protected.stop)
    refused = httpx2.get(f"{protected.url}studies", timeout=10).status_code
    say(f"{protected.url} (without a token: HTTP {refused})")

    port = PREFERRED_PORT if port_is_free(PREFERRED_PORT) else None
    step(4, "Starting Orthanc with the plugin")
    orthanc = Orthanc(
        "orthanc",
        work,
        work,
        orthanc_configuration(
            str(entry_script),
            {
                "Servers": {
                    SERVER: {
                        "Url": protected.url,
                        "TokenEndpoint": token_endpoint,
                        "ClientId": CLIENT_ID,
                        "ClientSecretEnv": "DEMO_CLIENT_SECRET_VALUE",
                    }
                }
            },
            # Loopback only, without a password, so that a person can click around.
            AuthenticationEnabled=False,
        ),
        env={"DEMO_CLIENT_SECRET_VALUE": secret},
        port=port,
    )
    orthanc.start()
    stops.append(orthanc.stop)
    status = _wait(
        orthanc, "the first token", lambda s: s["State"] == "Valid" and s["DefinitionWrites"] > 0
    )
    say(f"{orthanc.url} (token acquired, valid for {status['ExpiresIn']} s)")
    return orthanc


def _exercise(orthanc: Orthanc) -> None:
    client = httpx2.Client(base_url=orthanc.url, timeout=120)
    step(5, "Loading a sample CT study into Orthanc")
    dicom, study_uid = study_instance("DEMO^OAUTH")
    uploaded = client.post("/instances", content=dicom)
    uploaded.raise_for_status()
    study = uploaded.json()["ParentStudy"]
    say(f"study {study_uid}")
    stow = client.post(f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [study]})
    if stow.status_code != 200:
        raise DemoError(f"STOW-RS failed: HTTP {stow.status_code} {stow.text}")
    say(f"      Sent to {SERVER} through the DICOMweb plugin (STOW-RS): stored")
    found = _query(client)
    say(f"      Querying it back (QIDO-RS): {found} study found")
    if found < 1:
        raise DemoError("the study sent was not found on the protected server")


def _watch(orthanc: Orthanc, refreshes: int | None) -> None:
    say(f"      Orthanc Explorer: {orthanc.url}/app/explorer.html (no password, loopback only)")
    say(f'      Open the study, press "Send to DICOMweb server" and choose "{SERVER}".')
    say("[6/6] The plugin's status, live (GET /dicomweb-oauth/servers/NAME):")
    if refreshes is None:
        say("      Press Ctrl-C to stop everything.")
    client = httpx2.Client(base_url=orthanc.url, timeout=30)
    first = _status(client)["Refreshes"]
    last_line = ""
    while True:
        status = _status(client)
        line = (
            f"      {time.strftime('%H:%M:%S')}  {status['State']:<8}  expires in "
            f"{status['ExpiresIn']:>3} s  refreshes {status['Refreshes']}"
        )
        if line != last_line:
            say(line)
            last_line = line
        if status["State"] not in ("Valid", "Degraded"):
            raise DemoError(f"the plugin lost its token: {status['LastError']}")
        if refreshes is not None and status["Refreshes"] - first >= refreshes:
            return
        # Orthanc closes an idle keep-alive connection after about 1 s: polling at that
        # very interval sometimes sends a request as it closes ("Server disconnected").
        time.sleep(0.5)


def _final_query(orthanc: Orthanc) -> None:
    client = httpx2.Client(base_url=orthanc.url, timeout=120)
    found = _query(client)
    say(f"      After the refreshes, QIDO-RS still works: {found} study found")
    if found < 1:
        raise DemoError("QIDO-RS failed after the token refreshes")


def _query(client: httpx2.Client) -> int:
    qido = client.post(f"/dicom-web/servers/{SERVER}/qido", json={"Uri": "/studies"})
    if qido.status_code != 200:
        raise DemoError(f"QIDO-RS failed: HTTP {qido.status_code} {qido.text}")
    return len(qido.json())


def _status(client: httpx2.Client) -> dict[str, Any]:
    answer = client.get(f"/dicomweb-oauth/servers/{SERVER}")
    answer.raise_for_status()
    status: dict[str, Any] = answer.json()
    return status


def _wait(
    orthanc: Orthanc, what: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    client = httpx2.Client(base_url=orthanc.url, timeout=10)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/dicomweb-oauth/servers/{SERVER}")
        if answer.status_code == 200 and condition(answer.json()):
            status: dict[str, Any] = answer.json()
            return status
        time.sleep(0.1)
    raise DemoError(f"no {what} within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
