"""What the ``skradnod`` commands share: the demo sizes and the user's errors."""

from pathlib import Path

# What ``skradnod demo`` runs at each size. Measured on the 2-core development
# machine: "demo" (1,500 readings, two folds at a time, one torch thread each)
# took 7 min 56 s wall on idle cores with the cohort already built (800 s CPU),
# and 10 min 24 s while another benchmark process shared the cores; "quick" is
# the trimmed version the tests run (under a minute).
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
