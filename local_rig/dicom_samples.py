"""Small DICOM studies for the rig, from the CT image that pydicom ships."""

from __future__ import annotations

import io

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid


def study_instance(patient: str = "OAUTH^RIG") -> tuple[bytes, str]:
    """One CT instance in a new study; returns the file and its StudyInstanceUID."""
    path = get_testdata_file("CT_small.dcm")
    dataset = dcmread(str(path))
    dataset.PatientName = patient
    dataset.PatientID = patient.replace("^", "-")
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue(), str(dataset.StudyInstanceUID)
