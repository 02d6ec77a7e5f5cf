"""Keeps Orthanc's DICOMweb servers authorized with OAuth2 client-credentials tokens."""

__version__ = "0.1.0"
