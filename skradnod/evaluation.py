"""Evaluation: patient-grouped cross-validated reports and their figures (step 11)."""

import numpy as np
import pandas as pd

__all__ = [
    "to_binary",
]


def to_binary(y):
    """Map malignancy ratings 1-5 to benign (0) / malignant (1).

    Ratings 1-3 (highly unlikely, moderately unlikely, indeterminate) become 0 and
    ratings 4-5 (moderately suspicious, highly suspicious) become 1, the binary
    task of the method.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer ratings 1-5 (floats holding whole numbers are accepted).

    Returns
    -------
    y_binary : ndarray of shape (n_samples,) and dtype int64
        0 for benign, 1 for malignant.

    Raises
    ------
    ValueError
        If any label is not one of 1, 2, 3, 4, 5; the message names the
        offending labels and where they occur.

    Examples
    --------
    >>> from skradnod.evaluation import to_binary
    >>> to_binary([1, 2, 3, 4, 5]).tolist()
    [0, 0, 0, 1, 1]
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"to_binary expects a 1D array of ratings 1-5; got shape {y.shape}."
        )
    # Coerce element by element so that one bad entry (a string, None) is named
    # in the error instead of failing the whole conversion.
    numeric = pd.to_numeric(pd.Series(y, dtype=object), errors="coerce").to_numpy(
        dtype=float
    )
    valid = np.isin(numeric, [1, 2, 3, 4, 5])
    if not valid.all():
        positions = np.flatnonzero(~valid)
        offending = sorted({repr(v) for v in y[positions].tolist()})
        raise ValueError(
            "to_binary expects malignancy ratings 1-5; got label(s) "
            f"{', '.join(offending[:10])} at position(s) {positions[:10].tolist()}"
            + (" ..." if len(positions) > 10 else "")
            + "."
        )
    return (numeric >= 4).astype(np.int64)
