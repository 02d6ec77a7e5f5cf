"""Each provider guide's configuration, run through `check` against the emulation of that
provider's token endpoint, prints the first line the guide shows."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from _pytest.mark import ParameterSet
from pytest_httpserver import HTTPServer

from local_rig.provider_emulations import CLIENT_SECRET, EMULATIONS, client_key
from orthanc_dicomweb_oauth.cli.main import run_check

GUIDES = Path(__file__).resolve().parents[2] / "docs" / "providers"
EXAMPLE = re.compile(
    r"<!-- emulation: (\S+) -->\s*```json\n(.*?)```.*?```\n\$ orthanc-dicomweb-oauth check "
    r"orthanc.json\n([^\n]+)\n",
    re.DOTALL,
)


def _examples() -> list[ParameterSet]:
    found = []
    for guide in sorted(GUIDES.glob("*.md")):
        for path, config, first_line in EXAMPLE.findall(guide.read_text()):
            found.append(pytest.param(path, config, first_line, id=f"{guide.name}{path}"))
    return found


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
