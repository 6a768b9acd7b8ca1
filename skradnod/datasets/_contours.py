"""The LIDC-IDRI ratings and contour polygons shared by the dataset builders.

A leaf module: :mod:`._readings` (the per-reading table), :mod:`._nodules`
(readings grouped into nodules), :mod:`._lidc` (the rendered cohort) and
:mod:`._dicom` (the DICOM conversion) all import from here, and it imports none
of them.
"""

import cv2
import numpy as np

__all__ = ["RATINGS", "diameter_px", "parse_contour"]

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
