"""Report writers: the Markdown tables, ``results.md`` and the figures."""

import os
from pathlib import Path

import numpy as np

from ..base._atomic import atomic_write
from ..evaluation import plot_calibration, plot_confidence, plot_confusion_matrix
from ._presets import TABLES, TASKS

__all__ = ["format_tables"]


# The mark of a row/task whose ROC AUC is no better than chance. Plain ASCII
# words, not a footnote sign: the console summary prints these tables too, and a
# sign outside the console's encoding would fail the run after it finished.
_CHANCE_MARK = "(chance)"


def _no_better_than_chance(result):
    """Whether a row/task's ROC AUC is no better than chance, or None if unknown.

    True when the lower end of its bootstrap 95 % interval is at most 0.5: the
    interval contains 0.5 (or lies below it, which is no better either). None
    without an interval (``n_bootstrap=0``, a row that did not run, a model
    without probabilities): the data cannot say, so no mark is claimed.

    Baselines are judged like every other row, on purpose: the mark is a fact
    about the interval, not a verdict on the row, so consumers of
    ``results.json`` need no special case, and a semantic oracle at chance
    would be a finding to show. The majority baseline carries the mark by
    construction (its probabilities are its training folds' class
    frequencies, the same for every sample of a fold); the legend says so.

    Parameters
    ----------
    result : mapping
        A results record with ``roc_auc_ci_low`` (and ``status``).

    Returns
    -------
    flag : bool or None
    """
    if result.get("status", "ok") != "ok":
        return None
    low = result.get("roc_auc_ci_low")
    if low is None or np.isnan(low):
        return None
    return bool(low <= 0.5)


def _chance_legend(results):
    """The legend line of :data:`_CHANCE_MARK`; empty when no row carries it."""
    flagged = [
        r for r in results.to_dict(orient="records") if _no_better_than_chance(r)
    ]
    if not flagged:
        return ""
    text = (
        f"{_CHANCE_MARK}: no better than chance on this task - the bootstrap "
        "95 % interval of its ROC AUC (Other metrics) contains 50 % or lies "
        "below it."
    )
    if any(r["row"] == "majority" for r in flagged):
        text += (
            " The majority baseline carries it by construction: its "
            "probabilities are its training classes' frequencies, the same for "
            "every sample, so they rank nothing."
        )
    return text


def _marked(cell, result):
    return f"{cell} {_CHANCE_MARK}" if _no_better_than_chance(result) else cell


# Shown as they are (two decimals), not as percent: a mean error in rating
# points and the kappas.
_PLAIN = ("mae", "qwk", "fleiss_kappa")


def _cell(result, metric):
    value = result.get(metric)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    low, high = result.get(f"{metric}_ci_low"), result.get(f"{metric}_ci_high")
    scale, digits = (1, 2) if metric in _PLAIN else (100, 1)
    if low is None or np.isnan(low):
        return f"{scale * value:.{digits}f}"
    return (
        f"{scale * value:.{digits}f} [{scale * low:.{digits}f}, "
        f"{scale * high:.{digits}f}]"
    )


def _status_cell(result):
    status = result["status"]
    if status == "unavailable" and "weights not available" in result["message"]:
        return "weights not available"
    return status


def _thesis_tables(results):
    """The thesis's tables as data, for the Markdown and the HTML report.

    Returns
    -------
    tables : list of (heading, columns, rows)
        One entry per table present in ``results``; ``rows`` are lists of cell
        strings, the first the model's title.
    """
    tables = []
    tasks = [t for t in TASKS if t in set(results["task"])]
    for table, heading in TABLES.items():
        part = results[results["table"] == table]
        if part.empty:
            continue
        columns = ["Model"]
        for task in tasks:
            label = TASKS[task][0]
            columns += [f"{label} accuracy", "precision", "recall"]
        rows = []
        for name in dict.fromkeys(part["row"]):
            same = part[part["row"] == name]
            cells = [same["title"].iloc[0]]
            for task in tasks:
                match = same[same["task"] == task]
                if match.empty:
                    cells += ["-"] * 3
                    continue
                result = match.iloc[0].to_dict()
                if result["status"] != "ok":
                    cells += [_status_cell(result), "-", "-"]
                else:
                    cells += [
                        _marked(_cell(result, "accuracy"), result),
                        _cell(result, "precision"),
                        _cell(result, "recall"),
                    ]
            rows.append(cells)
        tables.append((heading, columns, rows))
    return tables


def _markdown_table(columns, rows):
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---"] * len(columns)) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def format_tables(results, *, header=True):
    """Lay results out like the thesis's Tables 2 and 3, as Markdown.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`run_experiments`.
    header : bool, default=True
        Include each table's heading.

    Returns
    -------
    text : str
        One Markdown table per table present: rows = models, columns = accuracy,
        weighted precision and recall (percent, [95 % CI]) per task. A task's
        accuracy is followed by ``(chance)`` when its ROC AUC interval
        contains 0.5 or lies below it, with a legend line below the tables
        (no mark without intervals).
    """
    lines = []
    for heading, columns, rows in _thesis_tables(results):
        if header:
            lines += [f"## {heading}", ""]
        lines += [*_markdown_table(columns, rows), ""]
    legend = _chance_legend(results)
    if legend:
        lines += [legend, ""]
    return "\n".join(lines)


_OTHER_COLUMNS = [
    "Table", "Model", "Task", "Balanced accuracy", "Macro F1", "ROC AUC", "ECE",
    "Fit time per fold (s)",
]


def _other_metrics_rows(results):
    """The cells of the "Other metrics" table: one list per finished row/task."""
    rows = []
    for _, r in results[results["status"] == "ok"].iterrows():
        r = r.to_dict()
        rows.append([
            r["table"], r["title"], TASKS[r["task"]][0],
            _cell(r, "balanced_accuracy"), _cell(r, "f1_macro"),
            _marked(_cell(r, "roc_auc"), r), _cell(r, "ece"), f"{r['fit_time']:.1f}",
        ])
    return rows


def _other_metrics_table(results):
    rows = _other_metrics_rows(results)
    if not rows:
        return ""
    return "\n".join(_markdown_table(_OTHER_COLUMNS, rows)) + "\n"


# The literature's columns: (metric, heading); "-" where a row has none.
_LITERATURE_COLUMNS = (
    ("accuracy", "5-class accuracy"),
    ("within_one", "Within ±1"),
    ("mae", "MAE"),
    ("qwk", "QWK"),
    ("benign_accuracy", "Binary acc. (3 benign)"),
    ("benign_auc", "AUC (3 benign)"),
    ("excluded_accuracy", "Binary acc. (3 excluded)"),
    ("excluded_auc", "AUC (3 excluded)"),
    ("three_class_accuracy", "3-class acc."),
)


def _flat(agreement):
    """A reader agreement's ``to_dict()`` as a results record (for ``_cell``)."""
    record = dict(agreement["metrics"])
    for metric, (low, high) in agreement["ci95"].items():
        record.update({f"{metric}_ci_low": low, f"{metric}_ci_high": high})
    return record


_LITERATURE_INTRO = (
    "The 5-class models in the numbers papers on LIDC-IDRI report: within-one "
    "accuracy, mean absolute error (rating points) and quadratic-weighted "
    "kappa of the ratings; binary accuracy and AUC with score 3 counted "
    "benign (the thesis's) or left out (true score 3 dropped, most binary "
    "results in the literature), P(malignant) = P(4) + P(5), malignant when "
    "at least 0.5; and the 3-class accuracy of benign (1-2) / "
    "indeterminate (3) / malignant (4-5), the group of largest summed "
    "probability. Percent (MAE and QWK as they are) with 95 % intervals."
)


def _literature_rows(results, radiologists=None):
    """``(columns, rows)`` of the literature table; None when it has no row."""
    ok = results[(results["status"] == "ok") & (results["task"] == "5class")]
    if ok.empty and radiologists is None:
        return None
    columns = ["Table", "Model", *(h for _, h in _LITERATURE_COLUMNS)]
    rows = []
    for _, r in ok.iterrows():
        r = r.to_dict()
        rows.append(
            [r["table"], r["title"], *(_cell(r, m) for m, _ in _LITERATURE_COLUMNS)]
        )
    if radiologists is not None:
        r = _flat(radiologists)
        rows.append([
            "reference", "Radiologists (one reader vs the others' median)",
            *(_cell(r, m) if m in r else "-" for m, _ in _LITERATURE_COLUMNS),
        ])
    return columns, rows


def _literature_table(results, radiologists=None):
    """The 5-class rows in the literature's metrics, with the radiologists' row."""
    table = _literature_rows(results, radiologists)
    if table is None:
        return ""
    return "\n".join(_markdown_table(*table)) + "\n"


def _literature_section(results, radiologists):
    table = _literature_table(results, radiologists)
    if not table:
        return []
    lines = ["## Literature metrics", "", _LITERATURE_INTRO, "", table]
    if radiologists is not None:
        lines += [_radiologists_text(radiologists), ""]
    return lines


def _radiologists_text(agreement):
    r = _flat(agreement)
    sizes = ", ".join(
        f"{k} for {count}" for k, count in agreement["readers_per_nodule"].items()
    )
    patients = agreement["n_patients"]
    return (
        "The radiologists' row is a reference, not a model: each of the "
        f"{agreement['n_readings']} readings of the {agreement['n_nodules']} "
        "nodules read by two or more radiologists"
        + (f" ({patients} patients)" if patients else "")
        + f" against the {agreement['rule']} (readers per nodule: {sizes}); "
        "Fleiss' kappa "
        f"over those nodules {_cell(r, 'fleiss_kappa')}. A model scored against "
        "a radiologist's rating is doing as well as another radiologist when it "
        "reaches this row."
    )


def _numbers_text(context):
    """The line saying what the numbers are (both reports)."""
    return (
        "Numbers are percent, pooled over the out-of-fold predictions, with "
        f"bootstrap 95 % intervals ({context['bootstrap']}). Precision and recall "
        "are support-weighted, as in the method's tables."
    )


def _other_metrics_text(results):
    """The line introducing the "Other metrics" table (both reports)."""
    return (
        "Balanced accuracy, macro F1, one-vs-rest ROC AUC and the expected "
        "calibration error (ECE, lower is better), percent with 95 % intervals."
        + (f" {_CHANCE_MARK} marks a ROC AUC whose interval contains 50 % or "
           "lies below it." if _chance_legend(results) else "")
    )


def _not_run(results):
    """``(key, tasks, status, message)`` of each row/task without a number."""
    not_run = results[results["status"] != "ok"]
    return [
        (key, ", ".join(part["task"]), status, message)
        for (key, status, message), part in not_run.groupby(
            ["key", "status", "message"], sort=False
        )
    ]


def _write_markdown(path, results, context):
    lines = [
        "# skradnod results",
        "",
        f"Data: {context['data']}. Cross-validation: {context['cv']}. "
        f"Preset: `{context['preset']}`. Device: {context['device']}. "
        f"Wall time: {context['wall_time']:.0f} s.",
        "",
        _numbers_text(context),
        "",
        format_tables(results),
        "## Other metrics",
        "",
        _other_metrics_text(results),
        "",
        _other_metrics_table(results),
        *_literature_section(results, context.get("radiologists")),
    ]
    not_run = _not_run(results)
    if not_run:
        lines += ["## Rows without a number", ""]
        for key, tasks, status, message in not_run:
            lines.append(f"- `{key}` ({tasks}): **{status}** - {message}")
        lines.append("")
    lines += ["## What each row used", ""]
    for _, r in results.drop_duplicates("key").iterrows():
        lines.append(
            f"- `{r['key']}`: {r['description']} Settings: {r['used'] or 'not built'}."
            + _centre_text(r)
        )
    lines.append("")
    drawn = results[results["figures"] != ""]
    if not drawn.empty:
        lines += ["## Figures", ""]
        for _, r in drawn.iterrows():
            links = ", ".join(
                f"[{_figure_kind(f)}]({f})"
                for f in r["figures"].split(";")
            )
            lines.append(f"- `{r['key']}` ({r['task']}): {links}")
        lines.append("")
    with atomic_write(path) as fh:
        fh.write("\n".join(lines))


def _figure_kind(path):
    """``confusion``, ``confidence`` or ``calibration``, from a figure's name."""
    return Path(path).stem.rsplit("-", 1)[-1]


def _centre_text(record):
    """A located row's centre error on held-out patients, for its settings line."""
    median = record.get("center_error_px_median")
    if median is None or not np.isfinite(median):
        return ""
    return (
        f" Centre error on held-out patients: median {median:.1f} px, 90th "
        f"percentile {record['center_error_px_q90']:.1f} px (full-slice pixels, "
        "to the template-matched centre)."
    )


def _draw(report, out, stem, title):
    paths = []
    folder = out / "figures"
    paths.append(folder / f"{stem}-confusion.png")
    plot_confusion_matrix(report, title=title, path=paths[-1])
    if report.proba is not None:
        paths.append(folder / f"{stem}-confidence.png")
        plot_confidence(report, title=title, path=paths[-1])
        paths.append(folder / f"{stem}-calibration.png")
        plot_calibration(report, title=title, path=paths[-1])
    return [os.fspath(p.relative_to(out)) for p in paths]
