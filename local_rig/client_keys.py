"""Throw-away client key pairs for private_key_jwt: the private key and its self-signed
certificate as PEM files (what an administrator gives the plugin), and the public JWK (what
the provider registers)."""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, RSAKey

KeyKind = Literal["rsa", "ec", "rsa-1024"]


@dataclass(frozen=True)
class ClientKeyFiles:
    private_key: Path
    certificate: Path
    public_jwk: dict[str, Any]

    def private_key_pem(self) -> str:
        return self.private_key.read_text()

    def private_key_lines(self) -> list[str]:
        """The key's Base64 lines, without the BEGIN and END lines: what a leak search
        looks for."""
        return [line for line in self.private_key_pem().splitlines() if "-----" not in line]


def write_client_key(
    directory: Path,
    name: str = "client",
    kind: KeyKind = "rsa",
    valid_for: datetime.timedelta = datetime.timedelta(days=365),
) -> ClientKeyFiles:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(65537, 1024 if kind == "rsa-1024" else 2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"orthanc {name}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + valid_for)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / f"{name}.key"
    certificate_path = directory / f"{name}.crt"
    key_path.write_bytes(pem)
    key_path.chmod(0o600)
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 1024-bit key exists to be refused
        jwk = (ECKey if kind == "ec" else RSAKey).import_key(pem).as_dict(private=False)
    return ClientKeyFiles(key_path, certificate_path, dict(jwk))
