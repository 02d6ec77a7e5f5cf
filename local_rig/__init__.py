"""A local stand-in for a protected DICOMweb deployment, used by the end-to-end tests and
the demo: an OAuth2 provider, a bearer-protected Orthanc behind nginx, and Orthanc with
the plugin, all on loopback. Not part of the distributed package."""
