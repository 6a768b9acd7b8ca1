"""Running rows with patient-grouped cross-validation."""

import json
import os
import time
import traceback
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from ..base import resolve_device
from ..base._atomic import atomic_write
from ..datasets import RATINGS
from ..evaluation import (
    METRICS,
    binary_report,
    cross_validate_report,
    reader_agreement,
    to_binary,
)
from ..evaluation._report import _jsonable
from ..model_selection import UngroupedSplitWarning
from ._html import _run_settings, write_html_report
from ._presets import TASKS, _preset, _preset_name
from ._registry import EXPERIMENTS, get_experiment, resolve_rows
from ._report import _draw, _no_better_than_chance, _write_markdown
from ._rows import SPACING_COLUMN
from ._spec import ExperimentUnavailable

__all__ = ["RATING_COLUMNS", "row_input", "run_experiments"]

RATING_COLUMNS = RATINGS
"""The readers' eight ratings besides malignancy (LIDC-IDRI), read by the oracle."""


def _as_dataset(data):
    if isinstance(data, (str, os.PathLike)):
        from ..io import load_nodule_dataset

        return load_nodule_dataset(data)
    if isinstance(data, Bunch) or all(
        hasattr(data, name) for name in ("frame", "target")
    ):
        return data
    raise TypeError(
        "run_experiments needs a data set Bunch (load_nodule_dataset, "
        f"make_lidc_cohort) or a manifest folder; got {type(data).__name__}."
    )


def _with_spacing(frame):
    """``frame`` with its crops' spacing column, empty when it has none.

    A frame not from load_nodule_dataset has no spacing to give: empty cells
    mean the headers' spacing, else (1, 1) mm.
    """
    if SPACING_COLUMN in frame.columns:
        return frame
    return frame.assign(**{SPACING_COLUMN: [None] * len(frame)})


def _row_input(data, kind):
    frame = data.frame
    if kind == "none":
        return np.zeros((len(frame), 1))
    if kind == "ratings":
        columns = [*RATING_COLUMNS, "diameter_mm"]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ExperimentUnavailable(
                f"the data has no rating column(s) {missing} (only the built-in "
                "cohort and LIDC-style manifests carry the readers' ratings)"
            )
        return frame[columns].to_numpy(dtype=float)
    if kind == "frame":
        return _with_spacing(frame)
    if kind in ("nodule", "full"):
        images = getattr(data, kind, None)
        return frame[kind].to_numpy() if images is None else images
    if kind == "nodule+spacing":
        # The crops and each one's pixel spacing (RadiomicsExtractor's column).
        crops = pd.DataFrame({"nodule": list(_row_input(data, "nodule"))},
                             index=frame.index)
        return crops.assign(**{SPACING_COLUMN: _with_spacing(frame)[SPACING_COLUMN]})
    raise ValueError(f"Unknown experiment input {kind!r}.")


def row_input(data, key):
    """The X that row ``key`` reads from a data set, as :func:`run_row` gives it.

    Parameters
    ----------
    data : Bunch
        A data set (:func:`skradnod.io.load_nodule_dataset`; labels are not
        needed).
    key : str
        The row, e.g. ``"nodule/basic_cnn"``.

    Returns
    -------
    X : image batch, DataFrame or ndarray
        By the row's :attr:`Experiment.input`: the nodule crops (``data.nodule``)
        or full slices (``data.full``), the frame (``full`` and ``nodule``
        columns), the rating columns as a float array, or zeros of shape
        ``(n, 1)`` for the majority baseline.

    Raises
    ------
    ExperimentUnavailable
        If the row reads rating columns that ``data`` lacks.
    """
    return _row_input(data, get_experiment(key).input)


def _tasks(task):
    if task == "both":
        return ["5class", "binary"]
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; use '5class', 'binary' or 'both'.")
    return [task]


def run_experiments(
    data,
    rows=None,
    *,
    task="both",
    cv=5,
    device="auto",
    out_dir=None,
    preset="demo",
    params=None,
    n_bootstrap=None,
    random_state=0,
    n_jobs=None,
    figures=True,
    verbose=True,
    binary_from_5class=False,
    resume=False,
):
    """Run experiment rows with patient-grouped CV and write the report.

    Parameters
    ----------
    data : Bunch or path
        A data set from :func:`skradnod.io.load_nodule_dataset` or
        :func:`skradnod.datasets.make_lidc_cohort` (``frame``, ``target``,
        ``groups``, and ``nodule``/``full``), or a manifest folder to load.
    rows : str or list of str, default=None
        Rows to run (see :func:`resolve_rows`); None runs all.
    task : {"5class", "binary", "both"}, default="both"
        Malignancy 1-5, benign (1-3) vs malignant (4-5), or both.
    cv : int or splitter, default=5
        Outer folds; patient-grouped when ``data.groups`` exists.
    device : str, default="auto"
        Torch device of the nets (``"auto"``: CUDA if available).
    out_dir : str or path, default=None
        Where ``results.md``, ``results.json``, ``report.html`` (tables and
        figures in one self-contained page, :func:`write_html_report`),
        ``figures/`` and ``errors/`` (tracebacks of failed rows) go. None
        writes nothing.
    preset : {"quick", "demo", "full"} or dict, default="demo"
        Size of the rows (:data:`PRESETS`); a dict overrides entries of
        ``"demo"``.
    params : dict, default=None
        Per-row options by row name or key, e.g. ``{"transfer_radimagenet":
        {"weights": "radimagenet_resnet50.pt", "backbone": "resnet50"}}``.
    n_bootstrap : int, default=None
        Bootstrap resamples of the intervals (default: the preset's).
    random_state : int, default=0
        Seed of folds, bootstrap and models.
    n_jobs : int, default=None
        Folds fitted in parallel processes (joblib). On a CPU, ``n_jobs=2`` with
        one torch thread per process uses two cores better than one process
        with two torch threads for the package's small nets.
    figures : bool, default=True
        Draw confusion-matrix, confidence and calibration figures per row/task
        (when ``out_dir`` is given).
    verbose : bool, default=True
        Print progress per row and fold.
    binary_from_5class : bool, default=False
        With ``task="both"``, read the binary task off each row's 5-class
        model (P(malignant) = P(4) + P(5), :func:`~skradnod.evaluation.
        binary_report`) instead of training a second model: half the cost, the
        same folds and patients. The report's "used" column says so.
    resume : bool, default=False
        Keep the rows an earlier run into ``out_dir`` finished (status "ok",
        in its ``results.json``) instead of fitting them again: after an
        interrupt, a rerun does only what is left. The earlier run must have
        the same data, folds, preset, seed and bootstrap (else ValueError,
        naming what differs); failed and unavailable rows run again.

    Returns
    -------
    results : DataFrame
        One line per (row, task): ``table``, ``row``, ``key``, ``title``,
        ``task``, ``status`` (``"ok"``, ``"failed"``, ``"unavailable"``),
        ``message``, each metric of :data:`~skradnod.evaluation.METRICS` with
        ``<metric>_ci_low`` / ``<metric>_ci_high``, ``fit_time`` (mean seconds
        per fold), ``wall_time``, ``n_samples``, ``used`` (the settings),
        ``description``, ``figures`` and ``no_better_than_chance`` (True when
        the ROC AUC's bootstrap interval contains 0.5 or lies below it, also
        for the baselines; None without an interval or a number; marked
        ``(chance)`` in the tables). A failing row is reported, not raised;
        the others still run. When the data carry the readers' ratings (a
        ``malignancy_readers`` column: the built-in cohort, ``make-pairs
        --lidc`` output), ``results.attrs["radiologists"]`` holds their
        :func:`~skradnod.evaluation.reader_agreement` (else None), the
        reference row of ``results.md`` and the ``context.radiologists`` of
        ``results.json``.

    Raises
    ------
    ValueError
        For an unknown row, task, preset or device, ``device="cuda"`` without
        a GPU, or a ``malignancy_readers`` column whose rows of one nodule
        disagree.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.utils import Bunch
    >>> from skradnod.experiments import run_experiments
    >>> y = np.array([1, 3, 3, 3, 5] * 8)
    >>> data = Bunch(frame=pd.DataFrame(index=range(40)), target=y,
    ...              groups=np.arange(40))
    >>> results = run_experiments(data, rows="nodule/majority", task="5class",
    ...                           verbose=False, n_bootstrap=0)
    >>> float(results.loc[0, "accuracy"])  # always predicts 3
    0.6
    """
    start = time.perf_counter()
    source = data if isinstance(data, (str, os.PathLike)) else None
    data = _as_dataset(data)
    keys = resolve_rows(rows)
    tasks = _tasks(task)
    settings = _preset(preset)
    preset_name = _preset_name(preset)
    device = resolve_device(device)
    n_bootstrap = settings["n_bootstrap"] if n_bootstrap is None else n_bootstrap
    params = _check_row_params(params)
    groups = getattr(data, "groups", None)
    # Before any row trains, so that a bad reader table fails at once.
    radiologists = _radiologists(data, n_bootstrap, random_state)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    n_patients = len(np.unique(groups)) if groups is not None else None
    if groups is None:
        warnings.warn(
            "The data has no patient ids (manifest column patient_id), so folds "
            "are not grouped by patient, nor are the rows' inner splits "
            "(early stopping, RFECV, model search); scores are optimistic when a "
            "patient has several samples.",
            UserWarning,
            stacklevel=2,
        )
    say = tqdm.write if verbose else (lambda *_: None)
    say(
        f"Running {len(keys)} row(s) x {len(tasks)} task(s) on {len(data.target)} "
        "samples" + (f" from {n_patients} patients" if n_patients else "")
        + f", {cv}-fold CV, preset {preset_name!r}, device {device}."
    )
    if radiologists is not None:
        m = radiologists.metrics
        say(
            f"Radiologists (reference, {radiologists.n_readings} readings): exact "
            f"{m['accuracy']:.3f}, within one {m['within_one']:.3f}, binary "
            f"{m['benign_accuracy']:.3f}, Fleiss' kappa {m['fleiss_kappa']:.2f}."
        )
    finished = {}
    if resume:
        if out is None:
            raise ValueError("resume=True needs out_dir (the earlier run's folder).")
        finished = _finished_rows(
            out / "results.json",
            _context(data, cv, groups, preset_name, device, 0.0, n_bootstrap,
                     n_patients, random_state),
            settings, binary_from_5class,
        )
        if finished:
            say(f"Resuming: {len(finished)} row(s) finished in the earlier run "
                f"in {out} are kept.")
    options = {
        "preset": preset, "cv": cv, "device": device, "n_bootstrap": n_bootstrap,
        "random_state": random_state, "n_jobs": n_jobs, "verbose": verbose,
        # Radiomic features depend on the image alone; cache them across folds,
        # tasks and rows.
        "memory": None if out is None else os.fspath(out / "cache"),
    }
    jobs = [(key, t) for key in keys for t in tasks]
    run = _run_settings(
        data, source=source, rows=keys, tasks=tasks, n_jobs=n_jobs, figures=figures,
        binary_from_5class=binary_from_5class, resume=resume, params=params,
    )

    def write_results(records, reports):
        # Called after every row, before its figures: a full disk while drawing
        # loses no finished row, and each write replaces the file atomically.
        if out is None:
            return
        results = pd.DataFrame.from_records(records)
        wall = time.perf_counter() - start
        context = _context(
            data, cv, groups, preset_name, device, wall, n_bootstrap, n_patients,
            random_state,
        )
        if radiologists is not None:
            context["radiologists"] = radiologists.to_dict()
        context["run"] = run
        _write_markdown(out / "results.md", results, context)
        _write_json(
            out / "results.json", results, reports, context, settings,
            samples=_sample_table(data, groups),
        )
        write_html_report(out, results, {**context, "settings": settings})

    records, reports = _run_jobs(
        jobs, data, params, options, out=out, figures=figures,
        binary_from_5class=binary_from_5class, say=say, write=write_results,
        finished=finished,
    )
    write_results(records, reports)
    say(f"Done in {time.perf_counter() - start:.0f} s.")
    results = pd.DataFrame.from_records(records)
    results.attrs["radiologists"] = radiologists
    return results


def _radiologists(data, n_bootstrap, random_state):
    """The readers' agreement when the data carry ``malignancy_readers``, else None."""
    frame = data.frame
    if "malignancy_readers" not in frame.columns:
        return None
    return reader_agreement(
        frame["malignancy_readers"],
        nodules=frame["nodule_id"] if "nodule_id" in frame.columns else None,
        groups=getattr(data, "groups", None),
        ids=frame.index,
        n_bootstrap=n_bootstrap,
        random_state=random_state,
    )


def _check_row_params(params):
    """A copy of the per-row options, refusing names that match no row."""
    params = dict(params or {})
    known = {spec.name for spec in EXPERIMENTS.values()} | set(EXPERIMENTS)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"params names unknown row(s) {unknown}.")
    return params


def _run_jobs(
    jobs, data, params, options, *, out, figures, binary_from_5class, say, write,
    finished=None,
):
    """Run each ``(key, task)`` of ``jobs``: the results records and reports.

    A baseline runs once per task and stands in every table; with
    ``binary_from_5class`` the binary task is read off the 5-class model.
    ``write(records, reports)`` records the rows finished so far, before the
    figures of the last one are drawn.
    """
    records, reports, baselines, five_class = [], [], {}, {}
    for i, (key, task_name) in enumerate(jobs, 1):
        spec = EXPERIMENTS[key]
        say(f"[{i}/{len(jobs)}] {key} ({task_name}) ...")
        if (key, task_name) in (finished or {}):
            record, report = finished[(key, task_name)]
            say("    kept from the earlier run: " + _progress_line(record, report)
                .strip())
            records.append(record)
            reports.append(report)
            continue
        row_params = {**params.get(spec.name, {}), **params.get(key, {})}
        cached = baselines.get((spec.name, task_name)) if spec.baseline else None
        if cached is None and task_name == "binary" and key in five_class:
            cached = _binary_row(
                *five_class[key], options["n_bootstrap"], options["random_state"]
            )
        record, report = cached or run_row(
            key, data, task=task_name, params=row_params, out=out, **options
        )
        if spec.baseline:
            baselines[(spec.name, task_name)] = (record, report)
        if binary_from_5class and task_name == "5class" and (
            report is not None and report.proba is not None
        ):
            five_class[key] = (record, report)
        # A baseline computed once is this table's row too.
        record = {**record, "table": spec.table, "key": key, "title": spec.title}
        write([*records, record], [*reports, report])
        if report is not None and out is not None and figures:
            record["figures"] = ";".join(
                _draw(
                    report,
                    out,
                    f"{spec.table}-{spec.name}-{task_name}",
                    f"{spec.title} ({TASKS[task_name][0]}, {spec.table})",
                )
            )
        say(_progress_line(record, report))
        records.append(record)
        reports.append(report)
    return records, reports


def _binary_row(record, report, n_bootstrap, random_state):
    """The binary row read off a 5-class row's out-of-fold probabilities."""
    binary = binary_report(report, n_bootstrap=n_bootstrap, random_state=random_state)
    record = {
        **record, "task": "binary", "wall_time": 0.0,
        "used": record["used"] + ", binary = P(4) + P(5) of the 5-class model",
    }
    binary.sample_outputs = report.sample_outputs  # the same located centres
    _record_metrics(record, binary)
    return record, binary


def _record_metrics(record, report):
    """Copy a report's metrics and their intervals into a results record.

    Also sets ``no_better_than_chance`` from the ROC AUC's interval
    (``_no_better_than_chance``: None without one).
    """
    for metric in METRICS:
        low, high = report.ci[metric]
        record.update(
            {metric: report.metrics[metric], f"{metric}_ci_low": low,
             f"{metric}_ci_high": high}
        )
    error = report.sample_outputs.get("center_error")
    if error is not None:
        # The located rows' centre error on held-out patients, in pixels of
        # the full-resolution slice.
        record.update(
            center_error_px_median=float(np.median(error)),
            center_error_px_q90=float(np.quantile(error, 0.9)),
        )
    record["no_better_than_chance"] = _no_better_than_chance(record)


def _progress_line(record, report):
    if report is None:
        return f"    {record['status']}: {record['message']}"
    low, high = report.ci["accuracy"]
    centre = ""
    if "center_error_px_median" in record:
        centre = f", median centre error {record['center_error_px_median']:.1f} px"
    line = (
        f"    accuracy {report.metrics['accuracy']:.3f} [{low:.3f}, {high:.3f}]"
        f"{centre}, {record['wall_time']:.1f} s"
    )
    if record.get("no_better_than_chance"):
        line += (
            f", no better than chance (ROC AUC {record['roc_auc']:.3f} "
            f"[{record['roc_auc_ci_low']:.3f}, {record['roc_auc_ci_high']:.3f}])"
        )
    return line


def _new_record(spec, task, n_samples):
    record = {
        "table": spec.table, "row": spec.name, "key": spec.key, "title": spec.title,
        "task": task, "status": "ok", "message": "", "description": spec.description,
        "used": "", "n_samples": n_samples, "fit_time": np.nan, "wall_time": np.nan,
        "figures": "",
    }
    for metric in METRICS:
        record.update(
            {metric: np.nan, f"{metric}_ci_low": np.nan, f"{metric}_ci_high": np.nan}
        )
    record["no_better_than_chance"] = None
    return record


def run_row(
    key, data, *, task="5class", preset="demo", cv=5, device="cpu", params=None,
    n_bootstrap=1000, random_state=0, n_jobs=None, memory=None, out=None,
    verbose=False,
):
    """Build one row for ``task`` and cross-validate it with patient groups.

    Parameters are those of :func:`run_experiments` (``data`` already loaded,
    ``task`` one of ``"5class"``/``"binary"``, ``params`` the row's own options,
    ``memory`` a cache folder for radiomic features, ``out`` the folder for the
    traceback of a failing row).

    Returns
    -------
    record : dict
        The row's line of the results table.
    report : Report or None
        The cross-validated report; None when the row is unavailable or failed.
    """
    spec = get_experiment(key)
    record = _new_record(spec, task, len(data.target))
    start = time.perf_counter()
    report = None
    try:
        estimator, used = spec.build(
            preset=preset, task=task, device=device, random_state=random_state,
            memory=memory, **(params or {}),
        )
        record["used"] = ", ".join(f"{k}={v}" for k, v in used.items())
        y = np.asarray(data.target)
        groups = getattr(data, "groups", None)
        with warnings.catch_warnings():
            if groups is None:  # run_experiments warned once for the whole run
                warnings.simplefilter("ignore", UngroupedSplitWarning)
            report = cross_validate_report(
                estimator, _row_input(data, spec.input),
                y if task == "5class" else to_binary(y), groups=groups, cv=cv,
                n_bootstrap=n_bootstrap, random_state=random_state,
                class_names=TASKS[task][1], n_jobs=n_jobs, verbose=verbose,
                sample_outputs=spec.sample_outputs,
            )
    except (ExperimentUnavailable, ImportError) as exc:
        # An optional dependency imported only when the model is fitted
        # (torchvision, timm) is an ImportError here.
        name = getattr(exc, "name", None)
        prefix = f"{name} is not installed: " if name else ""
        record.update(status="unavailable", message=prefix + str(exc))
        if not record["used"]:
            record["used"] = ", ".join(f"{k}={v}" for k, v in (params or {}).items())
    except Exception as exc:  # a failing row must not stop the others
        record.update(status="failed", message=_failure(exc, spec, task, out))
    record["wall_time"] = time.perf_counter() - start
    if report is not None:
        record["fit_time"] = float(np.mean(report.fit_time))
        _record_metrics(record, report)
    return record, report


def _failure(exc, spec, task, out):
    message = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if out is not None:
        log = out / "errors" / f"{spec.table}-{spec.name}-{task}.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc())
        message += f" (traceback: {log})"
    return message


def _context(
    data, cv, groups, preset_name, device, wall, n_bootstrap, n_patients,
    random_state=None,
):
    grouped = groups is not None
    # The splitter cross_validate_report makes of an int cv (its _make_cv).
    if isinstance(cv, Integral):
        kind = (
            "StratifiedGroupKFold by patient"
            if grouped
            else "StratifiedKFold (no patient ids: not grouped)"
        )
        cv_text = f"{cv}-fold {kind}"
    else:
        cv_text = repr(cv)
    outside = len(getattr(data, "outside_paths", None) or [])
    return {
        "data": f"{len(data.target)} samples"
        + (f" from {n_patients} patients" if n_patients else "")
        + (f" ({outside} file(s) read from outside the data folder)"
           if outside else ""),
        "cv": cv_text,
        "preset": preset_name,
        "device": device,
        "wall_time": wall,
        "bootstrap": f"{n_bootstrap} resamples" + (" of patients" if grouped else ""),
        "random_state": random_state,
    }


def _sample_table(data, groups):
    """Each sample's id (the manifest's ``id``) and patient, in the rows' order.

    Every row's ``report.samples`` lists its out-of-fold predictions in this
    order, so they join back to the manifest by id.
    """
    ids = [str(i) for i in data.frame.index]
    table = {"id": ids}
    if groups is not None:
        table["patient_id"] = [str(g) for g in np.asarray(groups)]
    return table


class _StoredReport:
    """A finished row's report as an earlier run's results.json holds it."""

    def __init__(self, payload):
        self.payload = payload
        self.metrics = payload["metrics"]
        self.ci = {k: tuple(v) for k, v in payload["ci95"].items()}

    def to_dict(self, *, samples=False):
        return self.payload


# What must match for an earlier run's rows to be kept.
_RESUME_KEYS = ("data", "cv", "preset", "bootstrap", "random_state", "settings")


def _finished_rows(path, context, settings, binary_from_5class):
    """``{(key, task): (record, report)}`` of the rows an earlier run finished."""
    if not path.is_file():
        return {}
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        earlier = payload["context"]
        rows = payload["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"resume: cannot read the earlier run's {path} ({exc}); rerun "
            "without resume (CLI: --overwrite)."
        ) from None
    now = json.loads(json.dumps(_jsonable({**context, "settings": settings})))
    differ = [k for k in _RESUME_KEYS if earlier.get(k) != now.get(k)]
    if differ:
        raise ValueError(
            f"resume: the earlier run in {path.parent} used other "
            f"{', '.join(differ)} (earlier {[earlier.get(k) for k in differ]}, "
            f"now {[now.get(k) for k in differ]}); rerun without resume (CLI: "
            "--overwrite) or name another folder."
        )
    finished = {
        (row["key"], row["task"]): (
            {k: v for k, v in row.items() if k != "report"},
            _StoredReport(row["report"]),
        )
        for row in rows
        if row.get("status") == "ok" and row.get("report") is not None
    }
    if binary_from_5class:
        # A binary row read off its 5-class model needs that model's report
        # object: keep the two together or run both again.
        finished = {
            (key, task): kept for (key, task), kept in finished.items()
            if (key, "binary") in finished and (key, "5class") in finished
            or getattr(EXPERIMENTS.get(key), "baseline", False)
        }
    # Rows the registry no longer has are not this run's.
    finished = {job: kept for job, kept in finished.items() if job[0] in EXPERIMENTS}
    return finished


def _write_json(path, results, reports, context, settings, samples=None):
    payload = {
        "context": {
            **context,
            "settings": {
                k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()
            },
        },
        "samples": samples,
        "rows": [
            {
                **_jsonable(rec),
                "report": None if rep is None else rep.to_dict(samples=True),
            }
            for rec, rep in zip(results.to_dict(orient="records"), reports)
        ],
    }
    with atomic_write(path) as fh:
        fh.write(json.dumps(payload, indent=1))
