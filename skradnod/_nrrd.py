"""Reading and writing single NRRD images, in the orientation of the data contract.

The lowest layer of skradnod's I/O: :mod:`skradnod.io` (data sets) and
:mod:`skradnod.utils` (lazy image batches) both read images through it.
"""

import os
from pathlib import Path

import nrrd
import numpy as np

__all__ = ["read_nrrd", "write_nrrd"]

# In LPS space +x points to the patient's left and +y to the posterior: a slice whose
# columns run along +x and rows along +y is in radiological orientation (patient's
# right on the viewer's left). RAS space has both axes reversed.
_SPACE_SIGN = {
    "left-posterior-superior": (1, 1),
    "LPS": (1, 1),
    "right-anterior-superior": (-1, -1),
    "RAS": (-1, -1),
    "left-anterior-superior": (1, -1),
    "LAS": (1, -1),
}


# The numpy types NRRD stores (pynrrd's map, by the dtype code without byte
# order): signed and unsigned integers of 8-64 bits, float32 and float64.
_NRRD_DTYPES = {"i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"}
_NRRD_DTYPES_NAMES = {str(np.dtype(code)) for code in _NRRD_DTYPES}


def _spacing_and_flips(header, ndim):
    """Return in-plane spacing ``(row, col)`` and which axes to flip."""
    directions = header.get("space directions")
    flips = [False, False]
    if directions is not None:
        directions = np.asarray(
            [d if d is not None else [np.nan] * ndim for d in directions], dtype=float
        )
        # Rows of ``space directions`` follow NRRD axis order: x (col), y (row), z.
        col_dir, row_dir = directions[0], directions[1]
        spacing = (
            float(np.linalg.norm(row_dir[:2])),
            float(np.linalg.norm(col_dir[:2])),
        )
        signs = _SPACE_SIGN.get(header.get("space"))
        if signs is not None and directions.shape[1] >= 2:
            # Only axis-aligned directions are flipped; oblique ones are kept as is.
            if abs(col_dir[0]) > abs(col_dir[1]):
                flips[1] = np.sign(col_dir[0]) * signs[0] < 0
            if abs(row_dir[1]) > abs(row_dir[0]):
                flips[0] = np.sign(row_dir[1]) * signs[1] < 0
    elif "spacings" in header:
        spacings = header["spacings"]
        spacing = (float(spacings[1]), float(spacings[0]))
    else:
        spacing = (1.0, 1.0)
    return spacing, flips


# NRRD axis kinds that index positions; any other kind (RGB-color, vector, list,
# complex...) is an axis of per-pixel components.
_DOMAIN_KINDS = {"domain", "space", "time", "none", "???"}


def _vector_components(data, header):
    """Number of per-pixel components of a 3D array read from NRRD, or None.

    The file's ``kinds`` field decides when present; without it an array whose
    fastest axis (last in C order) has 2-4 entries while the others are larger
    is taken as a vector/colour image, as ITK and Slicer write them.
    """
    kinds = header.get("kinds")
    if kinds is not None and len(kinds) == data.ndim:
        # ``kinds`` lists the axes fastest first; C order lists them slowest first.
        for axis, kind in zip(reversed(range(data.ndim)), kinds):
            if kind is not None and str(kind).lower() not in _DOMAIN_KINDS:
                return data.shape[axis]
        return None
    if 2 <= data.shape[-1] <= 4 and min(data.shape[:-1]) > 4:
        return data.shape[-1]
    return None


def read_nrrd(path):
    """Read a 2D image (or a one-slice volume) from an NRRD file.

    Parameters
    ----------
    path : str or os.PathLike
        The NRRD file.

    Returns
    -------
    image : ndarray of shape (H, W)
        Indexed ``[row, col]``, in the file's dtype (HU for CT). NRRD stores the x
        axis fastest; the image is transposed accordingly and, for axis-aligned
        images in a known patient space (LPS, RAS, LAS), flipped so that it appears
        in radiological orientation (patient's right on the viewer's left).
    header : dict
        The NRRD header, plus ``"spacing"``: the in-plane pixel spacing
        ``(row_mm, col_mm)`` (1, 1 when the file has none).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is empty or not a readable NRRD, holds a vector or colour
        image (several components per pixel), or holds neither a 2D image nor a
        volume with a single slice.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skradnod.io import read_nrrd, write_nrrd
    >>> path = os.path.join(tempfile.mkdtemp(), "image.nrrd")
    >>> image = np.arange(12, dtype=np.int16).reshape(3, 4)
    >>> write_nrrd(path, image, spacing=(0.7, 0.6))
    >>> read, header = read_nrrd(path)
    >>> bool((read == image).all()), header["spacing"]
    (True, (0.7, 0.6))
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NRRD file not found: {os.fspath(path)!r}")
    if path.stat().st_size == 0:
        raise ValueError(
            f"Cannot read NRRD file {os.fspath(path)!r}: the file is empty (0 bytes); "
            "it was probably not written completely. Write it again."
        )
    try:
        data, header = nrrd.read(os.fspath(path), index_order="C")
    except Exception as exc:  # pynrrd raises several types for corrupt files
        reason = str(exc) or f"{type(exc).__name__} with no message"
        raise ValueError(
            f"Cannot read NRRD file {os.fspath(path)!r}: {reason}"
        ) from exc
    header = dict(header)
    if data.ndim == 3:
        components = _vector_components(data, header)
        if components is not None:
            raise ValueError(
                f"NRRD file {os.fspath(path)!r} holds a vector or colour image "
                f"({components} components per pixel, shape {data.shape}); "
                "skradnod needs single-channel (grayscale CT) 2D images. Convert "
                "it to one channel first."
            )
        if data.shape[0] != 1:
            raise ValueError(
                f"NRRD file {os.fspath(path)!r} holds a volume of {data.shape[0]} "
                f"slices (shape {data.shape}); skradnod needs 2D images or "
                "single-slice volumes."
            )
        data = data[0]
    elif data.ndim != 2:
        raise ValueError(
            f"NRRD file {os.fspath(path)!r} is {data.ndim}-dimensional "
            f"(shape {data.shape}); skradnod needs 2D images."
        )
    spacing, flips = _spacing_and_flips(header, int(header.get("dimension", 2)))
    if flips[0]:
        data = data[::-1]
    if flips[1]:
        data = data[:, ::-1]
    header["spacing"] = spacing
    return np.ascontiguousarray(data), header


def write_nrrd(path, array, spacing=None, *, compression_level=9):
    """Write a 2D image as a gzip-encoded NRRD file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; parent folders are created.
    array : array-like of shape (H, W)
        The image, indexed ``[row, col]``.
    spacing : float or (float, float), default=None
        Pixel spacing in mm, ``(row, col)`` or one value for both. None writes no
        spacing (read back as 1, 1).
    compression_level : int, default=9
        gzip level, 1 (fastest) to 9 (smallest). The built-in cohort uses 1: on
        noisy CT slices level 9 is ~5x slower for files ~3 % smaller.

    Raises
    ------
    ValueError
        If ``array`` is not 2D, or its dtype is one NRRD cannot store (bool,
        float16, complex): nothing is converted silently.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skradnod.io import write_nrrd
    >>> write_nrrd(os.path.join(tempfile.mkdtemp(), "a.nrrd"), np.zeros((8, 8)))
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(
            f"write_nrrd writes 2D images; got shape {array.shape} for {path!r}."
        )
    if array.dtype.str[1:] not in _NRRD_DTYPES:
        raise ValueError(
            f"write_nrrd cannot store dtype {array.dtype} in {os.fspath(path)!r}: "
            f"NRRD holds {', '.join(sorted(_NRRD_DTYPES_NAMES))}. Convert the "
            "image first (e.g. bool -> uint8, float16 -> float32)."
        )
    header = {"encoding": "gzip"}
    if spacing is not None:
        row, col = (spacing, spacing) if np.isscalar(spacing) else spacing
        # NRRD lists axes x (columns) first.
        header["spacings"] = [float(col), float(row)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrrd.write(
        os.fspath(path),
        np.ascontiguousarray(array),
        header,
        index_order="C",
        compression_level=compression_level,
    )
