"""The image path: STOW-RS and retrieve of a synthetic study from Orthanc A to the
protected Orthanc B, through three definitions of the same server inside ONE Orthanc A:
``managed`` (kept authorized by the plugin), ``static`` and ``control`` (the same server
defined in DicomWeb.Servers with a valid bearer header, pasted as a person would). The arms
take turns within each round, their order rotating, so that the process, its caches and
the machine's drift are the same for all; two identical static arms tell the noise."""

from __future__ import annotations

import io
import random
import time
from typing import Any

import httpx2
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from ..services import Orthanc, ProtectedServer, Provider, orthanc_configuration
from .processes import wait_valid
from .spread import Ratio, paired_ratio

ARMS = ("managed", "static", "control")
DIRECTIONS = ("stow", "retrieve")


def synthetic_study(instances: int, side: int) -> list[bytes]:
    """A CT study of `instances` images of side x side 16-bit pixels, new UIDs."""
    template = dcmread(str(get_testdata_file("CT_small.dcm")))
    study, series = generate_uid(), generate_uid()
    rng = random.Random(7)
    files = []
    for number in range(instances):
        dataset = template.copy()
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
        dataset.SOPInstanceUID = generate_uid()
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.InstanceNumber = number + 1
        dataset.Rows = dataset.Columns = side
        dataset.PixelData = rng.randbytes(side * side * 2)
        buffer = io.BytesIO()
        dataset.save_as(buffer)
        files.append(buffer.getvalue())
    return files


def transfer_seconds(
    client: httpx2.Client, protected: ProtectedServer, arm: str, action: str, body: dict[str, Any]
) -> float:
    """Runs a STOW-RS or retrieve as an Orthanc job, and returns how long its requests took
    at the protected server's nginx: from the first request's start to the last answer's
    end. Neither the synchronous call nor the job's timestamps serve: both move in steps
    of about 0.5 s (the DICOMweb plugin polls its worker), a third of a 1.5 s transfer."""
    access_log = protected.access_log
    offset = access_log.stat().st_size
    answer = client.post(f"/dicom-web/servers/{arm}/{action}", json={**body, "Asynchronous": True})
    answer.raise_for_status()
    job_id = answer.json()["ID"]
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["State"] == "Success":
            break
        if job["State"] == "Failure":
            raise RuntimeError(f"{action} job failed: {job}")
        time.sleep(0.05)
    with access_log.open() as log:
        log.seek(offset)
        # Each line: the end (epoch s, ms precision), the duration (s), method, status, URI.
        requests = [line.split() for line in log if line.strip()]
    if not requests or any(not fields[3].startswith("2") for fields in requests):
        raise RuntimeError(f"{action}: unexpected requests at the protected server {requests}")
    ends = [float(fields[0]) for fields in requests]
    starts = [float(fields[0]) - float(fields[1]) for fields in requests]
    return max(ends) - min(starts)


def measure(
    orthanc_a: Orthanc,
    provider: Provider,
    protected: ProtectedServer,
    *,
    rounds: int,
    instances: int,
    side: int,
) -> dict[str, Any]:
    """``orthanc_a`` runs the plugin managing ``managed``, and defines ``static`` and
    ``control`` itself (``orthanc_a_configuration``)."""
    files = synthetic_study(instances, side)
    size_mb = sum(len(data) for data in files) / 1e6
    client = httpx2.Client(base_url=orthanc_a.url, timeout=900)
    wait_valid(client, ["managed"])
    b = httpx2.Client(base_url=protected.orthanc.url, auth=protected.direct_auth, timeout=300)
    for data in files:
        answer = client.post("/instances", content=data)
        answer.raise_for_status()
    study = answer.json()["ParentStudy"]
    uid = str(dcmread(io.BytesIO(files[0])).StudyInstanceUID)
    mb_s: dict[str, dict[str, list[float]]] = {
        direction: {arm: [] for arm in ARMS} for direction in DIRECTIONS
    }
    for round_number in range(rounds):
        shift = round_number % len(ARMS)
        for arm in ARMS[shift:] + ARMS[:shift]:  # no arm always finds warm caches
            if arm != "managed":  # a fresh valid token, as a person would paste it
                token = provider.issue_token("bench")
                client.put(
                    f"/dicom-web/servers/{arm}",
                    json={
                        **_definition(protected),
                        "HttpHeaders": {"Authorization": f"Bearer {token}"},
                    },
                ).raise_for_status()
            seconds = transfer_seconds(client, protected, arm, "stow", {"Resources": [study]})
            mb_s["stow"][arm].append(size_mb / seconds)
            client.delete(f"/studies/{study}").raise_for_status()
            seconds = transfer_seconds(
                client, protected, arm, "retrieve", {"Resources": [{"Study": uid}]}
            )
            mb_s["retrieve"][arm].append(size_mb / seconds)
            for stored in b.get("/studies").json():
                b.delete(f"/studies/{stored}")
    result: dict[str, Any] = {"study_mb": round(size_mb, 1), "rounds": rounds}
    for direction, by_arm in mb_s.items():
        result[direction] = {
            "managed_over_static": _figures(paired_ratio(by_arm["managed"], by_arm["static"])),
            # The same figure between two identical arms: how far noise alone goes.
            "control_over_static": _figures(paired_ratio(by_arm["control"], by_arm["static"])),
            "mb_s_by_round": {arm: [round(value, 1) for value in by_arm[arm]] for arm in ARMS},
        }
    return result


def _figures(ratio: Ratio) -> dict[str, float]:
    return {
        "median": round(ratio.median, 3),
        "low": round(ratio.low, 3),
        "high": round(ratio.high, 3),
        "rounds": ratio.rounds,
    }


def _definition(protected: ProtectedServer) -> dict[str, Any]:
    return {"Url": protected.url, "Timeout": 600}


def orthanc_a_configuration(
    entry: str, provider: Provider, protected: ProtectedServer
) -> dict[str, Any]:
    """The plugin managing ``managed``; ``static`` and ``control`` defined by Orthanc."""
    return orthanc_configuration(
        entry,
        {
            "Servers": {
                "managed": {
                    **_definition(protected),
                    "TokenEndpoint": provider.token_endpoint,
                    "ClientId": "bench",
                    "ClientSecretEnv": "BENCH_SECRET_VALUE",
                }
            }
        },
        {"Servers": {arm: _definition(protected) for arm in ARMS if arm != "managed"}},
    )
