"""Loads a client's private key (and certificate) for private_key_jwt, from an environment
variable or a file, the files read again when they change; checked at each load: the key
fits the algorithm, and the optional certificate (Entra ID's certificate credentials)
belongs to the key. Errors describe the key, never show it.

Imported only for servers that use private_key_jwt: cryptography and joserfc cost Orthanc
some 7 MiB.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey
from pydantic import SecretStr

from .. import keys
from ..errors import CredentialError
from .base import ClientCredential
from .private_key import KIND, AssertionAlgorithm, PrivateKey, PrivateKeySettings
from .reloading import watched_credential
from .secret_sources import read_credential_bytes, secret_from_environment, secret_from_file

MINIMUM_RSA_BITS = 2048


def load_private_key(settings: PrivateKeySettings, environ: Mapping[str, str]) -> ClientCredential:
    """The key where the settings say, checked; raises CredentialError naming the key.
    A key file that cannot be used yet is looked at again (``reloading``)."""
    # The environment never changes: a variable not set is said now, not retried.
    variable = settings.variable
    try:
        from_environment = None if variable is None else secret_from_environment(variable, environ)
    except CredentialError as error:
        raise CredentialError(str(error), key=settings.key) from None

    def load() -> ClientCredential:
        if from_environment is not None:
            return signing_key(from_environment, settings)
        if settings.file is None:
            raise CredentialError("is required")
        return signing_key(secret_from_file(settings.file), settings)

    files = [
        (key, path)
        for key, path in (
            (keys.CLIENT_PRIVATE_KEY_FILE, settings.file),
            (keys.CLIENT_CERTIFICATE_FILE, settings.certificate_file),
        )
        if path is not None
    ]
    return watched_credential(
        load,
        files,
        key=settings.key,
        auth_method="private_key_jwt",
        signing_algorithm=settings.algorithm,
        kind=KIND,
    )


def signing_key(pem: SecretStr, settings: PrivateKeySettings) -> PrivateKey:
    algorithm, certificate_file = settings.algorithm, settings.certificate_file
    private_key = _private_key(pem)
    _check_fits(private_key, algorithm)
    thumbprints: dict[str, str] = {}
    sha1_hex = None
    not_after = None
    if certificate_file is not None:
        certificate = _certificate(certificate_file)
        _check_belongs(certificate, private_key, certificate_file)
        der = certificate.public_bytes(serialization.Encoding.DER)
        digests = {"x5t#S256": hashlib.sha256(der), "x5t": hashlib.sha1(der)}  # noqa: S324
        thumbprints = {
            name: _base64url(digests[name].digest()) for name in settings.thumbprint_headers
        }
        sha1_hex = digests["x5t"].hexdigest().upper()
        not_after = certificate.not_valid_after_utc
    pem_bytes = pem.get_secret_value().encode()
    key: RSAKey | ECKey = (
        RSAKey.import_key(pem_bytes) if algorithm != "ES256" else ECKey.import_key(pem_bytes)
    )
    return PrivateKey(
        key,
        algorithm=algorithm,
        key_id=settings.key_id,
        thumbprints=thumbprints,
        certificate_thumbprint=sha1_hex,
        certificate_not_after=not_after,
    )


def _private_key(pem: SecretStr) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.get_secret_value().encode(), password=None)
    except TypeError:
        raise CredentialError(
            "the private key is encrypted: give it unencrypted, readable only by Orthanc "
            "(openssl pkey -in KEY -out PLAIN)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CredentialError("is not a PEM private key (-----BEGIN PRIVATE KEY-----)") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CredentialError(f"a {type(key).__name__} cannot sign RS256, PS256 or ES256")
    return key


def _check_fits(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, algorithm: AssertionAlgorithm
) -> None:
    if algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise CredentialError(f"ES256 needs an EC key on P-256; this is {_describe(key)}")
    elif not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError(f"{algorithm} needs an RSA key; this is {_describe(key)}")
    elif key.key_size < MINIMUM_RSA_BITS:
        raise CredentialError(
            f"{_describe(key)} is too short: RS256 and PS256 need at least {MINIMUM_RSA_BITS} bits"
        )


def _describe(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return f"an RSA key of {key.key_size} bits"
    return f"an EC key on {key.curve.name}"


def _certificate(path: str) -> x509.Certificate:
    data = read_credential_bytes(path, key=keys.CLIENT_CERTIFICATE_FILE)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CredentialError(
            f"file {path} is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
            key=keys.CLIENT_CERTIFICATE_FILE,
        ) from None


def _check_belongs(
    certificate: x509.Certificate,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    path: str,
) -> None:
    def spki(public: object) -> bytes:
        if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            return b""
        return public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    if spki(certificate.public_key()) != spki(key.public_key()):
        raise CredentialError(
            f"the certificate in {path} is not the private key's: the provider would not "
            "find the key the assertion is signed with",
            key=keys.CLIENT_CERTIFICATE_FILE,
        )


def _base64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
