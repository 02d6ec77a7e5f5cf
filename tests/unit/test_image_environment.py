"""The official image's environment rule as local_rig/image_way.py writes it, and what it
makes of this plugin's keys."""

from __future__ import annotations

import re

from local_rig.image_way import configuration_from_environment, key_of
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
    configuration = configuration_from_environment(
        {
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
    assert configuration == {
        "DicomWebOAuth": {
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
