from __future__ import annotations

import pytest

from orthanc_dicomweb_oauth.dicomweb.definition import authorized_definition, definition_drift
from orthanc_dicomweb_oauth.sources.access_token import AccessToken

BASE = {"Url": "https://dicom.example/v2/", "HttpHeaders": {"X-Site": "north"}, "Timeout": 60}


def test_the_whole_definition_is_sent_with_the_bearer_header() -> None:
    token = AccessToken("abc", 300, "expires_in")
    assert authorized_definition(BASE, token) == {
        "Url": "https://dicom.example/v2/",
        "HttpHeaders": {"X-Site": "north", "Authorization": "Bearer abc"},
        "Timeout": 60,
    }
    assert BASE["HttpHeaders"] == {"X-Site": "north"}


@pytest.mark.parametrize(
    ("listed", "drift"),
    [
        ({"Url": BASE["Url"], "HttpHeaders": ["Authorization", "X-Site"]}, None),
        (None, "missing"),
        ({"Url": "https://elsewhere/", "HttpHeaders": ["Authorization"]}, "its Url was changed"),
        ({"Url": BASE["Url"], "HttpHeaders": ["X-Site"]}, "its Authorization header was removed"),
        ({"Url": BASE["Url"]}, "its Authorization header was removed"),
    ],
)
def test_drift(listed: dict[str, object] | None, drift: str | None) -> None:
    assert definition_drift(BASE, listed) == drift
