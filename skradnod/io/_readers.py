"""The ``malignancy_readers`` column of a manifest: every radiologist's rating.

Per row, the ratings 1-5 of every radiologist who read the row's nodule,
separated by ``;`` (``"3;4;4"``). Read here, with the manifest;
:func:`skradnod.evaluation.reader_agreement` scores the readers against each
other.
"""

import numpy as np

__all__ = ["parse_malignancy_readers"]

_FORMAT = "the readers' ratings 1-5 separated by ';', e.g. '3;4;4'"


def parse_malignancy_readers(values, *, ids=None, where="the data"):
    """Read a ``malignancy_readers`` column: one int array of ratings per row.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        Strings such as ``"3;4;4"`` (an int, or a float holding one, is one
        rating: pandas' reading of a column of one-rating cells).
    ids : array-like of shape (n_samples,), default=None
        Row ids, to name a bad row (default: positions).
    where : str, default="the data"
        What to name in the error (a manifest's path).

    Returns
    -------
    readers : list of ndarray of int

    Raises
    ------
    ValueError
        If an entry is empty or not ratings 1-5 separated by ``;``; the message
        names ``where``, the row id and the value.

    Examples
    --------
    >>> from skradnod.evaluation import parse_malignancy_readers
    >>> [r.tolist() for r in parse_malignancy_readers(["3;4;4", 5])]
    [[3, 4, 4], [5]]
    """
    values = list(values)
    ids = list(range(len(values))) if ids is None else list(ids)
    out = []
    for row_id, value in zip(ids, values):
        ratings = _parse_one(value)
        if ratings is None:
            raise ValueError(
                f"{where}: malignancy_readers of row id={row_id!r} is {value!r}; "
                f"expected {_FORMAT}."
            )
        out.append(ratings)
    return out


def _parse_one(value):
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        # pandas reads a column of one-rating cells with an empty cell among
        # them as floats: 4.0 is the cell "4" (the empty cell, NaN, is refused).
        value = int(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        parts = [str(value)]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(";")]
    else:  # NaN (an empty cell), a float, None
        return None
    if not all(p in ("1", "2", "3", "4", "5") for p in parts):
        return None
    return np.array([int(p) for p in parts], dtype=np.int64)
