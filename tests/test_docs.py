"""The documentation stays true to the code: the configuration reference is generated
from the schema, and every example configuration in the docs loads without error."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from local_rig.client_keys import write_client_key
from local_rig.image_way import IMAGE_ENTRY_SCRIPT, image_environment
from orthanc_dicomweb_oauth.config.loader import load_configuration

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)


def test_configuration_reference_is_generated_from_the_schema() -> None:
    spec = importlib.util.spec_from_file_location(
        "generate", ROOT / "scripts" / "generate_configuration_reference.py"
    )
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    expected = generator.render()
    assert (ROOT / "docs" / "configuration.md").read_text() == expected, "run `make docs`"


def _examples() -> list[Any]:
    examples = []
    for document in DOCUMENTS:
        for number, block in enumerate(JSON_BLOCK.findall(document.read_text())):
            if '"DicomWebOAuth"' in block:
                examples.append(pytest.param(block, id=f"{document.relative_to(ROOT)}#{number}"))
    return examples


@pytest.mark.parametrize("block", _examples())
def test_example_configurations_load(block: str, tmp_path: Path) -> None:
    # Secret files named by the examples are stood in for by files of the test's own.
    for number, path in enumerate(re.findall(r'"ClientSecretFile":\s*"([^"]+)"', block)):
        stand_in = tmp_path / f"secret-{number}"
        stand_in.write_text("example-secret\n")
        block = block.replace(f'"{path}"', f'"{stand_in}"')
    # So are a private key and its certificate.
    key_files = write_client_key(tmp_path, "example")
    for key, stand_in in (
        ("ClientPrivateKeyFile", key_files.private_key),
        ("ClientCertificateFile", key_files.certificate),
    ):
        block = re.sub(rf'"{key}":\s*"[^"]+"', f'"{key}": "{stand_in}"', block)
    # A Google key file and a federated assertion file.
    google_key = tmp_path / "google-key.json"
    google_key.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "example@p.iam.gserviceaccount.com",
                "private_key": "stand-in",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    block = re.sub(
        r'"GoogleCredentials":\s*"/[^"]+"', f'"GoogleCredentials": "{google_key}"', block
    )
    assertion = tmp_path / "assertion"
    assertion.write_text("header.payload.signature")
    block = re.sub(
        r'"ClientAssertionFile":\s*"[^"]+"', f'"ClientAssertionFile": "{assertion}"', block
    )
    document = json.loads(block if block.lstrip().startswith("{") else "{" + block + "}")
    environ = dict.fromkeys(re.findall(r'"ClientSecretEnv":\s*"([^"]+)"', block), "example-secret")
    for variable in re.findall(r'"ClientPrivateKeyEnv":\s*"([^"]+)"', block):
        environ[variable] = key_files.private_key_pem()
    loaded = load_configuration(document, environ=environ)
    assert loaded.problems == ()
    assert loaded.servers


def test_the_compose_file_sets_what_the_image_way_test_sets() -> None:
    """docs/running.md's compose file: each variable is one tests/e2e/test_image_way.py
    gives Orthanc, the entry script where the image's pip put it there."""
    running = (ROOT / "docs" / "running.md").read_text()
    (compose,) = re.findall(r"```yaml\n(services:.*?)```", running, re.DOTALL)
    documented = dict(re.findall(r"^\s+(ORTHANC__[A-Z_]+): (.+)$", compose, re.MULTILINE))
    tested = image_environment(IMAGE_ENTRY_SCRIPT, "https://token", "https://dicomweb")
    assert len(documented) >= 7
    assert set(documented) <= set(tested)
    assert documented["ORTHANC__PYTHON_SCRIPT"] == IMAGE_ENTRY_SCRIPT
