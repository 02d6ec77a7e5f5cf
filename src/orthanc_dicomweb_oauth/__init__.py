"""Keeps Orthanc's DICOMweb servers authorized with OAuth2 client-credentials tokens.

The public API, for Orthanc's ``PythonScript``: ``register()`` installs the plugin, and a
script with its own change callback forwards its calls to ``on_change()``. Both live in
``orthanc/plugin.py`` and are loaded on first use, so that the command line and the tests
import this package without Orthanc.
"""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING``: importing typing would cost Orthanc's start milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .orthanc.plugin import on_change, register

__all__ = ["__version__", "on_change", "register"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name in ("register", "on_change"):
        from .orthanc import plugin  # noqa: PLC0415 - needs Orthanc's own ``orthanc`` module

        return getattr(plugin, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
