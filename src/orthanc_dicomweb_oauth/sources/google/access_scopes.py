"""Whether a Compute Engine machine's access scopes let its tokens reach the Cloud
Healthcare API, which answers 403 to a token without one of its scopes (the default scopes
of a VM have none)."""

from __future__ import annotations

from collections.abc import Sequence

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
CLOUD_HEALTHCARE = "https://www.googleapis.com/auth/cloud-healthcare"


def missing_healthcare_scope(scopes: Sequence[str]) -> str | None:
    """What to do when the metadata server's scopes include neither cloud-platform nor
    cloud-healthcare; None when one is there."""
    if CLOUD_PLATFORM in scopes or CLOUD_HEALTHCARE in scopes:
        return None
    return (
        f"the access scopes of the VM's service account lack {CLOUD_PLATFORM}: on Compute "
        "Engine its tokens carry only these scopes, and the Cloud Healthcare API answers them "
        "HTTP 403 (the default scopes of a VM are not enough). Stop the VM, run gcloud compute "
        "instances set-service-account VM --service-account SA --scopes cloud-platform, and "
        "start it again"
    )
