"""The keys of the cloud identities and of the assertion file: what each way to tokens
accepts, what it refuses, and that every refusal names its key. No request is made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.settings import LoadedConfiguration
from orthanc_dicomweb_oauth.descriptions import source_fields
from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.sources.google.source import GoogleSource
from orthanc_dicomweb_oauth.sources.settings import (
    AzureManagedIdentitySettings,
    ClientCredentialsSettings,
    GoogleSettings,
)

PATH = "DicomWebOAuth.Servers.s"
AZURE_SCOPE = "https://dicom.healthcareapis.azure.com/.default"
PRIVATE_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
)


def load(server: dict[str, Any], environ: dict[str, str] | None = None) -> LoadedConfiguration:
    return load_configuration(
        {"DicomWebOAuth": {"Servers": {"s": {"Url": "https://dicom.example.com/", **server}}}},
        environ=environ or {},
    )


def problems(loaded: LoadedConfiguration) -> list[str]:
    return [str(problem) for problem in loaded.problems]


def key_file(tmp_path: Path, **info: Any) -> str:
    document = {
        "type": "service_account",
        "client_email": "dicomweb@p.iam.gserviceaccount.com",
        "private_key": PRIVATE_KEY,
        "token_uri": "https://oauth2.googleapis.com/token",
        **info,
    }
    path = tmp_path / "key.json"
    path.write_text(json.dumps({k: v for k, v in document.items() if v is not None}))
    return str(path)


def google_source(loaded: LoadedConfiguration) -> GoogleSource:
    assert problems(loaded) == []
    settings = loaded.servers["s"].tokens
    assert isinstance(settings, GoogleSettings)
    return GoogleSource(settings)


def file_refusal(loaded: LoadedConfiguration) -> str:
    """Why the server's Google file cannot be used: said by its source, which keeps
    looking at the file, never by the configuration."""
    source = google_source(loaded)
    with pytest.raises(TokenRequestError) as refused:
        source.fetch()
    assert not refused.value.transient
    assert source_fields(source.description())["Credential"]["Error"] in str(refused.value)
    return str(refused.value)


def test_a_google_key_file(tmp_path: Path) -> None:
    loaded = load({"GoogleCredentials": key_file(tmp_path)})
    source = google_source(loaded)
    assert loaded.servers["s"].tokens.scope == "https://www.googleapis.com/auth/cloud-platform"
    credential = source.description().credential
    assert credential.identity == "dicomweb@p.iam.gserviceaccount.com"
    assert source.redact(f"echo {PRIVATE_KEY}") == "echo [redacted]"
    assert PRIVATE_KEY not in repr(loaded)


def test_default_is_the_metadata_server_or_the_named_file(tmp_path: Path) -> None:
    metadata = load({"GoogleCredentials": "default", "Scope": "https://x.example/s"})
    settings = metadata.servers["s"].tokens
    assert isinstance(settings, GoogleSettings)
    assert (settings.file, settings.scope) == (None, "https://x.example/s")
    named = load(
        {"GoogleCredentials": "default"},
        {"GOOGLE_APPLICATION_CREDENTIALS": key_file(tmp_path, type="authorized_user")},
    )
    refusal = file_refusal(named)
    assert refusal.startswith("GoogleCredentials: ")
    assert refusal.endswith("(named by GOOGLE_APPLICATION_CREDENTIALS)")


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            {"type": "authorized_user"},
            "holds a person's credentials (type authorized_user, as `gcloud auth "
            "application-default login` writes them): a server needs a machine identity",
        ),
        ({"type": "gdch_service_account"}, "is a credentials file of type 'gdch_service_account'"),
        ({"type": {"nested": [1]}}, "is a credentials file of type <dict>"),
        ({"client_email": None}, "(service_account file): client_email: is missing"),
        ({"token_uri": 7}, "(service_account file): token_uri: input should be a valid string"),
        (
            {"token_uri": "http://token.example.com/token"},
            "http://token.example.com/token http:// to token.example.com would send "
            "credentials in clear text",
        ),
    ],
)
def test_google_files_refused(tmp_path: Path, info: dict[str, Any], expected: str) -> None:
    refusal = file_refusal(load({"GoogleCredentials": key_file(tmp_path, **info)}))
    assert refusal.startswith("GoogleCredentials: ")
    assert expected in refusal
    assert "MIIEvQ" not in refusal


def test_a_plain_http_token_uri_with_allow_insecure_http(tmp_path: Path) -> None:
    path = key_file(tmp_path, token_uri="http://token.example.com/token")
    source = google_source(load({"GoogleCredentials": path, "AllowInsecureHttp": True}))
    assert source.description().token_endpoint == "http://token.example.com/token"


def test_google_files_that_cannot_be_read(tmp_path: Path) -> None:
    missing = file_refusal(load({"GoogleCredentials": str(tmp_path / "none.json")}))
    assert missing == f"GoogleCredentials: file {tmp_path / 'none.json'} does not exist"
    (tmp_path / "text.json").write_text("not json")
    assert file_refusal(load({"GoogleCredentials": str(tmp_path / "text.json")})) == (
        f"GoogleCredentials: file {tmp_path / 'text.json'} is not JSON"
    )
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert file_refusal(load({"GoogleCredentials": str(tmp_path / "deep.json")})) == (
        f"GoogleCredentials: file {tmp_path / 'deep.json'} holds JSON nested too deeply"
    )


def test_an_impersonation_from_a_person_s_login_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "impersonated.json"
    path.write_text(
        json.dumps(
            {
                "type": "impersonated_service_account",
                "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/"
                "projects/-/serviceAccounts/t@p.iam.gserviceaccount.com:generateAccessToken",
                "source_credentials": {"type": "authorized_user", "refresh_token": "r"},
            }
        )
    )
    refusal = file_refusal(load({"GoogleCredentials": str(path)}))
    assert "of type 'authorized_user', a person's login: the source must be" in refusal
    assert "ADR" not in refusal


@pytest.mark.parametrize(
    "key",
    [
        "TokenEndpoint",
        "Issuer",
        "ClientId",
        "ClientSecret",
        "ClientSecretEnv",
        "ClientSecretFile",
        "ClientPrivateKeyFile",
        "ClientPrivateKeyEnv",
        "ClientAssertionFile",
        "ClientAuthMethod",
    ],
)
@pytest.mark.parametrize("cloud", ["GoogleCredentials", "AzureManagedIdentity"])
def test_a_cloud_identity_excludes_the_token_endpoint_s_keys(
    tmp_path: Path, cloud: str, key: str
) -> None:
    values = {
        "TokenEndpoint": "https://t.example.com/token",
        "Issuer": "https://t.example.com",
        "ClientAuthMethod": "client_secret_basic",
    }
    identity: Any = key_file(tmp_path) if cloud == "GoogleCredentials" else True
    server = {cloud: identity, "Scope": AZURE_SCOPE, key: values.get(key, "value")}
    assert problems(load(server)) == [f"{PATH}.{key}: is not used with {cloud}: remove it"]


def test_both_clouds_at_once(tmp_path: Path) -> None:
    server = {"GoogleCredentials": key_file(tmp_path), "AzureManagedIdentity": True}
    assert problems(load(server)) == [
        f"{PATH}.AzureManagedIdentity: is not used with GoogleCredentials: remove it"
    ]


def test_azure_managed_identity() -> None:
    system = load({"AzureManagedIdentity": True, "Scope": AZURE_SCOPE}).servers["s"].tokens
    assert system == AzureManagedIdentitySettings(None, AZURE_SCOPE, system.http)
    user = load({"AzureManagedIdentity": "0b7c2d1e", "Scope": AZURE_SCOPE}).servers["s"].tokens
    assert isinstance(user, AzureManagedIdentitySettings)
    assert user.client_id == "0b7c2d1e"
    assert problems(load({"AzureManagedIdentity": True})) == [
        f"{PATH}.Scope: is required with AzureManagedIdentity (Azure's DICOM service: "
        "https://dicom.healthcareapis.azure.com/.default)"
    ]
    assert problems(load({"AzureManagedIdentity": False, "Scope": AZURE_SCOPE})) == [
        f"{PATH}.AzureManagedIdentity: must be true (the system-assigned identity) or a "
        "user-assigned identity's client id"
    ]


@pytest.mark.parametrize("text", ["true", "True", " TRUE ", "false", "False"])
def test_azure_managed_identity_as_the_text_of_a_boolean(text: str) -> None:
    """A Kubernetes env value or a quoted JSON value: not a client id named "true"."""
    assert problems(load({"AzureManagedIdentity": text, "Scope": AZURE_SCOPE})) == [
        f'{PATH}.AzureManagedIdentity: is the text "{text}", not a boolean: write true '
        "without quotes for the system-assigned identity; a user-assigned identity is named "
        "by its client id, a GUID"
    ]


GOOGLE_VALUES = (
    '"default" for the metadata server of Compute Engine, GKE or Cloud Run (or the file '
    "GOOGLE_APPLICATION_CREDENTIALS names, when it is set), or the path of a credentials file"
)


@pytest.mark.parametrize("word", ["metadata", "adc", "gce", "compute", "metadata-server", "GKE"])
def test_google_credentials_as_a_word_that_is_no_path(word: str) -> None:
    assert problems(load({"GoogleCredentials": word})) == [
        f'{PATH}.GoogleCredentials: is "{word}", not a file\'s path: write {GOOGLE_VALUES} '
        f"(one in Orthanc's working folder: ./{word})"
    ]


def test_google_credentials_default_in_another_case() -> None:
    assert problems(load({"GoogleCredentials": "Default"})) == [
        f'{PATH}.GoogleCredentials: is "Default": write default in lower case'
    ]


@pytest.mark.parametrize("path", ["./metadata", "key.json", "/etc/orthanc/google.json", "default"])
def test_google_credentials_paths_are_taken_as_paths(path: str) -> None:
    assert problems(load({"GoogleCredentials": path})) == []


def test_google_credentials_holding_the_key_itself_is_refused_unseen(tmp_path: Path) -> None:
    content = Path(key_file(tmp_path)).read_text()
    (refusal,) = problems(load({"GoogleCredentials": content}))
    assert refusal == (
        f"{PATH}.GoogleCredentials: holds a credential, not a file's path: write it to a file "
        f"only Orthanc reads and give its path; the values are {GOOGLE_VALUES}"
    )
    assert problems(load({"GoogleCredentials": PRIVATE_KEY})) == [refusal]
    named = load({"GoogleCredentials": "default"}, {"GOOGLE_APPLICATION_CREDENTIALS": content})
    assert problems(named) == [
        f"{PATH}.GoogleCredentials: default: GOOGLE_APPLICATION_CREDENTIALS holds a credential, "
        "not a file's path: write it to a file only Orthanc reads and give its path"
    ]


def assertion_server(path: Path, **keys: Any) -> dict[str, Any]:
    return {
        "TokenEndpoint": "https://login.example.com/tenant/oauth2/v2.0/token",
        "ClientId": "app",
        "ClientAssertionFile": str(path),
        **keys,
    }


def test_an_assertion_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("header.payload.signature\n")
    loaded = load(assertion_server(path))
    assert problems(loaded) == []
    tokens = loaded.servers["s"].tokens
    assert isinstance(tokens, ClientCredentialsSettings)
    assert tokens.credential.auth_method == "private_key_jwt"
    explicit = load(assertion_server(path, ClientAuthMethod="private_key_jwt"))
    assert problems(explicit) == []


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            {"ClientSecretEnv": "X"},
            f"{PATH}.ClientSecretEnv: is not used with ClientAssertionFile: remove it",
        ),
        (
            {"ClientAuthMethod": "client_secret_basic"},
            f"{PATH}.ClientAuthMethod: ClientAssertionFile sends a JWT assertion "
            "(private_key_jwt): leave ClientAuthMethod out",
        ),
        ({"ClientId": None}, f"{PATH}.ClientId: is required"),
    ],
)
def test_an_assertion_file_refused(tmp_path: Path, keys: dict[str, Any], expected: str) -> None:
    path = tmp_path / "token"
    path.write_text("a.b.c")
    server = {k: v for k, v in assertion_server(path, **keys).items() if v is not None}
    assert problems(load(server, {"X": "secret"})) == [expected]


def test_an_assertion_file_missing_or_empty_at_start(tmp_path: Path) -> None:
    """Said by the server, which reads the file again at each request: not a
    configuration error."""

    def said(path: Path) -> str | None:
        loaded = load(assertion_server(path))
        assert problems(loaded) == []
        settings = loaded.servers["s"].tokens
        assert isinstance(settings, ClientCredentialsSettings)
        return settings.credential.description().error

    assert said(tmp_path / "none") == f"file {tmp_path / 'none'} does not exist"
    (tmp_path / "empty").write_text("\n")
    assert said(tmp_path / "empty") == f"file {tmp_path / 'empty'} is empty"
