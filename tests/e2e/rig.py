"""What the end-to-end tests share besides fixtures: the rig's constants, Orthanc A's
server section, a client that records Orthanc's answers for the leak check, and calls
through Orthanc A's REST API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2

from local_rig.services import ADMIN, CLIENT_SECRET, ROOT, Orthanc, ProtectedServer, Provider

from ..helpers import wait_for

TOKEN_TTL = 8
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
JWT_CLIENT = "orthanc-jwt"
JWT_KEY_ID = "orthanc-jwt-2026"
CLIENTS: list[dict[str, Any]] = [
    {
        "client_id": "orthanc-post",
        "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_post",
    },
    {
        "client_id": "orthanc-basic",
        "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_basic",
    },
    # 10 s tokens, for the outage tests.
    {
        "client_id": "orthanc-10s",
        "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_post",
        "token_ttl": 10,
    },
    # Hour-long tokens, for a token the DICOMweb server refuses long before it expires.
    {
        "client_id": "orthanc-1h",
        "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_post",
        "token_ttl": 3600,
    },
]
SERVER = "protected"


def oauth_server(provider: Provider, protected: ProtectedServer, **keys: Any) -> dict[str, Any]:
    return {
        "Url": protected.url,
        "TokenEndpoint": provider.token_endpoint,
        "ClientId": "orthanc-post",
        "ClientSecretEnv": "RIG_CLIENT_SECRET_VALUE",
        "Timeout": 120,
        **keys,
    }


StartOrthanc = Callable[..., Orthanc]


# Every answer Orthanc A gave the tests: searched for secrets and tokens after each test.
ANSWERS: list[str] = []
# A test's own secrets, searched for too (a PEM key line by line).
SECRETS: list[str] = []


def secret_lines(secret: str) -> list[str]:
    """What a leak search looks for: each line of a PEM block but its markers, else the
    whole value."""
    lines = [line for line in secret.strip().splitlines() if not line.startswith("-----")]
    return lines if len(lines) > 1 else [secret.strip()]


def _record(response: httpx2.Response) -> None:
    ANSWERS.append(response.read().decode(errors="replace"))


# Orthanc closes a kept-alive connection soon after it falls idle (`KeepAliveTimeout`, 1 s
# by default from 1.11.3): a request sent on it just then finds it closed ("Server
# disconnected without sending a response", seen with Orthanc 1.10.1 by a test sending a
# QIDO-RS every second). The tests' clients give up idle connections well before.
CLIENT_KEEPALIVE_EXPIRY = 0.2


def client_for(orthanc: Orthanc) -> httpx2.Client:
    return httpx2.Client(
        base_url=orthanc.url,
        auth=ADMIN,
        timeout=180,
        limits=httpx2.Limits(keepalive_expiry=CLIENT_KEEPALIVE_EXPIRY),
        event_hooks={"response": [_record]},
    )


def server_status(client: httpx2.Client, name: str = SERVER) -> dict[str, Any]:
    answer = client.get(f"/dicomweb-oauth/servers/{name}")
    assert answer.status_code == 200, answer.text
    status: dict[str, Any] = answer.json()
    return status


def wait_authorized(client: httpx2.Client, name: str = SERVER) -> dict[str, Any]:
    def authorized() -> dict[str, Any] | None:
        answer = client.get(f"/dicomweb-oauth/servers/{name}")
        if answer.status_code != 200:
            return None  # 503 while the plugin starts
        status: dict[str, Any] = answer.json()
        return status if status["State"] == "Valid" and status["DefinitionWrites"] else None

    result: dict[str, Any] = wait_for(f"{name} authorized", authorized)
    return result


def upload(client: httpx2.Client, dicom: bytes) -> str:
    answer = client.post("/instances", content=dicom)
    answer.raise_for_status()
    parent: str = answer.json()["ParentStudy"]
    return parent


def refresh(client: httpx2.Client, name: str = SERVER) -> httpx2.Response:
    """``POST .../refresh`` when the plugin takes it: it answers 503 with Retry-After
    while a token asked for moments ago is fresh (at most one request per 5 s)."""
    for _ in range(3):
        answer = client.post(f"/dicomweb-oauth/servers/{name}/refresh")
        if answer.status_code != 503 or "Retry-After" not in answer.headers:
            return answer
        time.sleep(float(answer.headers["Retry-After"]))
    raise AssertionError(f"{name}: refresh still refused: {answer.text}")


def qido_studies(client: httpx2.Client, name: str = SERVER) -> httpx2.Response:
    return client.post(f"/dicom-web/servers/{name}/qido", json={"Uri": "/studies"})


def b_study_uids(protected: ProtectedServer) -> set[str]:
    studies = httpx2.get(
        f"{protected.orthanc.url}/studies?expand", auth=protected.direct_auth, timeout=30
    ).json()
    return {study["MainDicomTags"]["StudyInstanceUID"] for study in studies}


def wait_job(client: httpx2.Client, job: str, timeout: float = 120) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        state: dict[str, Any] = client.get(f"/jobs/{job}").json()
        return state if state["State"] in ("Success", "Failure") else None

    result: dict[str, Any] = wait_for(f"job {job}", finished, timeout)
    return result
