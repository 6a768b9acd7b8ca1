"""Top-label reliability diagram with its expected calibration error."""

import numpy as np
import pandas as pd

from ._metrics import _calibration_bins, _ece_from_bins
from ._plotting import (
    _check_proba,
    _check_report_proba,
    _estimator_proba,
    _new_axes,
    _title,
)


def _top_label_bins(y_true, y_proba, labels, n_bins):
    """Per-bin count, mean confidence and accuracy of the top-label predictions."""
    # Calibration is about the probabilities, so it scores their argmax (which
    # equals ``predict`` for nearly every classifier).
    correct = labels[y_proba.argmax(axis=1)] == y_true
    return _calibration_bins(y_proba.max(axis=1), correct, n_bins)


class TopLabelCalibrationDisplay:
    """Reliability diagram of the top-label confidence, with the ECE.

    Predictions are binned by their confidence (the largest predicted
    probability) into equal-width bins; bars show the accuracy in each bin and
    dots its mean confidence. The diagonal is perfect calibration (80 %
    confident means right 80 % of the time); bars below it mean
    overconfidence. The title gives the expected calibration error, the
    count-weighted mean gap between accuracy and confidence
    (:func:`expected_calibration_error`). Unlike
    :class:`sklearn.calibration.CalibrationDisplay`, which follows one positive
    class of a binary problem, this scores the predicted class of any number of
    classes.

    Build it with :meth:`from_report`, :meth:`from_estimator` or
    :meth:`from_predictions`; all parameters are stored as attributes.

    Parameters
    ----------
    accuracy : ndarray of shape (n_bins,)
        Share of right predictions in each bin (NaN for an empty bin).
    mean_confidence : ndarray of shape (n_bins,)
        Mean confidence in each bin (NaN for an empty bin).
    count : ndarray of shape (n_bins,)
        Number of predictions in each bin.
    bin_edges : ndarray of shape (n_bins + 1,)
        Edges of the bins; bin ``k`` holds confidences in
        ``(bin_edges[k], bin_edges[k + 1]]`` (confidence 0 in the first).
    estimator_name : str, default=None
        Shown in the title; None shows no name.

    Attributes
    ----------
    ece : float
        Expected calibration error of the bins (NaN when all are empty).
    bars_ : matplotlib BarContainer
        One bar per non-empty bin, as high as its accuracy.
    line_ : matplotlib Line2D
        The mean confidence of the non-empty bins.
    ref_line_ : matplotlib Line2D or None
        The diagonal; None when ``plot(ref_line=False)``.
    ax_ : matplotlib Axes
        Axes with the diagram.
    figure_ : matplotlib Figure
        Figure containing the diagram.

    See Also
    --------
    plot_calibration : :meth:`from_report`, saved as PNG.
    calibration_curve_top_label : The bins of a report as a table.

    Examples
    --------
    >>> from skradnod.evaluation import TopLabelCalibrationDisplay
    >>> # always 90 % confident, right half of the time
    >>> disp = TopLabelCalibrationDisplay.from_predictions(
    ...     [0, 1], [[0.9, 0.1], [0.9, 0.1]], n_bins=5)
    >>> disp.count.tolist()
    [0, 0, 0, 0, 2]
    >>> float(disp.accuracy[-1]), round(disp.ece, 6)
    (0.5, 0.4)
    """

    def __init__(
        self, accuracy, mean_confidence, count, bin_edges, *, estimator_name=None
    ):
        self.accuracy = accuracy
        self.mean_confidence = mean_confidence
        self.count = count
        self.bin_edges = bin_edges
        self.estimator_name = estimator_name

    @property
    def ece(self):
        """Expected calibration error: the count-weighted mean gap of the bins."""
        return _ece_from_bins(self.count, self.mean_confidence, self.accuracy)

    def plot(self, *, ax=None, title=None, ref_line=True):
        """Draw the reliability diagram.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; default the axes of a new
            :class:`matplotlib.figure.Figure` (not registered with pyplot).
        title : str, default=None
            First line of the title, default the estimator name; the ECE is
            always on the last line.
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.

        Returns
        -------
        display : TopLabelCalibrationDisplay
            ``self``, with ``ax_``, ``figure_``, ``bars_``, ``line_`` and
            ``ref_line_`` set.
        """
        self.figure_, self.ax_ = _new_axes(ax, (4.5, 4.2))
        ax = self.ax_
        count = np.asarray(self.count)
        edges = np.asarray(self.bin_edges, dtype=float)
        filled = count > 0
        self.bars_ = ax.bar(
            edges[:-1][filled],
            np.asarray(self.accuracy)[filled],
            width=np.diff(edges)[filled],
            align="edge",
            edgecolor="black",
            color="tab:blue",
            alpha=0.7,
            label="accuracy in bin",
        )
        self.ref_line_ = None
        if ref_line:
            self.ref_line_ = ax.plot(
                [0, 1], [0, 1], "--", color="gray", label="perfect calibration"
            )[0]
        self.line_ = ax.plot(
            np.asarray(self.mean_confidence)[filled],
            np.asarray(self.accuracy)[filled],
            "o",
            color="black",
            markersize=3,
            label="mean confidence",
        )[0]
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("Confidence (max. predicted probability)")
        ax.set_ylabel("Accuracy")
        ax.legend(loc="upper left", fontsize=8)
        first = self.estimator_name if title is None else title
        ax.set_title(
            _title(None, first, f"expected calibration error (ECE) = {self.ece:.3f}"),
            fontsize=9,
        )
        return self

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_proba,
        *,
        labels=None,
        n_bins=10,
        name=None,
        ax=None,
        title=None,
        ref_line=True,
    ):
        """Plot the top-label reliability diagram of predicted probabilities.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.
        y_proba : array-like of shape (n_samples, n_classes)
            Predicted probabilities, columns ordered as ``labels``.
        labels : array-like of shape (n_classes,), default=None
            The classes of the columns of ``y_proba`` (the estimator's
            ``classes_``); default the sorted labels of ``y_true``.
        n_bins : int, default=10
            Number of equal-width confidence bins on [0, 1].
        name : str, default=None
            Estimator name shown in the title.
        ax : matplotlib Axes, default=None
        title : str, default=None
        ref_line : bool, default=True

        Returns
        -------
        display : TopLabelCalibrationDisplay

        Raises
        ------
        ValueError
            If the lengths of ``y_true`` and ``y_proba`` differ, or ``y_proba``
            has not one column per label.
        """
        y_true, y_proba, labels = _check_proba(
            y_true, y_proba, labels, "TopLabelCalibrationDisplay.from_predictions"
        )
        count, mean_confidence, accuracy = _top_label_bins(
            y_true, y_proba, labels, n_bins
        )
        display = cls(
            accuracy,
            mean_confidence,
            count,
            np.linspace(0, 1, n_bins + 1),
            estimator_name=name,
        )
        return display.plot(ax=ax, title=title, ref_line=ref_line)

    @classmethod
    def from_estimator(
        cls, estimator, X, y, *, n_bins=10, name=None, ax=None, title=None,
        ref_line=True,
    ):
        """Plot the top-label reliability diagram of a fitted classifier.

        Parameters
        ----------
        estimator : classifier
            Fitted classifier with ``predict_proba``, or a pipeline ending in one.
        X : array-like
            Input of the estimator.
        y : array-like of shape (n_samples,)
            True labels.
        n_bins : int, default=10
        name : str, default=None
            Shown in the title; default the estimator's class (its steps for a
            pipeline).
        ax : matplotlib Axes, default=None
        title : str, default=None
        ref_line : bool, default=True

        Returns
        -------
        display : TopLabelCalibrationDisplay
        """
        y_proba, classes, default_name = _estimator_proba(
            estimator, X, "TopLabelCalibrationDisplay.from_estimator"
        )
        return cls.from_predictions(
            y,
            y_proba,
            labels=classes,
            n_bins=n_bins,
            name=default_name if name is None else name,
            ax=ax,
            title=title,
            ref_line=ref_line,
        )

    @classmethod
    def from_report(cls, report, *, n_bins=None, ax=None, title=None, ref_line=True):
        """Plot the reliability diagram of a report's out-of-fold probabilities.

        Parameters
        ----------
        report : Report
            From :func:`cross_validate_report`, with probabilities.
        n_bins : int, default=None
            Default: the report's ``n_bins``, so the ECE shown is the report's
            ``metrics["ece"]``.
        ax : matplotlib Axes, default=None
        title : str, default=None
            Default: the estimator.
        ref_line : bool, default=True

        Returns
        -------
        display : TopLabelCalibrationDisplay

        Raises
        ------
        ValueError
            If the report has no probabilities.
        """
        _check_report_proba(report, "TopLabelCalibrationDisplay")
        return cls.from_predictions(
            report.y_true,
            report.proba,
            labels=report.classes,
            n_bins=report.n_bins if n_bins is None else n_bins,
            name=report.estimator,
            ax=ax,
            title=title,
            ref_line=ref_line,
        )


def calibration_curve_top_label(report, *, n_bins=None):
    """Reliability-diagram data: per confidence bin, count, confidence, accuracy.

    The numbers :meth:`TopLabelCalibrationDisplay.from_report` draws, as a table.

    Parameters
    ----------
    report : Report
        From :func:`cross_validate_report`, with probabilities.
    n_bins : int, default=None
        Default: the report's ``n_bins``.

    Returns
    -------
    bins : DataFrame
        One row per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean),
        ``accuracy`` (NaN for empty bins).

    Raises
    ------
    ValueError
        If the report has no probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.evaluation import (calibration_curve_top_label,
    ...                                  report_from_predictions)
    >>> proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    >>> report = report_from_predictions(
    ...     np.array([0, 1, 1]), proba.argmax(1), proba, np.array([0, 1, 1]),
    ...     classes=[0, 1], n_bootstrap=0, n_bins=2)
    >>> calibration_curve_top_label(report)
       lower  upper  count  confidence  accuracy
    0    0.0    0.5      0         NaN       NaN
    1    0.5    1.0      3         0.8  0.666667
    """
    _check_report_proba(report, "calibration_curve_top_label")
    n_bins = report.n_bins if n_bins is None else n_bins
    count, confidence, accuracy = _top_label_bins(
        report.y_true, report.proba, np.asarray(report.classes), n_bins
    )
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": count,
            "confidence": confidence,
            "accuracy": accuracy,
        }
    )
