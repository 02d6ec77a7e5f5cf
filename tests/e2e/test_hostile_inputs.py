"""One real Orthanc A (the host's) managing a good server beside servers fed what a hostile
provider, a careless operator or a broken mount gives (local_rig/hostile_provider.py): the
good one stays authorized throughout; each broken one reports its error, costs nothing
more than its own requests, and recovers once its input is sane, without a restart; no
form of any secret reaches the log, the routes or the metrics."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx2
import pytest

from local_rig.client_keys import write_client_key
from local_rig.hostile_provider import (
    CRLF,
    DEEP_JSON,
    ECHO,
    HUGE_LIFETIME,
    ODD_RETRY_AFTER,
    SANE,
    TINY_LIFETIME,
    HostileProvider,
)
from local_rig.services import CLIENT_SECRET, ProtectedServer, Provider

from ..helpers import make_jwt, wait_for
from .rig import (
    ANSWERS,
    SECRETS,
    SERVER,
    StartOrthanc,
    client_for,
    oauth_server,
    qido_studies,
    server_status,
    wait_authorized,
)

FIRST_SECRET = "first+secret/with=special&chars"
ROTATED_SECRET = "rotated+secret/é%:NEW"
BASIC_SECRET = "basic+secret:with/colon"
# Recovery is asked of each broken server within these, once its input is sane: they are
# the servers' own retry delays, set short.
RETRIES = {"PermanentErrorRetryDelay": 3, "RetryMaxDelayWithoutToken": 2}


@pytest.fixture
def hostile() -> Iterator[HostileProvider]:
    provider = HostileProvider()
    provider.start()
    yield provider
    provider.stop()


def _hostile_server(
    protected: ProtectedServer, endpoint: str | None, **keys: Any
) -> dict[str, Any]:
    return {
        "Url": protected.url,
        "TokenEndpoint": endpoint,
        "ClientId": "orthanc-hostile",
        "ClientSecretEnv": "RIG_CLIENT_SECRET_VALUE",
        **RETRIES,
        **keys,
    }


def _google_key(path: Path, token_uri: object, private_key: str) -> None:
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "dicomweb@orthanc.iam.gserviceaccount.com",
                "private_key": private_key,
                "token_uri": token_uri,
            }
        )
    )


def _replace(path: Path, content: str) -> None:
    """As an administrator or a mount puts a file right: a new file moved over the old."""
    fresh = path.with_name(f"{path.name}.new")
    fresh.write_text(content)
    os.replace(fresh, path)


def _said(client: httpx2.Client, name: str, expected: str) -> dict[str, Any]:
    """The server's status once its LastError says ``expected``."""

    def saying() -> dict[str, Any] | None:
        status = server_status(client, name)
        return status if expected in (status["LastError"] or "") else None

    said: dict[str, Any] = wait_for(f"{name}: {expected}", saying)
    return said


def _authorized(client: httpx2.Client, name: str) -> None:
    wait_for(
        f"{name} authorized again",
        lambda: (
            (s := server_status(client, name))["State"] == "Valid" and s["DefinitionWrites"] > 0
        ),
        timeout=30,
    )


def _secret_forms(*secrets: str, client_id: str = "orthanc-hostile") -> list[str]:
    """Each secret as the provider was sent it or may echo it: raw, form-encoded, in a
    Basic header."""
    forms = []
    for secret in secrets:
        basic = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
        forms += [
            secret,
            quote_plus(secret),
            quote(secret, safe=""),
            base64.b64encode(basic).decode(),
        ]
    return forms


def test_a_good_server_stays_authorized_beside_hostile_inputs(
    start_orthanc_a: StartOrthanc,
    provider: Provider,
    protected: ProtectedServer,
    hostile: HostileProvider,
    tmp_path: Path,
) -> None:
    files = tmp_path / "mounted"
    files.mkdir()
    echo_secret, basic_secret = files / "echo-secret", files / "basic-secret"
    echo_secret.write_text(FIRST_SECRET + "\n")
    basic_secret.write_text(BASIC_SECRET + "\n")
    fifo, zero = files / "fifo-secret", files / "zero-secret"
    os.mkfifo(fifo)
    zero.symlink_to("/dev/zero")
    key_pem = write_client_key(tmp_path / "google-key").private_key_pem()
    google_number, google_deep = files / "google-number.json", files / "google-deep.json"
    _google_key(google_number, 5, key_pem)
    google_deep.write_text("[" * 100_000 + "]" * 100_000)
    assertion = files / "assertion"
    assertion.write_text(make_jwt(exp=1e20))
    SECRETS.extend([FIRST_SECRET, ROTATED_SECRET, BASIC_SECRET, key_pem])

    def endpoint(case: str, server: str) -> str:
        return hostile.token_endpoint(case, server)

    from_file = {"ClientSecretEnv": None}
    servers = {
        SERVER: oauth_server(provider, protected),
        # The default wait after a refusal that needs an administrator: 300 s.
        "echo": {
            **_hostile_server(protected, endpoint(ECHO, "echo"), **from_file),
            "ClientSecretFile": str(echo_secret),
            "PermanentErrorRetryDelay": 300,
        },
        "echo-basic": _hostile_server(
            protected,
            endpoint(ECHO, "echo-basic"),
            **from_file,
            ClientSecretFile=str(basic_secret),
            ClientAuthMethod="client_secret_basic",
        ),
        "fifo": _hostile_server(
            protected, endpoint(SANE, "fifo"), **from_file, ClientSecretFile=str(fifo)
        ),
        "zero": _hostile_server(
            protected, endpoint(SANE, "zero"), **from_file, ClientSecretFile=str(zero)
        ),
        "google-number": {"Url": protected.url, "GoogleCredentials": str(google_number), **RETRIES},
        "google-deep": {"Url": protected.url, "GoogleCredentials": str(google_deep), **RETRIES},
        **{
            case: _hostile_server(protected, endpoint(case, case))
            for case in (CRLF, HUGE_LIFETIME, DEEP_JSON, ODD_RETRY_AFTER, TINY_LIFETIME)
        },
        "discovery": _hostile_server(
            protected, None, TokenEndpoint=None, Issuer=hostile.issuer("discovery")
        ),
        "assertion": _hostile_server(
            protected,
            endpoint(SANE, "assertion"),
            **from_file,
            ClientAssertionFile=str(assertion),
        ),
        "unverified": _hostile_server(
            protected, endpoint(SANE, "unverified"), TokenEndpointVerifyPeer=False
        ),
    }
    servers = {
        name: {key: value for key, value in keys.items() if value is not None}
        for name, keys in servers.items()
    }
    orthanc = start_orthanc_a(servers=servers)
    client = client_for(orthanc)
    good = wait_authorized(client)

    # The good server, sampled throughout: authorized at every look.
    states: list[str] = []
    stop = threading.Event()

    def sample() -> None:
        with client_for(orthanc) as sampler:
            while not stop.is_set():
                states.append(server_status(sampler)["State"])
                stop.wait(0.5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        # 2. Files that are no credential: refused at once, whatever they are.
        _said(client, "fifo", f"{fifo} is not a regular file (a FIFO)")
        _said(client, "zero", f"{zero} is not a regular file (a character device)")
        _said(client, "google-number", "token_uri: input should be a valid string")
        _said(client, "google-deep", "holds JSON nested too deeply")
        # 4 and 6. Answers a provider should not give: the provider's fault, named.
        _said(client, CRLF, "not all those of a bearer token")
        _said(client, HUGE_LIFETIME, "expires_in that is not a finite number")
        _said(client, DEEP_JSON, "JSON nested too deeply")
        _said(client, ODD_RETRY_AFTER, "HTTP 503")
        _said(client, TINY_LIFETIME, "expires_in 0.001: too short to use")
        # 8. Metadata text: one line, bounded.
        discovery = _said(client, "discovery", "names another issuer")
        assert "\n" not in discovery["LastError"]
        assert len(discovery["LastError"]) < 400
        # 10. An assertion that expires in the year 3 billion: the listing still answers.
        _authorized(client, "assertion")
        assert client.get("/dicomweb-oauth/servers").status_code == 200
        # 1. A provider echoing the request: redacted, the Basic header too.
        echoed = _said(client, "echo", "invalid_client: bad request: ")
        assert "[redacted]" in echoed["LastError"]
        assert "[redacted]" in _said(client, "echo-basic", "invalid_client")["LastError"]
        # 5. A flood of forced refreshes: one request at most, the rest told to wait.
        requests_before = provider.stats()["tokens"].get("orthanc-post:client_secret_post", 0)
        codes = [
            client.post(f"/dicomweb-oauth/servers/{SERVER}/refresh").status_code for _ in range(200)
        ]
        assert codes.count(200) <= 1
        assert codes.count(503) >= 199
        requests_after = provider.stats()["tokens"].get("orthanc-post:client_secret_post", 0)
        assert requests_after - requests_before <= 1
        # ...and none while the server waits after a refusal that needs an administrator.
        echo_requests = hostile.count("echo")
        refused = client.post("/dicomweb-oauth/servers/echo/refresh")
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 200
        assert hostile.count("echo") == echo_requests
        # 6. A lifetime of a millisecond: one request a second at most, whatever it says.
        window_start = hostile.count(TINY_LIFETIME)
        time.sleep(3)
        assert hostile.count(TINY_LIFETIME) - window_start <= 4
        # 1. The secret rotated in its file: sent at once, redacted when it is echoed.
        _replace(echo_secret, ROTATED_SECRET + "\n")
        wait_for("the rotated secret sent", lambda: hostile.count("echo") > echo_requests)
        rotated = _said(client, "echo", "invalid_client")
        assert rotated["ConsecutiveFailures"] == echoed["ConsecutiveFailures"] + 1
        assert "[redacted]" in rotated["LastError"]

        # Every input made sane: each server recovers by itself.
        hostile.make_sane(ECHO, CRLF, HUGE_LIFETIME, DEEP_JSON, ODD_RETRY_AFTER, TINY_LIFETIME)
        hostile.make_sane("discovery")
        _replace(echo_secret, FIRST_SECRET + "\n")  # the long wait ends with a new file
        fifo.unlink()
        fifo.write_text("a secret at last\n")
        _replace(zero, "a secret at last\n")
        for google, name in ((google_number, "google-number"), (google_deep, "google-deep")):
            fresh = google.with_name(f"{google.name}.new")
            _google_key(fresh, endpoint(SANE, name), key_pem)
            os.replace(fresh, google)
        for name in servers:
            _authorized(client, name)
        assert qido_studies(client).status_code == 200
    finally:
        stop.set()
        sampler.join()

    assert states and set(states) == {"Valid"}, states
    assert server_status(client, SERVER)["Failures"] == good["Failures"] == 0
    # 9. TLS verification turned off: said at start, naming the key.
    log = orthanc.log_path.read_text(errors="replace")
    assert "unverified: the TLS certificate of its token endpoint is not verified, since " in log
    assert "DicomWebOAuth.Servers.unverified.TokenEndpointVerifyPeer is false" in log
    # No form of any secret anywhere: the log, every answer, the metrics.
    ANSWERS.append(client.get("/tools/metrics-prometheus").text)
    ANSWERS.append(client.get("/dicomweb-oauth/ready").text)
    SECRETS.extend(hostile.issued)
    texts = [log, *ANSWERS]
    for form in _secret_forms(CLIENT_SECRET, FIRST_SECRET, ROTATED_SECRET, BASIC_SECRET):
        assert not [text for text in texts if form in text], form
    assert not [text for text in texts if "X-Injected" in text]
