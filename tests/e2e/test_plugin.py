"""The plugin in a real Orthanc A, against a real OAuth2 provider and a bearer-protected
Orthanc B behind nginx: every call goes through Orthanc A's REST API. Each test that starts
Orthanc A runs on every Orthanc generation chosen with ``--orthanc``."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx2
import pytest

from local_rig.client_keys import ClientKeyFiles, write_client_key
from local_rig.dicom_samples import study_instance
from local_rig.installations import Installation
from local_rig.services import CLIENT_SECRET, ProtectedServer, Provider, Validator

from ..helpers import wait_for
from .rig import (
    ANSWERS,
    JWT_CLIENT,
    JWT_KEY_ID,
    SERVER,
    TOKEN_TTL,
    StartOrthanc,
    b_study_uids,
    client_for,
    oauth_server,
    qido_studies,
    refresh,
    server_status,
    upload,
    wait_authorized,
    wait_job,
)

pytestmark = pytest.mark.orthanc_generations


def test_stow_qido_wado_and_retrieve_through_the_protected_server(
    start_orthanc_a: StartOrthanc, protected: ProtectedServer
) -> None:
    client = client_for(start_orthanc_a())
    wait_authorized(client)

    dicom, study_uid = study_instance("STOW^SYNC")
    study = upload(client, dicom)
    stow = client.post(f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [study]})
    assert stow.status_code == 200, stow.text
    assert study_uid in b_study_uids(protected)

    dicom, job_study_uid = study_instance("STOW^JOB")
    job_study = upload(client, dicom)
    job = client.post(
        f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [job_study], "Asynchronous": True}
    )
    assert job.status_code == 200, job.text
    assert wait_job(client, job.json()["ID"])["State"] == "Success"
    assert job_study_uid in b_study_uids(protected)

    qido = qido_studies(client)
    assert qido.status_code == 200, qido.text
    # The DICOMweb plugin answers QIDO in Orthanc's own JSON: {"0020000D": {"Value": "..."}}
    found = {entry["0020000D"]["Value"] for entry in qido.json()}
    assert {study_uid, job_study_uid} <= found

    metadata = client.post(
        f"/dicom-web/servers/{SERVER}/get", json={"Uri": f"/studies/{study_uid}/metadata"}
    )
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()[0]["0020000D"]["Value"] == [study_uid]

    client.delete(f"/studies/{study}").raise_for_status()
    retrieve = client.post(
        f"/dicom-web/servers/{SERVER}/retrieve", json={"Resources": [{"Study": study_uid}]}
    )
    assert retrieve.status_code == 200, retrieve.text
    assert client.get(f"/studies/{study}").status_code == 200


def test_the_protected_server_refuses_everything_but_a_valid_token(
    provider: Provider, protected: ProtectedServer
) -> None:
    studies = f"{protected.url}studies"
    assert httpx2.get(studies).status_code == 401
    garbage = httpx2.get(studies, headers={"Authorization": "Bearer not.a.jwt"})
    assert garbage.status_code == 401
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]
    token = provider.issue_token("orthanc-post")
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx2.get(studies, headers=bearer).status_code == 200
    time.sleep(TOKEN_TTL + 1)
    expired = httpx2.get(studies, headers=bearer)
    assert expired.status_code == 401
    assert "expired" in expired.headers["www-authenticate"]
    # Orthanc B itself cannot be used without the credentials only nginx knows.
    assert httpx2.get(f"{protected.orthanc.url}/studies").status_code == 401


def test_traffic_across_three_token_lifetimes_never_fails(
    start_orthanc_a: StartOrthanc, validator: Validator
) -> None:
    client = client_for(start_orthanc_a())
    before = wait_authorized(client)
    tokens_before = validator.stats()["distinct_tokens"]
    failures, requests = 0, 0
    deadline = time.monotonic() + 3 * TOKEN_TTL + 2
    while time.monotonic() < deadline:
        requests += 1
        if qido_studies(client).status_code != 200:
            failures += 1
        time.sleep(0.05)
    after = server_status(client)
    assert failures == 0, f"{failures} of {requests} QIDO requests failed"
    # Continuous traffic: a QIDO a second at least, whatever the Orthanc's speed (one took
    # about 0.2 s on Orthanc 1.13 in a CI run).
    assert requests >= 3 * TOKEN_TTL
    assert after["Refreshes"] - before["Refreshes"] >= 3
    assert validator.stats()["distinct_tokens"] - tokens_before >= 3
    assert after["Failures"] == 0


def test_a_retrieve_job_spanning_a_token_expiry_completes(
    start_orthanc_a: StartOrthanc, protected: ProtectedServer, validator: Validator
) -> None:
    study_uids = []
    for number in range(24):
        dicom, study_uid = study_instance(f"RETRIEVE^{number}")
        httpx2.post(
            f"{protected.orthanc.url}/instances", content=dicom, auth=protected.direct_auth
        ).raise_for_status()
        study_uids.append(study_uid)
    client = client_for(start_orthanc_a())
    wait_authorized(client)
    tokens_before = validator.stats()["distinct_tokens"]
    validator.set_delay(0.5)  # 24 studies, several requests each: well past one lifetime
    try:
        started = time.monotonic()
        job = client.post(
            f"/dicom-web/servers/{SERVER}/retrieve",
            json={"Resources": [{"Study": uid} for uid in study_uids], "Asynchronous": True},
        )
        assert job.status_code == 200, job.text
        state = wait_job(client, job.json()["ID"], timeout=300)
        elapsed = time.monotonic() - started
    finally:
        validator.set_delay(0)
    assert state["State"] == "Success", state
    assert elapsed > TOKEN_TTL, f"the job took {elapsed:.1f} s, less than one token lifetime"
    assert validator.stats()["distinct_tokens"] - tokens_before >= 2
    local = {
        study["MainDicomTags"]["StudyInstanceUID"] for study in client.get("/studies?expand").json()
    }
    assert set(study_uids) <= local


def test_provider_outage_is_survived_and_recovered(
    start_orthanc_a: StartOrthanc, provider: Provider
) -> None:
    orthanc = start_orthanc_a()
    client = client_for(orthanc)
    wait_authorized(client)
    pid = orthanc.process.pid if orthanc.process else None
    provider.stop()
    try:
        # The cached token keeps working while it is valid.
        assert qido_studies(client).status_code == 200
        degraded = wait_for(
            "state Degraded",
            lambda: (s := server_status(client))["State"] == "Degraded" and s,
            timeout=TOKEN_TTL,
        )
        assert "cannot reach the token endpoint" in degraded["LastError"]
        assert qido_studies(client).status_code == 200
        failed = wait_for(
            "state Failed",
            lambda: (s := server_status(client))["State"] == "Failed" and s,
            timeout=TOKEN_TTL + 2,
        )
        assert failed["Failures"] >= 1
        metrics = client.get("/tools/metrics-prometheus").text
        assert f"dicomweb_oauth_failures_total_{SERVER}" in metrics
    finally:
        provider.start()
    recovered = wait_for(
        "state Valid again",
        lambda: (s := server_status(client))["State"] == "Valid" and s,
        timeout=30,
    )
    assert recovered["LastError"] is None
    wait_for("QIDO works again", lambda: qido_studies(client).status_code == 200, timeout=10)
    assert orthanc.process is not None and orthanc.process.pid == pid
    wait_for("recovery logged", lambda: "recovered after" in orthanc.log(), timeout=2)
    log = orthanc.log()
    assert log.count("still serving the cached token") == 1
    assert log.count("no valid token") == 1
    assert log.count("recovered after") == 1


def test_a_deleted_or_changed_definition_is_restored(start_orthanc_a: StartOrthanc) -> None:
    orthanc = start_orthanc_a()
    client = client_for(orthanc)
    wait_authorized(client)
    client.delete(f"/dicom-web/servers/{SERVER}").raise_for_status()
    # Restored at the next check (CheckInterval is 2 s in the rig); when exactly is the
    # unit tests' business (tests/unit/test_worker.py).
    wait_for("definition restored", lambda: SERVER in client.get("/dicom-web/servers").json())
    assert qido_studies(client).status_code == 200

    client.put(
        f"/dicom-web/servers/{SERVER}", json={"Url": "http://127.0.0.1:9/elsewhere/"}
    ).raise_for_status()
    wait_for(
        "Url restored",
        lambda: "elsewhere" not in client.get("/dicom-web/servers?expand").json()[SERVER]["Url"],
    )
    listed = client.get("/dicom-web/servers?expand").json()[SERVER]
    assert "Authorization" in listed["HttpHeaders"]
    # The line is written just after the definition.
    wait_for("log line", lambda: "(its Url was changed); restored" in orthanc.log())
    log = orthanc.log()
    assert log.count("definition was changed (missing); restored") == 1
    assert log.count("definition was changed (its Url was changed); restored") == 1
    assert server_status(client)["DefinitionRestores"] == 2


def test_servers_in_database_is_refused(start_orthanc_a: StartOrthanc) -> None:
    orthanc = start_orthanc_a(DicomWeb={"ServersInDatabase": True})
    client = client_for(orthanc)
    answer = wait_for(
        "plugin started",
        lambda: (a := client.get("/dicomweb-oauth/servers")).status_code == 200 and a.json(),
    )
    assert answer["Servers"] == {}
    assert answer["Errors"][0].startswith(
        "DicomWeb.ServersInDatabase: is true: the DICOMweb plugin would store every bearer "
        "token in plain text"
    )
    assert "DicomWeb.ServersInDatabase: is true" in orthanc.log()
    assert SERVER not in client.get("/dicom-web/servers").json()


def test_a_broken_server_leaves_the_others_working(
    start_orthanc_a: StartOrthanc, provider: Provider, protected: ProtectedServer
) -> None:
    broken = oauth_server(provider, protected)
    del broken["ClientId"]
    orthanc = start_orthanc_a(servers={SERVER: oauth_server(provider, protected), "broken": broken})
    client = client_for(orthanc)
    wait_authorized(client)
    assert qido_studies(client).status_code == 200
    listed = client.get("/dicomweb-oauth/servers").json()["Servers"]
    assert listed["broken"] == {
        "State": "Invalid",
        "Errors": ["DicomWebOAuth.Servers.broken.ClientId: is required"],
    }
    assert client.post("/dicomweb-oauth/servers/broken/refresh").status_code == 409
    assert "DicomWebOAuth.Servers.broken.ClientId: is required" in orthanc.log()


def test_both_client_authentication_methods(
    start_orthanc_a: StartOrthanc, provider: Provider, protected: ProtectedServer
) -> None:
    servers = {
        "post": oauth_server(provider, protected),
        "basic": oauth_server(
            provider, protected, ClientId="orthanc-basic", ClientAuthMethod="client_secret_basic"
        ),
        "wrong-method": oauth_server(provider, protected, ClientId="orthanc-basic"),
    }
    before = provider.stats()["tokens"]
    client = client_for(start_orthanc_a(servers=servers))
    wait_authorized(client, "post")
    wait_authorized(client, "basic")
    assert qido_studies(client, "basic").status_code == 200
    after = provider.stats()["tokens"]
    for key in ("orthanc-post:client_secret_post", "orthanc-basic:client_secret_basic"):
        assert after.get(key, 0) > before.get(key, 0), key
    wrong = wait_for(
        "wrong method refused",
        lambda: (s := server_status(client, "wrong-method"))["State"] == "Failed" and s,
    )
    assert wrong["LastError"] == (
        "invalid_client: client authentication method client_secret_post is not the "
        "registered one (HTTP 401)"
    )
    # Asking again changes nothing until the configuration or a credential file does.
    refused = client.post("/dicomweb-oauth/servers/wrong-method/refresh")
    assert refused.status_code == 503
    assert "needs an administrator" in refused.json()["Error"]
    assert "invalid_client" in refused.json()["Error"]
    assert int(refused.headers["Retry-After"]) > 200


def test_rest_api_and_metrics(start_orthanc_a: StartOrthanc) -> None:
    orthanc = start_orthanc_a()
    client = client_for(orthanc)
    status = wait_authorized(client)
    assert 0 < status["ExpiresIn"] <= TOKEN_TTL
    assert status["LifetimeSource"] == "expires_in"
    assert status["ClientAuthMethod"] == "client_secret_post"
    assert client.get("/dicomweb-oauth/servers/nope").status_code == 404
    assert client.post("/dicomweb-oauth/servers/nope/refresh").status_code == 404
    assert client.get(f"/dicomweb-oauth/servers/{SERVER}/refresh").status_code == 405
    refreshed = refresh(client)
    assert refreshed.status_code == 200
    assert refreshed.json()["Refreshes"] > status["Refreshes"]
    tested = client.post(f"/dicomweb-oauth/servers/{SERVER}/test")
    assert tested.status_code == 200, tested.text
    assert tested.json()["Qido"]["Success"] is True
    assert httpx2.get(f"{orthanc.url}/dicomweb-oauth/servers").status_code == 401
    metrics = wait_for(
        "metrics published",
        lambda: (
            "dicomweb_oauth_token_expires_in_seconds_protected"
            in (text := client.get("/tools/metrics-prometheus").text)
            and text
        ),
        timeout=10,
    )
    for name in (
        "dicomweb_oauth_token_valid_protected",
        "dicomweb_oauth_refreshes_total_protected",
        "dicomweb_oauth_failures_total_protected",
    ):
        assert name in metrics


def test_orthanc_stops_cleanly_and_quickly(start_orthanc_a: StartOrthanc) -> None:
    orthanc = start_orthanc_a()
    client = client_for(orthanc)
    wait_authorized(client)
    code = orthanc.stop()
    assert code == 0, orthanc.log()[-2000:]
    log = orthanc.log()
    # The service logs this line only when every thread ended within its 2 s budget,
    # and the warning otherwise.
    assert "still running when Orthanc stopped" not in log
    assert re.search(r"DicomWebOAuth: stopped: all threads ended in [0-9.]+ s", log), log[-2000:]


def test_no_secret_even_when_the_provider_echoes_the_request(
    start_orthanc_a: StartOrthanc,
    provider: Provider,
    protected: ProtectedServer,
    tmp_path: Path,
) -> None:
    """The suite-wide check (conftest) covers every test; this one adds an endpoint that
    echoes the token request, the secret in it, in its error, and `check`'s output."""
    echoed: list[str] = []

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            echoed.append(body)
            error = {"error": "invalid_client", "error_description": f"bad request: {body}"}
            answer = json.dumps(error).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    echo = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    try:
        echo_endpoint = f"http://127.0.0.1:{echo.server_address[1]}/token"
        servers = {
            SERVER: oauth_server(provider, protected),
            "echo": oauth_server(provider, protected, TokenEndpoint=echo_endpoint),
        }
        orthanc = start_orthanc_a(servers=servers)
        client = client_for(orthanc)
        wait_authorized(client)
        failed = wait_for(
            "echo refused", lambda: (s := server_status(client, "echo"))["State"] == "Failed" and s
        )
        assert failed["LastError"].startswith("invalid_client: bad request: ")
        assert "[redacted]" in failed["LastError"]
        dicom, _ = study_instance("SECRETS^CHECK")
        study = upload(client, dicom)
        client.post(f"/dicom-web/servers/{SERVER}/stow", json={"Resources": [study]})
        client.post("/dicomweb-oauth/servers/echo/refresh")
        client.post(f"/dicomweb-oauth/servers/{SERVER}/test")
        client.get("/dicom-web/servers?expand")
        client.get("/jobs?expand")
        wait_for(
            "metrics", lambda: "dicomweb_oauth" in client.get("/tools/metrics-prometheus").text
        )
        config = json.loads(orthanc.config_path.read_text())
        check_config = tmp_path / "check.json"
        check_config.write_text(json.dumps({"DicomWebOAuth": config["DicomWebOAuth"]}))
        check = subprocess.run(
            [sys.executable, "-m", "orthanc_dicomweb_oauth", "check", str(check_config), "--probe"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "RIG_CLIENT_SECRET_VALUE": CLIENT_SECRET},
        )
        assert check.returncode == 1, check.stdout
        assert "echo: FAIL invalid_client: bad request: " in check.stdout
        ANSWERS.extend([check.stdout, check.stderr])
        orthanc.stop()
    finally:
        echo.shutdown()
    # The secret was in the request, so in the echo: the redaction was exercised.
    assert any(quote_plus(CLIENT_SECRET) in body for body in echoed)


def test_stop_interrupts_a_hanging_token_request(
    start_orthanc_a: StartOrthanc, provider: Provider, protected: ProtectedServer
) -> None:
    with socket.socket() as hanging:  # accepts connections, never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        endpoint = f"http://127.0.0.1:{hanging.getsockname()[1]}/token"
        orthanc = start_orthanc_a(
            servers={
                SERVER: oauth_server(
                    provider, protected, TokenEndpoint=endpoint, TokenRequestTimeout=60
                )
            }
        )
        client = client_for(orthanc)
        wait_for("plugin started", lambda: client.get("/dicomweb-oauth/servers").status_code == 200)
        connection, _ = hanging.accept()  # the token request is in flight, unanswered
        with connection:
            assert server_status(client)["State"] == "Pending"
            assert orthanc.stop() == 0
    log = orthanc.log()
    assert "still running when Orthanc stopped" not in log
    assert re.search(r"DicomWebOAuth: stopped: all threads ended in [0-9.]+ s", log), log[-2000:]


SITE_SCRIPT = """
import site
import sys

before = list(sys.path)
site.addsitedir({site_packages!r})
sys.path[:] = [entry for entry in sys.path if entry not in before] + before

import orthanc
import orthanc_dicomweb_oauth as dicomweb_oauth


def on_change(change_type, level, resource):
    if change_type == orthanc.ChangeType.ORTHANC_STARTED:
        orthanc.LogWarning("site script: Orthanc started")
    dicomweb_oauth.on_change(change_type, level, resource)


orthanc.RegisterOnChangeCallback(on_change)
dicomweb_oauth.register(install_change_callback=False)
"""


def test_a_site_script_can_register_the_plugin(
    start_orthanc_a: StartOrthanc, orthanc_installation: Installation, tmp_path: Path
) -> None:
    script = orthanc_installation.root.work_dir(tmp_path) / "site-script.py"
    script.write_text(SITE_SCRIPT.format(site_packages=orthanc_installation.site_packages))
    orthanc = start_orthanc_a(PythonScript=orthanc_installation.root.visible_path(script))
    client = client_for(orthanc)
    wait_authorized(client)
    assert qido_studies(client).status_code == 200
    assert "site script: Orthanc started" in orthanc.log()


def test_token_endpoint_discovered_from_the_issuer(
    start_orthanc_a: StartOrthanc, provider: Provider, protected: ProtectedServer
) -> None:
    server = oauth_server(provider, protected, Issuer=provider.issuer)
    del server["TokenEndpoint"]
    client = client_for(start_orthanc_a(servers={SERVER: server}))
    status = wait_authorized(client)
    assert status["TokenEndpoint"] == provider.token_endpoint
    assert status["Issuer"] == provider.issuer
    assert qido_studies(client).status_code == 200


def visible_to_orthanc(installed: Installation, tmp_path: Path, *files: Path) -> list[str]:
    """Copies of ``files`` that Orthanc A, in its root and as its user, can read; their
    paths as Orthanc sees them."""
    work = installed.root.work_dir(tmp_path)
    visible = []
    for original in files:
        copy = work / original.name
        shutil.copyfile(original, copy)
        installed.root.give(copy)
        visible.append(installed.root.visible_path(copy))
    return visible


def private_key_jwt_server(
    provider: Provider, protected: ProtectedServer, private_key: str, **keys: Any
) -> dict[str, Any]:
    server = oauth_server(
        provider,
        protected,
        ClientId=JWT_CLIENT,
        ClientAuthMethod="private_key_jwt",
        ClientPrivateKeyFile=private_key,
        **keys,
    )
    del server["ClientSecretEnv"]
    return server


def test_private_key_jwt_with_the_issuer_s_metadata(
    start_orthanc_a: StartOrthanc,
    orthanc_installation: Installation,
    provider: Provider,
    protected: ProtectedServer,
    client_key: ClientKeyFiles,
    tmp_path: Path,
) -> None:
    """No shared secret: node-oidc-provider verifies each assertion with the public key it
    registered for the client; the token endpoint and the method come from its metadata."""
    private_key, certificate = visible_to_orthanc(
        orthanc_installation, tmp_path, client_key.private_key, client_key.certificate
    )
    server = private_key_jwt_server(
        provider,
        protected,
        private_key,
        Issuer=provider.issuer,
        ClientKeyId=JWT_KEY_ID,
        ClientCertificateFile=certificate,
        ClientAssertionAlgorithm="PS256",
    )
    del server["TokenEndpoint"]
    before = provider.stats()["tokens"].get(f"{JWT_CLIENT}:private_key_jwt", 0)
    client = client_for(start_orthanc_a(servers={SERVER: server}))
    status = wait_authorized(client)
    assert status["ClientAuthMethod"] == "private_key_jwt"
    assert status["TokenEndpoint"] == provider.token_endpoint
    assert status["Credential"]["KeyId"] == JWT_KEY_ID
    assert status["Credential"]["Algorithm"] == "PS256"
    assert re.fullmatch(r"[0-9A-F]{40}", status["Credential"]["CertificateThumbprint"])
    assert qido_studies(client).status_code == 200
    # Over two more lifetimes, each token request signs a new assertion (a new jti, which
    # the provider checks for replay) and the provider accepts it.
    wait_for(
        "three tokens",
        lambda: server_status(client)["Refreshes"] >= 3,
        timeout=4 * TOKEN_TTL,
    )
    assert qido_studies(client).status_code == 200
    after = provider.stats()["tokens"][f"{JWT_CLIENT}:private_key_jwt"]
    assert after - before >= 3


def test_a_key_the_provider_does_not_know_is_refused_clearly(
    start_orthanc_a: StartOrthanc,
    orthanc_installation: Installation,
    provider: Provider,
    protected: ProtectedServer,
    tmp_path: Path,
) -> None:
    unknown = write_client_key(tmp_path / "keys", "unknown")
    (private_key,) = visible_to_orthanc(orthanc_installation, tmp_path, unknown.private_key)
    servers = {
        SERVER: oauth_server(provider, protected),
        "unknown-key": private_key_jwt_server(
            provider, protected, private_key, ClientKeyId=JWT_KEY_ID
        ),
    }
    orthanc = start_orthanc_a(servers=servers)
    client = client_for(orthanc)
    wait_authorized(client)
    refused = wait_for(
        "the unknown key refused",
        lambda: (s := server_status(client, "unknown-key"))["State"] == "Failed" and s,
    )
    assert refused["LastError"] == "invalid_client: client authentication failed (HTTP 401)"
    assert "unknown-key: " in orthanc.log()
    assert qido_studies(client).status_code == 200
    key_lines = unknown.private_key_lines()
    for text in [orthanc.log(), *ANSWERS]:
        assert not any(line in text for line in key_lines)
