"""private_key_jwt's key and certificate: what fits, what is refused and why, the
thumbprints, and the configuration keys around them."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import SecretStr

from local_rig.client_keys import ClientKeyFiles, write_client_key
from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.settings import LoadedConfiguration
from orthanc_dicomweb_oauth.credentials import key_loader
from orthanc_dicomweb_oauth.credentials.base import ClientCredential
from orthanc_dicomweb_oauth.credentials.private_key import PrivateKey, PrivateKeySettings
from orthanc_dicomweb_oauth.descriptions import credential_fields
from orthanc_dicomweb_oauth.errors import CredentialError
from orthanc_dicomweb_oauth.sources.settings import ClientCredentialsSettings

PATH = "DicomWebOAuth.Servers.s"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ClientKeyFiles]:
    directory = tmp_path_factory.mktemp("keys")
    return {
        "rsa": write_client_key(directory, "rsa"),
        "ec": write_client_key(directory, "ec", kind="ec"),
        "short": write_client_key(directory, "short", kind="rsa-1024"),
        "other": write_client_key(directory, "other"),
    }


def load_key(files: ClientKeyFiles, algorithm: Any = "RS256", **options: Any) -> PrivateKey:
    return key_loader.signing_key(
        SecretStr(files.private_key_pem()),
        PrivateKeySettings(
            algorithm=algorithm,
            key_id=options.get("key_id"),
            certificate_file=options.get("certificate"),
            thumbprint_headers=options.get("thumbprints", ["x5t#S256", "x5t"]),
        ),
    )


def refusal(files: ClientKeyFiles, algorithm: Any = "RS256", **options: Any) -> CredentialError:
    with pytest.raises(CredentialError) as caught:
        load_key(files, algorithm, **options)
    assert "PRIVATE KEY" not in str(caught.value).replace("BEGIN PRIVATE KEY", "")
    return caught.value


def assertion_header(credential: ClientCredential) -> dict[str, str]:
    """The header of the assertion the credential adds to a token request, but ``alg``
    and ``typ``."""
    _, body = credential.authenticate("client", "https://login.example.com/token", {}, "")
    assertion = parse_qs(body)["client_assertion"][0]
    encoded = assertion.split(".")[0]
    padded = encoded + "=" * (-len(encoded) % 4)
    header: dict[str, str] = json.loads(base64.urlsafe_b64decode(padded))
    return {name: value for name, value in header.items() if name not in ("alg", "typ")}


@pytest.mark.parametrize(
    ("kind", "algorithm"), [("rsa", "RS256"), ("rsa", "PS256"), ("ec", "ES256")]
)
def test_keys_that_fit_their_algorithm(
    keys: dict[str, ClientKeyFiles], kind: str, algorithm: str
) -> None:
    signing_key = load_key(keys[kind], algorithm, key_id="k-1")
    assert signing_key.signing_algorithm == algorithm
    assert assertion_header(signing_key) == {"kid": "k-1"}
    assert credential_fields(signing_key.description()) == {
        "Kind": "PrivateKey",
        "Algorithm": algorithm,
        "KeyId": "k-1",
    }
    assert keys[kind].private_key_pem() not in repr(signing_key)


@pytest.mark.parametrize(
    ("kind", "algorithm", "message"),
    [
        ("ec", "RS256", "RS256 needs an RSA key; this is an EC key on secp256r1"),
        ("ec", "PS256", "PS256 needs an RSA key; this is an EC key on secp256r1"),
        ("rsa", "ES256", "ES256 needs an EC key on P-256; this is an RSA key of 2048 bits"),
        (
            "short",
            "RS256",
            "an RSA key of 1024 bits is too short: RS256 and PS256 need at least 2048 bits",
        ),
    ],
)
def test_keys_that_do_not_fit(
    keys: dict[str, ClientKeyFiles], kind: str, algorithm: str, message: str
) -> None:
    error = refusal(keys[kind], algorithm)
    assert str(error) == message
    assert error.key is None


def test_not_a_key() -> None:
    with pytest.raises(CredentialError, match=r"is not a PEM private key"):
        key_loader.signing_key(SecretStr("not a key"), PrivateKeySettings("RS256"))


def test_an_encrypted_key_is_refused_with_the_way_out(tmp_path: Path) -> None:
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pass", "pass:p4ss", "-aes-256-cbc"],
        stdout=encrypted.open("wb"),
        check=True,
    )
    with pytest.raises(CredentialError, match=r"the private key is encrypted: .*openssl pkey"):
        key_loader.signing_key(SecretStr(encrypted.read_text()), PrivateKeySettings("RS256"))


def test_thumbprints_of_the_certificate(keys: dict[str, ClientKeyFiles]) -> None:
    files = keys["rsa"]
    certificate = x509.load_pem_x509_certificate(files.certificate.read_bytes())

    def thumbprint(algorithm: hashes.HashAlgorithm) -> str:
        return base64.urlsafe_b64encode(certificate.fingerprint(algorithm)).rstrip(b"=").decode()

    signing_key = load_key(files, certificate=str(files.certificate), key_id="k")
    assert assertion_header(signing_key) == {
        "x5t#S256": thumbprint(hashes.SHA256()),
        "x5t": thumbprint(hashes.SHA1()),  # noqa: S303 - the header Entra ID reads
        "kid": "k",
    }
    assert credential_fields(signing_key.description())[
        "CertificateNotAfter"
    ] == certificate.not_valid_after_utc.isoformat(timespec="seconds")
    only_sha256 = load_key(files, certificate=str(files.certificate), thumbprints=["x5t#S256"])
    assert list(assertion_header(only_sha256)) == ["x5t#S256"]


def test_a_certificate_of_another_key(keys: dict[str, ClientKeyFiles]) -> None:
    error = refusal(keys["rsa"], certificate=str(keys["other"].certificate))
    assert error.key == "ClientCertificateFile"
    assert "is not the private key's" in str(error)


def test_certificate_files_that_cannot_be_used(
    keys: dict[str, ClientKeyFiles], tmp_path: Path
) -> None:
    missing = refusal(keys["rsa"], certificate=str(tmp_path / "none.crt"))
    assert str(missing) == f"file {tmp_path / 'none.crt'} does not exist"
    assert missing.key == "ClientCertificateFile"
    text = tmp_path / "text.crt"
    text.write_text("hello")
    assert "is not a PEM certificate" in str(refusal(keys["rsa"], certificate=str(text)))


# -- The configuration keys -------------------------------------------------------------


def section(files: ClientKeyFiles, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Url": "https://dicom.example.com/v2/",
        "TokenEndpoint": "https://login.example.com/token",
        "ClientId": "client",
        "ClientAuthMethod": "private_key_jwt",
        "ClientPrivateKeyFile": str(files.private_key),
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def load(server: dict[str, Any], environ: dict[str, str] | None = None) -> LoadedConfiguration:
    return load_configuration({"DicomWebOAuth": {"Servers": {"s": server}}}, environ=environ or {})


def errors(loaded: LoadedConfiguration) -> list[str]:
    return [str(error) for error in loaded.problems]


def test_private_key_jwt_from_a_file_or_the_environment(
    keys: dict[str, ClientKeyFiles],
) -> None:
    files = keys["rsa"]
    from_file = load(section(files, ClientKeyId="k", ClientCertificateFile=str(files.certificate)))
    assert errors(from_file) == []
    tokens = from_file.servers["s"].tokens
    assert isinstance(tokens, ClientCredentialsSettings)
    credential = tokens.credential
    assert credential.auth_method == "private_key_jwt"
    assert set(assertion_header(credential)) == {"x5t#S256", "x5t", "kid"}
    assert files.private_key_pem() not in repr(from_file)
    from_environment = load(
        section(files, ClientPrivateKeyFile=None, ClientPrivateKeyEnv="CLIENT_KEY"),
        {"CLIENT_KEY": files.private_key_pem()},
    )
    assert errors(from_environment) == []


def credential_error(loaded: LoadedConfiguration) -> str | None:
    settings = loaded.servers["s"].tokens
    assert isinstance(settings, ClientCredentialsSettings)
    return settings.credential.description().error


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"ClientPrivateKeyFile": None},
            f"{PATH}: exactly one of ClientPrivateKeyFile or ClientPrivateKeyEnv is required",
        ),
        (
            {"ClientPrivateKeyEnv": "CLIENT_KEY"},
            f"{PATH}: exactly one of ClientPrivateKeyFile or ClientPrivateKeyEnv is required "
            "(found ClientPrivateKeyFile, ClientPrivateKeyEnv)",
        ),
        (
            {"ClientSecretEnv": "SECRET"},
            f"{PATH}.ClientSecretEnv: is not used with ClientAuthMethod private_key_jwt: remove it",
        ),
        (
            {"ClientAuthMethod": None, "ClientSecretEnv": "SECRET"},
            f"{PATH}.ClientPrivateKeyFile: is not used with ClientAuthMethod client_secret_post: "
            "remove it",
        ),
        (
            {
                "ClientAuthMethod": "client_secret_basic",
                "ClientPrivateKeyFile": None,
                "ClientSecretEnv": "SECRET",
                "ClientKeyId": "k",
            },
            f"{PATH}.ClientKeyId: is not used with ClientAuthMethod client_secret_basic: remove it",
        ),
        (
            {"ClientAssertionAlgorithm": "HS256"},
            f"{PATH}.ClientAssertionAlgorithm: Input should be 'RS256', 'PS256' or 'ES256'",
        ),
        (
            {"ClientCertificateThumbprints": ["sha1"]},
            f"{PATH}.ClientCertificateThumbprints.0: Input should be 'x5t#S256' or 'x5t'",
        ),
        (
            {"ClientPrivateKeyFile": None, "ClientPrivateKeyEnv": "UNSET_KEY"},
            f"{PATH}.ClientPrivateKeyEnv: environment variable UNSET_KEY is not set",
        ),
    ],
)
def test_errors_name_the_key(
    keys: dict[str, ClientKeyFiles], overrides: dict[str, Any], expected: str
) -> None:
    loaded = load(section(keys["rsa"], **overrides), {"SECRET": "x"})
    assert errors(loaded) == [expected]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"ClientAssertionAlgorithm": "ES256"},
            "ClientPrivateKeyFile: ES256 needs an EC key on P-256; this is an RSA key of 2048 bits",
        ),
        (
            {"ClientPrivateKeyFile": "/nonexistent/client.key"},
            "ClientPrivateKeyFile: file /nonexistent/client.key does not exist",
        ),
    ],
)
def test_a_key_file_not_usable_at_start_is_said_by_the_server(
    keys: dict[str, ClientKeyFiles], overrides: dict[str, Any], expected: str
) -> None:
    """Not a configuration error: the files are looked at again until they can be used."""
    loaded = load(section(keys["rsa"], **overrides))
    assert errors(loaded) == []
    assert credential_error(loaded) == expected


def test_a_certificate_error_names_the_certificate_key(keys: dict[str, ClientKeyFiles]) -> None:
    loaded = load(section(keys["rsa"], ClientCertificateFile=str(keys["other"].certificate)))
    assert errors(loaded) == []
    assert credential_error(loaded) == (
        f"ClientCertificateFile: the certificate in {keys['other'].certificate} is not "
        "the private key's: the provider would not find the key the assertion is signed with"
    )


def test_a_certificate_near_its_end_is_warned_about(tmp_path: Path) -> None:
    soon = write_client_key(tmp_path, "soon", valid_for=datetime.timedelta(days=3))
    loaded = load(section(soon, ClientCertificateFile=str(soon.certificate)))
    assert errors(loaded) == []
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith(
        f"{PATH}.ClientCertificateFile: the certificate expires on "
    )
    gone = write_client_key(tmp_path, "gone", valid_for=datetime.timedelta(days=-1))
    expired = load(section(gone, ClientCertificateFile=str(gone.certificate)))
    assert "the certificate expired on " in expired.warnings[0]
    fine = write_client_key(tmp_path, "fine", valid_for=datetime.timedelta(days=90))
    assert load(section(fine, ClientCertificateFile=str(fine.certificate))).warnings == ()
