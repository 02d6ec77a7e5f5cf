"""Orthanc Explorer's "Send to DICOMweb server" button, pressed in a real browser: the
study must arrive in the protected server."""

from __future__ import annotations

import httpx2
import pytest

from local_rig.dicom_samples import study_instance
from local_rig.services import ADMIN, ProtectedServer

from ..helpers import wait_for
from .explorer import CHROMIUM, send_with_the_explorer_button
from .rig import StartOrthanc, b_study_uids, client_for, upload, wait_authorized


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_send_to_dicomweb_server_button(
    start_orthanc_a: StartOrthanc, protected: ProtectedServer
) -> None:
    orthanc = start_orthanc_a()
    client = client_for(orthanc)
    wait_authorized(client)
    dicom, study_uid = study_instance("EXPLORER^BUTTON")
    study = upload(client, dicom)
    assert study_uid not in b_study_uids(protected)
    send_with_the_explorer_button(orthanc.url, study, study_uid, protected)
    # The job the button created succeeds once its STOW-RS has been answered.
    wait_for(
        "the button's STOW job succeeded",
        lambda: any(
            job["Type"] == "DicomWebStowClient" and job["State"] == "Success"
            for job in httpx2.get(f"{orthanc.url}/jobs?expand", auth=ADMIN, timeout=30).json()
        ),
        timeout=30,
    )
