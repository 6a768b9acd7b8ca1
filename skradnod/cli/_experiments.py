"""``skradnod demo`` and ``skradnod reproduce``: the experiments from the shell."""

import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ._common import DEMO_SIZES, UserError, _clear_old_run, _prepare_out_dir
from ._data import unused_files_as_one_line


def _run_experiments(data, **kwargs):
    """``run_experiments``, with an earlier run that cannot be resumed as one line."""
    from ..experiments import run_experiments

    try:
        return run_experiments(data, **kwargs)
    except ValueError as exc:
        if str(exc).startswith("resume:"):
            raise UserError(f"--resume: {str(exc).removeprefix('resume: ')}") from None
        raise


def _demo_jobs(n_jobs, device):
    """Folds in parallel for the demo: on a CPU, two one-thread processes.

    Two folds at once on two cores take two thirds of the serial wall time for
    3 folds; each process runs one torch thread (see ``--threads``). One
    process per fold (three on two cores) was measured on a fresh clone
    (2026-12-04): the demo took 848 s instead of 901 s, with 8.4 GB of memory
    in use at its peak. Not kept: 6 % less time is not worth a third process's
    memory (over 2 GB each in the full-slice rows) on a small machine.
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
    from ..base import resolve_device

    try:
        return resolve_device(device)
    except ValueError as exc:
        raise UserError(f"--device {device}: {exc}") from None


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
    from ..experiments import format_tables

    print("", file=stream)
    print(format_tables(results), file=stream)
    failed = results[results["status"] != "ok"].drop_duplicates(["key", "message"])
    for _, r in failed.iterrows():
        print(f"{r['key']}: {r['status']} - {r['message']}", file=stream)
    print(f"\nWall time: {wall:.0f} s.", file=stream)
    print(
        f"Report: {out / 'report.html'} (one page: tables, figures, what the "
        f"run used); {out / 'results.md'} (all metrics, what each row used); "
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
        f"{settings['max_epochs']} epochs"
        + (
            f" ({settings['full_max_epochs']} for the method's full-slice rows)"
            if "full_max_epochs" in settings else ""
        )
        + ", "
        f"forests of {settings['n_estimators']} trees, radiomics "
        f"{'+'.join(settings['radiomics_image_types'])} with RFECV step "
        f"{settings['rfecv_step']}."
    )


def _demo(args, stream):
    from ..datasets import make_lidc_cohort
    from ..experiments import PRESETS

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
    out, old = _prepare_out_dir(args.out, "--out", args.overwrite, args.resume)
    start = time.perf_counter()
    # All 6,859 full slices take 3.6 GB in memory; at full size read them lazily.
    data = make_lidc_cohort(
        n_samples=config["n_samples"],
        level=args.level,
        random_state=args.seed,
        lazy=args.size == "full",
    )
    _clear_old_run(out, old)
    results = _run_experiments(
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
        resume=args.resume,
    )
    _print_results(results, out, time.perf_counter() - start, stream)
    return 0


def _describe_data(args, data, device, stream):
    """Say how ``reproduce`` read the data and how it will split it."""
    if data.layout != "manifest.csv":
        print(f"No manifest.csv in {args.data}: read the folder layout "
              f"{data.layout} (skradnod make-manifest writes it out).", file=stream)
    if data.get("outside_paths"):
        print(
            f"skradnod: warning: --allow-outside: {len(data.outside_paths)} "
            f"file(s) read from outside {args.data}, e.g. {data.outside_paths[0]}",
            file=sys.stderr,
        )
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


def _reproduce(args, stream):
    from ..experiments import resolve_rows
    from ..io import load_nodule_dataset

    device = _check_device(args.device)
    _set_threads(args.threads)
    try:
        rows = resolve_rows(args.rows)
    except ValueError as exc:
        raise UserError(f"--rows: {exc}") from None
    if args.cv < 2:
        raise UserError(f"--cv must be at least 2; got {args.cv}.")
    params = _row_params(args)
    out, old = _prepare_out_dir(args.out, "--out", args.overwrite, args.resume)
    start = time.perf_counter()
    try:
        with unused_files_as_one_line("reproduce"):
            data = load_nodule_dataset(
                args.data, lazy=args.lazy, allow_outside=args.allow_outside
            )
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    _check_cv_fits(args.cv, data)
    _describe_data(args, data, device, stream)
    _clear_old_run(out, old)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no patient ids")
        results = _run_experiments(
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
            resume=args.resume,
        )
    _print_results(results, out, time.perf_counter() - start, stream)
    if len(results) and (results["status"] == "failed").all():
        # Not a success: nothing was measured (errors/ holds the tracebacks).
        print(
            f"skradnod reproduce: error: every row failed ({len(results)}); see "
            f"{out / 'errors'} and the messages in {out / 'results.md'}.",
            file=sys.stderr,
        )
        return 1
    return 0
