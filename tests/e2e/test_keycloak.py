"""The plugin in a real Orthanc A against a real Keycloak (local_rig/keycloak.py), started
once for this module, the only one that uses it: every client authentication the plugin
has, tokens checked by the DICOMweb server against Keycloak's JWKS and by introspection,
Keycloak's own errors, a restart of Keycloak, and secrets and keys rotated the ways
Keycloak offers while QIDO-RS traffic runs. The failed requests each rotation costs go to
test-artifacts/keycloak.md."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from local_rig import keycloak as kc
from local_rig.client_keys import ClientKeyFiles, write_client_key
from local_rig.dicom_samples import study_instance
from local_rig.keycloak import Keycloak
from local_rig.services import (
    CLIENT_SECRET,
    ROOT,
    Orthanc,
    ProtectedServer,
    TokenCheck,
    Validator,
)

from ..helpers import SecretMount, wait_for
from .rig import (
    SECRETS,
    StartOrthanc,
    b_study_uids,
    client_for,
    qido_studies,
    refresh,
    server_status,
    upload,
    wait_authorized,
)

JWT_KEY_ID = "orthanc-keycloak-2026"
SHORT_LIFETIME = 10  # the clients orthanc-10s, orthanc-regenerate, orthanc-rotation...
# How long after the change at Keycloak the mounted Secret changes: the kubelet's delay,
# longer than a 10 s token lives.
PROPAGATION = 12.0
FIGURES = ROOT / "test-artifacts" / "keycloak.md"
# Keycloak's answer to a known client with a wrong secret (26.7.3).
WRONG_SECRET = "unauthorized_client: Invalid client or Invalid client credentials (HTTP 401)"
# ... and to a disabled client (the same words as an unknown one).
DISABLED = "invalid_client: Invalid client or Invalid client credentials (HTTP 401)"


@pytest.fixture(scope="module")
def keycloak_keys(work_dir: Path) -> tuple[ClientKeyFiles, ClientKeyFiles]:
    """The signed JWT clients' keys: one registered as a JWKS, one as a certificate."""
    folder = work_dir / "keycloak-keys"
    return write_client_key(folder, "keycloak-jwks"), write_client_key(folder, "keycloak-cert")


@pytest.fixture(scope="module")
def keycloak(
    work_dir: Path, log_dir: Path, keycloak_keys: tuple[ClientKeyFiles, ClientKeyFiles]
) -> Iterator[Keycloak]:
    jwks_key, certificate_key = keycloak_keys
    realm = kc.realm_representation(CLIENT_SECRET, jwks_key, JWT_KEY_ID, certificate_key)
    service = Keycloak(work_dir, log_dir, realm)
    try:
        service.start()
        yield service
    finally:
        service.stop(timeout=30)


@pytest.fixture(scope="module")
def keycloak_protected(
    work_dir: Path, log_dir: Path, keycloak: Keycloak
) -> Iterator[ProtectedServer]:
    """A DICOMweb server whose validator checks Keycloak's JWTs against its JWKS."""
    check = TokenCheck(keycloak.issuer, kc.AUDIENCE, jwks_url=keycloak.jwks_url, token_type="JWT")
    yield from _protected(work_dir, log_dir, check, "-keycloak")


@pytest.fixture(scope="module")
def introspected(work_dir: Path, log_dir: Path, keycloak: Keycloak) -> Iterator[ProtectedServer]:
    """A DICOMweb server whose validator asks Keycloak about each token (RFC 7662)."""
    check = TokenCheck(
        keycloak.issuer,
        kc.AUDIENCE,
        introspection_url=keycloak.introspection_endpoint,
        introspection_client=(kc.INTROSPECTION_CLIENT, kc.INTROSPECTION_SECRET),
    )
    yield from _protected(work_dir, log_dir, check, "-introspection")


def _protected(
    work_dir: Path, log_dir: Path, check: TokenCheck, suffix: str
) -> Iterator[ProtectedServer]:
    validator = Validator(log_dir, check=check, name=f"validator{suffix}")
    server = ProtectedServer(work_dir, log_dir, validator, suffix=suffix)
    try:
        validator.start()
        server.start()
        yield server
    finally:
        server.stop()
        validator.stop()


@pytest.fixture(scope="module")
def figures() -> Iterator[list[tuple[str, str, str]]]:
    """Rows of test-artifacts/keycloak.md: what happened, how soon the plugin was back, the
    QIDO-RS that failed meanwhile."""
    rows: list[tuple[str, str, str]] = []
    yield rows
    if rows:
        lines = [
            f"# Rotations against Keycloak {kc.VERSION}",
            "",
            "| Event | Back | QIDO-RS failed |",
            "|---|---|---|",
            *(f"| {' | '.join(row)} |" for row in rows),
        ]
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        FIGURES.write_text("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def _no_keycloak_token_leaks(
    log_dir: Path, keycloak_protected: ProtectedServer, introspected: ProtectedServer
) -> Iterator[None]:
    """No token Keycloak issued and a DICOMweb server accepted appears in Orthanc A's log
    (the rig's own check covers the secrets and node-oidc-provider's tokens)."""
    yield
    tokens = [
        token
        for server in (keycloak_protected, introspected)
        for token in httpx2.get(f"{server.validator.url}/tokens", timeout=10).json()["tokens"]
    ]
    for path in log_dir.glob("orthanc-a-*.log"):
        text = path.read_text(errors="replace")
        for token in tokens:
            assert token not in text


def keycloak_server(keycloak: Keycloak, protected: ProtectedServer, **keys: Any) -> dict[str, Any]:
    """Orthanc A's section for a server behind ``protected``, with Keycloak's client
    ``orthanc`` by default; a key given as None is left out."""
    section = {
        "Url": protected.url,
        "TokenEndpoint": keycloak.token_endpoint,
        "ClientId": "orthanc",
        "ClientSecretEnv": "RIG_CLIENT_SECRET_VALUE",
        "Timeout": 120,
        **keys,
    }
    return {key: value for key, value in section.items() if value is not None}


def _both_ways(
    keycloak: Keycloak, jwks: ProtectedServer, introspected: ProtectedServer, client_id: str
) -> dict[str, dict[str, Any]]:
    """Two servers of one Keycloak client: one behind the DICOMweb server that checks
    tokens against the JWKS, one behind the server that introspects them."""
    return {
        "jwks": keycloak_server(keycloak, jwks, ClientId=client_id),
        "introspection": keycloak_server(keycloak, introspected, ClientId=client_id),
    }


def _state(client: httpx2.Client, name: str, state: str, timeout: float = 30) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        answer = client.get(f"/dicomweb-oauth/servers/{name}")
        if answer.status_code != 200:
            return None  # 503 while the plugin starts
        status: dict[str, Any] = answer.json()
        return status if status["State"] == state else None

    result: dict[str, Any] = wait_for(f"{name}: {state}", reached, timeout)
    return result


def test_every_client_authentication_is_authorized_by_keycloak(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    keycloak_protected: ProtectedServer,
    keycloak_keys: tuple[ClientKeyFiles, ClientKeyFiles],
) -> None:
    jwks_key, certificate_key = keycloak_keys
    servers = {
        "basic": keycloak_server(
            keycloak, keycloak_protected, ClientAuthMethod="client_secret_basic"
        ),
        "post": keycloak_server(
            keycloak,
            keycloak_protected,
            ClientAuthMethod="client_secret_post",
            Issuer=keycloak.issuer,
            TokenEndpoint=None,
        ),
        "jwks": keycloak_server(
            keycloak,
            keycloak_protected,
            ClientId="orthanc-jwt",
            ClientSecretEnv=None,
            ClientAuthMethod="private_key_jwt",
            ClientPrivateKeyFile=str(jwks_key.private_key),
            ClientKeyId=JWT_KEY_ID,
        ),
        "certificate": keycloak_server(
            keycloak,
            keycloak_protected,
            ClientId="orthanc-jwt-cert",
            ClientSecretEnv=None,
            ClientAuthMethod="private_key_jwt",
            ClientPrivateKeyFile=str(certificate_key.private_key),
            ClientCertificateFile=str(certificate_key.certificate),
        ),
    }
    client = client_for(start_orthanc_a(servers=servers))
    for name in servers:
        status = wait_authorized(client, name)
        assert status["Lifetime"] <= 60, status
        assert status["TokenEndpoint"] == keycloak.token_endpoint

    dicom, study_uid = study_instance("KEYCLOAK^STOW")
    study = upload(client, dicom)
    stow = client.post("/dicom-web/servers/basic/stow", json={"Resources": [study]})
    assert stow.status_code == 200, stow.text
    assert study_uid in b_study_uids(keycloak_protected)
    for name in servers:
        qido = qido_studies(client, name)
        assert qido.status_code == 200, (name, qido.text)
        assert study_uid in {entry["0020000D"]["Value"] for entry in qido.json()}
    assert keycloak_protected.validator.stats()["distinct_tokens"] >= len(servers)


def test_stow_and_qido_across_token_lifetimes_with_jwks_and_introspection(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    keycloak_protected: ProtectedServer,
    introspected: ProtectedServer,
) -> None:
    servers = _both_ways(keycloak, keycloak_protected, introspected, "orthanc-10s")
    client = client_for(start_orthanc_a(servers=servers))
    before = {name: wait_authorized(client, name) for name in servers}
    introspected_before = introspected.validator.stats()
    failures, requests, stored = 0, 0, set()
    deadline = time.monotonic() + 3 * SHORT_LIFETIME + 2
    while time.monotonic() < deadline:
        for name in servers:
            requests += 1
            failures += qido_studies(client, name).status_code != 200
        if requests % 20 == 0:  # a STOW-RS now and then, to each server
            dicom, study_uid = study_instance(f"KEYCLOAK^LIFETIMES^{requests}")
            study = upload(client, dicom)
            for name in servers:
                stow = client.post(f"/dicom-web/servers/{name}/stow", json={"Resources": [study]})
                failures += stow.status_code != 200
            stored.add(study_uid)
        time.sleep(0.05)
    assert failures == 0, f"{failures} of {requests} requests failed"
    assert len(stored) >= 3
    assert stored <= b_study_uids(keycloak_protected)
    assert stored <= b_study_uids(introspected)
    for name in servers:
        after = server_status(client, name)
        assert after["Lifetime"] <= SHORT_LIFETIME
        assert after["Refreshes"] - before[name]["Refreshes"] >= 3
        assert after["Failures"] == 0
    introspected_after = introspected.validator.stats()
    assert introspected_after["distinct_tokens"] - introspected_before["distinct_tokens"] >= 3
    assert introspected_after["refused"] == introspected_before["refused"]


def test_a_wrong_secret_shows_keycloaks_error(
    start_orthanc_a: StartOrthanc, keycloak: Keycloak, keycloak_protected: ProtectedServer
) -> None:
    server = keycloak_server(keycloak, keycloak_protected, ClientSecretEnv="WRONG_SECRET_VALUE")
    orthanc = start_orthanc_a(
        servers={"wrong": server}, env_extra={"WRONG_SECRET_VALUE": "not-the-secret"}
    )
    client = client_for(orthanc)
    failed = _state(client, "wrong", "Failed")
    assert failed["LastError"].endswith(WRONG_SECRET), failed["LastError"]
    assert WRONG_SECRET in orthanc.log()
    assert qido_studies(client, "wrong").status_code != 200


def test_a_disabled_client_is_refused_and_introspection_refuses_its_token_at_once(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    keycloak_protected: ProtectedServer,
    introspected: ProtectedServer,
) -> None:
    servers = _both_ways(keycloak, keycloak_protected, introspected, "orthanc-disabled")
    orthanc = start_orthanc_a(servers=servers)
    client = client_for(orthanc)
    for name in servers:
        wait_authorized(client, name)
    keycloak.update_client("orthanc-disabled", enabled=False)
    try:
        refused = refresh(client, "jwks")
        assert refused.status_code == 502, refused.text
        assert refused.json()["Error"].endswith(DISABLED), refused.text
        # The token issued before is still good where it is checked by its signature, and
        # no longer where Keycloak is asked about it.
        assert qido_studies(client, "jwks").status_code == 200
        assert qido_studies(client, "introspection").status_code != 200
        assert server_status(client, "jwks")["State"] == "Degraded"
    finally:
        keycloak.update_client("orthanc-disabled", enabled=True)
    assert DISABLED in orthanc.log()


def test_back_soon_after_keycloak_restarts(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    keycloak_protected: ProtectedServer,
    figures: list[tuple[str, str, str]],
) -> None:
    server = keycloak_server(
        keycloak, keycloak_protected, ClientId="orthanc-10s", TokenRequestTimeout=5
    )
    client = client_for(start_orthanc_a(servers={"restarted": server}))
    wait_authorized(client, "restarted")
    keycloak.stop(timeout=30)
    try:
        # Down longer than a token lives: the server has no valid token left.
        _state(client, "restarted", "Failed", timeout=3 * SHORT_LIFETIME)
        wait_for(
            "QIDO-RS refused",
            lambda: qido_studies(client, "restarted").status_code != 200,
            timeout=SHORT_LIFETIME,
        )
    finally:
        keycloak.start()
    back = time.monotonic()
    wait_for("a valid token", lambda: server_status(client, "restarted")["State"] == "Valid", 60)
    token_back = time.monotonic() - back
    wait_for("QIDO-RS", lambda: qido_studies(client, "restarted").status_code == 200, 60)
    qido_back = time.monotonic() - back
    figures.append(
        (
            "Keycloak stopped, started again (not a rotation)",
            f"token {token_back:.1f} s, QIDO-RS {qido_back:.1f} s after Keycloak answered",
            "-",
        )
    )
    assert server_status(client, "restarted")["Failures"] >= 1


def _rotation_row(event: str, back: float, traffic: QidoTraffic) -> tuple[str, str, str]:
    """A row of test-artifacts/keycloak.md for a rotation."""
    return event, f"{back:.1f} s after the file changed", f"{traffic.failed} of {traffic.sent}"


class QidoTraffic:
    """QIDO-RS through a server every 0.2 s from another thread: how many were sent and
    how many failed."""

    def __init__(self, orthanc: Orthanc, name: str) -> None:
        self._client = client_for(orthanc)
        self._name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self.sent = self.failed = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            try:
                self.failed += qido_studies(self._client, self._name).status_code != 200
            except httpx2.HTTPError:
                self.failed += 1
            self._stop.wait(0.2)

    def __enter__(self) -> QidoTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._client.close()


def _rotated_file_taken(
    orthanc: Orthanc, client: httpx2.Client, name: str, key: str, path: Path, since: float
) -> float:
    """Seconds from ``since`` (the file's change) to a valid token after the plugin read
    the changed file."""
    wait_for(f"{name}: {key} read again", lambda: f"{key} {path} changed" in orthanc.log(), 30)
    _state(client, name, "Valid")
    return time.monotonic() - since


def _secret_rotation(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    protected: ProtectedServer,
    tmp_path: Path,
    client_id: str,
) -> tuple[Orthanc, httpx2.Client, SecretMount]:
    """Orthanc A with a server of ``client_id`` whose secret is in a mounted Secret,
    authorized."""
    mount = SecretMount(tmp_path / "secret", {"client-secret": CLIENT_SECRET})
    server = keycloak_server(keycloak, protected, ClientId=client_id, ClientSecretEnv=None)
    orthanc = start_orthanc_a(
        servers={client_id: {**server, "ClientSecretFile": str(mount.path("client-secret"))}}
    )
    client = client_for(orthanc)
    wait_authorized(client, client_id)
    return orthanc, client, mount


def test_a_regenerated_secret_kills_the_old_one_at_once(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    keycloak_protected: ProtectedServer,
    tmp_path: Path,
    figures: list[tuple[str, str, str]],
) -> None:
    """The admin console's "Regenerate": Keycloak refuses the old secret from then on; the
    Secret reaches Orthanc's file PROPAGATION s later, after the token expired."""
    name = "orthanc-regenerate"
    orthanc, client, mount = _secret_rotation(
        start_orthanc_a, keycloak, keycloak_protected, tmp_path, name
    )
    refresh(client, name).raise_for_status()  # a fresh token, which the delay outlives
    with QidoTraffic(orthanc, name) as traffic:
        new_secret = keycloak.regenerate_secret(name)
        SECRETS.append(new_secret)
        assert keycloak.issue_token(name, CLIENT_SECRET).status_code == 401
        time.sleep(PROPAGATION)
        changed = time.monotonic()
        mount.update({"client-secret": new_secret})
        back = _rotated_file_taken(
            orthanc, client, name, "ClientSecretFile", mount.path("client-secret"), changed
        )
    figures.append(_rotation_row('"Regenerate" (the old secret refused at once)', back, traffic))
    assert WRONG_SECRET in orthanc.log()
    assert traffic.failed > 0, "the token outlived the delay: nothing was measured"
    assert qido_studies(client, name).status_code == 200


def test_the_rotation_policy_keeps_the_old_secret_through_the_delay(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    keycloak_protected: ProtectedServer,
    tmp_path: Path,
    figures: list[tuple[str, str, str]],
) -> None:
    """The client secret rotation policy: the old secret stays valid ROTATION_GRACE s
    beside the new one, longer than the Secret takes to reach Orthanc."""
    name = "orthanc-rotation"
    orthanc, client, mount = _secret_rotation(
        start_orthanc_a, keycloak, keycloak_protected, tmp_path, name
    )
    refresh(client, name).raise_for_status()
    with QidoTraffic(orthanc, name) as traffic:
        new_secret = keycloak.regenerate_secret(name)
        SECRETS.append(new_secret)
        assert keycloak.rotated_secret(name) == CLIENT_SECRET
        time.sleep(PROPAGATION)
        assert keycloak.issue_token(name, CLIENT_SECRET).status_code == 200
        changed = time.monotonic()
        mount.update({"client-secret": new_secret})
        back = _rotated_file_taken(
            orthanc, client, name, "ClientSecretFile", mount.path("client-secret"), changed
        )
    figures.append(
        _rotation_row(
            f"the secret rotation policy ({kc.ROTATION_GRACE} s grace for the old secret)",
            back,
            traffic,
        )
    )
    assert traffic.failed == 0
    assert server_status(client, name)["Failures"] == 0
    # The grace ended early: the plugin's next token comes with the new secret alone.
    keycloak.invalidate_rotated_secret(name)
    assert keycloak.issue_token(name, CLIENT_SECRET).status_code == 401
    assert refresh(client, name).status_code == 200


def test_a_private_key_replaced_at_keycloak_then_in_its_file(
    start_orthanc_a: StartOrthanc,
    keycloak: Keycloak,
    keycloak_protected: ProtectedServer,
    keycloak_keys: tuple[ClientKeyFiles, ClientKeyFiles],
    tmp_path: Path,
    figures: list[tuple[str, str, str]],
) -> None:
    """The new public key registered and the old one removed at once (Keycloak takes the
    first key of a client's JWKS for an assertion without ``kid``, so two keys cannot
    overlap without a new ``ClientKeyId``); the key file follows PROPAGATION s later."""
    name = "orthanc-jwt-rotation"
    old_key = keycloak_keys[0]
    new_key = write_client_key(tmp_path / "new-key", "keycloak-rotated")
    SECRETS.append(new_key.private_key_pem())
    mount = SecretMount(tmp_path / "tls", {"tls.key": old_key.private_key_pem()})
    server = keycloak_server(
        keycloak,
        keycloak_protected,
        ClientId=name,
        ClientAuthMethod="private_key_jwt",
        ClientPrivateKeyFile=str(mount.path("tls.key")),
        ClientSecretEnv=None,
    )
    orthanc = start_orthanc_a(servers={name: server})
    client = client_for(orthanc)
    wait_authorized(client, name)
    refresh(client, name).raise_for_status()
    try:
        with QidoTraffic(orthanc, name) as traffic:
            keycloak.update_client(name, attributes={"jwks.string": kc.client_jwks(new_key)})
            time.sleep(PROPAGATION)
            changed = time.monotonic()
            mount.update({"tls.key": new_key.private_key_pem()})
            back = _rotated_file_taken(
                orthanc, client, name, "ClientPrivateKeyFile", mount.path("tls.key"), changed
            )
    finally:
        keycloak.update_client(name, attributes={"jwks.string": kc.client_jwks(old_key)})
    figures.append(
        _rotation_row("private key (JWKS: new key registered, old removed)", back, traffic)
    )
    assert "Signature on JWT token failed validation" in orthanc.log()
    assert traffic.failed > 0, "the token outlived the delay: nothing was measured"
