"""The package's log records, one line each, in Orthanc's log."""

from __future__ import annotations

import logging

import orthanc


class OrthancLogHandler(logging.Handler):
    """Orthanc shows only its warnings and errors unless started with --verbose: the
    package's INFO lines (a token acquired, a recovery, a definition restored: state
    changes an administrator needs to see) become Orthanc warnings, its DEBUG lines
    (routine refreshes) Orthanc info."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = f"DicomWebOAuth: {record.getMessage()}"
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                message += f" ({type(error).__name__}: {error})"
        except Exception:  # a bad record must not break the caller
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            orthanc.LogError(message)
        elif record.levelno >= logging.INFO:
            orthanc.LogWarning(message)
        else:
            orthanc.LogInfo(message)
