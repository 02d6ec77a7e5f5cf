"""`orthanc-dicomweb-oauth check`, run as a real process against a loopback token
endpoint and DICOMweb server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from local_rig.client_keys import write_client_key
from local_rig.cloud_emulations import METADATA_ACCOUNT, CloudEmulation
from orthanc_dicomweb_oauth.cli.probe import Provider, provider_of

from ..helpers import CLIENT_SECRET, make_jwt

JWT = make_jwt(lifetime=3600, roles=["DICOM Data Owner"], scp="dicom.read")


def run_check(
    config: dict[str, Any] | str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "orthanc.json"
    path.write_text(config if isinstance(config, str) else json.dumps(config))
    environ = {**os.environ, "DICOM_SECRET_VALUE": CLIENT_SECRET, **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "orthanc_dicomweb_oauth", "check", str(path), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    for secret in (CLIENT_SECRET, JWT):
        assert secret not in result.stdout
        assert secret not in result.stderr
    return result


def oauth_config(server: HTTPServer, **servers: dict[str, Any]) -> dict[str, Any]:
    base = {
        "Url": server.url_for("/dicom-web/"),
        "TokenEndpoint": server.url_for("/token"),
        "ClientId": "orthanc",
        "ClientSecretEnv": "DICOM_SECRET_VALUE",
    }
    return {
        "DicomWebOAuth": {"Servers": {name: {**base, **extra} for name, extra in servers.items()}}
    }


def issue_jwt(server: HTTPServer) -> None:
    def handler(request: Request) -> Response:
        if request.form.get("client_secret") != CLIENT_SECRET:
            body = {"error": "invalid_client", "error_description": "wrong secret"}
            return Response(json.dumps(body), status=401, content_type="application/json")
        token = {"access_token": JWT, "token_type": "Bearer", "expires_in": 600}
        return Response(json.dumps(token), content_type="application/json")

    server.expect_request("/token", method="POST").respond_with_handler(handler)


def test_ok_in_text(token_server: HTTPServer, tmp_path: Path) -> None:
    issue_jwt(token_server)
    result = run_check(oauth_config(token_server, azure={}), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "azure: OK token valid for 600 s (lifetime from expires_in, client_secret_post)"
    )
    assert "  iss: https://issuer.test" in lines
    assert '  roles: ["DICOM Data Owner"]' in lines
    assert "  scp: dicom.read" in lines
    assert any(line.startswith("  exp: ") and "T" in line for line in lines)


def test_json_and_exit_codes(token_server: HTTPServer, tmp_path: Path) -> None:
    issue_jwt(token_server)
    config = oauth_config(token_server, good={}, refused={"ClientSecretEnv": "WRONG_SECRET_VALUE"})
    result = run_check(config, tmp_path, "--json", env={"WRONG_SECRET_VALUE": "not-it"})
    assert result.returncode == 1
    document = json.loads(result.stdout)
    good, refused = document["servers"]["good"], document["servers"]["refused"]
    assert (good["ok"], good["expires_in"], good["error"]) == (True, 600, None)
    assert good["claims"]["aud"] == "dicom"
    assert (refused["ok"], refused["expires_in"]) == (False, None)
    assert refused["error"] == "invalid_client: wrong secret (HTTP 401)"


def test_invalid_configuration_exits_2_and_checks_the_rest(
    token_server: HTTPServer, tmp_path: Path
) -> None:
    issue_jwt(token_server)
    config = oauth_config(token_server, good={}, broken={"ClientSecretEnv": "UNSET_VARIABLE"})
    result = run_check(config, tmp_path)
    assert result.returncode == 2
    assert "good: OK token valid for 600 s" in result.stdout
    assert (
        "broken: INVALID DicomWebOAuth.Servers.broken.ClientSecretEnv: environment variable "
        "UNSET_VARIABLE is not set"
    ) in result.stdout


def test_server_filter(token_server: HTTPServer, tmp_path: Path) -> None:
    issue_jwt(token_server)
    config = oauth_config(token_server, one={}, two={"ClientSecretEnv": "UNSET_VARIABLE"})
    only_one = run_check(config, tmp_path, "--server", "one")
    assert only_one.returncode == 0  # the invalid server two is not checked
    assert only_one.stdout.startswith("one: OK")
    assert "two" not in only_one.stdout
    assert run_check(config, tmp_path).returncode == 2
    unknown = run_check(config, tmp_path, "--server", "three")
    assert unknown.returncode == 2
    assert unknown.stdout.strip() == (
        "ERROR no server named three in DicomWebOAuth.Servers; its servers: one, two"
    )


def test_unreadable_configuration(tmp_path: Path) -> None:
    result = run_check('{"DicomWebOAuth": ', tmp_path, "--json")
    assert result.returncode == 2
    assert "invalid JSON at line 1" in json.loads(result.stdout)["errors"][0]


def test_variables_are_substituted_like_orthanc(token_server: HTTPServer, tmp_path: Path) -> None:
    issue_jwt(token_server)
    config = json.dumps(oauth_config(token_server, s={})).replace('"orthanc"', '"${CLIENT_NAME}"')
    result = run_check(config, tmp_path, env={"CLIENT_NAME": "orthanc"})
    assert result.returncode == 0, result.stdout


def _dicomweb(status: int, challenge: str | None = None) -> Any:
    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {JWT}":
            return Response("", status=401)
        headers = {"WWW-Authenticate": challenge} if challenge else {}
        return Response("[]", status=status, headers=headers, content_type="application/dicom+json")

    return handler


def test_probe_ok(token_server: HTTPServer, tmp_path: Path) -> None:
    issue_jwt(token_server)
    token_server.expect_request("/dicom-web/studies").respond_with_handler(_dicomweb(200))
    result = run_check(oauth_config(token_server, s={}), tmp_path, "--probe")
    assert result.returncode == 0, result.stdout
    assert "probe: GET http://127.0.0.1:" in result.stdout
    assert "HTTP 200, the token is accepted" in result.stdout


def test_probe_explains_401_and_403(token_server: HTTPServer, tmp_path: Path) -> None:
    issue_jwt(token_server)
    token_server.expect_request("/dicom-web/studies").respond_with_handler(
        _dicomweb(401, 'Bearer error="invalid_token", error_description="audience"')
    )
    result = run_check(oauth_config(token_server, s={}), tmp_path, "--probe", "--json")
    assert result.returncode == 1
    probe = json.loads(result.stdout)["servers"]["s"]["probe"]
    assert probe["http_status"] == 401
    assert "refused the token" in probe["detail"]
    assert 'error="invalid_token"' in probe["detail"]

    token_server.clear()
    issue_jwt(token_server)
    token_server.expect_request("/dicom-web/studies").respond_with_handler(_dicomweb(403))
    result = run_check(oauth_config(token_server, s={}), tmp_path, "--probe")
    assert result.returncode == 1
    assert "HTTP 403, the token is valid but not allowed" in result.stdout


def test_private_key_jwt_shows_the_key_id_and_thumbprint_never_the_key(
    token_server: HTTPServer, tmp_path: Path
) -> None:
    key = write_client_key(tmp_path, "client")
    token = {"access_token": JWT, "token_type": "Bearer", "expires_in": 600}
    token_server.expect_request("/token", method="POST").respond_with_json(token)
    config = oauth_config(
        token_server,
        signed={
            "ClientAuthMethod": "private_key_jwt",
            "ClientPrivateKeyEnv": "CLIENT_KEY",
            "ClientKeyId": "orthanc-1",
            "ClientCertificateFile": str(key.certificate),
        },
    )
    server = config["DicomWebOAuth"]["Servers"]["signed"]
    del server["ClientSecretEnv"]
    env = {"CLIENT_KEY": key.private_key_pem()}
    text = run_check(config, tmp_path, env=env)
    assert text.returncode == 0, text.stdout
    lines = text.stdout.splitlines()
    assert (
        lines[0] == "signed: OK token valid for 600 s (lifetime from expires_in, private_key_jwt)"
    )
    assert lines[1] == "  client key: RS256, key id orthanc-1"
    assert re.fullmatch(
        r"  certificate: thumbprint [0-9A-F]{40}, valid until \S+, sent as x5t#S256, x5t",
        lines[2],
    )
    as_json = run_check(config, tmp_path, "--json", env=env)
    described = json.loads(as_json.stdout)["servers"]["signed"]["credential"]
    assert described["Kind"] == "PrivateKey"
    assert described["KeyId"] == "orthanc-1"
    assert described["CertificateThumbprint"] in lines[2]
    key_lines = key.private_key_lines()
    for output in (text.stdout, text.stderr, as_json.stdout, as_json.stderr):
        assert not any(line in output for line in key_lines)


def test_entry_script_prints_the_installed_script_s_path() -> None:
    """Through ``python -m``, as the console script runs it. The e2e installations ask
    the command of each real installation for the path they give Orthanc."""
    result = subprocess.run(
        [sys.executable, "-m", "orthanc_dicomweb_oauth", "entry-script"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path = Path(result.stdout.strip())
    assert path.is_absolute() and path.is_file()
    assert path.parts[-3:] == (
        "orthanc_dicomweb_oauth",
        "orthanc_entry",
        "dicomweb_oauth_plugin.py",
    )
    assert "register()" in path.read_text()


def test_cloud_identities_show_who_they_are(cloud: CloudEmulation, tmp_path: Path) -> None:
    """Against the loopback emulations the test process pins the libraries to."""
    url = "https://healthcare.example.com/dicomWeb/"
    key = cloud.service_account_file()
    config = {
        "DicomWebOAuth": {
            "Servers": {
                "google": {"Url": url, "GoogleCredentials": str(key)},
                "azure": {
                    "Url": url,
                    "AzureManagedIdentity": True,
                    "Scope": "https://dicom.healthcareapis.azure.com/.default",
                },
            }
        }
    }
    result = run_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(
        r"azure: OK token valid for (29\d|300) s \(lifetime from expires_in, "
        r"AzureManagedIdentity\)",
        lines[0],
    )
    assert lines[1] == "  Azure managed identity (IMDS): system-assigned"
    google = lines.index(next(line for line in lines if line.startswith("google: ")))
    assert re.fullmatch(
        r"google: OK token valid for (29\d|300) s \(lifetime from expires_in, "
        r"GoogleCredentials\)",
        lines[google],
    )
    assert lines[google + 1] == (
        "  Google service_account: dicomweb@orthanc-project.iam.gserviceaccount.com"
    )
    assert not any(line in result.stdout for line in cloud.private_key_pem.splitlines()[1:-1])
    as_json = json.loads(run_check(config, tmp_path, "--json").stdout)["servers"]
    assert as_json["google"]["credential"]["Type"] == "service_account"
    assert as_json["azure"]["client_auth_method"] == "AzureManagedIdentity"


def test_keys_of_two_ways_to_tokens_are_refused(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "authorized_user", "refresh_token": "r"}))
    config = {
        "DicomWebOAuth": {
            "Servers": {
                "both": {
                    "Url": "https://d/",
                    "GoogleCredentials": str(key),
                    "TokenEndpoint": "https://t/token",
                },
                "person": {"Url": "https://d/", "GoogleCredentials": str(key)},
            }
        }
    }
    result = run_check(config, tmp_path)
    assert result.returncode == 2
    assert result.stdout.splitlines()[0] == (
        "both: INVALID DicomWebOAuth.Servers.both.TokenEndpoint: is not used with "
        "GoogleCredentials: remove it"
    )
    # The file is the server's to read, again until it can be used: not a configuration error.
    assert result.stdout.splitlines()[1].startswith(
        f"person: FAIL GoogleCredentials: {key} holds a person's credentials (type authorized_user"
    )


# Runs the command line in a Python where the cloud extras are not installed.
WITHOUT_EXTRAS = """
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("google", "azure"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NotInstalled())
from orthanc_dicomweb_oauth.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_missing_extra_refuses_its_server_only(token_server: HTTPServer, tmp_path: Path) -> None:
    issue_jwt(token_server)
    config = oauth_config(token_server, good={})
    config["DicomWebOAuth"]["Servers"].update(
        {
            "azure": {
                "Url": "https://dicom.example.com/v2/",
                "AzureManagedIdentity": True,
                "Scope": "https://dicom.healthcareapis.azure.com/.default",
            },
            "google": {"Url": "https://dicom.example.com/", "GoogleCredentials": "default"},
        }
    )
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, "check", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "DICOM_SECRET_VALUE": CLIENT_SECRET},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr == ""
    by_server = {
        line.partition(":")[0]: line for line in result.stdout.splitlines() if line[:1] != " "
    }
    assert by_server["azure"] == (
        "azure: INVALID DicomWebOAuth.Servers.azure.AzureManagedIdentity: needs the azure "
        "extra, not installed in the Python that runs this: install "
        "orthanc-dicomweb-oauth[azure] (pip install 'orthanc-dicomweb-oauth[azure]', or the "
        "wheel with [azure])"
    )
    assert by_server["google"].startswith(
        "google: INVALID DicomWebOAuth.Servers.google.GoogleCredentials: needs the google extra"
    )
    assert by_server["good"].startswith("good: OK token valid for 600 s")


def test_the_warnings_of_the_plugin_s_start_are_printed(
    token_server: HTTPServer, tmp_path: Path
) -> None:
    issue_jwt(token_server)
    config = oauth_config(token_server, pacs={"TokenEndpointVerifyPeer": False})
    config["HttpVerbose"] = True
    result = run_check(config, tmp_path, "--json")
    warnings = json.loads(result.stdout)["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("DicomWebOAuth.Servers.pacs: the TLS certificate of its token")
    assert "TokenEndpointVerifyPeer is false" in warnings[0]
    assert warnings[1].startswith("HttpVerbose is true: Orthanc's HTTP client logs")


def test_a_server_name_differing_by_case_is_pointed_out(
    token_server: HTTPServer, tmp_path: Path
) -> None:
    """The official image PascalCases server names: ``..._SERVERS__PACS__...`` is Pacs."""
    issue_jwt(token_server)
    config = oauth_config(token_server, Pacs={}, **{"pacs-eu": {}})
    expected = (
        "no server named pacs in DicomWebOAuth.Servers; its servers: Pacs, pacs-eu (names are "
        "case-sensitive: did you mean Pacs?)"
    )
    text = run_check(config, tmp_path, "--server", "pacs")
    assert (text.returncode, text.stdout) == (2, f"ERROR {expected}\n")
    as_json = run_check(config, tmp_path, "--server", "pacs", "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["errors"] == [expected]


def test_a_misspelt_section_is_said_even_with_server(tmp_path: Path) -> None:
    """Not "no server named Pacs": the section's own error says why there is none."""
    config = {"DicomWebOauth": {"Servers": {"Pacs": {"Url": "https://d/"}}}}
    missing = (
        'DicomWebOAuth: section is missing; the configuration has "DicomWebOauth": the section '
        "is spelled DicomWebOAuth (as a Docker variable: ORTHANC__DICOM_WEB_O_AUTH__...)"
    )
    result = run_check(config, tmp_path, "--server", "Pacs")
    assert (result.returncode, result.stdout) == (2, f"INVALID {missing}\n")
    as_json = run_check(config, tmp_path, "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["errors"] == [missing]


def test_values_that_look_right_but_are_not_are_invalid(tmp_path: Path) -> None:
    servers = {
        "azure": {
            "Url": "https://d/",
            "AzureManagedIdentity": "true",
            "Scope": "https://dicom.healthcareapis.azure.com/.default",
        },
        "google": {"Url": "https://d/", "GoogleCredentials": "metadata"},
    }
    config = {"DicomWebOAuth": {"Servers": servers}}
    azure = (
        'DicomWebOAuth.Servers.azure.AzureManagedIdentity: is the text "true", not a boolean: '
        "write true without quotes for the system-assigned identity; a user-assigned identity "
        "is named by its client id, a GUID"
    )
    google = (
        'DicomWebOAuth.Servers.google.GoogleCredentials: is "metadata", not a file\'s path: '
        'write "default" for the metadata server of Compute Engine, GKE or Cloud Run'
    )
    text = run_check(config, tmp_path)
    assert text.returncode == 2
    lines = text.stdout.splitlines()
    assert lines[0] == f"azure: INVALID {azure}"
    assert lines[1].startswith(f"google: INVALID {google}")
    document = json.loads(run_check(config, tmp_path, "--json").stdout)["servers"]
    assert document["azure"]["configuration_errors"] == [azure]
    assert document["google"]["configuration_errors"][0].startswith(google)


def test_a_google_key_merged_into_the_root_is_a_warning_without_the_key(
    cloud: CloudEmulation, tmp_path: Path
) -> None:
    """As the official image merges /run/secrets/key.json into the configuration."""
    key = cloud.service_account_file()
    config = {
        **cloud.service_account_info(),
        "DicomWebOAuth": {
            "Servers": {"google": {"Url": "https://d/", "GoogleCredentials": str(key)}}
        },
    }
    warning = (
        "the configuration's root has a Google service account key (private_key, client_email "
        "of dicomweb@orthanc-project.iam.gserviceaccount.com): the official Docker image "
        "merges every /run/secrets/*.json file into Orthanc's configuration"
    )
    text = run_check(config, tmp_path)
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.startswith(f"WARNING {warning}")
    as_json = run_check(config, tmp_path, "--json")
    (said,) = json.loads(as_json.stdout)["warnings"]
    assert said.startswith(warning)
    key_lines = cloud.private_key_pem.splitlines()[1:-1]
    for output in (text.stdout, text.stderr, as_json.stdout, as_json.stderr):
        assert "PRIVATE KEY" not in output
        assert not any(line in output for line in key_lines)


# The scopes the metadata server lists for a VM created with the default access scopes.
COMPUTE_DEFAULT_SCOPES = [
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring.write",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
]


@pytest.fixture
def default_scopes(cloud: CloudEmulation, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulated metadata server lists the default scopes of a Compute Engine VM."""
    monkeypatch.setattr(cloud, "metadata_scopes", COMPUTE_DEFAULT_SCOPES)


def metadata_server_config(token_server: HTTPServer) -> dict[str, Any]:
    server = {"Url": token_server.url_for("/dicom-web/"), "GoogleCredentials": "default"}
    return {"DicomWebOAuth": {"Servers": {"google": server}}}


def test_the_metadata_server_s_scopes_are_shown(
    token_server: HTTPServer, cloud: CloudEmulation, tmp_path: Path
) -> None:
    result = run_check(metadata_server_config(token_server), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[1:3] == [
        f"  Google metadata server: {METADATA_ACCOUNT}",
        "  access scopes (from the metadata server): "
        "https://www.googleapis.com/auth/cloud-platform",
    ]
    assert "WARNING" not in result.stdout


def test_scopes_without_cloud_platform_are_a_warning(
    token_server: HTTPServer, cloud: CloudEmulation, default_scopes: None, tmp_path: Path
) -> None:
    config = metadata_server_config(token_server)
    result = run_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[2] == (
        f"  access scopes (from the metadata server): {', '.join(COMPUTE_DEFAULT_SCOPES)}"
    )
    warning = (
        "the access scopes of the VM's service account lack "
        "https://www.googleapis.com/auth/cloud-platform: on Compute Engine its tokens carry "
        "only these scopes, and the Cloud Healthcare API answers them HTTP 403 (the default "
        "scopes of a VM are not enough). Stop the VM, run gcloud compute instances "
        "set-service-account VM --service-account SA --scopes cloud-platform, and start it "
        "again"
    )
    assert f"  WARNING {warning}" in lines
    # The scope asked for is still the configuration's: only what is shown is the VM's.
    token_request = cloud.last["/computeMetadata/v1/instance/service-accounts/default/token"]
    assert token_request["scopes"] == "https://www.googleapis.com/auth/cloud-platform"
    document = json.loads(run_check(config, tmp_path, "--json").stdout)["servers"]["google"]
    assert document["credential"]["Scopes"] == COMPUTE_DEFAULT_SCOPES
    assert document["warnings"] == [warning]


GOOGLE_403 = {
    "error": {
        "code": 403,
        "message": "Permission 'healthcare.dicomStores.dicomWebRead' denied on resource",
        "status": "PERMISSION_DENIED",
    }
}


def test_a_403_from_google_advises_a_healthcare_role_and_shows_the_answer(
    token_server: HTTPServer, cloud: CloudEmulation, tmp_path: Path
) -> None:
    seen: list[str] = []

    def refuse(request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        seen.append(token)
        body = {**GOOGLE_403, "echo": token}  # a server that echoes the token: redacted
        return Response(json.dumps(body), status=403, content_type="application/json")

    token_server.expect_request("/dicom-web/studies").respond_with_handler(refuse)
    config = metadata_server_config(token_server)
    text = run_check(config, tmp_path, "--probe")
    assert text.returncode == 1
    assert (
        "HTTP 403, the token is valid but not allowed to read studies. Grant the service "
        f"account {METADATA_ACCOUNT} a Cloud Healthcare role on the DICOM store or its "
        "dataset: roles/healthcare.dicomEditor (roles/healthcare.dicomViewer to read only). "
        "With the metadata server of a Compute Engine VM, the VM's access scopes must also "
        "include cloud-platform."
    ) in text.stdout
    assert "Azure" not in text.stdout
    answered = next(line for line in text.stdout.splitlines() if "the server answered" in line)
    assert "Permission 'healthcare.dicomStores.dicomWebRead' denied" in answered
    assert '"echo": "[redacted]"' in answered
    as_json = run_check(config, tmp_path, "--probe", "--json")
    probe = json.loads(as_json.stdout)["servers"]["google"]["probe"]
    assert probe["http_status"] == 403
    assert "roles/healthcare.dicomEditor" in probe["detail"]
    assert probe["body"].startswith('{"error": {"code": 403, "message": "Permission')
    assert len(seen) == 2
    for token in seen:
        assert token not in text.stdout
        assert token not in as_json.stdout


def test_a_403_advice_follows_the_kind_of_credential(
    token_server: HTTPServer, tmp_path: Path
) -> None:
    issue_jwt(token_server)
    token_server.expect_request("/dicom-web/studies").respond_with_handler(_dicomweb(403))
    result = run_check(oauth_config(token_server, s={}), tmp_path, "--probe", "--json")
    probe = json.loads(result.stdout)["servers"]["s"]["probe"]
    assert probe["detail"].endswith(
        "Give the client the permission to read studies at the DICOMweb server (its role, "
        "group or scope there), and compare the token's claims (scope, roles), when check "
        "shows them, with what the server requires."
    )
    assert probe["body"] == "[]"


@pytest.mark.parametrize(
    ("kind", "url", "token_endpoint", "provider"),
    [
        ("GoogleCredentials", "https://d.example.com/", None, Provider.GOOGLE),
        ("ClientSecret", "https://healthcare.googleapis.com/v1/projects/p", None, Provider.GOOGLE),
        ("AzureManagedIdentity", "https://d.example.com/", None, Provider.AZURE),
        (
            "ClientSecret",
            "https://ws-dicom.dicom.azurehealthcareapis.com/v2/",
            None,
            Provider.AZURE,
        ),
        (
            "PrivateKey",
            "https://d.example.com/",
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            Provider.AZURE,
        ),
        ("ClientSecret", "https://d.example.com/", "https://idp.example.com/token", Provider.OTHER),
    ],
)
def test_whose_advice_a_refusal_gets(
    kind: str, url: str, token_endpoint: str | None, provider: Provider
) -> None:
    assert provider_of(kind, url, token_endpoint) is provider
