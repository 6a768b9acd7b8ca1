"""Where skradnod keeps the data sets it builds."""

import os
from pathlib import Path

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
    if data_home is None:
        data_home = os.environ.get(ENV_VAR) or os.path.join("~", "skradnod_data")
    if not isinstance(data_home, (str, os.PathLike)):
        raise TypeError(
            f"data_home must be a str or os.PathLike, got {type(data_home).__name__}."
        )
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return os.fspath(path)
