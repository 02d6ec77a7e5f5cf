"""The script to name as Orthanc's ``PythonScript``.

It makes the packages installed next to it (a virtual environment's site-packages)
importable by Orthanc's embedded Python, ahead of the distribution's own packages, then
registers the plugin.
"""

import os.path
import site
import sys

# os.path rather than pathlib, whose import would cost Orthanc's start ~10 ms.
_site_packages = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
_before = list(sys.path)
site.addsitedir(_site_packages)
# Debian's /usr/lib/python3/dist-packages would otherwise shadow newer versions.
sys.path[:] = [entry for entry in sys.path if entry not in _before] + _before

from orthanc_dicomweb_oauth.orthanc_plugin import register  # noqa: E402

register()
