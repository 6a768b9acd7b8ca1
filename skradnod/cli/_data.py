"""``skradnod make-cohort``, ``make-manifest`` and ``make-pairs``: data sets."""

import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from ._common import UserError, _check_out_dir


@contextmanager
def unused_files_as_one_line(command):
    """Print a folder layout's :class:`~skradnod.io._layouts.UnusedFilesWarning`
    as one ``skradnod COMMAND: warning:`` line on stderr.

    Python's own display adds the warning's source line; other warnings are
    shown as they would have been.
    """
    from ..io._layouts import UnusedFilesWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnusedFilesWarning)
        yield
    for w in caught:
        if issubclass(w.category, UnusedFilesWarning):
            print(f"skradnod {command}: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _make_cohort(args, stream):
    from ..datasets import make_lidc_cohort

    if args.n_samples is not None and args.n_samples < 1:
        raise UserError(f"--n-samples must be positive; got {args.n_samples}.")
    _check_out_dir(args.out, "OUT")
    start = time.perf_counter()
    try:
        data = make_lidc_cohort(
            out_dir=args.out,
            n_samples=args.n_samples,
            level=args.level,
            label=args.label,
            min_readers=args.min_readers,
            random_state=args.random_state,
            n_jobs=args.n_jobs,
            variant=args.variant,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    n_patients = len(set(data.groups)) if data.groups is not None else "?"
    print(
        f"Wrote {len(data.target)} NRRD pairs (rendering {args.variant}) from "
        f"{n_patients} patients to "
        f"{args.out} (manifest: {Path(args.out) / 'manifest.csv'}) in "
        f"{time.perf_counter() - start:.0f} s.",
        file=stream,
    )
    return 0


def _make_manifest(args, stream):
    from ..datasets._base import write_manifest
    from ..io import MANIFEST_NAME, infer_manifest

    target = Path(args.dir) / MANIFEST_NAME
    if target.exists() and not args.force:
        raise UserError(f"{target} exists; pass --force to overwrite it.")
    try:
        with unused_files_as_one_line("make-manifest"):
            manifest = infer_manifest(args.dir)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    write_manifest(manifest, args.dir)
    counts = manifest["malignancy"].value_counts().sort_index()
    print(
        f"Layout {manifest.attrs['layout']}: {len(manifest)} pairs (malignancy "
        + ", ".join(f"{k}: {v}" for k, v in counts.items())
        + f"). Wrote {target}.",
        file=stream,
    )
    return 0


def _make_pairs(args, stream):
    from ..datasets import lidc_dicom_to_pairs

    start = time.perf_counter()
    try:
        data = lidc_dicom_to_pairs(
            args.lidc, args.out, level=args.level, label=args.label,
            min_readers=args.min_readers,
            patients=args.patients, margin=args.margin,
        )
    except (FileNotFoundError, ValueError, ImportError) as exc:
        raise UserError(str(exc)) from None
    skipped = Path(args.out) / "skipped.csv"
    with skipped.open() as lines:
        n_skipped = sum(1 for _ in lines) - 1
    print(
        f"Wrote {len(data.target)} NRRD pairs from {len(set(data.groups))} "
        f"patients to {args.out} in {time.perf_counter() - start:.0f} s; "
        f"{n_skipped} scan(s) skipped, listed in {skipped}.",
        file=stream,
    )
    return 0
