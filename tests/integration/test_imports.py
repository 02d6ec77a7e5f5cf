"""What a token request loads into Orthanc's interpreter: a client_secret server never
pays for private_key_jwt's cryptography, nor for Authlib's web framework integrations
and OAuth 1 client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from local_rig.client_keys import write_client_key
from local_rig.cloud_emulations import CloudEmulation

from ..helpers import CLIENT_SECRET, make_jwt

# Loads the configuration from argv[1] and fetches one token per server, as the plugin
# does, then prints every module loaded.
FETCH_AND_LIST_MODULES = """
import json, sys
import orthanc_dicomweb_oauth.dicomweb.service, orthanc_dicomweb_oauth.orthanc.rest_api
from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.tokens.server_tokens import token_source

loaded = load_configuration(json.loads(open(sys.argv[1]).read()))
assert not loaded.problems, loaded.problems
for settings in loaded.servers.values():
    token_source(settings.tokens).fetch()
print(json.dumps(sorted(sys.modules)))
"""
NOT_FOR_CLIENT_SECRETS = (
    "cryptography",
    "joserfc",
    "authlib.integrations",
    "authlib.oauth1",
    # Google's file parser (pydantic models): only for a server with GoogleCredentials.
    "orthanc_dicomweb_oauth.sources.google.credentials_file",
)
GOOGLE = ("google",)
AZURE = ("azure", "msal")


def _modules_after_a_token(server: dict[str, Any], tmp_path: Path) -> set[str]:
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps({"DicomWebOAuth": {"Servers": {"s": server}}}))
    result = subprocess.run(
        [sys.executable, "-c", FETCH_AND_LIST_MODULES, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "DICOM_SECRET_VALUE": CLIENT_SECRET},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def _loaded(modules: set[str], package: str) -> bool:
    return any(name == package or name.startswith(f"{package}.") for name in modules)


@pytest.fixture
def token_answers(token_server: HTTPServer) -> HTTPServer:
    token_server.expect_request("/token", method="POST").respond_with_json(
        {"access_token": make_jwt(), "token_type": "Bearer", "expires_in": 600}
    )
    return token_server


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_client_secret_loads_no_cryptography(
    token_answers: HTTPServer, tmp_path: Path, method: str
) -> None:
    modules = _modules_after_a_token(
        {
            "Url": token_answers.url_for("/dicom-web/"),
            "TokenEndpoint": token_answers.url_for("/token"),
            "ClientId": "orthanc",
            "ClientSecretEnv": "DICOM_SECRET_VALUE",
            "ClientAuthMethod": method,
        },
        tmp_path,
    )
    assert _loaded(modules, "authlib.oauth2.client")
    unwanted = (*NOT_FOR_CLIENT_SECRETS, *GOOGLE, *AZURE, "requests")
    assert [package for package in unwanted if _loaded(modules, package)] == []


def test_a_private_key_loads_the_signer(token_answers: HTTPServer, tmp_path: Path) -> None:
    key = write_client_key(tmp_path)
    modules = _modules_after_a_token(
        {
            "Url": token_answers.url_for("/dicom-web/"),
            "TokenEndpoint": token_answers.url_for("/token"),
            "ClientId": "orthanc",
            "ClientAuthMethod": "private_key_jwt",
            "ClientPrivateKeyFile": str(key.private_key),
        },
        tmp_path,
    )
    assert _loaded(modules, "cryptography") and _loaded(modules, "joserfc")
    assert not _loaded(modules, "authlib.integrations") and not _loaded(modules, "authlib.oauth1")


def test_each_cloud_loads_its_own_library_only(cloud: CloudEmulation, tmp_path: Path) -> None:
    google = _modules_after_a_token(
        {"Url": "https://d/", "GoogleCredentials": str(cloud.service_account_file())}, tmp_path
    )
    assert _loaded(google, "google.auth")
    # requests comes with google-auth's metadata server client, not with a key file.
    assert [package for package in (*AZURE, "requests") if _loaded(google, package)] == []
    azure = _modules_after_a_token(
        {
            "Url": "https://d/",
            "AzureManagedIdentity": True,
            "Scope": "https://dicom.healthcareapis.azure.com/.default",
        },
        tmp_path,
    )
    assert _loaded(azure, "azure.identity")
    assert [package for package in GOOGLE if _loaded(azure, package)] == []
