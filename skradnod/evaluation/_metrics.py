"""Metrics of the reports: the method's numbers, ROC AUC, calibration error and
the literature's ordinal and score-3 metrics (:mod:`._ordinal`)."""

import warnings

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)

from ._ordinal import LITERATURE_METRICS, literature_metrics


def to_binary(y):
    """Map malignancy ratings 1-5 to benign (0) / malignant (1).

    Ratings 1-3 (highly unlikely, moderately unlikely, indeterminate) become 0 and
    ratings 4-5 (moderately suspicious, highly suspicious) become 1, the binary
    task of the method.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer ratings 1-5 (floats holding whole numbers are accepted).

    Returns
    -------
    y_binary : ndarray of shape (n_samples,) and dtype int64
        0 for benign, 1 for malignant.

    Raises
    ------
    ValueError
        If any label is not one of 1, 2, 3, 4, 5; the message names the
        offending labels and where they occur.

    Examples
    --------
    >>> from skradnod.evaluation import to_binary
    >>> to_binary([1, 2, 3, 4, 5]).tolist()
    [0, 0, 0, 1, 1]
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"to_binary expects a 1D array of ratings 1-5; got shape {y.shape}."
        )
    # Coerce element by element so that one bad entry (a string, None) is named
    # in the error instead of failing the whole conversion.
    numeric = pd.to_numeric(pd.Series(y, dtype=object), errors="coerce").to_numpy(
        dtype=float
    )
    valid = np.isin(numeric, [1, 2, 3, 4, 5])
    if not valid.all():
        positions = np.flatnonzero(~valid)
        offending = sorted({repr(v) for v in y[positions].tolist()})
        raise ValueError(
            "to_binary expects malignancy ratings 1-5; got label(s) "
            f"{', '.join(offending[:10])} at position(s) {positions[:10].tolist()}"
            + (" ..." if len(positions) > 10 else "")
            + "."
        )
    return (numeric >= 4).astype(np.int64)


# --------------------------------------------------------------------------
# Metrics. The pooled and per-fold numbers come from scikit-learn's functions;
# the bootstrap recomputes them thousands of times, so it uses the same
# definitions written over a confusion matrix (tests check they agree).
# --------------------------------------------------------------------------

METRICS = (
    "accuracy",
    "precision",
    "recall",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "ece",
    *LITERATURE_METRICS,
)
"""Names of the metrics in a :class:`Report`, in display order.

``precision`` and ``recall`` are support-weighted (the method's report columns);
``roc_auc`` is one-vs-rest, macro-averaged (binary: AUC of the positive class);
``ece`` is the expected calibration error of the top-label confidence. Then the
literature's metrics, :data:`LITERATURE_METRICS`: within-one accuracy, MAE and
quadratic-weighted kappa of the ratings, and binary accuracy and AUC under the
three readings of score 3 (NaN unless the classes are ratings 1-5).
"""


def _sk_metrics(y_true, y_pred, proba, classes, n_bins):
    """Every metric of METRICS for one set of predictions, via scikit-learn."""
    out = {
        "accuracy": accuracy_score(y_true, y_pred),
        "precision": precision_score(
            y_true, y_pred, average="weighted", zero_division=0
        ),
        "recall": recall_score(y_true, y_pred, average="weighted", zero_division=0),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "f1_macro": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "roc_auc": np.nan,
        "ece": np.nan,
    }
    if proba is not None:
        out["roc_auc"] = roc_auc_ovr(y_true, proba, classes)
        out["ece"] = expected_calibration_error(
            y_true, proba, classes=classes, n_bins=n_bins
        )
    out.update(
        literature_metrics(y_true, y_pred, proba, classes, auc=_binary_auc)
    )
    return {k: float(v) for k, v in out.items()}


def _balanced_accuracy(y_true, y_pred):
    # sklearn warns (and ignores the class) when a predicted class is absent from
    # y_true, which happens routinely in small folds; the value is what we want.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return balanced_accuracy_score(y_true, y_pred)


def roc_auc_ovr(y_true, proba, classes):
    """One-vs-rest ROC AUC, macro-averaged over the classes it is defined for.

    Equal to ``sklearn.metrics.roc_auc_score(y_true, proba, multi_class="ovr",
    labels=classes)`` (binary: ``roc_auc_score(y_true == classes[1],
    proba[:, 1])``) whenever every class occurs in ``y_true``. Unlike it, a class
    absent from ``y_true`` (common in a small fold or a bootstrap resample) is left
    out of the average instead of raising.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns ordered as ``classes``.
    classes : array-like of shape (n_classes,)
        The labels of the columns of ``proba``.

    Returns
    -------
    auc : float
        NaN when no class has both positive and negative samples.

    Examples
    --------
    >>> from skradnod.evaluation import roc_auc_ovr
    >>> roc_auc_ovr([0, 0, 1, 1], [[.9, .1], [.6, .4], [.7, .3], [.2, .8]], [0, 1])
    0.75
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    classes = np.asarray(classes)
    if len(classes) == 2:
        return _binary_auc(y_true == classes[1], proba[:, 1])
    aucs = [_binary_auc(y_true == c, proba[:, k]) for k, c in enumerate(classes)]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def _binary_auc(positive, score):
    """Mann-Whitney form of the ROC AUC (ties count one half)."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def expected_calibration_error(y_true, proba, *, classes=None, n_bins=10):
    """Expected calibration error of the top-label confidence.

    Predictions are binned by their confidence (the largest predicted probability)
    into ``n_bins`` equal-width bins on [0, 1]; the ECE is the average over bins
    of ``|accuracy - mean confidence|``, weighted by the share of samples in the
    bin. A perfectly calibrated model has ECE 0.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities.
    classes : array-like of shape (n_classes,), default=None
        Labels of the columns of ``proba``; default ``0 .. n_classes - 1``.
    n_bins : int, default=10
        Number of confidence bins.

    Returns
    -------
    ece : float

    Examples
    --------
    >>> from skradnod.evaluation import expected_calibration_error
    >>> # always 90 % confident, right half of the time: ECE = 0.9 - 0.5
    >>> round(expected_calibration_error([0, 1], [[.9, .1], [.9, .1]]), 6)
    0.4
    """
    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=float)
    classes = np.arange(proba.shape[1]) if classes is None else np.asarray(classes)
    confidence = proba.max(axis=1)
    correct = classes[proba.argmax(axis=1)] == y_true
    return _ece(confidence, correct, n_bins)


def _calibration_bins(confidence, correct, n_bins):
    """Per-bin (count, mean confidence, accuracy) of the reliability diagram."""
    # Right-closed bins, with confidence 0 in the first bin.
    idx = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(float), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return count, conf_sum / count, acc_sum / count


def _ece(confidence, correct, n_bins):
    return _ece_from_bins(*_calibration_bins(confidence, correct, n_bins))


def _ece_from_bins(count, mean_confidence, accuracy):
    """The count-weighted mean ``|accuracy - mean confidence|`` of the filled bins."""
    count = np.asarray(count)
    filled = count > 0
    if not filled.any():
        return float("nan")
    gap = np.abs(np.asarray(accuracy)[filled] - np.asarray(mean_confidence)[filled])
    return float(np.sum(count[filled] * gap) / count.sum())


def _fast_metrics(true_idx, pred_idx, proba, n_classes, n_bins, classes=None):
    """METRICS from class indices, matching :func:`_sk_metrics` (for the bootstrap).

    ``classes`` are the labels of the indices (default: the indices themselves);
    the literature's metrics need them to be ratings 1-5.
    """
    n = len(true_idx)
    cm = np.bincount(
        true_idx * n_classes + pred_idx, minlength=n_classes * n_classes
    ).reshape(n_classes, n_classes)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        # 2 tp + fp + fn = support + predicted
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
    present = support > 0
    used = present | (predicted > 0)  # sklearn's labels: union of y_true and y_pred
    out = {
        "accuracy": tp.sum() / n,
        "precision": float(np.sum(precision * support) / n),
        "recall": float(np.sum(recall * support) / n),
        "balanced_accuracy": float(recall[present].mean()),
        "f1_macro": float(f1[used].mean()),
        "roc_auc": np.nan,
        "ece": np.nan,
    }
    if proba is not None:
        # The class indices are the labels of the columns 0 .. n_classes - 1.
        indices = np.arange(n_classes)
        out["roc_auc"] = roc_auc_ovr(true_idx, proba, indices)
        out["ece"] = expected_calibration_error(
            true_idx, proba, classes=indices, n_bins=n_bins
        )
    values = np.arange(n_classes) if classes is None else np.asarray(classes)
    out.update(
        literature_metrics(
            values[true_idx], values[pred_idx], proba, values, auc=_binary_auc,
            cm=cm,
        )
    )
    return out
