"""Keeping the DICOMweb plugin's server definitions authorized: one worker per server writes
the definition with its current token and restores it when changed; the service runs the
workers and tells what they do. Plain Python: the DICOMweb plugin is reached through an
injected interface."""
