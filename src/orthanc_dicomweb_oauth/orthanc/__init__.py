"""The Orthanc glue, the only code that imports ``orthanc``: registration while Orthanc
starts (``plugin``), then the runtime that runs the service inside Orthanc, answers the REST
routes, publishes metrics and logs through Orthanc."""
