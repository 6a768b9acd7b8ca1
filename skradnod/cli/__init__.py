"""The ``skradnod`` command: ``demo``, ``reproduce``, ``make-cohort``,
``make-manifest``, ``make-pairs``, ``fit``, ``predict`` and ``explain``.

``skradnod demo`` runs the method's experiments on the built-in LIDC cohort,
sized for a laptop CPU; ``skradnod reproduce DATA`` runs them on a folder of
NRRD pairs (with a ``manifest.csv`` or in a known folder layout); ``skradnod
make-cohort OUT`` writes the built-in cohort as such a folder; ``skradnod
make-manifest DIR`` writes the manifest inferred from a folder layout;
``skradnod make-pairs --lidc DICOM_ROOT OUT`` turns a LIDC-IDRI DICOM download
into pairs. ``skradnod fit DATA --model KEY --out MODEL.skradnod`` trains one
row on all of DATA and writes the model file and its model card
(``MODEL.card.md``, ``MODEL.card.json``; ``--cv K`` adds a patient-grouped CV
estimate); ``skradnod predict MODEL DATA --out predictions.csv`` predicts data
with or without labels, one row per id, refusing pairs outside the model's
input contract unless ``--allow-out-of-contract``; ``skradnod explain MODEL
DATA --out DIR`` writes a Grad-CAM picture per pair for an image net, or the
feature importance of a radiomic model on labelled DATA, and
``explanations.csv``. Errors a user can cause
(a missing manifest, an unknown row, ``--device cuda`` without a GPU) print
one line and exit with status 2.
"""

import sys
import warnings

# The parser is in _parser (one function per subcommand), the commands in
# _experiments (demo, reproduce), _data (make-cohort, make-manifest,
# make-pairs) and _model (fit, predict); build_parser stays importable
# from here as before.
from ._common import DEMO_SIZES, UserError
from ._data import _make_cohort, _make_manifest, _make_pairs
from ._experiments import _demo, _reproduce
from ._explain import _explain
from ._model import _fit, _predict
from ._parser import build_parser

__all__ = ["DEMO_SIZES", "main"]

COMMANDS = {"demo": _demo, "reproduce": _reproduce, "make-cohort": _make_cohort,
            "make-manifest": _make_manifest, "make-pairs": _make_pairs,
            "fit": _fit, "predict": _predict, "explain": _explain}


def main(argv=None):
    """Run the ``skradnod`` command line.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 2 for a usage or input error (printed as one line on
        stderr).

    Examples
    --------
    >>> from skradnod.cli import main
    >>> main(["reproduce", "/no/such/folder", "--quiet"])  # doctest: +SKIP
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with warnings.catch_warnings():
            # Small classes in the nets' inner validation splits trigger this on
            # every fold; the report's own folds are checked separately.
            warnings.filterwarnings(
                "ignore", message="The least populated class in y", category=UserWarning
            )
            return COMMANDS[args.command](args, sys.stdout)
    except UserError as exc:
        print(f"skradnod {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skradnod {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # A full disk, an unwritable folder: one line naming the file (the
        # atomic writers put the path in the message), not a traceback.
        print(f"skradnod {args.command}: error: {exc}", file=sys.stderr)
        return 2
