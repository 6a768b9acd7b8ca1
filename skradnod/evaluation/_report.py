"""The :class:`Report` of a cross-validated classifier."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._metrics import METRICS


@dataclass
class Report:
    """Out-of-fold predictions of a cross-validated classifier and their metrics.

    Built by :func:`cross_validate_report`; read it through :attr:`metrics`,
    :attr:`ci`, :meth:`summary` and :meth:`to_dict`, or draw it with the
    ``from_report`` of :class:`ConfusionMatrixDisplay`,
    :class:`ConfidenceDisplay` and :class:`TopLabelCalibrationDisplay` (saved as
    PNG in one call by :func:`plot_confusion_matrix`, :func:`plot_confidence`
    and :func:`plot_calibration`).

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
    sample_outputs : dict of str to ndarray of shape (n_samples,)
        Out-of-fold per-sample values of the methods named in
        :func:`cross_validate_report`'s ``sample_outputs`` (e.g. each held-out
        slice's centre error); empty by default.
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
    sample_outputs: dict = field(default_factory=dict)

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
            Include the per-sample true label, prediction, confidence, fold
            and out-of-fold class probabilities.

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
                # Out-of-fold probabilities, one list per sample, columns as
                # ``classes`` (None without predict_proba).
                "proba": None if self.proba is None else self.proba.tolist(),
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
