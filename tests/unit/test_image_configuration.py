"""The official image's configuration step as local_rig/image_configuration.py
reproduces it, what it makes of this plugin's keys, and the plugin's hints for the names
it makes of keys spelled otherwise."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from local_rig.image_configuration import (
    ImageRefusedError,
    generate_configuration,
    key_of,
    substitute_variables,
)
from orthanc_dicomweb_oauth.config.image_environment import variable_words
from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.name_hints import unknown_servers_message
from orthanc_dicomweb_oauth.config.schema import OAuthSection, ServerSection
from orthanc_dicomweb_oauth.dicomweb.service import OAuthService

from ..helpers import FakeDicomWeb, FakeJobs


def _generated(environ: Mapping[str, str]) -> dict[str, Any]:
    """The image's configuration, with a user so that the step accepts it."""
    return generate_configuration({**environ, "ORTHANC_PASSWORD": "p"}).configuration


def test_every_key_of_the_plugin_can_be_spelled_as_a_variable() -> None:
    keys = [
        field.alias
        for model in (ServerSection, OAuthSection)
        for field in model.model_fields.values()
        if field.alias is not None
    ]
    assert len(keys) > 40
    assert {key: key_of(variable_words(key)) for key in keys} == {key: key for key in keys}
    assert key_of("DICOM_WEB_O_AUTH") == "DicomWebOAuth"
    assert variable_words("TokenEndpointCACertificates") == "TOKEN_ENDPOINT_C_A_CERTIFICATES"


def test_the_rule_turns_variables_into_a_configuration() -> None:
    servers = "ORTHANC__DICOM_WEB_O_AUTH__SERVERS"
    generated = generate_configuration(
        {
            "ORTHANC_PASSWORD": "p",
            f"{servers}__MY_PACS__CLIENT_ID": "1234",
            f"{servers}__MY_PACS__CLIENT_SECRET_FILE": "/run/secrets/pacs",
            f"{servers}__MY_PACS__URL": "https://pacs.example.com/dicom-web/",
            f"{servers}__MY_PACS__TOKEN_ENDPOINT": "https://idp.example.com/token",
            f"{servers}__MY_PACS__CHUNKED_TRANSFERS": "false",
            servers: '{"pacs-eu": {"TokenRequestParameters": {"audience": "x"}}}',
            # Names a secret file: not a setting.
            f"{servers}__MY_PACS__CLIENT_SECRET": "pacs-secret-file",
            "UNRELATED": "1",
        }
    )
    assert generated.configuration["DicomWebOAuth"] == {
        "Servers": {
            "MyPacs": {
                "ClientId": 1234,
                "ClientSecretFile": "/run/secrets/pacs",
                "Url": "https://pacs.example.com/dicom-web/",
                "TokenEndpoint": "https://idp.example.com/token",
                "ChunkedTransfers": False,
            },
            "pacs-eu": {"TokenRequestParameters": {"audience": "x"}},
        }
    }


def test_a_client_id_the_image_made_a_number_is_its_digits() -> None:
    loaded = load_configuration(
        {
            "DicomWebOAuth": {
                "Servers": {
                    "MyPacs": {
                        "Url": "https://pacs.example.com/dicom-web/",
                        "TokenEndpoint": "https://idp.example.com/token",
                        "ClientId": 1234,
                        "ClientSecret": "s3cret",
                        "ClientAuthMethod": "client_secret_basic",
                    }
                }
            }
        },
        environ={},
    )
    assert loaded.problems == ()
    assert loaded.servers["MyPacs"].tokens.client_id == "1234"  # type: ignore[union-attr]


def test_secret_files_set_the_variables_they_stand_for() -> None:
    server = "ORTHANC__DICOM_WEB_O_AUTH__SERVERS__PACS"
    generated = generate_configuration(
        {
            "ORTHANC__REGISTERED_USERS_SECRET": "users",
            # A variable named ..._CLIENT_SECRET names a file for the key `Client`.
            f"{server}__CLIENT_SECRET": "pacs-secret",
            f"{server}__CLIENT_SECRET_SECRET": "pacs-secret",
        },
        {
            "users": '{"admin": "pw"}\n',
            "pacs-secret": "s3cret\n",
            f"{server}__TIMEOUT": "120",
            "unrelated": "ignored",
        },
    )
    configuration = generated.configuration
    assert configuration["RegisteredUsers"] == {"admin": "pw"}
    assert configuration["DicomWebOAuth"]["Servers"]["Pacs"] == {
        "ClientSecret": "s3cret",
        "Timeout": 120,
    }


def test_json_secrets_and_files_merge_into_the_root_with_variables_substituted() -> None:
    google_key = '{"type": "service_account", "private_key": "k", "client_email": "e"}'
    generated = generate_configuration(
        {"ORTHANC_PASSWORD": "p", "STORE": "/srv/orthanc"},
        {"google-key.json": google_key},
        ['{\n  // a comment\n  "StorageDirectory": "${STORE}", "Name": "a // b" /* c */\n}'],
    )
    configuration = generated.configuration
    assert configuration["StorageDirectory"] == "/srv/orthanc"
    assert configuration["Name"] == "a // b"
    assert configuration["private_key"] == "k"
    assert configuration["client_email"] == "e"


def test_defaults_never_overwrite_and_enable_plugins() -> None:
    generated = generate_configuration(
        {
            "ORTHANC_PASSWORD": "p",
            "ORTHANC__REMOTE_ACCESS_ALLOWED": "false",
            "ORTHANC__DICOM_WEB__ENABLE_WADO": "true",
            "ORTHANC_EXPLORER_2_ENABLED": "false",
        }
    )
    configuration = generated.configuration
    assert configuration["RemoteAccessAllowed"] is False
    assert configuration["AuthenticationEnabled"] is True
    assert configuration["DicomWeb"] == {"EnableWado": True, "Enable": True}
    assert configuration["RegisteredUsers"] == {"orthanc": "p"}
    assert [plugin.section for plugin in generated.enabled_plugins] == ["DicomWeb"]
    python = generate_configuration({"ORTHANC_PASSWORD": "p", "ORTHANC__PYTHON_SCRIPT": "/x.py"})
    assert "Python" in {plugin.section for plugin in python.enabled_plugins}


def test_no_user_with_authentication_and_remote_access_is_refused() -> None:
    with pytest.raises(ImageRefusedError, match="no user is declared"):
        generate_configuration({"ORTHANC__DICOM_WEB__ENABLE": "true"})
    for allowed in (
        {"ORTHANC__AUTHENTICATION_ENABLED": "false"},
        {"ORTHANC__REMOTE_ACCESS_ALLOWED": "false"},
        {"ORTHANC__REGISTERED_USERS": '{"a": "b"}'},
    ):
        assert generate_configuration(allowed).configuration


def test_variables_are_substituted_as_envsubst_does() -> None:
    environ = {"A": "1", "EMPTY": ""}
    assert substitute_variables("$A ${A} $B|${B}|", environ) == "1 1 ||"
    assert substitute_variables("${EMPTY:-d} ${EMPTY-d} ${B-d} ${A:-d}", environ) == "d  d 1"
    assert substitute_variables("\\$A", environ) == "\\$A"


PACS = {
    "ORTHANC__DICOM_WEB_O_AUTH__SERVERS__PACS__URL": "https://pacs.example.com/dicom-web/",
    "ORTHANC__DICOM_WEB_O_AUTH__SERVERS__PACS__TOKEN_ENDPOINT": "https://idp.example.com/token",
    "ORTHANC__DICOM_WEB_O_AUTH__SERVERS__PACS__CLIENT_ID": "orthanc",
    "ORTHANC__DICOM_WEB_O_AUTH__SERVERS__PACS__CLIENT_SECRET_FILE": "/run/secrets/pacs",
}


@pytest.mark.parametrize(
    ("variable", "section"),
    [
        ("ORTHANC__DICOM_WEB_OAUTH", "DicomWebOauth"),
        ("ORTHANC__DICOMWEBOAUTH", "Dicomweboauth"),
    ],
)
def test_the_section_spelled_by_another_variable_is_named(variable: str, section: str) -> None:
    environ = {name.replace("ORTHANC__DICOM_WEB_O_AUTH", variable): v for name, v in PACS.items()}
    configuration = _generated(environ)
    assert section in configuration and "DicomWebOAuth" not in configuration
    problems = [str(problem) for problem in load_configuration(configuration, {}).problems]
    assert problems == [
        f'DicomWebOAuth: section is missing; the configuration has "{section}": the section '
        "is spelled DicomWebOAuth (as a Docker variable: ORTHANC__DICOM_WEB_O_AUTH__...)"
    ]


def test_a_section_missing_from_a_configuration_without_a_near_name_is_said_plainly() -> None:
    problems = load_configuration({"DicomWeb": {}, "Name": "orthanc"}, {}).problems
    assert [str(problem) for problem in problems] == ["DicomWebOAuth: section is missing"]


def test_server_names_the_image_pascal_cases_are_pointed_out() -> None:
    configuration = _generated(PACS)
    assert list(configuration["DicomWebOAuth"]["Servers"]) == ["Pacs"]
    assert unknown_servers_message(["pacs"], ["pacs-eu", "Pacs"]) == (
        "no server named pacs in DicomWebOAuth.Servers; its servers: Pacs, pacs-eu (names are "
        "case-sensitive: did you mean Pacs?)"
    )
    assert unknown_servers_message(["my-pacs"], ["MyPacs"]) == (
        "no server named my-pacs in DicomWebOAuth.Servers; its servers: MyPacs (did you mean "
        "MyPacs?)"
    )
    assert unknown_servers_message(["other"], ["Pacs"]) == (
        "no server named other in DicomWebOAuth.Servers; its servers: Pacs"
    )
    assert unknown_servers_message(["pacs"], []) == (
        "no server named pacs in DicomWebOAuth.Servers: it has none"
    )


PRIVATE_KEY_LINES = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "Zm9yZ2VkLWtleS1ib2R5"]
KEY_FILE = {
    "type": "service_account",
    "project_id": "orthanc-project",
    "private_key_id": "0123456789abcdef0123456789abcdef01234567",
    "private_key": "-----BEGIN PRIVATE KEY-----\n"
    + "\n".join(PRIVATE_KEY_LINES)
    + "\n-----END PRIVATE KEY-----\n",
    "client_email": "dicomweb@orthanc-project.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}
MERGED_KEY_WARNING = (
    "the configuration's root has a Google service account key (private_key, client_email of "
    "dicomweb@orthanc-project.iam.gserviceaccount.com): the official Docker image merges "
    "every /run/secrets/*.json file into Orthanc's configuration, the private key included, "
    "and prints it when it starts with VERBOSE_STARTUP. Mount the key without the .json "
    "suffix or outside /run/secrets, and name its path in GoogleCredentials"
)


def assert_no_part_of_the_key(text: str) -> None:
    assert "PRIVATE KEY" not in text
    for line in PRIVATE_KEY_LINES:
        assert line not in text
        assert line[:16] not in text


@pytest.mark.parametrize(
    "section",
    [
        {"Servers": {"s": {"Url": "https://d/", "GoogleCredentials": "/run/secrets/key"}}},
        None,  # the warning does not wait for a section
    ],
)
def test_a_google_key_merged_into_the_root_is_said_without_the_key(
    section: dict[str, Any] | None,
) -> None:
    configuration: dict[str, Any] = {**KEY_FILE, "Name": "orthanc"}
    if section is not None:
        configuration["DicomWebOAuth"] = section
    loaded = load_configuration(configuration, {})
    assert loaded.warnings == (MERGED_KEY_WARNING,)
    assert_no_part_of_the_key(repr(loaded))


def test_the_plugin_logs_the_merged_key_warning_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    section = {"Servers": {"s": {"Url": "https://d/", "GoogleCredentials": "/nonexistent/key"}}}
    loaded = load_configuration({**KEY_FILE, "DicomWebOAuth": section}, {})
    service = OAuthService(loaded, FakeDicomWeb(), FakeJobs(), publish_metrics=lambda _: None)
    with caplog.at_level(logging.WARNING, logger="orthanc_dicomweb_oauth"):
        service.start()
        assert service.stop()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert MERGED_KEY_WARNING in logged
    assert_no_part_of_the_key(logged)


@pytest.mark.parametrize(
    "root",
    [
        {"private_key": "x"},  # no account: another plugin's key, perhaps
        {"client_email": "a@b.iam.gserviceaccount.com", "type": "service_account"},
        {"private_key": {"nested": True}, "client_email": "a@b"},
    ],
)
def test_no_merged_key_warning_without_a_key(root: dict[str, Any]) -> None:
    section = {"Servers": {"s": {"Url": "https://d/", "GoogleCredentials": "default"}}}
    assert load_configuration({**root, "DicomWebOAuth": section}, {}).warnings == ()


def test_the_merged_key_warning_keeps_the_key_out_of_a_forged_email() -> None:
    forged = {**KEY_FILE, "client_email": json.dumps(KEY_FILE["private_key"])}
    (warning,) = load_configuration(forged, {}).warnings
    assert_no_part_of_the_key(warning)
