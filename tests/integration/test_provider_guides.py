"""Each provider guide's configuration, run through `check` against the emulation of that
provider's token endpoint, or of the cloud's identity endpoint, prints the first line the
guide shows."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from _pytest.mark import ParameterSet
from pytest_httpserver import HTTPServer

from local_rig.cloud_emulations import (
    ASSERTION_CLIENT_ID,
    AZURE_TENANT,
    CloudEmulation,
    azure_like_token,
    google_like_token,
)
from local_rig.provider_emulations import CLIENT_SECRET, EMULATIONS, client_key
from orthanc_dicomweb_oauth.cli.main import run_check

from ..helpers import make_jwt

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "providers"
EXAMPLE = re.compile(
    r"<!-- emulation: (\S+) -->\s*```json\n(.*?)```.*?```\n\$ orthanc-dicomweb-oauth check "
    r"orthanc.json\n([^\n]+)\n",
    re.DOTALL,
)


def _examples(pattern: re.Pattern[str] = EXAMPLE) -> list[ParameterSet]:
    """(what the example runs against, its configuration, the first line it shows), for
    every example of every guide that ``pattern`` finds."""
    return [
        pytest.param(against, config, first_line, id=f"{guide.name}:{against}")
        for guide in sorted(GUIDES.glob("*.md"))
        for against, config, first_line in pattern.findall(guide.read_text())
    ]


def _without_numbers(line: str) -> str:
    # A JWT's exp may cut the lifetime by a second.
    return re.sub(r"\d+ s", "N s", line)


@pytest.mark.parametrize(("path", "config", "first_line"), _examples())
def test_guide_example_against_its_emulation(
    token_server: HTTPServer, tmp_path: Path, path: str, config: str, first_line: str
) -> None:
    token_server.expect_request(path, method="POST").respond_with_handler(EMULATIONS[path])
    document = json.loads(config)
    for server in document["DicomWebOAuth"]["Servers"].values():
        server["TokenEndpoint"] = token_server.url_for(path)
        secret_file = tmp_path / "secret"
        secret_file.write_text(CLIENT_SECRET + "\n")
        if "ClientSecretFile" in server:
            server["ClientSecretFile"] = str(secret_file)
        # The key pair and certificate the emulated provider has registered.
        if "ClientPrivateKeyFile" in server:
            server["ClientPrivateKeyFile"] = str(client_key().private_key)
        if "ClientCertificateFile" in server:
            server["ClientCertificateFile"] = str(client_key().certificate)
    config_file = tmp_path / "orthanc.json"
    config_file.write_text(json.dumps(document))
    variables = re.findall(r'"ClientSecretEnv":\s*"([^"]+)"', config)
    out = io.StringIO()
    code = run_check(
        config_file,
        None,
        probe=False,
        as_json=False,
        environ=dict.fromkeys(variables, CLIENT_SECRET),
        out=out,
    )
    assert code == 0, out.getvalue()
    key_lines = client_key().private_key_lines()
    assert not any(line in out.getvalue() for line in key_lines)
    assert _without_numbers(out.getvalue().splitlines()[0]) == _without_numbers(first_line)


def test_every_guide_has_an_emulated_example() -> None:
    covered = {param.values[0] for param in _examples()}
    assert covered == set(EMULATIONS)


CLOUD_EXAMPLE = re.compile(
    r"<!-- cloud emulation: (\S+) -->\s*```json\n(.*?)```.*?```\n\$ orthanc-dicomweb-oauth "
    r"check orthanc.json\n([^\n]+)\n",
    re.DOTALL,
)
# The tokens each emulated endpoint hands out in the guides: of the shape its cloud issues.
CLOUD_TOKENS = {
    "google-metadata": google_like_token,
    "google-key": google_like_token,
    "google-federation": google_like_token,
    "azure-imds": azure_like_token,
    "azure-app-service": azure_like_token,
    "assertion-file": lambda: azure_like_token(ASSERTION_CLIENT_ID),
}


def run_cloud_example(
    cloud: CloudEmulation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str, config: str
) -> str:
    """``check``'s output for a guide's example against the emulation of its cloud."""
    monkeypatch.setattr(cloud, "issue_token", CLOUD_TOKENS[kind])
    document = json.loads(config)
    (server,) = document["DicomWebOAuth"]["Servers"].values()
    environ: dict[str, str] = {}
    if kind == "google-key":
        server["GoogleCredentials"] = str(cloud.service_account_file())
    if kind == "google-federation":
        subject_token = make_jwt(sub="system:serviceaccount:pacs:orthanc")
        server["GoogleCredentials"] = str(cloud.external_account_file(subject_token))
    if kind == "azure-app-service":
        for name, value in cloud.app_service_environment().items():
            monkeypatch.setenv(name, value)
    if kind == "assertion-file":
        server["TokenEndpoint"] = cloud.assertion_token_endpoint
        assertion = cloud.assertion_file(projected_service_account_token())
        environ = {
            "AZURE_FEDERATED_TOKEN_FILE": str(assertion),
            "AZURE_CLIENT_ID": ASSERTION_CLIENT_ID,
            "AZURE_TENANT_ID": AZURE_TENANT,
        }
    config_file = tmp_path / "orthanc.json"
    config_file.write_text(json.dumps(document))
    out = io.StringIO()
    code = run_check(config_file, None, probe=False, as_json=False, environ=environ, out=out)
    assert code == 0, out.getvalue()
    assert not any(line in out.getvalue() for line in cloud.private_key_pem.splitlines()[1:-1])
    return out.getvalue()


def projected_service_account_token() -> str:
    """A JWT of the shape AKS projects for workload identity (signed with a throw-away
    key: only its claims are read)."""
    return make_jwt(
        lifetime=3600,
        iss=f"https://oidc.prod-aks.azure.com/{AZURE_TENANT}/",
        sub="system:serviceaccount:pacs:orthanc",
        aud="api://AzureADTokenExchange",
    )


@pytest.mark.parametrize(("kind", "config", "first_line"), _examples(CLOUD_EXAMPLE))
def test_cloud_guide_example_against_its_emulation(
    cloud: CloudEmulation,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kind: str,
    config: str,
    first_line: str,
) -> None:
    output = run_cloud_example(cloud, monkeypatch, tmp_path, kind, config)
    assert _without_numbers(output.splitlines()[0]) == _without_numbers(first_line)


def test_every_cloud_kind_has_a_guide_example() -> None:
    assert {param.values[0] for param in _examples(CLOUD_EXAMPLE)} == set(CLOUD_TOKENS)
