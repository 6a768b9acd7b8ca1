"""What the displays share: axes outside pyplot, checked inputs, saved PNGs.

The displays follow scikit-learn's visualisation API (``sklearn.utils._plotting``,
``sklearn.calibration.CalibrationDisplay``) with one difference: without ``ax``
they draw on a new :class:`matplotlib.figure.Figure` instead of
``pyplot.subplots()``, so no figure is registered with pyplot's global state.
They are then safe in scripts, notebooks and worker processes alike, and a
figure is freed as soon as nothing refers to it.
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.utils import check_array, check_consistent_length, column_or_1d

from ._validation import _describe_estimator


def _new_axes(ax, figsize):
    """``ax`` and its figure, or the axes of a new Figure outside pyplot."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _save(fig, path, dpi=120):
    """Save ``fig`` as PNG at ``path`` (folders created) when given; return it."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def _title(title, *lines):
    """``title`` when given, else the non-empty ``lines`` one per line."""
    if title is not None:
        return title
    return "\n".join(line for line in lines if line)


def _check_proba(y_true, y_proba, labels, caller):
    """Validated ``(y_true, y_proba, labels)``; ``labels`` names the columns."""
    y_true = column_or_1d(y_true)
    y_proba = check_array(y_proba, dtype=float, input_name="y_proba")
    check_consistent_length(y_true, y_proba)
    labels = np.unique(y_true) if labels is None else np.asarray(labels)
    if y_proba.shape[1] != len(labels):
        raise ValueError(
            f"{caller}: y_proba has {y_proba.shape[1]} columns but there are "
            f"{len(labels)} labels ({labels.tolist()}); pass labels=, the classes "
            "of the columns (the estimator's classes_)."
        )
    return y_true, y_proba, labels


def _estimator_proba(estimator, X, caller):
    """``(predict_proba(X), classes_, name)`` of a fitted classifier."""
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(
            f"{caller} needs a classifier with predict_proba; "
            f"{type(estimator).__name__} has none."
        )
    proba = estimator.predict_proba(X)
    return proba, np.asarray(estimator.classes_), _describe_estimator(estimator)


def _check_report_proba(report, caller):
    """Raise, naming ``caller`` and the estimator, when ``report`` lacks proba."""
    if report.proba is None:
        raise ValueError(
            f"{caller} needs probabilities; the report of {report.estimator} has "
            "none (the estimator has no predict_proba)."
        )


def _display_names(labels, display_labels, caller):
    """One display name per label: ``display_labels`` as a list or a dict."""
    if display_labels is None:
        return [str(label) for label in labels]
    if isinstance(display_labels, dict):
        return [str(display_labels.get(label, label)) for label in labels]
    names = [str(name) for name in display_labels]
    if len(names) != len(labels):
        raise ValueError(
            f"{caller}: display_labels has {len(names)} names ({names}) but there "
            f"are {len(labels)} labels ({np.asarray(labels).tolist()})."
        )
    return names
