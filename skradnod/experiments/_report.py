"""Report writers: the Markdown tables, ``results.md`` and the figures."""

import os
from pathlib import Path

import numpy as np

from ..evaluation import plot_calibration, plot_confidence, plot_confusion_matrix
from ..utils._atomic import atomic_write
from ._presets import TABLES, TASKS

__all__ = ["format_tables"]


def _cell(result, metric):
    value = result.get(metric)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    low, high = result.get(f"{metric}_ci_low"), result.get(f"{metric}_ci_high")
    if low is None or np.isnan(low):
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _status_cell(result):
    status = result["status"]
    if status == "unavailable" and "weights not available" in result["message"]:
        return "weights not available"
    return status


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
        weighted precision and recall (percent, [95 % CI]) per task.
    """
    lines = []
    tasks = [t for t in TASKS if t in set(results["task"])]
    for table, heading in TABLES.items():
        part = results[results["table"] == table]
        if part.empty:
            continue
        if header:
            lines += [f"## {heading}", ""]
        columns = ["Model"]
        for task in tasks:
            label = TASKS[task][0]
            columns += [f"{label} accuracy", "precision", "recall"]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join(["---"] * len(columns)) + "|")
        for name in dict.fromkeys(part["row"]):
            rows = part[part["row"] == name]
            cells = [rows["title"].iloc[0]]
            for task in tasks:
                match = rows[rows["task"] == task]
                if match.empty:
                    cells += ["-"] * 3
                    continue
                result = match.iloc[0].to_dict()
                if result["status"] != "ok":
                    cells += [_status_cell(result), "-", "-"]
                else:
                    cells += [
                        _cell(result, m) for m in ("accuracy", "precision", "recall")
                    ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _other_metrics_table(results):
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return ""
    lines = [
        "| Table | Model | Task | Balanced accuracy | Macro F1 | ROC AUC | ECE "
        "| Fit time per fold (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in ok.iterrows():
        r = r.to_dict()
        lines.append(
            f"| {r['table']} | {r['title']} | {TASKS[r['task']][0]} | "
            f"{_cell(r, 'balanced_accuracy')} | {_cell(r, 'f1_macro')} | "
            f"{_cell(r, 'roc_auc')} | {_cell(r, 'ece')} | {r['fit_time']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _write_markdown(path, results, context):
    lines = [
        "# skradnod results",
        "",
        f"Data: {context['data']}. Cross-validation: {context['cv']}. "
        f"Preset: `{context['preset']}`. Device: {context['device']}. "
        f"Wall time: {context['wall_time']:.0f} s.",
        "",
        "Numbers are percent, pooled over the out-of-fold predictions, with "
        f"bootstrap 95 % intervals ({context['bootstrap']}). Precision and recall "
        "are support-weighted, as in the method's tables.",
        "",
        format_tables(results),
        "## Other metrics",
        "",
        "Balanced accuracy, macro F1, one-vs-rest ROC AUC and the expected "
        "calibration error (ECE, lower is better), percent with 95 % intervals.",
        "",
        _other_metrics_table(results),
    ]
    not_run = results[results["status"] != "ok"]
    if not not_run.empty:
        lines += ["## Rows without a number", ""]
        for (key, status, message), part in not_run.groupby(
            ["key", "status", "message"], sort=False
        ):
            tasks = ", ".join(part["task"])
            lines.append(f"- `{key}` ({tasks}): **{status}** - {message}")
        lines.append("")
    lines += ["## What each row used", ""]
    for _, r in results.drop_duplicates("key").iterrows():
        lines.append(
            f"- `{r['key']}`: {r['description']} Settings: {r['used'] or 'not built'}."
        )
    lines.append("")
    drawn = results[results["figures"] != ""]
    if not drawn.empty:
        lines += ["## Figures", ""]
        for _, r in drawn.iterrows():
            links = ", ".join(
                f"[{Path(f).stem.rsplit('-', 1)[-1]}]({f})"
                for f in r["figures"].split(";")
            )
            lines.append(f"- `{r['key']}` ({r['task']}): {links}")
        lines.append("")
    with atomic_write(path) as fh:
        fh.write("\n".join(lines))


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
