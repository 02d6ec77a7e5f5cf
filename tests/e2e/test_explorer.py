"""Orthanc Explorer's "Send to DICOMweb server" button, pressed in a real browser
(Debian's Chromium driven by Playwright): the study must arrive in the protected server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import sync_playwright

from local_rig.dicom_samples import study_instance
from local_rig.services import ADMIN, ProtectedServer

from ..helpers import wait_for
from .rig import ARTIFACTS, SERVER, StartOrthanc, b_study_uids, client_for, upload, wait_authorized

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the network,
# which this machine does not have.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_send_to_dicomweb_server_button(
    start_orthanc_a: StartOrthanc, protected: ProtectedServer, tmp_path: Path
) -> None:
    orthanc = start_orthanc_a()
    client = client_for(orthanc)
    wait_authorized(client)
    dicom, study_uid = study_instance("EXPLORER^BUTTON")
    study = upload(client, dicom)
    assert study_uid not in b_study_uids(protected)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_FLAGS,
        )
        page = browser.new_page(http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
        try:
            page.goto(f"{orthanc.url}/app/explorer.html#study?uuid={study}")
            page.get_by_text("Send to DICOMweb server").click()
            page.locator(f'li[name="{SERVER}"] a').click()
            wait_for(
                "the study in the protected server",
                lambda: study_uid in b_study_uids(protected),
                timeout=30,
            )
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"explorer-{int(time.time())}.png"))
            raise
        finally:
            browser.close()
    # The job the button created succeeds once its STOW-RS has been answered.
    wait_for(
        "the button's STOW job succeeded",
        lambda: any(
            job["Type"] == "DicomWebStowClient" and job["State"] == "Success"
            for job in httpx2.get(f"{orthanc.url}/jobs?expand", auth=ADMIN, timeout=30).json()
        ),
        timeout=30,
    )
