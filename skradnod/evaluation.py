"""Evaluation: patient-grouped cross-validated reports and their figures (step 11)."""

import inspect
import time
import warnings
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.stats import rankdata
from sklearn.base import clone
from sklearn.manifold import TSNE
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, check_cv
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import _num_samples, column_or_1d
from tqdm.auto import tqdm

__all__ = [
    "METRICS",
    "Report",
    "bootstrap_indices",
    "calibration_curve_top_label",
    "cross_validate_report",
    "expected_calibration_error",
    "plot_calibration",
    "plot_confidence",
    "plot_confusion_matrix",
    "plot_latent_tsne",
    "roc_auc_ovr",
    "to_binary",
]


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
)
"""Names of the metrics in a :class:`Report`, in display order.

``precision`` and ``recall`` are support-weighted (the method's report columns);
``roc_auc`` is one-vs-rest, macro-averaged (binary: AUC of the positive class);
``ece`` is the expected calibration error of the top-label confidence.
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
    count, mean_conf, acc = _calibration_bins(confidence, correct, n_bins)
    filled = count > 0
    if not filled.any():
        return float("nan")
    return float(
        np.sum(count[filled] * np.abs(acc[filled] - mean_conf[filled])) / count.sum()
    )


def _fast_metrics(true_idx, pred_idx, proba, n_classes, n_bins):
    """METRICS from class indices, matching :func:`_sk_metrics` (for the bootstrap)."""
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
        f1 = np.where(
            2 * tp + (predicted - tp) + (support - tp) > 0,
            2 * tp / (support + predicted),
            0.0,
        )
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
        if n_classes == 2:
            out["roc_auc"] = _binary_auc(true_idx == 1, proba[:, 1])
        else:
            aucs = [_binary_auc(true_idx == k, proba[:, k]) for k in range(n_classes)]
            aucs = [a for a in aucs if not np.isnan(a)]
            out["roc_auc"] = float(np.mean(aucs)) if aucs else np.nan
        confidence = proba.max(axis=1)
        correct = proba.argmax(axis=1) == true_idx
        out["ece"] = _ece(confidence, correct, n_bins)
    return out


def bootstrap_indices(n_samples, *, groups=None, n_bootstrap=1000, random_state=0):
    """Yield bootstrap resamples of sample positions, by patient when grouped.

    With ``groups``, patients are drawn with replacement and every sample of a
    drawn patient enters the resample (once per draw), so the interval reflects
    the variation between patients, the unit that was sampled.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each sample.
    n_bootstrap : int, default=1000
        Number of resamples.
    random_state : int, RandomState instance or None, default=0
        Seed of the resampling.

    Yields
    ------
    indices : ndarray of int
        Positions of one resample.

    Examples
    --------
    >>> from skradnod.evaluation import bootstrap_indices
    >>> [len(i) for i in bootstrap_indices(4, n_bootstrap=2)]
    [4, 4]
    """
    rng = check_random_state(random_state)
    if groups is None:
        for _ in range(n_bootstrap):
            yield rng.randint(0, n_samples, n_samples)
        return
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    for _ in range(n_bootstrap):
        drawn = rng.randint(0, len(members), len(members))
        yield np.concatenate([members[g] for g in drawn])


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


@dataclass
class Report:
    """Out-of-fold predictions of a cross-validated classifier and their metrics.

    Built by :func:`cross_validate_report`; read it through :attr:`metrics`,
    :attr:`ci`, :meth:`summary` and :meth:`to_dict`, or draw it with
    :func:`plot_confusion_matrix`, :func:`plot_confidence` and
    :func:`plot_calibration`.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
        The labels, sorted.
    class_names : list of str
        Display names of ``classes``.
    y_true, y_pred : ndarray of shape (n_samples,)
        True and out-of-fold predicted labels, in the input's order.
    proba : ndarray of shape (n_samples, n_classes) or None
        Out-of-fold probabilities, columns ordered as ``classes`` (a class missing
        from a training fold gets probability 0 there); None when the estimator has
        no ``predict_proba``.
    confidence : ndarray of shape (n_samples,)
        Largest predicted probability of each sample (NaN without ``proba``).
    correct : ndarray of shape (n_samples,) and dtype bool
        Whether the prediction is right.
    fold : ndarray of shape (n_samples,)
        The fold in which each sample was predicted.
    groups : ndarray of shape (n_samples,) or None
        Patient ids, when given.
    metrics : dict of str to float
        Pooled metrics over all out-of-fold predictions (keys: :data:`METRICS`).
    ci : dict of str to (float, float)
        Bootstrap 95 % percentile intervals of :attr:`metrics`.
    fold_metrics : DataFrame of shape (n_splits, n_metrics + 3)
        The metrics of each fold, with ``n_test``, ``fit_time``, ``predict_time``.
    confusion_matrix : ndarray of shape (n_classes, n_classes)
        Pooled; rows are true, columns predicted classes.
    fit_time, predict_time : ndarray of shape (n_splits,)
        Seconds per fold.
    n_bootstrap : int
        Number of bootstrap resamples behind :attr:`ci`.
    grouped : bool
        Whether folds and bootstrap were grouped by patient.
    cv : str
        Description of the splitter.
    estimator : str
        Short description of the estimator.
    """

    classes: np.ndarray
    class_names: list
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    confidence: np.ndarray
    correct: np.ndarray
    fold: np.ndarray
    groups: np.ndarray | None
    metrics: dict
    ci: dict
    fold_metrics: pd.DataFrame
    confusion_matrix: np.ndarray
    fit_time: np.ndarray
    predict_time: np.ndarray
    n_bootstrap: int
    grouped: bool
    cv: str
    estimator: str
    n_bins: int = 10

    @property
    def n_samples(self):
        """Number of samples predicted out of fold."""
        return len(self.y_true)

    def summary(self):
        """Pooled metrics with their 95 % intervals and across-fold spread.

        Returns
        -------
        summary : DataFrame
            Index :data:`METRICS`; columns ``value``, ``ci_low``, ``ci_high``,
            ``fold_mean``, ``fold_std``.
        """
        rows = {}
        for name in METRICS:
            low, high = self.ci.get(name, (np.nan, np.nan))
            folds = self.fold_metrics[name].to_numpy(dtype=float)
            finite = folds[~np.isnan(folds)]
            rows[name] = {
                "value": self.metrics[name],
                "ci_low": low,
                "ci_high": high,
                "fold_mean": float(finite.mean()) if finite.size else np.nan,
                "fold_std": float(finite.std(ddof=1)) if finite.size > 1 else np.nan,
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_dict(self, *, samples=False):
        """A JSON-serialisable summary (NaN becomes None).

        Parameters
        ----------
        samples : bool, default=False
            Include the per-sample true label, prediction, confidence and fold.

        Returns
        -------
        summary : dict
        """
        out = {
            "estimator": self.estimator,
            "cv": self.cv,
            "grouped": self.grouped,
            "n_samples": self.n_samples,
            "n_splits": len(self.fit_time),
            "n_bootstrap": self.n_bootstrap,
            "classes": self.classes.tolist(),
            "class_names": list(self.class_names),
            "metrics": dict(self.metrics),
            "ci95": {k: list(v) for k, v in self.ci.items()},
            "folds": self.fold_metrics.to_dict(orient="records"),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "fit_time": self.fit_time.tolist(),
            "predict_time": self.predict_time.tolist(),
        }
        if samples:
            out["samples"] = {
                "y_true": self.y_true.tolist(),
                "y_pred": self.y_pred.tolist(),
                "confidence": self.confidence.tolist(),
                "fold": self.fold.tolist(),
            }
        return _jsonable(out)

    def __repr__(self):
        parts = ", ".join(
            f"{k}={self.metrics[k]:.3f}"
            for k in ("accuracy", "precision", "recall")
            if not np.isnan(self.metrics[k])
        )
        return (
            f"Report({self.estimator}, n_samples={self.n_samples}, "
            f"n_splits={len(self.fit_time)}, {parts})"
        )


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _describe_estimator(estimator):
    if hasattr(estimator, "steps"):
        return " > ".join(type(step).__name__ for _, step in estimator.steps)
    return type(estimator).__name__


def _fit_accepts_groups(estimator):
    try:
        return "groups" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError):
        return False


def _fit_and_predict(estimator, X, y, groups, train, test, classes):
    """Fit a clone on ``train``; return predictions and probabilities on ``test``."""
    estimator = clone(estimator)
    X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
    fit_params = {}
    if groups is not None and _fit_accepts_groups(estimator):
        fit_params["groups"] = groups[train]
    start = time.perf_counter()
    estimator.fit(X_train, y[train], **fit_params)
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    y_pred = np.asarray(estimator.predict(X_test))
    proba = None
    if hasattr(estimator, "predict_proba"):
        fold_proba = np.asarray(estimator.predict_proba(X_test), dtype=float)
        # A class absent from this training fold has no column: place the fold's
        # columns among all classes so that folds can be pooled.
        fold_classes = np.asarray(getattr(estimator, "classes_", classes))
        proba = np.zeros((len(test), len(classes)))
        proba[:, np.searchsorted(classes, fold_classes)] = fold_proba
    predict_time = time.perf_counter() - start
    return test, y_pred, proba, fit_time, predict_time


def _make_cv(cv, groups, random_state):
    if isinstance(cv, Integral):
        if groups is not None:
            return StratifiedGroupKFold(
                n_splits=int(cv), shuffle=True, random_state=random_state
            )
        warnings.warn(
            "cross_validate_report: no groups given, so folds are not grouped by "
            "patient; when a patient (or one nodule read by several radiologists) "
            "has samples on both sides of a split, the scores are optimistic. Pass "
            "groups=patient_ids.",
            UserWarning,
            stacklevel=3,
        )
        return StratifiedKFold(
            n_splits=int(cv), shuffle=True, random_state=random_state
        )
    return check_cv(cv, classifier=True)


def cross_validate_report(
    estimator,
    X,
    y,
    *,
    groups=None,
    cv=5,
    n_bootstrap=1000,
    random_state=0,
    n_jobs=None,
    class_names=None,
    n_bins=10,
    verbose=False,
):
    """Cross-validate a classifier and report its out-of-fold metrics with CIs.

    Every sample is predicted once, by a clone of ``estimator`` fitted on the
    folds that do not hold it. From these out-of-fold predictions the report
    computes, per fold and pooled, the method's accuracy and support-weighted
    precision and recall, plus balanced accuracy, macro F1, one-vs-rest ROC AUC
    and the expected calibration error; bootstrap 95 % intervals of the pooled
    values; the pooled confusion matrix; and each sample's confidence and
    correctness.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier or pipeline; cloned for every fold.
    X : array-like, DataFrame or image batch
        The input of ``estimator`` (indexed with
        :func:`sklearn.utils._safe_indexing`).
    y : array-like of shape (n_samples,)
        Labels.
    groups : array-like of shape (n_samples,), default=None
        Patient ids. When given, folds are :class:`~sklearn.model_selection.
        StratifiedGroupKFold` (no patient on both sides of a split), the bootstrap
        resamples patients, and ``groups`` is passed to ``estimator.fit`` if that
        takes a ``groups`` argument. Without groups a warning says that folds
        are not patient-grouped.
    cv : int or cross-validation splitter, default=5
        Number of folds (shuffled, seeded with ``random_state``), or a splitter
        whose test sets partition the samples.
    n_bootstrap : int, default=1000
        Bootstrap resamples for the intervals; 0 gives NaN intervals.
    random_state : int, default=0
        Seed of the fold shuffling and of the bootstrap.
    n_jobs : int, default=None
        Folds fitted in parallel (joblib); None means 1.
    class_names : list of str, default=None
        Display names of the sorted classes (default: the labels as text).
    n_bins : int, default=10
        Confidence bins of the calibration error and diagram.
    verbose : bool, default=False
        Show a progress bar over folds.

    Returns
    -------
    report : Report

    Raises
    ------
    ValueError
        If the lengths of ``X``, ``y`` and ``groups`` differ, if ``class_names``
        does not match the classes, or if the splitter's test sets do not
        partition the samples.

    See Also
    --------
    plot_confusion_matrix, plot_confidence, plot_calibration

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skradnod.evaluation import cross_validate_report
    >>> X, y = load_iris(return_X_y=True)
    >>> groups = np.arange(len(y)) // 2  # two samples per "patient"
    >>> report = cross_validate_report(LogisticRegression(max_iter=500), X, y,
    ...                                groups=groups, n_bootstrap=200)
    >>> report.metrics["accuracy"] > 0.9
    True
    >>> low, high = report.ci["accuracy"]
    >>> bool(low <= report.metrics["accuracy"] <= high)
    True
    """
    y = column_or_1d(np.asarray(y), warn=True)
    n_samples = _num_samples(X)
    if len(y) != n_samples:
        raise ValueError(
            f"cross_validate_report: X has {n_samples} samples but y has {len(y)}."
        )
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != n_samples:
            raise ValueError(
                f"cross_validate_report: groups has {len(groups)} entries but X "
                f"has {n_samples} samples."
            )
    classes = np.unique(y)
    if class_names is None:
        class_names = [str(c) for c in classes]
    elif len(class_names) != len(classes):
        raise ValueError(
            f"cross_validate_report: class_names has {len(class_names)} names "
            f"({list(class_names)}) but y has {len(classes)} classes "
            f"({classes.tolist()})."
        )
    splitter = _make_cv(cv, groups, random_state)
    # The splitter sees only y and groups; X may be images or a DataFrame.
    splits = list(splitter.split(np.zeros((n_samples, 1)), y, groups))
    counts = np.bincount(np.concatenate([t for _, t in splits]), minlength=n_samples)
    if not (counts == 1).all():
        raise ValueError(
            f"cross_validate_report: the test sets of cv={splitter!r} must "
            f"partition the samples (each sample predicted exactly once); "
            f"{int((counts == 0).sum())} sample(s) are never and "
            f"{int((counts > 1).sum())} more than once in a test set."
        )

    name = _describe_estimator(estimator)
    jobs = (
        delayed(_fit_and_predict)(estimator, X, y, groups, train, test, classes)
        for train, test in splits
    )
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    results = [None] * len(splits)
    progress = tqdm(
        parallel(jobs),
        total=len(splits),
        desc=f"CV {name}",
        unit="fold",
        disable=not verbose,
        leave=False,
    )
    for k, result in enumerate(progress):
        results[k] = result
        if verbose:
            progress.set_postfix(
                fold=k + 1,
                acc=f"{accuracy_score(y[result[0]], result[1]):.3f}",
                fit=f"{result[3]:.1f}s",
            )
    progress.close()

    y_pred = np.empty(n_samples, dtype=y.dtype)
    fold = np.empty(n_samples, dtype=int)
    has_proba = all(r[2] is not None for r in results)
    proba = np.zeros((n_samples, len(classes))) if has_proba else None
    fold_rows = []
    for k, (test, pred, fold_proba, fit_time, predict_time) in enumerate(results):
        y_pred[test] = pred
        fold[test] = k
        if has_proba:
            proba[test] = fold_proba
        row = _sk_metrics(
            y[test], pred, fold_proba if has_proba else None, classes, n_bins
        )
        row.update(
            fold=k, n_test=len(test), fit_time=fit_time, predict_time=predict_time
        )
        fold_rows.append(row)
    fold_metrics = pd.DataFrame(fold_rows).set_index("fold")

    metrics = _sk_metrics(y, y_pred, proba, classes, n_bins)
    if has_proba:
        confidence = proba.max(axis=1)
    else:
        confidence = np.full(n_samples, np.nan)
    correct = y_pred == y

    ci = _bootstrap_ci(
        y, y_pred, proba, classes, groups, n_bootstrap, random_state, n_bins
    )
    return Report(
        classes=classes,
        class_names=list(class_names),
        y_true=y,
        y_pred=y_pred,
        proba=proba,
        confidence=confidence,
        correct=correct,
        fold=fold,
        groups=groups,
        metrics=metrics,
        ci=ci,
        fold_metrics=fold_metrics,
        confusion_matrix=confusion_matrix(y, y_pred, labels=classes),
        fit_time=fold_metrics["fit_time"].to_numpy(),
        predict_time=fold_metrics["predict_time"].to_numpy(),
        n_bootstrap=int(n_bootstrap),
        grouped=groups is not None,
        cv=repr(splitter),
        estimator=name,
        n_bins=n_bins,
    )


def _bootstrap_ci(y, y_pred, proba, classes, groups, n_bootstrap, random_state, n_bins):
    if n_bootstrap <= 0:
        return {name: (float("nan"), float("nan")) for name in METRICS}
    true_idx = np.searchsorted(classes, y)
    # A prediction outside the training labels cannot occur for a classifier; map
    # defensively so that it counts as wrong rather than crashing the bootstrap.
    pred_idx = np.searchsorted(classes, y_pred).clip(0, len(classes) - 1)
    wrong = classes[pred_idx] != y_pred
    pred_idx[wrong] = (true_idx[wrong] + 1) % len(classes)
    values = {name: [] for name in METRICS}
    for idx in bootstrap_indices(
        len(y), groups=groups, n_bootstrap=n_bootstrap, random_state=random_state
    ):
        sample = _fast_metrics(
            true_idx[idx],
            pred_idx[idx],
            None if proba is None else proba[idx],
            len(classes),
            n_bins,
        )
        for name in METRICS:
            values[name].append(sample[name])
    ci = {}
    for name in METRICS:
        v = np.asarray(values[name], dtype=float)
        v = v[~np.isnan(v)]
        ci[name] = (
            (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
            if v.size
            else (float("nan"), float("nan"))
        )
    return ci


# --------------------------------------------------------------------------
# Figures. Built on matplotlib's object API (no pyplot state), so they are safe
# in scripts, notebooks and worker processes alike; every function returns the
# Figure and saves a PNG when given ``path``.
# --------------------------------------------------------------------------


def _figure(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig, path, dpi=120):
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def plot_confusion_matrix(
    report, *, normalize=None, ax=None, title=None, cmap="Blues", path=None
):
    """Draw the pooled out-of-fold confusion matrix of a report.

    Parameters
    ----------
    report : Report
        From :func:`cross_validate_report`.
    normalize : {"true", "pred", "all"} or None, default=None
        Show counts (None) or rates normalised over true rows, predicted columns
        or all samples.
    ax : matplotlib Axes, default=None
        Draw into this axes; default a new figure.
    title : str, default=None
        Default: the estimator and its accuracy.
    cmap : str, default="Blues"
    path : str or path-like, default=None
        Save the figure there as PNG.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skradnod.evaluation import cross_validate_report, plot_confusion_matrix
    >>> X, y = load_iris(return_X_y=True)
    >>> report = cross_validate_report(DecisionTreeClassifier(random_state=0), X, y,
    ...                                groups=np.arange(150), n_bootstrap=0)
    >>> fig = plot_confusion_matrix(report)
    >>> fig.axes[0].get_xlabel()
    'Predicted class'
    """
    fig, ax = _figure(ax, (4.8, 4.2))
    cm = report.confusion_matrix.astype(float)
    if normalize is not None:
        axis = {"true": 1, "pred": 0}.get(normalize)
        if normalize not in ("true", "pred", "all"):
            raise ValueError(
                f"normalize must be 'true', 'pred', 'all' or None; got {normalize!r}."
            )
        denom = cm.sum() if axis is None else cm.sum(axis=axis, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = np.nan_to_num(cm / denom)
    display = ConfusionMatrixDisplay(cm, display_labels=report.class_names)
    display.plot(
        ax=ax,
        cmap=cmap,
        colorbar=False,
        values_format=".2f" if normalize else ".0f",
    )
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(
        title
        or f"{report.estimator}\naccuracy {report.metrics['accuracy']:.1%} "
        f"(n={report.n_samples})",
        fontsize=9,
    )
    return _finish(fig, path)


def plot_confidence(report, *, ax=None, title=None, path=None):
    """Box plots of prediction confidence, correct vs incorrect, per true class.

    The method's Figures 2-5: for each true class, the confidence (largest
    predicted probability) of the samples predicted right beside that of the
    samples predicted wrong. A model whose wrong answers are as confident as its
    right ones gives the user no way to tell them apart.

    Parameters
    ----------
    report : Report
        From :func:`cross_validate_report`, of an estimator with
        ``predict_proba``.
    ax : matplotlib Axes, default=None
    title : str, default=None
    path : str or path-like, default=None
        Save the figure there as PNG.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the report has no probabilities.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from skradnod.evaluation import cross_validate_report, plot_confidence
    >>> X, y = load_iris(return_X_y=True)
    >>> report = cross_validate_report(GaussianNB(), X, y, groups=np.arange(150),
    ...                                n_bootstrap=0)
    >>> plot_confidence(report).axes[0].get_ylabel()
    'Confidence (max. predicted probability)'
    """
    if report.proba is None:
        raise ValueError(
            f"plot_confidence needs probabilities; the report of {report.estimator} "
            "has none (the estimator has no predict_proba)."
        )
    fig, ax = _figure(ax, (max(4.5, 1.1 * len(report.classes) + 2), 4.0))
    colours = {True: "tab:green", False: "tab:red"}
    width = 0.35
    for k, cls in enumerate(report.classes):
        for offset, is_correct in ((-width / 2, True), (width / 2, False)):
            values = report.confidence[
                (report.y_true == cls) & (report.correct == is_correct)
            ]
            if values.size == 0:
                continue
            box = ax.boxplot(
                values,
                positions=[k + offset],
                widths=width * 0.9,
                patch_artist=True,
                manage_ticks=False,
                medianprops={"color": "black"},
                flierprops={"markersize": 3},
            )
            box["boxes"][0].set_facecolor(colours[is_correct])
            box["boxes"][0].set_alpha(0.6)
            # sample counts along the bottom, where no box can reach
            ax.text(
                k + offset,
                0.01,
                f"n={values.size}",
                ha="center",
                va="bottom",
                fontsize=7,
                transform=ax.get_xaxis_transform(),
            )
    ax.set_xticks(range(len(report.classes)), report.class_names)
    ax.set_xlim(-0.6, len(report.classes) - 0.4)
    ax.set_ylim(0, 1.0)
    ax.set_xlabel("True class")
    ax.set_ylabel("Confidence (max. predicted probability)")
    ax.legend(
        handles=[
            Patch(facecolor=colours[True], alpha=0.6, label="correct"),
            Patch(facecolor=colours[False], alpha=0.6, label="incorrect"),
        ],
        # below the axes: boxes and counts fill the plot area
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12),
        ncol=2,
        frameon=False,
        fontsize=8,
    )
    ax.set_title(
        title or f"{report.estimator}\nconfidence of correct vs incorrect predictions",
        fontsize=9,
    )
    return _finish(fig, path)


def _top_correct(report):
    # Calibration is about the probabilities, so it scores their argmax (which
    # equals ``predict`` for nearly every classifier).
    return report.classes[report.proba.argmax(axis=1)] == report.y_true


def calibration_curve_top_label(report, *, n_bins=None):
    """Reliability-diagram data: per confidence bin, count, confidence, accuracy.

    Parameters
    ----------
    report : Report
    n_bins : int, default=None
        Default: the report's ``n_bins``.

    Returns
    -------
    bins : DataFrame
        One row per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean),
        ``accuracy`` (NaN for empty bins).
    """
    n_bins = report.n_bins if n_bins is None else n_bins
    if report.proba is None:
        raise ValueError(
            f"The report of {report.estimator} has no probabilities (the estimator "
            "has no predict_proba), so there is no calibration to show."
        )
    count, conf, acc = _calibration_bins(
        report.confidence, _top_correct(report), n_bins
    )
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count,
            "confidence": conf,
            "accuracy": acc,
        }
    )


def plot_calibration(report, *, n_bins=None, ax=None, title=None, path=None):
    """Reliability diagram of the top-label confidence, with the ECE in the title.

    Bars show the accuracy of the predictions in each confidence bin; the
    diagonal is perfect calibration (80 % confident means right 80 % of the
    time). Bars below the diagonal mean overconfidence.

    Parameters
    ----------
    report : Report
        From :func:`cross_validate_report`, with probabilities.
    n_bins : int, default=None
        Default: the report's ``n_bins``.
    ax : matplotlib Axes, default=None
    title : str, default=None
        Default: the estimator; the ECE is always appended.
    path : str or path-like, default=None
        Save the figure there as PNG.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from skradnod.evaluation import cross_validate_report, plot_calibration
    >>> X, y = load_iris(return_X_y=True)
    >>> report = cross_validate_report(GaussianNB(), X, y, groups=np.arange(150),
    ...                                n_bootstrap=0)
    >>> "ECE" in plot_calibration(report).axes[0].get_title()
    True
    """
    bins = calibration_curve_top_label(report, n_bins=n_bins)
    fig, ax = _figure(ax, (4.5, 4.2))
    filled = bins["count"] > 0
    width = bins["upper"] - bins["lower"]
    ax.bar(
        bins["lower"][filled],
        bins["accuracy"][filled],
        width=width[filled],
        align="edge",
        edgecolor="black",
        color="tab:blue",
        alpha=0.7,
        label="accuracy in bin",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.plot(
        bins["confidence"][filled],
        bins["accuracy"][filled],
        "o",
        color="black",
        markersize=3,
        label="mean confidence",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("Confidence (max. predicted probability)")
    ax.set_ylabel("Accuracy")
    ax.legend(loc="upper left", fontsize=8)
    ece = _ece(report.confidence, _top_correct(report), len(bins))
    ax.set_title(
        f"{title or report.estimator}\nexpected calibration error (ECE) = {ece:.3f}",
        fontsize=9,
    )
    return _finish(fig, path)


def plot_latent_tsne(
    Z,
    y,
    *,
    class_names=None,
    perplexity=30.0,
    method="auto",
    random_state=0,
    ax=None,
    title=None,
    path=None,
):
    """Embed latent vectors in 2D with t-SNE and colour them by class.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Latent vectors, e.g. from :class:`~skradnod.models.AutoencoderEmbedding`.
    y : array-like of shape (n_samples,)
        Class of each sample.
    class_names : dict or list, default=None
        Display names of the sorted classes (default: the labels).
    perplexity : float, default=30.0
        t-SNE perplexity; lowered to ``n_samples - 1`` for small sets.
    method : {"auto", "exact", "barnes_hut"}, default="auto"
        t-SNE gradient method. ``"auto"``: exact up to 1,000 samples (quick
        there, and single-threaded, so it never stalls on a busy machine the way
        OpenMP-parallel Barnes-Hut can), Barnes-Hut above.
    random_state : int, default=0
    ax : matplotlib Axes, default=None
    title : str, default=None
    path : str or path-like, default=None
        Save the figure there as PNG.

    Returns
    -------
    fig : matplotlib.figure.Figure
        ``fig.embedding_`` holds the 2D coordinates.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.evaluation import plot_latent_tsne
    >>> rng = np.random.RandomState(0)
    >>> Z = np.vstack([rng.normal(0, 1, (20, 8)), rng.normal(6, 1, (20, 8))])
    >>> fig = plot_latent_tsne(Z, [1] * 20 + [5] * 20)
    >>> fig.embedding_.shape
    (40, 2)
    """
    Z = np.asarray(Z, dtype=float).reshape(len(Z), -1)
    y = np.asarray(y)
    if len(y) != len(Z):
        raise ValueError(f"plot_latent_tsne: Z has {len(Z)} rows but y has {len(y)}.")
    if len(Z) < 3:
        raise ValueError(f"plot_latent_tsne needs at least 3 samples; got {len(Z)}.")
    if method == "auto":
        method = "exact" if len(Z) <= 1000 else "barnes_hut"
    tsne = TSNE(
        n_components=2,
        perplexity=min(perplexity, len(Z) - 1),
        method=method,
        random_state=random_state,
        init="pca",
    )
    embedding = tsne.fit_transform(Z)
    fig, ax = _figure(ax, (5.0, 4.5))
    classes = np.unique(y)
    if class_names is None:
        names = [str(c) for c in classes]
    elif isinstance(class_names, dict):
        names = [str(class_names.get(c, c)) for c in classes]
    else:
        names = list(class_names)
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.95, len(classes)))
    for cls, name, colour in zip(classes, names, colours):
        mask = y == cls
        ax.scatter(
            embedding[mask, 0],
            embedding[mask, 1],
            s=12,
            color=colour,
            label=f"{name} (n={int(mask.sum())})",
            alpha=0.8,
        )
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.legend(title="class", fontsize=8)
    ax.set_title(
        title or f"t-SNE of the latent space ({Z.shape[1]} dimensions)", fontsize=9
    )
    fig.embedding_ = embedding
    return _finish(fig, path)
