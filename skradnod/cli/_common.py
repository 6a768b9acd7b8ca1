"""What the ``skradnod`` commands share: the demo sizes and the user's errors."""

import shutil
import tempfile
from pathlib import Path

# What ``skradnod demo`` runs at each size: "demo" (1,500 readings, all rows,
# two folds at a time, one torch thread each; its measured time is in the
# README) and "quick", the trimmed version the tests run (under a minute).
DEMO_SIZES = {
    "quick": {
        "n_samples": 60,
        "preset": "quick",
        "rows": ["majority", "semantic_oracle", "nodule/basic_cnn", "nodule/features"],
        "cv": 3,
        "task": "both",
        "binary_from_5class": True,
    },
    "demo": {
        "n_samples": 1500,
        "preset": "demo",
        "rows": None,
        "cv": 3,
        "task": "both",
        "binary_from_5class": True,
    },
    "full": {
        "n_samples": None,
        "preset": "full",
        "rows": None,
        "cv": 5,
        "task": "both",
        # The method trains a separate binary model.
        "binary_from_5class": False,
    },
}


class UserError(Exception):
    """An error in the user's input; printed as one line, exit status 2."""


def _check_out_dir(path, option):
    """Refuse an output path that names an existing file (not a folder)."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            if not part.is_dir():
                raise UserError(
                    f"{option} {path}: {part} exists and is a file, not a folder; "
                    "name a folder (new or existing)."
                )
            return path
    return path


# What a run writes into --out (cache/ holds content-keyed features, kept).
RUN_FILES = ("results.json", "results.md", "report.html")
RUN_FOLDERS = ("figures", "errors")


def _prepare_out_dir(path, option, overwrite, resume=False):
    """Check an experiment run's output folder before any work is done.

    The folder is created and a file written in it (so an unwritable folder is
    one error naming it, not a traceback after the first row), and a folder
    holding an earlier run is refused unless ``overwrite``: the new results
    would sit beside the old run's figures and error logs.

    Parameters
    ----------
    path : str or path-like
    option : str
        The option named in errors (``--out``).
    overwrite : bool
        Accept a folder holding an earlier run (its files are removed by
        :func:`_clear_old_run`).
    resume : bool, default=False
        Accept a folder holding an earlier run and keep it (its finished rows
        are kept by ``run_experiments(resume=True)``).

    Returns
    -------
    path : Path
    old : list of str
        The earlier run's entries found in the folder.

    Raises
    ------
    UserError
        If the path is under a file, cannot be created or written, or holds an
        earlier run and ``overwrite`` is False.
    """
    path = _check_out_dir(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UserError(
            f"{option} {path}: cannot write there ({exc.strerror or exc}); name a "
            "folder you can write to."
        ) from None
    old = [name for name in RUN_FILES if (path / name).exists()]
    old += [
        f"{name}/" for name in RUN_FOLDERS
        if (path / name).is_dir() and any((path / name).iterdir())
    ]
    if old and not overwrite and not resume:
        raise UserError(
            f"{option} {path} holds an earlier run ({', '.join(old)}); pass "
            "--overwrite to replace it (its results, figures/ and errors/ are "
            "removed first), --resume to keep its finished rows, or name "
            "another folder."
        )
    return path, [] if resume else old


def _clear_old_run(path, old):
    """Remove an earlier run's results, figures/ and errors/ from ``path``."""
    if not old:
        return
    for name in RUN_FILES:
        (path / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        if (path / name).is_dir():
            shutil.rmtree(path / name)
