"""Google's credentials, Azure's managed identity and an assertion file, with the real
google-auth and azure-identity, against loopback emulations of their endpoints
(local_rig/cloud_emulations.py). tests/conftest.py pins every endpoint those libraries
know to the emulation before either is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from local_rig.cloud_emulations import (
    ASSERTION_CLIENT_ID,
    AZURE_USER_CLIENT_ID,
    CLOUD_VARIABLES,
    IMPERSONATED,
    METADATA_ACCOUNT,
    SERVICE_ACCOUNT,
    CloudEmulation,
    pinned_environment,
)
from local_rig.services import free_port
from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.settings import LoadedConfiguration
from orthanc_dicomweb_oauth.descriptions import source_fields
from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.sources.base import TokenSource
from orthanc_dicomweb_oauth.tokens.server_tokens import token_source

from ..helpers import make_jwt

URL = "https://healthcare.example.com/v1/projects/p/locations/l/datasets/d/dicomStores/s/dicomWeb/"
AZURE_SCOPE = "https://dicom.healthcareapis.azure.com/.default"


def load(server: dict[str, Any], environ: dict[str, str] | None = None) -> LoadedConfiguration:
    return load_configuration(
        {"DicomWebOAuth": {"Servers": {"s": {"Url": URL, **server}}}}, environ=environ or {}
    )


def source_for(server: dict[str, Any], environ: dict[str, str] | None = None) -> TokenSource:
    loaded = load(server, environ)
    assert loaded.problems == (), [str(problem) for problem in loaded.problems]
    return token_source(loaded.servers["s"].tokens)


def fetched(source: TokenSource) -> tuple[str, float]:
    try:
        token = source.fetch()
    finally:
        source.close()
    return token.value, token.lifetime


# -- Google -----------------------------------------------------------------------------


def test_a_service_account_key(cloud: CloudEmulation) -> None:
    """google-auth signs the JWT bearer assertion; the emulation verifies it with the
    service account's public key, its audience Google's token URI."""
    source = source_for({"GoogleCredentials": str(cloud.service_account_file())})
    before = cloud.requests["/google/token"]
    value, lifetime = fetched(source)
    assert cloud.requests["/google/token"] == before + 1
    assert value.count(".") == 2
    assert 295 <= lifetime <= 300
    assertion = jose_jwt.decode(cloud.last["/google/token"]["assertion"], _public(cloud))
    assert assertion.claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    credential = source_fields(source.description())["Credential"]
    assert credential == {
        "Kind": "GoogleCredentials",
        "Type": "service_account",
        "File": str(cloud.root / "service-account.json"),
        "Identity": SERVICE_ACCOUNT,
    }


def _public(cloud: CloudEmulation) -> RSAKey:
    key = RSAKey.import_key(cloud.private_key_pem)
    return RSAKey.import_key(key.as_dict(private=False))


def test_default_is_the_file_of_google_application_credentials(cloud: CloudEmulation) -> None:
    path = str(cloud.service_account_file("adc.json"))
    source = source_for(
        {"GoogleCredentials": "default", "Scope": "https://www.googleapis.com/auth/healthcare"},
        {"GOOGLE_APPLICATION_CREDENTIALS": path},
    )
    fetched(source)
    assertion = jose_jwt.decode(cloud.last["/google/token"]["assertion"], _public(cloud))
    assert assertion.claims["scope"] == "https://www.googleapis.com/auth/healthcare"
    assert source_fields(source.description())["Credential"]["File"] == path


def test_default_without_a_file_is_the_metadata_server(cloud: CloudEmulation) -> None:
    source = source_for({"GoogleCredentials": "default"})
    before = cloud.requests["/computeMetadata/v1/instance/service-accounts/default/token"]
    _, lifetime = fetched(source)
    assert cloud.requests["/computeMetadata/v1/instance/service-accounts/default/token"] == (
        before + 1
    )
    assert 295 <= lifetime <= 300
    assert source_fields(source.description())["Credential"] == {
        "Kind": "GoogleCredentials",
        "Type": "metadata server",
        "Identity": METADATA_ACCOUNT,
        # As the metadata server lists them for the account, not the Scope asked for.
        "Scopes": ["https://www.googleapis.com/auth/cloud-platform"],
    }
    assert source_fields(source.description())["TokenEndpoint"] == cloud.url


def test_a_vm_without_the_cloud_platform_scope_is_noted_with_its_token(
    cloud: CloudEmulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note the keeper logs once, as check's warning says it."""
    source = source_for({"GoogleCredentials": "default"})
    try:
        assert source.fetch().notes == ()
        monkeypatch.setattr(
            cloud, "metadata_scopes", ["https://www.googleapis.com/auth/devstorage.read_only"]
        )
        (note,) = source.fetch().notes
    finally:
        source.close()
    assert note.startswith(
        "the access scopes of the VM's service account lack "
        "https://www.googleapis.com/auth/cloud-platform"
    )


def test_an_external_account_exchanges_its_subject_token(cloud: CloudEmulation) -> None:
    """Workload identity federation: STS takes the file's token, then the service account
    is impersonated at the file's impersonation URL."""
    path = cloud.external_account_file(make_jwt(sub="system:serviceaccount:pacs:orthanc"))
    source = source_for({"GoogleCredentials": str(path)})
    before = cloud.requests["/google/sts"], cloud.requests["/google/iam"]
    fetched(source)
    assert (cloud.requests["/google/sts"], cloud.requests["/google/iam"]) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert source_fields(source.description())["Credential"]["Identity"] == IMPERSONATED


def test_an_impersonated_service_account(cloud: CloudEmulation) -> None:
    source = source_for({"GoogleCredentials": str(cloud.impersonated_file())})
    before = cloud.requests["/google/token"], cloud.requests["/google/iam"]
    _, lifetime = fetched(source)
    assert (cloud.requests["/google/token"], cloud.requests["/google/iam"]) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert 290 <= lifetime <= 300
    assert source_fields(source.description())["Credential"]["Identity"] == IMPERSONATED


def test_a_refused_key_is_said_with_the_provider_s_words(cloud: CloudEmulation) -> None:
    info = cloud.service_account_info()
    info["client_email"] = "someone-else@orthanc-project.iam.gserviceaccount.com"
    other = cloud.root / "other-account.json"
    other.write_text(json.dumps(info))
    source = source_for({"GoogleCredentials": str(other)})
    with pytest.raises(TokenRequestError) as refused:
        fetched(source)
    assert not refused.value.transient
    assert "invalid_grant" in str(refused.value)
    assert "(HTTP 400)" in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)


# -- Azure ------------------------------------------------------------------------------


def test_azure_imds_system_assigned(cloud: CloudEmulation) -> None:
    """azure-identity strips /.default: the emulation refuses a resource that keeps it."""
    source = source_for({"AzureManagedIdentity": True, "Scope": AZURE_SCOPE})
    before = cloud.requests["/metadata/identity/oauth2/token"]
    _, lifetime = fetched(source)
    assert cloud.requests["/metadata/identity/oauth2/token"] == before + 1
    assert cloud.last["/metadata/identity/oauth2/token"]["resource"] == (
        "https://dicom.healthcareapis.azure.com"
    )
    assert "client_id" not in cloud.last["/metadata/identity/oauth2/token"]
    assert 295 <= lifetime <= 300
    credential = source_fields(source.description())["Credential"]
    assert credential["Environment"] == "IMDS"
    assert credential["Identity"] == "system-assigned"


def test_azure_imds_user_assigned_and_an_unknown_one(cloud: CloudEmulation) -> None:
    fetched(source_for({"AzureManagedIdentity": AZURE_USER_CLIENT_ID, "Scope": AZURE_SCOPE}))
    assert cloud.last["/metadata/identity/oauth2/token"]["client_id"] == AZURE_USER_CLIENT_ID
    unknown = source_for({"AzureManagedIdentity": "not-an-identity-here", "Scope": AZURE_SCOPE})
    with pytest.raises(TokenRequestError) as refused:
        fetched(unknown)
    assert not refused.value.transient
    assert "HTTP 400" in str(refused.value)
    assert "is not-an-identity-here a user-assigned identity of this resource?" in str(
        refused.value
    )


def test_azure_app_service(cloud: CloudEmulation, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in cloud.app_service_environment().items():
        monkeypatch.setenv(name, value)
    source = source_for({"AzureManagedIdentity": True, "Scope": AZURE_SCOPE})
    before = cloud.requests["/azure/app-service"]
    _, lifetime = fetched(source)
    assert cloud.requests["/azure/app-service"] == before + 1
    assert cloud.last["/azure/app-service"]["resource"] == "https://dicom.healthcareapis.azure.com"
    assert 295 <= lifetime <= 300
    assert source_fields(source.description())["Credential"]["Environment"] == "App Service"

    monkeypatch.setenv("IDENTITY_HEADER", "a-wrong-header-value")
    with pytest.raises(TokenRequestError) as refused:
        fetched(source_for({"AzureManagedIdentity": True, "Scope": AZURE_SCOPE}))
    assert not refused.value.transient
    assert "HTTP 401" in str(refused.value)
    assert "a-wrong-header-value" not in str(refused.value)


# -- An assertion file -----------------------------------------------------------------


def assertion_server(cloud: CloudEmulation, path: Path) -> dict[str, Any]:
    return {
        "TokenEndpoint": cloud.assertion_token_endpoint,
        "ClientId": ASSERTION_CLIENT_ID,
        "ClientAssertionFile": str(path),
        "Scope": "api://dicomweb/.default",
    }


def test_the_assertion_file_is_read_again_at_each_request(cloud: CloudEmulation) -> None:
    first = make_jwt(lifetime=3600, iss="https://kubernetes.default.svc", sub="system:sa:a")
    path = cloud.assertion_file(first)
    source = source_for(assertion_server(cloud, path))
    try:
        source.fetch()
        assert cloud.last["/assertion/token"]["client_assertion"] == first
        rotated = make_jwt(lifetime=3600, iss="https://kubernetes.default.svc", sub="system:sa:b")
        cloud.assertion_file(rotated)  # as kubelet rotates it
        source.fetch()
        assert cloud.last["/assertion/token"]["client_assertion"] == rotated
        credential = source_fields(source.description())["Credential"]
        assert credential["Kind"] == "ClientAssertionFile"
        assert (credential["Issuer"], credential["Subject"]) == (
            "https://kubernetes.default.svc",
            "system:sa:b",
        )
        assert "ExpiresAt" in credential
        assert rotated not in json.dumps(source_fields(source.description()))
    finally:
        source.close()


def test_an_expired_or_missing_assertion_is_said(cloud: CloudEmulation, tmp_path: Path) -> None:
    path = cloud.assertion_file(make_jwt(lifetime=3600))
    source = source_for(assertion_server(cloud, path))
    try:
        cloud.assertion_file(make_jwt(lifetime=-60))
        with pytest.raises(
            TokenRequestError, match=r"ClientAssertionFile: .* expired at"
        ) as expired:
            source.fetch()
        assert not expired.value.transient
        path.unlink()
        with pytest.raises(TokenRequestError, match=r"ClientAssertionFile: file .* does not exist"):
            source.fetch()
    finally:
        source.close()


# -- Not on this cloud -----------------------------------------------------------------

NOT_ON_THIS_CLOUD = """
import json, sys
from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.errors import TokenRequestError
from orthanc_dicomweb_oauth.tokens.server_tokens import token_source

servers = {
    "google": {"Url": "https://d/", "GoogleCredentials": "default"},
    "azure": {"Url": "https://d/", "AzureManagedIdentity": True, "Scope": sys.argv[1]},
}
loaded = load_configuration({"DicomWebOAuth": {"Servers": servers}}, environ={})
errors = {}
for name, settings in loaded.servers.items():
    try:
        token_source(settings.tokens).fetch()
    except TokenRequestError as error:
        errors[name] = [str(error), error.transient]
print(json.dumps(errors))
"""


def test_no_metadata_or_identity_endpoint_is_said_plainly(tmp_path: Path) -> None:
    """Both libraries pointed at a loopback port where nothing listens, as outside their
    cloud. google-auth tries the metadata server five times (about 15 s) before it
    gives up."""
    closed = f"127.0.0.1:{free_port()}"
    environment = {
        **{name: value for name, value in os.environ.items() if name not in CLOUD_VARIABLES},
        **pinned_environment(closed, tmp_path / "gcloud"),
    }
    result = subprocess.run(
        [sys.executable, "-c", NOT_ON_THIS_CLOUD, AZURE_SCOPE],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )
    errors = json.loads(result.stdout)
    assert errors["google"] == [
        f"no metadata server answered at http://{closed}: not running on Google Cloud? Off "
        "Google Cloud, set GoogleCredentials to a workload identity federation file (an "
        "external_account file, from gcloud iam workload-identity-pools create-cred-config), "
        "or, failing that, to a service account key file",
        False,
    ]
    message, transient = errors["azure"]
    assert message.startswith(
        f"no managed identity endpoint answered at http://{closed}/metadata/identity/oauth2/"
        "token: not running on Azure with a managed identity?"
    )
    assert transient is False


# -- An external account whose subject token comes from a program ------------------------

# Prints the executable-sourced response google-auth expects, the subject token in it.
SUBJECT_TOKEN_PROGRAM = """
import json, sys, time
token = open(sys.argv[1]).read()
print(json.dumps({
    "version": 1,
    "success": True,
    "token_type": "urn:ietf:params:oauth:token-type:jwt",
    "id_token": token,
    "expiration_time": int(time.time()) + 3600,
}))
"""


def executable_account_file(cloud: CloudEmulation, tmp_path: Path) -> Path:
    path = cloud.external_account_file(make_jwt(sub="system:serviceaccount:pacs:orthanc"))
    program = tmp_path / "subject_token.py"
    program.write_text(SUBJECT_TOKEN_PROGRAM)
    info = json.loads(path.read_text())
    command = f"{sys.executable} {program} {cloud.root / 'subject-token'}"
    info["credential_source"] = {"executable": {"command": command, "timeout_millis": 30000}}
    executable = tmp_path / "executable-account.json"
    executable.write_text(json.dumps(info))
    return executable


def test_a_program_is_run_only_when_google_auth_s_setting_allows_it(
    cloud: CloudEmulation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = executable_account_file(cloud, tmp_path)
    monkeypatch.delenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", raising=False)
    before = cloud.requests["/google/sts"]
    with pytest.raises(TokenRequestError) as refused:
        fetched(source_for({"GoogleCredentials": str(path)}))
    assert str(refused.value) == (
        f"GoogleCredentials: {path} gets its subject token by running a program "
        "(credential_source.executable), and google-auth runs one only when Orthanc's "
        "environment has GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1: google-auth's own "
        "safety setting, so that a credentials file cannot run a program unless the machine's "
        "administrator allows it. Set GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1 in Orthanc's "
        "environment (systemd: an Environment= line in a drop-in for orthanc.service; Docker: "
        "-e) and restart Orthanc"
    )
    assert "refused" not in str(refused.value)
    assert not refused.value.transient
    assert cloud.requests["/google/sts"] == before

    monkeypatch.setenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
    fetched(source_for({"GoogleCredentials": str(path)}))
    assert cloud.requests["/google/sts"] == before + 1
