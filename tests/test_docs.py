"""The documentation stays true to the code: the configuration reference is generated
from the schema, and every example configuration in the docs loads without error."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_rig.client_keys import write_client_key
from local_rig.image_configuration import IMAGE_TAG, ImageRefusedError, generate_configuration
from local_rig.image_way import SECRET_STAND_INS, documented_compose
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


def test_the_compose_file_starts_orthanc_in_the_image() -> None:
    """docs/running.md's compose file through the image's configuration step, as
    tests/e2e/test_image_way.py runs it: the step accepts it, and the plugin its section."""
    compose = documented_compose()
    assert set(compose.secrets) == set(SECRET_STAND_INS)
    generated = generate_configuration(compose.environment, SECRET_STAND_INS)
    assert {"DicomWeb", "Python"} <= {plugin.section for plugin in generated.enabled_plugins}
    assert generated.configuration["PythonScript"] == compose.environment["ORTHANC__PYTHON_SCRIPT"]
    loaded = load_configuration(generated.configuration, environ=compose.environment)
    assert loaded.problems == ()
    assert set(loaded.servers) == {"Pacs"}


def test_the_image_refuses_the_compose_file_without_its_user() -> None:
    compose = documented_compose()
    environment = dict(compose.environment)
    del environment["ORTHANC__REGISTERED_USERS_SECRET"]
    with pytest.raises(ImageRefusedError, match="no user is declared"):
        generate_configuration(environment, SECRET_STAND_INS)


def test_every_dockerfile_builds_on_the_image_the_tests_reproduce() -> None:
    dockerfiles = [
        block
        for document in DOCUMENTS
        for block in re.findall(r"```dockerfile\n(.*?)```", document.read_text(), re.DOTALL)
    ]
    assert dockerfiles
    for block in dockerfiles:
        assert block.startswith(f"FROM orthancteam/orthanc:{IMAGE_TAG}\n")


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(block, id=f"{document.name}-{number}")
        for document in DOCUMENTS
        for number, block in enumerate(
            re.findall(r"```yaml\n(.*?)```", document.read_text(), re.DOTALL)
        )
    ],
)
def test_every_yaml_example_parses(block: str) -> None:
    assert isinstance(yaml.safe_load(block), dict)


def _compose_fragments() -> list[Any]:
    """The docs' YAML blocks that give a container's ``environment`` alone."""
    return [
        pytest.param(document["environment"], id=f"{path.name}-{number}")
        for path in DOCUMENTS
        for number, block in enumerate(
            re.findall(r"```yaml\n(.*?)```", path.read_text(), re.DOTALL)
        )
        if set(document := yaml.safe_load(block)) == {"environment"}
    ]


@pytest.mark.parametrize("environment", _compose_fragments())
def test_every_compose_fragment_goes_through_the_image_s_step(environment: dict[str, Any]) -> None:
    """As the compose file does in tests/e2e/test_image_way.py: through the image's
    configuration step (with a user, which the fragments leave to the whole file), then
    the plugin's loader."""
    variables = {name: str(value) for name, value in environment.items()}
    generated = generate_configuration({**variables, "ORTHANC_PASSWORD": "stand-in"})
    loaded = load_configuration(generated.configuration, environ=variables)
    assert loaded.problems == ()
    assert loaded.servers
