"""The package's logger, its one home. Inside Orthanc, the glue sends its records to
Orthanc's log (orthanc/log_handler.py); elsewhere they go where the application's logging
sends them."""

from __future__ import annotations

import logging

LOGGER_NAME = "orthanc_dicomweb_oauth"
LOGGER = logging.getLogger(LOGGER_NAME)
