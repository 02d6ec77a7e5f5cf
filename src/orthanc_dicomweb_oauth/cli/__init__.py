"""The command line: ``orthanc-dicomweb-oauth check`` and ``entry-script``."""
