"""Orthanc Explorer's "Send to DICOMweb server" button, pressed in a real browser
(Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from local_rig.services import ADMIN, ProtectedServer

from ..helpers import wait_for
from .rig import ARTIFACTS, SERVER, b_study_uids

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


def send_with_the_explorer_button(
    url: str, study: str, study_uid: str, protected: ProtectedServer
) -> None:
    """Opens the study in the Orthanc Explorer at ``url``, presses the button, picks the
    server, and waits until the study is in the protected server."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(http_credentials={"username": ADMIN[0], "password": ADMIN[1]})
        try:
            page.goto(f"{url}/app/explorer.html#study?uuid={study}")
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
