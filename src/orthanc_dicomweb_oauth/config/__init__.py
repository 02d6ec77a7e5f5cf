"""Orthanc's configuration -> validated settings: the schema of the ``DicomWebOAuth``
section, the loader, and the policies it applies (URLs, credentials, Orthanc's network
defaults)."""
