"""The input contract of a row's model: what X it was trained on.

A fitted net already refuses images whose size *after* its preprocessing, or
whose values, differ from training (:mod:`skradnod.models._contract`). A
model's preprocessing resizes every image, so that check cannot see a 256 px
slice given to a model trained on 512 px slices, a 200 px crop given to a model
trained on 20-60 px crops, or a scan at another pixel spacing. The contract here
is recorded on the data as the row reads it (the raw full slices and crops,
before any step) and checked the same way on new data before predicting.

Rules (per image kind the row reads, full slice and/or nodule crop):

* size: each axis within the training images' range (``shape_min`` to
  ``shape_max``; for full slices usually one size);
* values: within the training range widened by one range width on either side
  (:func:`skradnod.models._contract.allowed_range`, the nets' own rule), so data
  in another unit (0-255 pixels beside HU) is caught while new scanners are not;
* spacing: within the training range (relative slack 1e-6) when both the
  training files and the new file declare it in their NRRD headers; unknown
  spacing on either side is not checked.
"""

import numpy as np

from ..base import is_path
from ..base._batch import load_image
from ..base._nrrd import declared_spacing
from ._registry import get_experiment
from ._runner import RATING_COLUMNS

__all__ = ["check_input_contract", "input_contract"]

# The image columns each kind of row input reads (Experiment.input).
_IMAGE_COLUMNS = {
    "nodule": ("nodule",),
    "nodule+spacing": ("nodule",),
    "full": ("full",),
    "frame": ("full", "nodule"),
    "ratings": (),
    "none": (),
}
_NAMES = {"full": "full slice", "nodule": "nodule crop"}
_SPACING_RTOL = 1e-6


def _images(data, column):
    """The images of ``column`` as 2D arrays, read from their files if paths."""
    images = getattr(data, column, None)
    if images is None:
        images = data.frame[column].to_numpy()
    return [
        load_image(image, i) if is_path(image) else np.asarray(image)
        for i, image in enumerate(images)
    ]


def _spacings(data, column, n):
    """Each image's declared ``(row_mm, col_mm)``, or None (unknown)."""
    files = getattr(data, "files", None)
    if files is None or column not in getattr(files, "columns", ()):
        return [None] * n
    return [declared_spacing(path) for path in files[column]]


def _range(values):
    return [float(v) for v in np.min(values, axis=0)], [
        float(v) for v in np.max(values, axis=0)
    ]


def _image_contract(images, spacings):
    shapes = np.array([image.shape for image in images])
    shape_min, shape_max = _range(shapes)
    known = [s for s in spacings if s is not None]
    spacing_min, spacing_max = _range(known) if known else (None, None)
    return {
        "shape_min": [int(v) for v in shape_min],
        "shape_max": [int(v) for v in shape_max],
        "value_min": float(min(image.min() for image in images)),
        "value_max": float(max(image.max() for image in images)),
        "spacing_min": spacing_min,
        "spacing_max": spacing_max,
        "n_spacing_declared": len(known),
    }


def input_contract(data, key):
    """The input contract of row ``key`` trained on ``data``.

    Parameters
    ----------
    data : Bunch
        A data set as :func:`skradnod.io.load_nodule_dataset` returns it (its
        ``files`` give the NRRD headers' spacing; without them the spacing is
        unknown).
    key : str
        The row (``"nodule/basic_cnn"``); its ``input`` says which images it
        reads.

    Returns
    -------
    contract : dict
        ``input`` (the row's input kind), ``images``: per image kind read
        (``"full"``, ``"nodule"``) its ``shape_min``/``shape_max`` ``[rows,
        cols]``, ``value_min``/``value_max``, ``spacing_min``/``spacing_max``
        (``[row_mm, col_mm]`` over the files that declare one, else None) and
        ``n_spacing_declared``; ``columns`` (the rating columns) for rows that
        read them. Plain JSON.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.utils import Bunch
    >>> from skradnod.experiments import input_contract
    >>> crops = [np.zeros((20, 24)), np.ones((30, 28))]
    >>> c = input_contract(Bunch(nodule=crops), "nodule/basic_cnn")
    >>> c["images"]["nodule"]["shape_min"], c["images"]["nodule"]["value_max"]
    ([20, 24], 1.0)
    """
    kind = get_experiment(key).input
    contract = {"input": kind, "images": {}}
    for column in _IMAGE_COLUMNS[kind]:
        images = _images(data, column)
        contract["images"][column] = _image_contract(
            images, _spacings(data, column, len(images))
        )
    if kind == "ratings":
        contract["columns"] = [*RATING_COLUMNS, "diameter_mm"]
    return contract


def _fmt(values, unit=""):
    return "x".join(f"{v:g}" for v in values) + unit


def _image_reasons(name, image, spacing, rules):
    # Imported here: skradnod.models imports torch, which a row without a net
    # (and this module) does not need.
    from ..models._contract import allowed_range

    reasons = []
    low, high = np.asarray(rules["shape_min"]), np.asarray(rules["shape_max"])
    shape = np.asarray(image.shape)
    if shape.shape != low.shape or (shape < low).any() or (shape > high).any():
        trained = (_fmt(low) if (low == high).all()
                   else f"{_fmt(low)} to {_fmt(high)}")
        reasons.append(f"{name} size {_fmt(shape)} outside the training sizes "
                       f"{trained}")
    accepted = allowed_range((rules["value_min"], rules["value_max"]))
    values = (float(image.min()), float(image.max()))
    if values[0] < accepted[0] or values[1] > accepted[1]:
        reasons.append(
            f"{name} values [{values[0]:.4g}, {values[1]:.4g}] outside the "
            f"accepted [{accepted[0]:.4g}, {accepted[1]:.4g}] (training "
            f"[{rules['value_min']:.4g}, {rules['value_max']:.4g}])"
        )
    if spacing is not None and rules["spacing_min"] is not None:
        s_low = np.asarray(rules["spacing_min"]) * (1 - _SPACING_RTOL)
        s_high = np.asarray(rules["spacing_max"]) * (1 + _SPACING_RTOL)
        given = np.asarray(spacing)
        if (given < s_low).any() or (given > s_high).any():
            reasons.append(
                f"{name} spacing {_fmt(given, ' mm')} outside the training "
                f"{_fmt(rules['spacing_min'])} to {_fmt(rules['spacing_max'], ' mm')}"
            )
    return reasons


def check_input_contract(contract, data):
    """Why each sample of ``data`` lies outside ``contract`` ("" when it does not).

    Parameters
    ----------
    contract : dict
        From :func:`input_contract` (a model card's ``input_contract``).
    data : Bunch
        The data to predict on (labels not needed).

    Returns
    -------
    reasons : list of str
        One per sample, in ``data``'s order: ``""`` inside the contract, else
        every rule broken, joined by ``"; "`` (e.g. ``"full slice size 256x256
        outside the training sizes 512x512"``).

    Raises
    ------
    ValueError
        If a row that reads the rating columns gets data without them.
    """
    n = len(data.frame)
    reasons = [[] for _ in range(n)]
    missing = [c for c in contract.get("columns", []) if c not in data.frame.columns]
    if missing:
        raise ValueError(
            f"The model reads the rating column(s) {missing}, which the data "
            "lacks."
        )
    for column, rules in contract["images"].items():
        images = _images(data, column)
        spacings = _spacings(data, column, len(images))
        for i, (image, spacing) in enumerate(zip(images, spacings)):
            reasons[i] += _image_reasons(_NAMES[column], image, spacing, rules)
    return ["; ".join(r) for r in reasons]
