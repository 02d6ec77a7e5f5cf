"""The DicomWebOAuth section: valid configurations, and every error naming its key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.settings import LoadedConfiguration
from orthanc_dicomweb_oauth.sources.settings import ClientCredentialsSettings

from ..helpers import CLIENT_SECRET

ENDPOINT = "https://login.example.com/tenant/oauth2/v2.0/token"
URL = "https://dicom.example.com/v2/"


def section(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "Url": URL,
        "TokenEndpoint": ENDPOINT,
        "ClientId": "client",
        "ClientSecretEnv": "DICOM_SECRET_VALUE",
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def load(
    servers: dict[str, Any], environ: dict[str, str] | None = None, **orthanc: Any
) -> LoadedConfiguration:
    return load_configuration(
        {"DicomWebOAuth": {"Servers": servers}, **orthanc},
        environ={"DICOM_SECRET_VALUE": CLIENT_SECRET} if environ is None else environ,
    )


def client_credentials(loaded: LoadedConfiguration, server: str) -> ClientCredentialsSettings:
    tokens = loaded.servers[server].tokens
    assert isinstance(tokens, ClientCredentialsSettings)
    return tokens


def secret_of(loaded: LoadedConfiguration, server: str) -> str:
    """The secret the server's credential sends in a client_secret_post request."""
    credential = client_credentials(loaded, server).credential
    assert credential.auth_method == "client_secret_post"
    _, body = credential.authenticate("client", "https://login.example.com/token", {}, "")
    secret: str = parse_qs(body)["client_secret"][0]
    return secret


def credential_error(loaded: LoadedConfiguration, server: str = "s") -> str | None:
    """Why the server's credential cannot be used now, as its status says it."""
    settings = loaded.servers[server].tokens
    assert isinstance(settings, ClientCredentialsSettings)
    return settings.credential.description().error


def only_error(loaded: LoadedConfiguration) -> str:
    assert len(loaded.problems) == 1, [str(error) for error in loaded.problems]
    message = str(loaded.problems[0])
    assert CLIENT_SECRET not in message
    return message


def test_a_complete_server() -> None:
    loaded = load({"azure": section(Scope="https://dicom.healthcareapis.azure.com/.default")})
    assert loaded.problems == ()
    server = loaded.servers["azure"]
    endpoint = client_credentials(loaded, "azure")
    http = endpoint.http
    assert secret_of(loaded, "azure") == CLIENT_SECRET
    assert endpoint.credential.auth_method == "client_secret_post"
    assert endpoint.scope == "https://dicom.healthcareapis.azure.com/.default"
    assert (http.verify_peer, http.ca_certificates, http.proxy) == (True, None, None)
    assert (http.connect_timeout, http.read_timeout) == (10, 30)
    assert server.dicomweb_definition == {"Url": URL, "HttpHeaders": {}}
    assert CLIENT_SECRET not in repr(server)


def test_secret_from_a_file_without_its_trailing_newline(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(CLIENT_SECRET + "\n")
    loaded = load({"s": section(ClientSecretEnv=None, ClientSecretFile=str(secret_file))})
    assert secret_of(loaded, "s") == CLIENT_SECRET


def test_literal_secret() -> None:
    loaded = load({"s": section(ClientSecretEnv=None, ClientSecret=CLIENT_SECRET)})
    assert secret_of(loaded, "s") == CLIENT_SECRET


def test_dicomweb_servers_entry_is_the_base() -> None:
    loaded = load(
        {"pacs": section(Url=None, HttpHeaders={"X-Site": "north"}, Timeout=600)},
        DicomWeb={
            "Servers": {
                "pacs": {
                    "Url": URL,
                    "HasDelete": True,
                    "ChunkedTransfers": False,
                    "HttpHeaders": {"X-Tenant": "t1", "Authorization": "Bearer pasted-by-hand"},
                    "Timeout": 30,
                }
            }
        },
    )
    assert loaded.problems == ()
    assert loaded.servers["pacs"].dicomweb_definition == {
        "Url": URL,
        "HasDelete": True,
        "ChunkedTransfers": False,
        "Timeout": 600,
        "HttpHeaders": {"X-Tenant": "t1", "X-Site": "north"},
    }


def test_dicomweb_servers_entry_as_a_list() -> None:
    loaded = load({"pacs": section(Url=None)}, DicomWeb={"Servers": {"pacs": [URL]}})
    assert loaded.servers["pacs"].dicomweb_definition["Url"] == URL


def test_dicomweb_options_are_passed_through() -> None:
    loaded = load(
        {
            "pacs": section(
                ChunkedTransfers=True,
                HasDelete=False,
                CertificateFile="/etc/orthanc/client.pem",
                CertificateKeyFile="/etc/orthanc/client.key",
                CertificateKeyPassword="key-password",
                Pkcs11=False,
            )
        }
    )
    definition = loaded.servers["pacs"].dicomweb_definition
    assert definition["CertificateKeyPassword"] == "key-password"
    assert definition["ChunkedTransfers"] is True
    assert "key-password" not in repr(loaded.servers["pacs"])


def test_orthanc_network_settings_are_the_defaults() -> None:
    loaded = load(
        {
            "a": section(),
            "b": section(
                TokenEndpointVerifyPeer=True,
                TokenRequestTimeout=5,
                TokenEndpointProxy="",
                TokenEndpointCACertificates="/ca",
            ),
        },
        HttpsCACertificates="/etc/ssl/certs/ca-certificates.crt",
        HttpsVerifyPeers=False,
        HttpProxy="http://proxy.example:3128",
        HttpTimeout=12,
    )
    a = client_credentials(loaded, "a").http
    assert (a.ca_certificates, a.verify_peer, a.proxy, a.read_timeout) == (
        "/etc/ssl/certs/ca-certificates.crt",
        False,
        "http://proxy.example:3128",
        12,
    )
    b = client_credentials(loaded, "b").http
    assert (b.ca_certificates, b.verify_peer, b.proxy, b.read_timeout) == ("/ca", True, None, 5)


def test_loopback_http_is_allowed() -> None:
    for host in ("127.0.0.1", "localhost", "[::1]", "127.8.9.10"):
        loaded = load(
            {
                "s": section(
                    TokenEndpoint=f"http://{host}:8080/token", Url=f"http://{host}:8042/dicom-web/"
                )
            }
        )
        assert loaded.problems == (), host


def test_one_broken_server_leaves_the_others() -> None:
    loaded = load({"good": section(), "bad": section(ClientId=None)})
    assert set(loaded.servers) == {"good"}
    assert only_error(loaded) == "DicomWebOAuth.Servers.bad.ClientId: is required"
    assert loaded.problems[0].server == "bad"


@pytest.mark.parametrize(
    ("servers", "orthanc", "environ", "expected"),
    [
        (
            {"s": section(TokenEndpoint=None)},
            {},
            None,
            "DicomWebOAuth.Servers.s: exactly one of TokenEndpoint or Issuer is required (or "
            "GoogleCredentials or AzureManagedIdentity instead)",
        ),
        (
            {"s": section(ClientId="")},
            {},
            None,
            "DicomWebOAuth.Servers.s.ClientId: String should have at least 1 character",
        ),
        (
            {"s": section(ClientId=True)},
            {},
            None,
            "DicomWebOAuth.Servers.s.ClientId: Input should be a valid string",
        ),
        (
            {"s": section(Timeout="30")},
            {},
            None,
            "DicomWebOAuth.Servers.s.Timeout: Input should be a valid integer",
        ),
        (
            {"s": section(TokenRequestTimeout=0)},
            {},
            None,
            "DicomWebOAuth.Servers.s.TokenRequestTimeout: Input should be greater than 0",
        ),
        (
            {"s": section(RefreshMarginRatio=0.9)},
            {},
            None,
            "DicomWebOAuth.Servers.s.RefreshMarginRatio: Input should be less than or equal to 0.5",
        ),
        (
            {"s": section(ClientAuthMethod="tls_client_auth")},
            {},
            None,
            "DicomWebOAuth.Servers.s.ClientAuthMethod: Input should be 'client_secret_post', "
            "'client_secret_basic' or 'private_key_jwt'",
        ),
        (
            {"s": section(TokenRequestParameters={"audience": 1})},
            {},
            None,
            "DicomWebOAuth.Servers.s.TokenRequestParameters.audience: Input should be a valid "
            "string",
        ),
        (
            {"s": section(HttpHeaders=["X: y"])},
            {},
            None,
            "DicomWebOAuth.Servers.s.HttpHeaders: Input should be a valid dictionary",
        ),
        (
            {"s": section(ClientSecret=CLIENT_SECRET)},
            {},
            None,
            "DicomWebOAuth.Servers.s: exactly one of ClientSecret, ClientSecretEnv or "
            "ClientSecretFile is required (found ClientSecret, ClientSecretEnv)",
        ),
        (
            {"s": section(ClientSecretEnv=None)},
            {},
            None,
            "DicomWebOAuth.Servers.s: exactly one of ClientSecret, ClientSecretEnv or "
            "ClientSecretFile is required",
        ),
        (
            {"s": section(ClientSecretEnv=None, ClientSecret=12)},
            {},
            None,
            "DicomWebOAuth.Servers.s.ClientSecret: Input should be a valid string",
        ),
        (
            {"s": section(ClientSecretEnv=None, ClientSecret="  ")},
            {},
            None,
            "DicomWebOAuth.Servers.s.ClientSecret: is empty",
        ),
        (
            {"s": section()},
            {},
            {},
            "DicomWebOAuth.Servers.s.ClientSecretEnv: environment variable DICOM_SECRET_VALUE "
            "is not set",
        ),
        (
            {"s": section()},
            {},
            {"DICOM_SECRET_VALUE": ""},
            "DicomWebOAuth.Servers.s.ClientSecretEnv: environment variable DICOM_SECRET_VALUE "
            "is empty",
        ),
        (
            {"s": section(TokenEndpoint="http://login.example.com/token")},
            {},
            None,
            "DicomWebOAuth.Servers.s.TokenEndpoint: http:// to login.example.com would send "
            "credentials in clear text: use https://, or set AllowInsecureHttp to true",
        ),
        (
            {"s": section(TokenEndpoint="login.example.com/token")},
            {},
            None,
            "DicomWebOAuth.Servers.s.TokenEndpoint: must be an absolute http:// or https:// URL",
        ),
        (
            {"s": section(TokenEndpoint="https://user:pw@login.example.com/token")},
            {},
            None,
            "DicomWebOAuth.Servers.s.TokenEndpoint: must not carry credentials (user:password@)",
        ),
        (
            {"s": section(Url="http://pacs.example.com/dicom-web/")},
            {},
            None,
            "DicomWebOAuth.Servers.s.Url: http:// to pacs.example.com would send credentials in "
            "clear text: use https://, or set AllowInsecureHttp to true",
        ),
        (
            {"s": section(Url=None)},
            {},
            None,
            "DicomWebOAuth.Servers.s.Url: missing: set Url here or define DicomWeb.Servers.s",
        ),
        (
            {"s": section(Url=None)},
            {"DicomWeb": {"Servers": {"s": {"Url": "ftp://x/"}}}},
            None,
            "DicomWeb.Servers.s.Url: must be an absolute http:// or https:// URL",
        ),
        (
            {"s": section(Url=None)},
            {"DicomWeb": {"Servers": {"s": [URL, "user", "pw"]}}},
            None,
            "DicomWeb.Servers.s.Username: this server is authorized by DicomWebOAuth with a "
            "bearer token: remove Username and Password",
        ),
        (
            {"s": section(Url=None)},
            {"DicomWeb": {"Servers": {"s": 42}}},
            None,
            "DicomWeb.Servers.s: must be an object or [Url, ...]",
        ),
        (
            {"s": section(HttpHeaders={"authorization": "Bearer x"})},
            {},
            None,
            "DicomWebOAuth.Servers.s.HttpHeaders.Authorization: reserved for the bearer token "
            "managed by DicomWebOAuth: remove it",
        ),
        (
            {"s": section(clientId="x")},
            {},
            None,
            "DicomWebOAuth.Servers.s.clientId: unknown key; did you mean ClientId? (keys are "
            "case-sensitive)",
        ),
        (
            {"s": section(ClientID="x")},
            {},
            None,
            "DicomWebOAuth.Servers.s.ClientID: unknown key; did you mean ClientId? (keys are "
            "case-sensitive)",
        ),
        (
            {"s": section(CLIENT_ID="x")},
            {},
            None,
            "DicomWebOAuth.Servers.s.CLIENT_ID: unknown key; did you mean ClientId? (keys are "
            "case-sensitive, their words joined without _)",
        ),
        (
            {"s": section(token_endpoint="https://x/")},
            {},
            None,
            "DicomWebOAuth.Servers.s.token_endpoint: unknown key; did you mean TokenEndpoint? "
            "(keys are case-sensitive, their words joined without _)",
        ),
        (
            {"s": section(TokenEndpoit="https://x/")},
            {},
            None,
            "DicomWebOAuth.Servers.s.TokenEndpoit: unknown key; did you mean TokenEndpoint?",
        ),
        (
            {"s": section(ClientSecretEnvironment="X")},
            {},
            None,
            "DicomWebOAuth.Servers.s.ClientSecretEnvironment: unknown key; did you mean "
            "ClientSecretEnv?",
        ),
        (
            {"s": section(Frobnicate=True)},
            {},
            None,
            "DicomWebOAuth.Servers.s.Frobnicate: unknown key",
        ),
        (
            {"s": "https://dicom.example.com/"},
            {},
            None,
            "DicomWebOAuth.Servers.s: must be a JSON object",
        ),
        ({"": section()}, {}, None, "DicomWebOAuth.Servers.: a server name cannot be empty"),
    ],
)
def test_errors_name_the_key(
    servers: dict[str, Any],
    orthanc: dict[str, Any],
    environ: dict[str, str] | None,
    expected: str,
) -> None:
    assert only_error(load(servers, environ, **orthanc)) == expected


@pytest.mark.parametrize(
    ("orthanc", "expected"),
    [
        ({}, "DicomWebOAuth: section is missing"),
        ({"DicomWebOAuth": []}, "DicomWebOAuth: must be a JSON object"),
        ({"DicomWebOAuth": {}}, "DicomWebOAuth.Servers: is required"),
        ({"DicomWebOAuth": {"Servers": {}}}, "DicomWebOAuth.Servers: no server is configured"),
        (
            {"DicomWebOAuth": {"Servers": []}},
            "DicomWebOAuth.Servers: Input should be a valid dictionary",
        ),
        (
            {"DicomWebOAuth": {"Server": {}}},
            "DicomWebOAuth.Server: unknown key; did you mean Servers?",
        ),
    ],
)
def test_section_errors(orthanc: dict[str, Any], expected: str) -> None:
    errors = [str(error) for error in load_configuration(orthanc, environ={}).problems]
    assert expected in errors


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/nonexistent/secret", "file /nonexistent/secret does not exist"),
        ("./nonexistent", "file ./nonexistent does not exist"),
        # The secret itself, pasted where its file's path goes, is not repeated.
        (
            "Xk9~q2.pasted-secret/value",
            "the file named there (26 characters, not shown: a path starts with /, ./ or ../, "
            "and this value may be the credential itself) does not exist",
        ),
        ("/", "/ is a folder, not a file"),
        (
            "/dev/zero",
            "/dev/zero is not a regular file (a character device): a credential is read "
            "from a file",
        ),
    ],
)
def test_a_secret_file_not_usable_at_start_is_said_by_the_server(path: str, expected: str) -> None:
    """Not a configuration error: the file is looked at again (a mount may come late)."""
    loaded = load({"s": section(ClientSecretEnv=None, ClientSecretFile=path)})
    assert loaded.problems == ()
    assert credential_error(loaded) == f"ClientSecretFile: {expected}"


def test_unreadable_secret_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("x")
    secret_file.chmod(0)
    script = (
        "from orthanc_dicomweb_oauth.config.loader import load_configuration\n"
        "server = {'Url': 'https://d/', 'TokenEndpoint': 'https://t/', 'ClientId': 'c',\n"
        f"          'ClientSecretFile': {str(secret_file)!r}}}\n"
        "loaded = load_configuration({'DicomWebOAuth': {'Servers': {'s': server}}}, {})\n"
        "print(loaded.servers['s'].tokens.credential.description().error)\n"
    )
    # Root reads any file: drop to an unprivileged user to see the real refusal.
    as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    command = [*(as_user if os.geteuid() == 0 else []), sys.executable, "-c", script]
    tmp_path.chmod(0o755)
    result = subprocess.run(command, capture_output=True, text=True, check=True, cwd="/")
    assert result.stdout.strip() == (
        f"ClientSecretFile: file {secret_file} is not readable (permission denied)"
    )


def test_empty_secret_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("\n")
    loaded = load({"s": section(ClientSecretEnv=None, ClientSecretFile=str(secret_file))})
    assert credential_error(loaded) == f"ClientSecretFile: file {secret_file} is empty"


def test_servers_in_database_is_refused_unless_allowed() -> None:
    servers = {"s": section()}
    refused = load(servers, DicomWeb={"ServersInDatabase": True})
    assert refused.servers == {}
    assert only_error(refused).startswith(
        "DicomWeb.ServersInDatabase: is true: the DICOMweb plugin would store every bearer "
        "token in plain text in Orthanc's database, so no server is managed."
    )
    allowed = load_configuration(
        {
            "DicomWebOAuth": {"Servers": servers, "AllowServersInDatabase": True},
            "DicomWeb": {"ServersInDatabase": True},
        },
        environ={"DICOM_SECRET_VALUE": CLIENT_SECRET},
    )
    assert allowed.problems == ()
    assert set(allowed.servers) == {"s"}


def test_http_verbose_gives_a_warning() -> None:
    loaded = load({"s": section()}, HttpVerbose=True)
    assert loaded.problems == ()
    assert loaded.warnings == (
        "HttpVerbose is true: Orthanc's HTTP client logs the Authorization headers it sends, "
        "bearer tokens included",
    )
    assert load({"s": section()}).warnings == ()


def test_a_secret_variable_the_docker_image_would_print_gives_a_warning() -> None:
    servers = {
        "s": section(ClientSecretEnv="PACS_CLIENT_SECRET"),
        "absent": section(ClientSecretEnv="NOT_SET_SECRET"),
    }
    loaded = load(servers, environ={"PACS_CLIENT_SECRET": CLIENT_SECRET})
    assert loaded.warnings == (
        "DicomWebOAuth.Servers.s.ClientSecretEnv: the environment variable PACS_CLIENT_SECRET "
        "ends in _SECRET: the orthancteam/orthanc image takes its value as the name of a file "
        "in /run/secrets and prints it when it starts with VERBOSE_STARTUP. Rename the "
        "variable, or give the secret as a file with ClientSecretFile",
    )
    assert CLIENT_SECRET not in "".join(loaded.warnings)
    assert load({"s": section()}).warnings == ()


def test_check_interval() -> None:
    loaded = load_configuration(
        {"DicomWebOAuth": {"Servers": {"s": section()}, "CheckInterval": 5}},
        environ={"DICOM_SECRET_VALUE": CLIENT_SECRET},
    )
    assert loaded.check_interval == 5
    assert load({"s": section()}).check_interval == 30


def test_resubmit_refused_jobs() -> None:
    assert load({"s": section()}).resubmit_refused_jobs is True
    loaded = load_configuration(
        {"DicomWebOAuth": {"Servers": {"s": section()}, "ResubmitRefusedJobs": False}},
        environ={"DICOM_SECRET_VALUE": CLIENT_SECRET},
    )
    assert loaded.problems == ()
    assert loaded.resubmit_refused_jobs is False
    wrong = load_configuration(
        {"DicomWebOAuth": {"Servers": {"s": section()}, "ResubmitRefusedJobs": "sometimes"}},
        environ={"DICOM_SECRET_VALUE": CLIENT_SECRET},
    )
    assert [problem.key for problem in wrong.problems] == ["DicomWebOAuth.ResubmitRefusedJobs"]


def test_issuer_instead_of_token_endpoint() -> None:
    loaded = load({"s": section(TokenEndpoint=None, Issuer="https://id.example.com/realm")})
    assert loaded.problems == ()
    endpoint = client_credentials(loaded, "s")
    assert (endpoint.url, endpoint.issuer) == (None, "https://id.example.com/realm")
    both = load({"s": section(Issuer="https://id.example.com/realm")})
    assert only_error(both) == (
        "DicomWebOAuth.Servers.s: exactly one of TokenEndpoint or Issuer is required (or "
        "GoogleCredentials or AzureManagedIdentity instead)"
    )
    neither = load({"s": section(TokenEndpoint=None)})
    assert only_error(neither) == (
        "DicomWebOAuth.Servers.s: exactly one of TokenEndpoint or Issuer is required (or "
        "GoogleCredentials or AzureManagedIdentity instead)"
    )
    insecure = load({"s": section(TokenEndpoint=None, Issuer="http://id.example.com/")})
    assert only_error(insecure).startswith(
        "DicomWebOAuth.Servers.s.Issuer: http:// to id.example.com would send credentials"
    )
