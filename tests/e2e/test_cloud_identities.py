"""Keyless and cloud identities in a real Orthanc A: a Google service account's key,
Google's metadata server, an Azure managed identity (App Service's protocol) and a
federated assertion file, each reaching the nginx-protected Orthanc B across token
lifetimes. The cloud endpoints are loopback emulations (local_rig/cloud_emulations.py)
that hand out the local provider's real tokens; Orthanc A's environment pins google-auth
and azure-identity to them. Runs on every Orthanc generation chosen with ``--orthanc``."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from local_rig.cloud_emulations import ASSERTION_CLIENT_ID, CloudEmulation
from local_rig.installations import Installation
from local_rig.services import CLIENT_SECRET, ProtectedServer, Provider

from .rig import SECRETS, TOKEN_TTL, StartOrthanc, client_for, qido_studies, wait_authorized

pytestmark = pytest.mark.orthanc_generations

AZURE_SCOPE = "https://dicom.healthcareapis.azure.com/.default"


def provider_token(provider: Provider) -> tuple[str, int]:
    """A real token of the local provider, which the protected server accepts."""
    answer = httpx2.post(
        provider.token_endpoint,
        data={
            "grant_type": "client_credentials",
            "client_id": "orthanc-post",
            "client_secret": CLIENT_SECRET,
        },
        timeout=10,
    ).raise_for_status()
    body: dict[str, Any] = answer.json()
    return body["access_token"], int(body["expires_in"])


@pytest.fixture
def cloud_for_orthanc(
    orthanc_installation: Installation, provider: Provider, tmp_path: Path
) -> Iterator[CloudEmulation]:
    """The emulated cloud endpoints, their files where Orthanc A can read them."""
    emulation = CloudEmulation(
        orthanc_installation.root.work_dir(tmp_path) / "cloud",
        lambda: provider_token(provider),
    )
    emulation.start()
    yield emulation
    emulation.stop()


def test_cloud_identities_reach_the_protected_server(
    start_orthanc_a: StartOrthanc,
    orthanc_installation: Installation,
    cloud_for_orthanc: CloudEmulation,
    protected: ProtectedServer,
) -> None:
    cloud = cloud_for_orthanc
    visible = orthanc_installation.root.visible_path
    key_file = cloud.service_account_file()
    assertion = cloud.assertion_file(projected_token(1))
    SECRETS.extend([cloud.private_key_pem, cloud.identity_header])
    servers: dict[str, dict[str, Any]] = {
        "google-key": {"GoogleCredentials": visible(key_file)},
        "google-metadata": {"GoogleCredentials": "default"},
        "azure": {"AzureManagedIdentity": True, "Scope": AZURE_SCOPE},
        "workload": {
            "TokenEndpoint": cloud.assertion_token_endpoint,
            "ClientId": ASSERTION_CLIENT_ID,
            "ClientAssertionFile": visible(assertion),
        },
    }
    orthanc = start_orthanc_a(
        servers={
            name: {"Url": protected.url, "Timeout": 120, **keys} for name, keys in servers.items()
        },
        env_extra={
            **cloud.app_service_environment(),
            "CLOUDSDK_CONFIG": visible(cloud.root / "gcloud"),
        },
    )
    client = client_for(orthanc)
    statuses = {name: wait_authorized(client, name) for name in servers}
    assert statuses["google-key"]["Credential"]["Identity"].endswith(".iam.gserviceaccount.com")
    assert statuses["azure"]["Credential"]["Environment"] == "App Service"
    assert statuses["workload"]["Credential"]["Kind"] == "ClientAssertionFile"

    # Two token lifetimes of QIDO through every server; the assertion rotates midway.
    started = time.monotonic()
    rotated = False
    while time.monotonic() - started < 2 * TOKEN_TTL + 2:
        for name in servers:
            answer = qido_studies(client, name)
            assert answer.status_code == 200, (name, answer.text)
        if not rotated and time.monotonic() - started > TOKEN_TTL:
            SECRETS.append(cloud.assertion_file(projected_token(2)).read_text())
            rotated = True
        time.sleep(0.5)
    for name in servers:
        status = client.get(f"/dicomweb-oauth/servers/{name}").json()
        assert status["State"] == "Valid", (name, status)
        assert status["Refreshes"] >= 3, (name, status)
    assert cloud.last["/assertion/token"]["client_assertion"] == assertion.read_text().strip()
    SECRETS.append(assertion.read_text().strip())
    log = orthanc.log()
    assert "Traceback" not in log


def projected_token(number: int) -> str:
    """A stand-in for a Kubernetes projected service-account token: a JWT that the
    assertion endpoint compares with the file's content."""
    header = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"  # {"alg":"RS256","typ":"JWT"}
    payload = {
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": "system:serviceaccount:pacs:orthanc",
        "aud": "api://AzureADTokenExchange",
        "exp": int(time.time()) + 3600,
        "n": number,
    }
    return f"{header}.{_base64url(payload)}.c2lnbmF0dXJl"


def _base64url(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()
