"""The one spacing rule of :class:`~skradnod.radiomics.RadiomicsExtractor`.

Which pixel spacing an image's features are computed at, whatever form the
image takes, in this order:

1. ``RadiomicsExtractor(spacing=(row_mm, col_mm))``: every image;
2. ``RadiomicsExtractor(spacing="<column>")`` with X a DataFrame: the row's
   cell of that column (what :func:`skradnod.io.load_nodule_dataset` gives in
   its ``nodule_spacing`` and ``full_spacing`` columns, read from the headers,
   so in-memory arrays carry the spacing of the files they came from); an
   empty cell (None or NaN) falls through to 3;
3. the NRRD header of an image given as a path (or a lazy batch of paths
   without steps);
4. ``(1, 1)`` mm.

An explicit spacing (1 or 2) that contradicts an NRRD header that declares one
is warned about, naming the samples and both values.
"""

import math
import warnings
from numbers import Real

import numpy as np

__all__ = ["spacing_cell", "spacing_rule", "split_spacing_column"]


def _positive(value):
    return (isinstance(value, Real) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


def spacing_cell(value, where):
    """One spacing value as ``(row_mm, col_mm)``, or None for an empty cell.

    Parameters
    ----------
    value : None, float or pair of float
        A number is a square pixel's side; None or NaN is "not given".
    where : str
        Names the value in errors.

    Returns
    -------
    spacing : tuple of (float, float) or None

    Examples
    --------
    >>> from skradnod.radiomics._spacing import spacing_cell
    >>> spacing_cell(0.7, "row 0"), spacing_cell((0.5, 0.6), "row 1")
    ((0.7, 0.7), (0.5, 0.6))
    >>> spacing_cell(float("nan"), "row 2") is None
    True
    """
    if value is None or (isinstance(value, Real) and math.isnan(value)):
        return None
    pair = (value, value) if isinstance(value, Real) else value
    try:
        pair = tuple(np.asarray(pair).tolist())
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(_positive(s) for s in pair):
        raise ValueError(
            f"{where}: a pixel spacing must be a finite positive number or a "
            f"pair (row_mm, col_mm) of them, or empty; got {value!r}."
        )
    return float(pair[0]), float(pair[1])


def split_spacing_column(X, column):
    """The image column of frame ``X`` and each row's spacing from ``column``.

    Parameters
    ----------
    X : DataFrame
        Exactly two columns: ``column`` and one of images (arrays or paths).
    column : str
        The spacing column.

    Returns
    -------
    images : Series
    spacings : list of (tuple of (float, float) or None)
    names : list of str
        ``"row id=..."`` of each row, for warnings.

    Raises
    ------
    ValueError
        If ``X`` is not a DataFrame, lacks ``column`` or holds another number
        of image columns, or a cell is not a valid spacing (naming its row id).
    """
    own = f"RadiomicsExtractor(spacing={column!r})"
    if not hasattr(X, "columns"):
        raise ValueError(
            f"{own} reads each image's pixel spacing from the column {column!r} "
            f"of a DataFrame X; got {type(X).__name__}. Pass the frame, e.g. "
            f"data.frame[['nodule', 'nodule_spacing']], or spacing=None."
        )
    names = [str(c) for c in X.columns]
    others = [c for c in X.columns if c != column]
    if column not in X.columns or len(others) != 1:
        raise ValueError(
            f"{own} needs a DataFrame of two columns: {column!r} and one of "
            f"images; X has the columns {names}."
        )
    ids = [f"row id={str(i)!r}" for i in X.index]
    spacings = [spacing_cell(value, f"{own}: {where}, column {column!r}")
                for where, value in zip(ids, X[column])]
    return X[others[0]], spacings, ids


def _declares(header):
    return header is not None and (
        "space directions" in header or "spacings" in header
    )


def _warn_clashes(given, headers, names, source, use, remedy, per_row):
    clashes = [
        f"{name}: header {tuple(header['spacing'])}"
        + (f", column {value}" if per_row else "")
        for name, header, value in zip(names, headers, given)
        if value is not None and _declares(header)
        and not np.allclose(header["spacing"], value, rtol=1e-6, atol=0)
    ]
    if clashes:
        warnings.warn(
            f"{source} overrides the pixel spacing of {len(clashes)} NRRD "
            "header(s) (" + "; ".join(clashes[:5])
            + ("; ..." if len(clashes) > 5 else "")
            + f"); features use the {use}. {remedy}",
            UserWarning,
            stacklevel=6,
        )


def spacing_rule(spacing, headers, names, lazy_steps, column_spacings=None):
    """Each image's spacing by the rule above.

    Parameters
    ----------
    spacing : None, pair of float or str
        The extractor's ``spacing`` parameter.
    headers : list of (dict or None)
        Each image's NRRD header (None for arrays and stepped lazy batches).
    names : list of str
        Each sample's name, for warnings.
    lazy_steps : bool
        Whether the images came from a lazy batch with steps (which may
        resize, so the headers' spacing is not applied).
    column_spacings : list of (tuple or None), optional
        The spacing column's cells (``spacing`` a column name).

    Returns
    -------
    spacings : list of tuple of (float, float)
    """
    if spacing is not None and not isinstance(spacing, str):
        given = tuple(float(s) for s in spacing)
        _warn_clashes([given] * len(headers), headers, names,
                      f"RadiomicsExtractor(spacing={given})", "parameter",
                      "Pass spacing=None to use each header's spacing.", False)
        return [given] * len(headers)
    cells = column_spacings or [None] * len(headers)
    if column_spacings is not None:
        _warn_clashes(cells, headers, names, f"The column {spacing!r}", "column",
                      "Correct the column, or leave its cell empty to use the "
                      "header's spacing.", True)
    if lazy_steps and any(cell is None for cell in cells):
        warnings.warn(
            "RadiomicsExtractor got a LazyImageBatch with steps, which may "
            "resize the images, so the files' pixel spacing is not applied: "
            "features use (1, 1) mm. Pass spacing=(row_mm, col_mm) to set it.",
            UserWarning,
            stacklevel=5,
        )
    return [
        cell if cell is not None
        else tuple(header["spacing"]) if header is not None else (1.0, 1.0)
        for cell, header in zip(cells, headers)
    ]
