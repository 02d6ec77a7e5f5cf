"""The script to name as Orthanc's ``PythonScript`` (``orthanc-dicomweb-oauth
entry-script`` prints its path).

It makes the packages installed next to it (a virtual environment's site-packages)
importable by Orthanc's embedded Python, ahead of the distribution's own packages, then
registers the plugin. Its path is in sites' Orthanc configurations: it does not move.
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

import orthanc_dicomweb_oauth  # noqa: E402

orthanc_dicomweb_oauth.register()
