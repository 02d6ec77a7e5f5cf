"""The Orthanc glue's entry: registers the plugin's callbacks while Orthanc starts, and
answers HTTP 503 until the runtime is up. Orthanc's start waits for this module only,
which imports nothing but ``orthanc`` and ``routes``; the work (configuration, token
requests, REST answers) is in ``runtime``, imported on ORTHANC_STARTED in a thread of its
own.
"""

from __future__ import annotations

import orthanc

from .routes import PATTERNS, answer_starting

# Even typing and threading are imported only for the type checker or after the start:
# each costs Orthanc's start a few milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading
    from types import ModuleType
    from typing import Any

STARTUP_JOIN_TIMEOUT = 2.0

_startup: threading.Thread | None = None
_runtime: ModuleType | None = None
_registered = False


def register(install_change_callback: bool = True) -> None:
    """Installs the plugin in the running Orthanc. Call it once, from the ``PythonScript``
    (Orthanc's Python plugin loads a single script: a site that has its own calls this).

    The Python plugin (4.0, 5.0 and 7.1 alike) accepts a single change callback: a script
    that registers its own passes ``install_change_callback=False`` and calls
    ``on_change`` from it."""
    global _registered  # noqa: PLW0603 - Orthanc's callbacks are module-level
    if _registered:
        return
    _registered = True
    if install_change_callback:
        try:
            orthanc.RegisterOnChangeCallback(on_change)
        except RuntimeError:
            orthanc.LogError(
                "DicomWebOAuth: cannot register the change callback: the Python script "
                "already has one. Call register(install_change_callback=False) and forward "
                "its calls to orthanc_dicomweb_oauth.on_change; no server is managed"
            )
    for pattern in PATTERNS:
        orthanc.RegisterRestCallback(pattern, _rest_callback)


def on_change(change_type: Any, level: Any, resource: Any) -> None:
    """Orthanc's change callback. A site script that registers its own callback forwards
    the calls here instead."""
    global _startup  # noqa: PLW0603
    if change_type == orthanc.ChangeType.ORTHANC_STARTED and _startup is None:
        import threading  # after the start

        _startup = threading.Thread(target=_start, name="dicomweb-oauth-start", daemon=True)
        _startup.start()
    elif change_type == orthanc.ChangeType.ORTHANC_STOPPED:
        _stop()
    elif change_type == orthanc.ChangeType.JOB_FAILURE and _runtime is not None:
        _runtime.job_failed(resource)


def _start() -> None:
    global _runtime  # noqa: PLW0603
    try:
        from . import runtime  # off the start path
    except Exception as error:  # a dependency missing or broken: Orthanc keeps running
        orthanc.LogError(
            f"DicomWebOAuth: cannot start: no server is managed ({type(error).__name__}: {error})"
        )
        return
    _runtime = runtime
    runtime.start()


def _stop() -> None:
    if _startup is not None:
        _startup.join(STARTUP_JOIN_TIMEOUT)
    if _runtime is not None:
        _runtime.stop()


def _rest_callback(output: Any, uri: str, **request: Any) -> None:
    runtime = _runtime
    if runtime is None:
        # Not started yet, or the runtime could not be imported (its error is in the log).
        answer_starting(output)
        return
    runtime.answer_rest(output, uri, **request)
