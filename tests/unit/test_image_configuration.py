"""The official image's configuration step as local_rig/image_configuration.py
reproduces it, and what it makes of this plugin's keys."""

from __future__ import annotations

import re

import pytest

from local_rig.image_configuration import (
    ImageRefusedError,
    generate_configuration,
    key_of,
    substitute_variables,
)
from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.config.schema import OAuthSection, ServerSection


def _variable_words(key: str) -> str:
    """A key as the image's users write it: its words in capitals, ``_`` between them."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).upper()


def test_every_key_of_the_plugin_can_be_spelled_as_a_variable() -> None:
    keys = [
        field.alias
        for model in (ServerSection, OAuthSection)
        for field in model.model_fields.values()
        if field.alias is not None
    ]
    assert len(keys) > 40
    assert {key: key_of(_variable_words(key)) for key in keys} == {key: key for key in keys}
    assert key_of("DICOM_WEB_O_AUTH") == "DicomWebOAuth"
    assert _variable_words("TokenEndpointCACertificates") == "TOKEN_ENDPOINT_C_A_CERTIFICATES"


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
