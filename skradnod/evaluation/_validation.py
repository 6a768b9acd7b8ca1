"""Patient-grouped cross-validation of a classifier into a :class:`Report`."""

import time
import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import (
    BaseCrossValidator,
    StratifiedGroupKFold,
    StratifiedKFold,
    check_cv,
    cross_validate,
)
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples, column_or_1d

from ..model_selection import UngroupedSplitWarning
from ._bootstrap import _bootstrap_ci
from ._metrics import _sk_metrics, to_binary
from ._report import Report


def _describe_estimator(estimator):
    if hasattr(estimator, "steps"):
        return " > ".join(type(step).__name__ for _, step in estimator.steps)
    return type(estimator).__name__


class _FixedSplits(BaseCrossValidator):
    """The folds already drawn (and checked), as a splitter that takes groups.

    Requesting ``groups`` for ``split`` makes scikit-learn's routing accept the
    patient ids even when the estimator does not use them, as a group splitter
    would.
    """

    __metadata_request__split = {"groups": True}

    def __init__(self, splits):
        self.splits = splits

    def get_n_splits(self, X=None, y=None, groups=None):
        return len(self.splits)

    def split(self, X=None, y=None, groups=None):
        yield from self.splits


def _fold_predictions(estimator, X, test, classes):
    """Predictions and probabilities (columns = ``classes``) of one fold."""
    X_test = _safe_indexing(X, test)
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
    return y_pred, proba, time.perf_counter() - start


def _no_score(estimator, X, y):
    """A scorer that does not predict: ``cross_validate`` here only fits.

    ``cross_validate`` always scores the test folds, and any real scorer would
    predict them; :func:`_fold_predictions` predicts each test fold once
    afterwards, so scoring would run every fold's prediction (a net's forward
    pass, a radiomics extraction) twice.
    """
    return 0.0


def _fit_folds(estimator, X, y, groups, splits, n_jobs, verbose):
    """Fit one clone per fold with ``cross_validate``, routing the groups."""
    params = {} if groups is None else {"groups": groups}
    # Routing carries the patient ids to every step that requests them (the
    # nets' early-stopping split, RFECV's and inner searches' CV); it is
    # enabled for this call only, and the workers inherit the setting.
    with config_context(enable_metadata_routing=True):
        results = cross_validate(
            estimator,
            X,
            y,
            cv=_FixedSplits(splits),
            params=params,
            scoring=_no_score,
            n_jobs=n_jobs,
            verbose=2 if verbose else 0,
            return_estimator=True,
            error_score="raise",
        )
    return results["estimator"], np.asarray(results["fit_time"])


def _make_cv(cv, groups, random_state):
    # The folds of skradnod.model_selection.PatientStratifiedKFold, but not
    # through it: its warning (raised inside split) tells the user to pass
    # groups to fit or to enable metadata routing, while the fix here is the
    # groups argument of cross_validate_report; and Report.cv names the
    # scikit-learn splitter that made the folds.
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
            UngroupedSplitWarning,
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
    sample_outputs=(),
):
    """Cross-validate a classifier and report its out-of-fold metrics with CIs.

    Every sample is predicted once, by a clone of ``estimator`` fitted on the
    folds that do not hold it (:func:`sklearn.model_selection.cross_validate`).
    From these out-of-fold predictions the report computes, per fold and
    pooled, the method's accuracy and support-weighted
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
        resamples patients, and ``groups`` is routed (scikit-learn metadata
        routing, enabled for this call) to every step of ``estimator`` that
        requests it: the early-stopping split of skradnod's nets and
        :class:`~skradnod.compose.FusionClassifier`, RFECV's CV in
        :func:`~skradnod.feature_selection.make_radiomics_selector`, a
        ``GridSearchCV`` whose CV takes groups. Another estimator whose ``fit``
        takes ``groups`` must say whether it wants them
        (``set_fit_request(groups=True)``), or scikit-learn raises. Without
        groups a warning says that folds are not patient-grouped.
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
        Print a line per fitted fold (scikit-learn's ``cross_validate``).
    sample_outputs : sequence of str, default=()
        Names of methods of the fitted estimator that return one number per
        sample (e.g. :meth:`~skradnod.models.LocatedNoduleClassifier.
        center_error`); each is called on every test fold and pooled, out of
        fold, into ``report.sample_outputs[name]``.

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
    ConfusionMatrixDisplay.from_report : The pooled confusion matrix.
    ConfidenceDisplay.from_report : Confidence of right and wrong predictions.
    TopLabelCalibrationDisplay.from_report : The reliability diagram.

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
    fitted, fit_times = _fit_folds(estimator, X, y, groups, splits, n_jobs, verbose)
    results = [
        (test, *_fold_predictions(fold_estimator, X, test, classes))
        for fold_estimator, (_, test) in zip(fitted, splits)
    ]
    outputs = _sample_outputs(fitted, X, splits, sample_outputs, n_samples)

    y_pred = np.empty(n_samples, dtype=y.dtype)
    fold = np.empty(n_samples, dtype=int)
    has_proba = all(r[2] is not None for r in results)
    proba = np.zeros((n_samples, len(classes))) if has_proba else None
    predict_times = []
    for k, (test, pred, fold_proba, predict_time) in enumerate(results):
        y_pred[test] = pred
        fold[test] = k
        predict_times.append(predict_time)
        if has_proba:
            proba[test] = fold_proba
    report = report_from_predictions(
        y, y_pred, proba, fold, classes=classes, class_names=class_names,
        groups=groups, fit_time=fit_times, predict_time=predict_times,
        n_bootstrap=n_bootstrap, random_state=random_state, n_bins=n_bins,
        cv=repr(splitter), estimator=name,
    )
    report.sample_outputs = outputs
    return report


def _sample_outputs(fitted, X, splits, names, n_samples):
    """Out-of-fold per-sample values of each fitted estimator's method ``names``."""
    outputs = {}
    for name in names:
        values = np.full(n_samples, np.nan)
        for estimator, (_, test) in zip(fitted, splits):
            fold_values = np.asarray(
                getattr(estimator, name)(_safe_indexing(X, test)), dtype=float
            )
            if fold_values.shape != (len(test),):
                raise ValueError(
                    f"cross_validate_report: {type(estimator).__name__}.{name} "
                    f"returned shape {fold_values.shape} for {len(test)} samples; "
                    "sample_outputs methods return one number per sample."
                )
            values[test] = fold_values
        outputs[name] = values
    return outputs


def report_from_predictions(
    y,
    y_pred,
    proba,
    fold,
    *,
    classes,
    class_names=None,
    groups=None,
    fit_time=None,
    predict_time=None,
    n_bootstrap=1000,
    random_state=0,
    n_bins=10,
    cv="",
    estimator="",
):
    """Build a :class:`Report` from out-of-fold predictions already made.

    :func:`cross_validate_report` fits the folds and calls this; call it
    directly to report predictions derived from another report, e.g. the
    binary task read off a 5-class model's probabilities.

    Parameters
    ----------
    y, y_pred : ndarray of shape (n_samples,)
        True and out-of-fold predicted labels.
    proba : ndarray of shape (n_samples, n_classes) or None
        Out-of-fold probabilities, columns ordered as ``classes``.
    fold : ndarray of shape (n_samples,)
        The fold (0, 1, ...) in which each sample was predicted.
    classes : ndarray of shape (n_classes,)
        The sorted labels.
    class_names : list of str, default=None
        Display names of ``classes`` (default: the labels as text).
    groups : ndarray of shape (n_samples,), default=None
        Patient ids; the bootstrap then resamples patients.
    fit_time, predict_time : array-like of shape (n_splits,), default=None
        Seconds per fold (NaN when not given).
    n_bootstrap, random_state, n_bins :
        As in :func:`cross_validate_report`.
    cv, estimator : str, default=""
        Descriptions of the splitter and the estimator.

    Returns
    -------
    report : Report

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.evaluation import report_from_predictions
    >>> y = np.array([0, 0, 1, 1])
    >>> proba = np.array([[.9, .1], [.4, .6], [.2, .8], [.3, .7]])
    >>> fold = np.array([0, 1, 0, 1])
    >>> report = report_from_predictions(y, proba.argmax(1), proba, fold,
    ...                                  classes=np.array([0, 1]), n_bootstrap=0)
    >>> float(report.metrics["accuracy"])
    0.75
    """
    classes = np.asarray(classes)
    if class_names is None:
        class_names = [str(c) for c in classes]
    n_splits = int(fold.max()) + 1
    fit_time = np.full(n_splits, np.nan) if fit_time is None else fit_time
    predict_time = np.full(n_splits, np.nan) if predict_time is None else predict_time
    fold_rows = []
    for k in range(n_splits):
        test = np.flatnonzero(fold == k)
        row = _sk_metrics(
            y[test], y_pred[test], None if proba is None else proba[test],
            classes, n_bins,
        )
        row.update(
            fold=k, n_test=len(test), fit_time=float(fit_time[k]),
            predict_time=float(predict_time[k]),
        )
        fold_rows.append(row)
    fold_metrics = pd.DataFrame(fold_rows).set_index("fold")
    metrics = _sk_metrics(y, y_pred, proba, classes, n_bins)
    confidence = proba.max(axis=1) if proba is not None else np.full(len(y), np.nan)
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
        correct=y_pred == y,
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
        cv=cv,
        estimator=estimator,
        n_bins=n_bins,
    )


def binary_report(report, *, n_bootstrap=None, random_state=0):
    """The benign/malignant report read off a 5-class report's probabilities.

    A 5-class model already estimates P(rating = k); the binary task of the
    method (1-3 benign, 4-5 malignant, :func:`to_binary`) follows as
    P(malignant) = P(4) + P(5), predicted malignant when it is at least 0.5.
    This reuses the 5-class model's out-of-fold predictions instead of training
    a second model (half the cost of both tasks); the folds, patients and fit
    times are the 5-class report's.

    Parameters
    ----------
    report : Report
        A report of a 5-class model with probabilities, classes within 1-5.
    n_bootstrap : int, default=None
        Bootstrap resamples of the intervals (default: the 5-class report's).
    random_state : int, default=0
        Seed of the bootstrap.

    Returns
    -------
    report : Report
        Classes 0 (benign) and 1 (malignant).

    Raises
    ------
    ValueError
        If ``report`` has no probabilities, or classes outside 1-5.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.evaluation import binary_report, report_from_predictions
    >>> y = np.array([1, 3, 4, 5])
    >>> proba = np.eye(5)[[0, 3, 3, 4]]  # the second sample is called 4
    >>> five = report_from_predictions(y, proba.argmax(1) + 1, proba,
    ...                                np.array([0, 0, 1, 1]),
    ...                                classes=np.arange(1, 6), n_bootstrap=0)
    >>> binary_report(five).y_pred.tolist()
    [0, 1, 1, 1]
    """
    classes = np.asarray(report.classes)
    if report.proba is None:
        raise ValueError(
            f"binary_report needs probabilities; the report of {report.estimator} "
            "has none."
        )
    malignant_columns = to_binary(classes) == 1
    p_malignant = report.proba[:, malignant_columns].sum(axis=1)
    proba = np.column_stack([1 - p_malignant, p_malignant])
    return report_from_predictions(
        to_binary(report.y_true),
        (p_malignant >= 0.5).astype(np.int64),
        proba,
        report.fold,
        classes=np.array([0, 1]),
        class_names=["benign", "malignant"],
        groups=report.groups,
        fit_time=report.fit_time,
        predict_time=report.predict_time,
        n_bootstrap=report.n_bootstrap if n_bootstrap is None else n_bootstrap,
        random_state=random_state,
        n_bins=report.n_bins,
        cv=report.cv,
        estimator=f"{report.estimator} (binary from its 5-class probabilities)",
    )
