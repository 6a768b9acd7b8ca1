"""``report.html``: one self-contained page with a run's tables and figures.

The page is built with the standard library (:class:`string.Template` and
:func:`html.escape`) rather than a template engine: it is a handful of tables
and images, and the package does not depend on jinja2. Every string that comes
from the data or the user (ids, row names, messages, paths, options) is
escaped, and every figure is embedded as a ``data:`` URI, so the file can be
mailed or archived on its own and loads nothing from anywhere.
"""

import base64
import html
import json
import os
import platform
import string
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from ..base._atomic import atomic_write
from ..evaluation._report import _jsonable
from ._presets import TASKS
from ._report import (
    _LITERATURE_INTRO,
    _OTHER_COLUMNS,
    _centre_text,
    _chance_legend,
    _figure_kind,
    _literature_rows,
    _not_run,
    _numbers_text,
    _other_metrics_rows,
    _other_metrics_text,
    _radiologists_text,
    _thesis_tables,
)

__all__ = ["write_html_report"]

REPORT_NAME = "report.html"

# The packages whose versions say what computed the numbers.
_PACKAGES = (
    "skradnod", "numpy", "scipy", "scikit-learn", "pandas", "torch", "skorch",
    "pyradiomics-bhklab", "imbalanced-learn", "matplotlib",
)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The record columns every report row needs (results.json rows have them all).
_REQUIRED = ("table", "row", "key", "title", "task", "status")

# default-src 'none': even a string that escaped escaping could load or run
# nothing; the page needs only its inline style and its data: images.
_PAGE = string.Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
$style
</style>
</head>
<body>
<main>
$body
</main>
</body>
</html>
""")

_STYLE = """\
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1b1b1b; background: #fff; margin: 0; line-height: 1.45; }
main { max-width: 1150px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
h1 { font-size: 1.7rem; margin-bottom: 0.3rem; }
h2 { font-size: 1.3rem; margin-top: 2rem; border-bottom: 2px solid #2a6f97;
  padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.3rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #c8ccd0; padding: 0.3rem 0.55rem; text-align: left;
  vertical-align: top; }
thead th { background: #e8f1f7; }
table.results tbody tr:nth-child(even) { background: #f6f8fa; }
table.kv th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
table.kv table.kv { margin: 0; }
code { background: #f0f2f4; padding: 0 0.25rem; border-radius: 3px; }
.note { color: #555; font-size: 0.9rem; }
.missing { color: #a4262c; }
section.row { border-left: 3px solid #2a6f97; padding-left: 0.8rem;
  margin: 1rem 0; }
details { margin: 0.3rem 0; }
summary { cursor: pointer; color: #2a6f97; font-weight: 600; }
td.num { white-space: nowrap; }
div.wide { overflow-x: auto; }
figure { display: inline-block; width: 32%; margin: 0.5rem 1% 0.5rem 0;
  vertical-align: top; }
figure img { width: 100%; height: auto; border: 1px solid #e0e0e0; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def _e(value):
    """``value`` as escaped HTML text (quotes included, for attributes too)."""
    return html.escape(str(value), quote=True)


def _table(columns, rows):
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    # A number and its interval stay on one line; a wide table scrolls.
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{_e(c)}</td>' if str(c)[:1].isdigit()
            else f"<td>{_e(c)}</td>"
            for c in cells
        ) + "</tr>"
        for cells in rows
    )
    return (
        f'<div class="wide"><table class="results"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _value(value):
    """Any JSON-like value as escaped HTML: mappings become nested tables."""
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return _kv_table(value)
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
            return _e(", ".join(str(v) for v in value)) if value else "none"
        return "<ul>" + "".join(f"<li>{_value(v)}</li>" for v in value) + "</ul>"
    if value is None:
        return "n/a"
    return _e(value)


def _kv_table(mapping):
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td>{_value(v)}</td></tr>" for k, v in mapping.items()
    )
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def _versions():
    """Python's and the numerical packages' versions, by distribution name."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _run_settings(data, *, source=None, **settings):
    """What a run used beyond ``_context``: JSON-ready, for results.json too.

    Parameters
    ----------
    data : Bunch
        The run's data set (its ``layout`` and class counts are recorded).
    source : path, default=None
        The folder the data were read from, when the run was given one.
    **settings
        The run's own arguments (rows, tasks, n_jobs, per-row options, ...).
    """
    labels, counts = np.unique(np.asarray(data.target), return_counts=True)
    run = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": None if source is None else os.fspath(source),
        "layout": data.get("layout") if isinstance(data, Mapping) else None,
        "classes": {str(k): int(n) for k, n in zip(labels, counts)},
        **settings,
        "versions": _versions(),
    }
    # Paths (weights files) and other objects become their text.
    return json.loads(json.dumps(_jsonable(run), default=str))


# The context's entries, in the order and under the names the page shows them.
_CONTEXT_LABELS = (
    ("data", "Data"), ("cv", "Cross-validation"), ("preset", "Preset"),
    ("bootstrap", "Bootstrap"), ("random_state", "Seed"), ("device", "Device"),
)
_RUN_LABELS = (
    ("source", "Data folder"), ("layout", "Layout"),
    ("rows", "Rows asked for"), ("tasks", "Tasks"),
    ("n_jobs", "Folds in parallel (n_jobs)"), ("figures", "Figures drawn"),
    ("binary_from_5class", "Binary task read off the 5-class model"),
    ("resume", "Resumed an earlier run"), ("params", "Per-row options"),
    ("started", "Started (UTC)"),
)


def _run_section(context, written):
    items = {
        label: _e(context[key]) for key, label in _CONTEXT_LABELS
        if context.get(key) is not None
    }
    wall = context.get("wall_time")
    if isinstance(wall, (int, float)):
        items["Wall time"] = f"{wall:.0f} s"
    run = context.get("run") or {}
    run = dict(run) if isinstance(run, Mapping) else {"run": run}
    versions = run.pop("versions", None)
    classes = run.pop("classes", None)
    if isinstance(classes, Mapping):
        items["Samples per class"] = _e(
            ", ".join(f"{k}: {n}" for k, n in classes.items())
        )
    for key, label in _RUN_LABELS:
        if key in run:
            value = run.pop(key)
            if value is not None:
                items[label] = _value(value)
    # A setting without a label of its own is shown under its name, not dropped.
    items.update({_e(k): _value(v) for k, v in run.items()})
    # The long lists behind a click: the tables come first on the screen.
    if context.get("settings"):
        items["Preset settings"] = _details("show", _value(context["settings"]))
    if versions:
        items["Package versions"] = _details(
            _e(", ".join(f"{k} {versions[k]}" for k in list(versions)[:3]) + ", ..."),
            _value(versions),
        )
    items["Report written (UTC)"] = _e(written)
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items.items())
    return (
        '<h2 id="run">What the run used</h2>'
        f'<table class="kv"><tbody>{rows}</tbody></table>'
    )


def _details(summary, body):
    """``body`` behind a click; both are HTML already escaped."""
    return f"<details><summary>{summary}</summary>{body}</details>"


def _tables_section(results, context):
    parts = []
    if context.get("bootstrap") is not None:
        parts.append(f'<p class="note">{_e(_numbers_text(context))}</p>')
    for heading, columns, rows in _thesis_tables(results):
        parts += [f"<h2>{_e(heading)}</h2>", _table(columns, rows)]
    legend = _chance_legend(results)
    if legend:
        parts.append(f'<p class="note">{_e(legend)}</p>')
    other = _other_metrics_rows(results)
    if other:
        parts += [
            "<h2>Other metrics</h2>",
            f'<p class="note">{_e(_other_metrics_text(results))}</p>',
            _table(_OTHER_COLUMNS, other),
        ]
    radiologists = context.get("radiologists")
    literature = _literature_rows(results, radiologists)
    if literature is not None:
        parts += [
            "<h2>Literature metrics</h2>",
            f'<p class="note">{_e(_LITERATURE_INTRO)}</p>',
            _table(*literature),
        ]
        if radiologists is not None:
            parts.append(f'<p class="note">{_e(_radiologists_text(radiologists))}</p>')
    not_run = _not_run(results)
    if not_run:
        parts.append("<h2>Rows without a number</h2><ul>")
        parts += [
            f"<li><code>{_e(key)}</code> ({_e(tasks)}): <strong>{_e(status)}"
            f"</strong> - {_e(message)}</li>"
            for key, tasks, status, message in not_run
        ]
        parts.append("</ul>")
    return "\n".join(parts)


def _embed(out_dir, rel):
    """``(data_uri, None)`` for the PNG ``out_dir/rel``, or ``(None, reason)``.

    Only files inside the run's ``figures/`` folder are read: the names come
    from results.json, which a resumed or rewritten report reads back.
    """
    root = (out_dir / "figures").resolve()
    file = (out_dir / rel).resolve()
    if not file.is_relative_to(root):
        return None, "outside the run's figures/ folder, not read"
    try:
        data = file.read_bytes()
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    if not data.startswith(_PNG_SIGNATURE):
        return None, "not a PNG file"
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii"), None


def _figures(out_dir, record):
    paths = record.get("figures")
    if not isinstance(paths, str) or not paths:
        return ""
    parts = []
    for rel in paths.split(";"):
        kind = _figure_kind(rel)
        uri, reason = _embed(out_dir, rel)
        if uri is None:
            parts.append(
                f'<p class="missing">Figure {_e(rel)} not embedded: {_e(reason)}.</p>'
            )
            continue
        alt = f"{kind}: {record['title']} ({TASKS[record['task']][0]})"
        parts.append(
            f'<figure><img src="{uri}" alt="{_e(alt)}">'
            f"<figcaption>{_e(kind)}</figcaption></figure>"
        )
    label = TASKS[record["task"]][0]
    return (
        f"<details><summary>Figures, {_e(label)}</summary>{''.join(parts)}</details>"
    )


def _rows_section(results, out_dir):
    """Per row: what it used, and its figures per task behind a click."""
    parts = ['<h2 id="rows">What each row used</h2>']
    for key, same in results.groupby("key", sort=False):
        records = same.to_dict(orient="records")
        first = records[0]
        used = {r["task"]: r.get("used") or "not built" for r in records}
        if len(set(used.values())) == 1:
            settings = f"Settings: {next(iter(used.values()))}."
        else:
            settings = " ".join(
                f"Settings ({TASKS[t][0]}): {u}." for t, u in used.items()
            )
        text = f"{first.get('description') or ''} {settings}{_centre_text(first)}"
        parts.append(
            f'<section class="row"><h3>{_e(first["title"])} <code>{_e(key)}'
            f"</code></h3><p>{_e(text.strip())}</p>"
            + "".join(_figures(out_dir, r) for r in records)
            + "</section>"
        )
    return "\n".join(parts)


def _extra_sections(sections):
    parts = []
    for item in sections:
        try:
            title, content = item
        except (TypeError, ValueError):
            raise ValueError(
                f"sections: each entry is a (title, content) pair; got {item!r}."
            ) from None
        if isinstance(content, str):
            body = "".join(
                f"<p>{_e(p)}</p>" for p in content.split("\n\n") if p.strip()
            )
        else:
            body = _value(content)
        parts.append(f"<h2>{_e(title)}</h2>{body}")
    return "\n".join(parts)


def _check_results(results, where):
    """``results`` as a DataFrame with every column the page reads; None if empty."""
    if not isinstance(results, pd.DataFrame):
        results = pd.DataFrame.from_records(list(results))
    if results.empty:
        return None
    missing = [c for c in _REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(f"{where}: the results have no column(s) {missing}.")
    unknown = sorted(set(results.get("task", ())) - set(TASKS))
    if unknown:
        raise ValueError(
            f"{where}: unknown task(s) {unknown}; a row's task is one of "
            f"{list(TASKS)}."
        )
    for column in ("figures", "used", "message", "description"):
        if column not in results.columns:
            results = results.assign(**{column: ""})
    return results


def _read_run(out_dir):
    """``(results, context)`` of the run in ``out_dir``, from its results.json."""
    file = out_dir / "results.json"
    try:
        payload = json.loads(file.read_text(encoding="utf-8"))
        rows, context = payload["rows"], payload["context"]
        records = [{k: v for k, v in row.items() if k != "report"} for row in rows]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"No results.json in {out_dir}: not the folder of a finished run "
            "(skradnod demo/reproduce --out, run_experiments(out_dir=...))."
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"Cannot read the run's {file}: {exc!r}.") from None
    if not isinstance(context, Mapping):
        raise ValueError(f"Cannot read the run's {file}: its context is no mapping.")
    return _check_results(records, file), dict(context)


def _body(out_dir, results, context, sections):
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    summary = ", ".join(
        str(context[k]) for k in ("data", "cv") if context.get(k) is not None
    )
    return "\n".join([
        "<h1>skradnod results</h1>",
        f'<p class="note">{_e(summary)}</p>' if summary else "",
        _run_section(context, written),
        _extra_sections(sections),
        _tables_section(results, context) if results is not None
        else '<p class="note">No row has finished yet.</p>',
        "" if results is None else _rows_section(results, out_dir),
    ])


def write_html_report(out_dir, results=None, context=None, *, sections=()):
    """Write ``report.html``: a run's tables and figures in one file.

    The page holds what the run used (data, folds, preset, seed, device,
    package versions, dates), the thesis-style tables with their 95 %
    intervals, the other and the literature metrics, the rows without a number
    and, per row, its settings and its confusion, confidence and calibration
    figures behind a click (``<details>``; no script). Figures are embedded as
    ``data:`` URIs and the style is inline: the file needs nothing beside it.
    :func:`run_experiments` writes it with ``results.md``.

    Parameters
    ----------
    out_dir : str or path
        The run's folder; the figures are read from its ``figures/`` (a figure
        named outside it is not read, and the page says so) and
        ``report.html`` is written there.
    results : DataFrame or list of dict, default=None
        As :func:`run_experiments` returns it. None reads the records and the
        context of the finished run in ``out_dir`` from its ``results.json``.
    context : dict, default=None
        What the run used, as ``results.json``'s ``context`` holds it
        (``data``, ``cv``, ``preset``, ``bootstrap``, ``random_state``,
        ``device``, ``wall_time``, ``settings``, ``run``, ``radiologists``);
        missing entries are left out of the page.
    sections : iterable of (title, content), default=()
        Extra sections after "What the run used", e.g. ``[("Model card",
        card)]``. ``content`` is a mapping (shown as a nested table), a list
        or a string (paragraphs split at blank lines); all of it is escaped.

    Returns
    -------
    path : Path
        The file written.

    Raises
    ------
    FileNotFoundError
        With ``results=None``, when ``out_dir`` holds no ``results.json``.
    ValueError
        For a ``results.json`` or results that cannot be read as a run's (the
        file or the missing column named), or a malformed ``sections`` entry.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.utils import Bunch
    >>> from skradnod.experiments import run_experiments, write_html_report
    >>> out = tempfile.mkdtemp()
    >>> data = Bunch(frame=pd.DataFrame(index=range(40)),
    ...              target=np.array([1, 3, 3, 3, 5] * 8), groups=np.arange(40))
    >>> _ = run_experiments(data, rows="nodule/majority", task="5class",
    ...                     out_dir=out, n_bootstrap=0, verbose=False)
    >>> path = write_html_report(out, sections=[("Notes", "Rewritten.")])
    >>> "Majority class" in path.read_text(encoding="utf-8")
    True
    """
    out_dir = Path(out_dir)
    read = results is None
    if read:
        results, stored = _read_run(out_dir)
        context = stored if context is None else context
    else:
        results = _check_results(results, "write_html_report")
    context = dict(context or {})
    if context.get("radiologists") is None and results is not None:
        agreement = results.attrs.get("radiologists")
        if agreement is not None and hasattr(agreement, "to_dict"):
            context["radiologists"] = agreement.to_dict()
    try:
        body = _body(out_dir, results, context, sections)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if not read or str(exc).startswith("sections:"):
            raise
        # An edited results.json: its values are not those of a run.
        raise ValueError(
            f"Cannot read the run's {out_dir / 'results.json'}: {exc!r}."
        ) from None
    path = out_dir / REPORT_NAME
    with atomic_write(path) as fh:
        fh.write(_PAGE.substitute(title="skradnod results", style=_STYLE, body=body))
    return path
