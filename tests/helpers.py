"""Builders shared by the tests: settings made through the real configuration loader,
and JWTs signed with a throw-away key."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import OctKey

from orthanc_dicomweb_oauth.configuration import ServerSettings, load_configuration

# Distinctive values: tests search captured output for them.
CLIENT_SECRET = "s3cr3t+/:%&=Zq9-LEAKCHECK-é"
CLIENT_ID = "orthanc-client"
_SIGNING_KEY = OctKey.generate_key(256)


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
    assert not loaded.errors, [str(error) for error in loaded.errors]
    return loaded.servers[name]


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
