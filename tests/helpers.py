"""Shared by the tests: settings made through the real configuration loader, JWTs signed
with a throw-away key, a stand-in for the DICOMweb plugin's server list, and waiting for
a condition."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import OctKey

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.settings import ServerSettings
from orthanc_dicomweb_oauth.errors import DicomWebApiError, TokenRequestError
from orthanc_dicomweb_oauth.sources.access_token import AccessToken
from orthanc_dicomweb_oauth.sources.settings import ClientCredentialsSettings

# Distinctive values: tests search captured output for them.
CLIENT_SECRET = "s3cr3t+/:%&=Zq9-LEAKCHECK-é"
CLIENT_ID = "orthanc-client"
_SIGNING_KEY = OctKey.generate_key(256)


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """The condition's first truthy result; fails the test after ``timeout`` seconds. The
    timeout bounds a wait for an event, it measures nothing."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedSource:
    """A token source that answers each request with the next scripted outcome (a
    lifetime or an error), the last one repeated."""

    def __init__(self, *outcomes: float | TokenRequestError) -> None:
        self.outcomes = list(outcomes)
        self.requests = 0

    def __call__(self) -> AccessToken:
        outcome = self.outcomes[min(self.requests, len(self.outcomes) - 1)]
        self.requests += 1
        if isinstance(outcome, TokenRequestError):
            raise outcome
        return AccessToken(f"token-{self.requests}", outcome, "expires_in")


class SecretMount:
    """A folder laid out as Kubernetes mounts a Secret: each file a symlink through
    ``..data`` to a timestamped folder; an update writes a new folder and moves ``..data``
    to it at once."""

    def __init__(self, folder: Path, files: Mapping[str, str]) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._version = 0
        self.update(files)
        for name in files:
            (folder / name).symlink_to(f"..data/{name}")

    def path(self, name: str) -> Path:
        return self.folder / name

    def update(self, files: Mapping[str, str]) -> None:
        self._version += 1
        version = self.folder / f"..2026_11_30_{self._version:02d}"
        version.mkdir()
        for name, content in files.items():
            (version / name).write_text(content)
        fresh = self.folder / "..data_tmp"
        fresh.symlink_to(version.name)
        os.replace(fresh, self.folder / "..data")


class FakeDicomWeb:
    """What the DICOMweb plugin's /dicom-web/servers keeps: definitions by name, header
    names only in listings. ``refuse`` makes writes fail as Orthanc's API would."""

    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self.puts = 0
        self.refused_puts = 0
        self.refuse = False
        self.lock = threading.Lock()

    def put(self, name: str, definition: Mapping[str, Any]) -> None:
        with self.lock:
            if self.refuse:
                self.refused_puts += 1
                raise DicomWebApiError("Bad request")
            self.definitions[name] = dict(definition)
            self.puts += 1

    def list_expanded(self) -> Mapping[str, Any]:
        with self.lock:
            return {
                name: {**definition, "HttpHeaders": sorted(definition.get("HttpHeaders", {}))}
                for name, definition in self.definitions.items()
            }


class FakeJobs:
    """Orthanc's jobs as the healer sees them: failed jobs by id, what it resubmitted and
    sent, and the servers that refuse their token now."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.resubmitted: list[str] = []
        self.sent: list[tuple[str, tuple[str, ...]]] = []
        self.refusing: set[str] = set()
        self.broken = False

    def job(self, job_id: str) -> Mapping[str, Any]:
        if job_id not in self.jobs:
            raise DicomWebApiError("Unknown resource")
        return self.jobs[job_id]

    def resubmit(self, job_id: str) -> None:
        if self.broken:
            raise DicomWebApiError("Bad sequence of calls")
        self.resubmitted.append(job_id)

    def send_stow(self, server: str, instances: Sequence[str]) -> str:
        if self.broken:
            raise DicomWebApiError("Bad request")
        self.sent.append((server, tuple(instances)))
        return f"sent-{len(self.sent)}"

    def refuses_token(self, server: str) -> bool:
        return server in self.refusing


def server_section(token_endpoint: str, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "Url": "http://127.0.0.1:9/dicom-web/",
        "TokenEndpoint": token_endpoint,
        "ClientId": CLIENT_ID,
        "ClientSecret": CLIENT_SECRET,
    }
    section.update(overrides)
    return {key: value for key, value in section.items() if value is not None}


def server_settings(token_endpoint: str, name: str = "remote", **overrides: Any) -> ServerSettings:
    loaded = load_configuration(
        {"DicomWebOAuth": {"Servers": {name: server_section(token_endpoint, **overrides)}}},
        environ={},
    )
    assert not loaded.problems, [str(error) for error in loaded.problems]
    return loaded.servers[name]


def client_credentials_settings(
    token_endpoint: str, name: str = "remote", **overrides: Any
) -> ClientCredentialsSettings:
    tokens = server_settings(token_endpoint, name, **overrides).tokens
    assert isinstance(tokens, ClientCredentialsSettings)
    return tokens


def make_jwt(lifetime: float | None = 300, **claims: Any) -> str:
    payload: dict[str, Any] = {"iss": "https://issuer.test", "aud": "dicom", "sub": CLIENT_ID}
    if lifetime is not None:
        payload["exp"] = int(time.time() + lifetime)
    payload.update(claims)
    return jwt.encode({"alg": "HS256", "typ": "at+jwt"}, payload, _SIGNING_KEY)


def self_signed_certificate(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A certificate for 127.0.0.1 that is its own CA: the server's TLS context, and
    the certificate file a client must trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token endpoint")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = tmp_path / "endpoint.pem"
    key_file = tmp_path / "endpoint.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
