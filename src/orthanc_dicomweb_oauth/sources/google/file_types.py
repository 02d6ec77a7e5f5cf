"""The ``type`` of a Google credentials file: the machine identities the plugin takes and a
person's logins it refuses. Light on purpose: the configuration's loader names a key merged
into Orthanc's configuration without loading the file's parser (pydantic models) for every
server."""

from __future__ import annotations

SERVICE_ACCOUNT = "service_account"
EXTERNAL_ACCOUNT = "external_account"
IMPERSONATED = "impersonated_service_account"
MACHINE_TYPES = (SERVICE_ACCOUNT, EXTERNAL_ACCOUNT, IMPERSONATED)
# A person's gcloud login, and Google's other user credentials.
USER_TYPES = ("authorized_user", "external_account_authorized_user")
