from __future__ import annotations

from pathlib import Path

import pytest

from orthanc_dicomweb_oauth.config.orthanc_file import read_orthanc_configuration, unset_variables
from orthanc_dicomweb_oauth.errors import OrthancConfigFileError


def test_comments_and_variables(tmp_path: Path) -> None:
    config = tmp_path / "orthanc.json"
    config.write_text(
        """{
          // Orthanc's own configuration files carry comments
          "Name": "a // not a comment",   /* block
          comment */ "Url": "https://${HOST}/dicom-web/",
          "Quote": "escaped \\" // still a string",
          "Missing": "${NOT_SET}",
          "Defaulted": "${ALSO_NOT_SET:-fallback}",
          "Set": "${HOST:-unused}"
        }"""
    )
    assert read_orthanc_configuration(config, {"HOST": "pacs.example"}) == {
        "Name": "a // not a comment",
        "Url": "https://pacs.example/dicom-web/",
        "Quote": 'escaped " // still a string',
        "Missing": "",
        "Defaulted": "fallback",
        "Set": "pacs.example",
    }
    assert unset_variables(config, {"HOST": "x"}) == ["NOT_SET"]


def test_a_folder_of_files_is_merged(tmp_path: Path) -> None:
    (tmp_path / "orthanc.json").write_text('{"Name": "A"}')
    (tmp_path / "oauth.json").write_text('{"DicomWebOAuth": {"Servers": {}}}')
    (tmp_path / "notes.txt").write_text("not read")
    assert read_orthanc_configuration(tmp_path, {}) == {
        "Name": "A",
        "DicomWebOAuth": {"Servers": {}},
    }


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.json": '{"Name": "A",}'}, "a.json: invalid JSON at line 1, column 14"),
        ({"a.json": "[1]"}, "a.json: must hold a JSON object"),
        ({"a.json": '{"Name": 1}', "b.json": '{"Name": 2}'}, "b.json: key Name is also set"),
        ({}, "no .json file in this folder"),
    ],
)
def test_errors(tmp_path: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(OrthancConfigFileError, match=message.replace(".", r"\.")):
        read_orthanc_configuration(tmp_path, {})


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(OrthancConfigFileError, match="no such file or folder"):
        read_orthanc_configuration(tmp_path / "absent.json", {})
