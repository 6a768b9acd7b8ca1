"""Box plots of the confidence of correct vs incorrect predictions, per class."""

import numpy as np
from matplotlib.patches import Patch
from sklearn.utils import check_consistent_length, column_or_1d

from ._plotting import (
    _check_proba,
    _check_report_proba,
    _display_names,
    _estimator_proba,
    _new_axes,
    _title,
)

_COLOURS = {True: "tab:green", False: "tab:red"}


class ConfidenceDisplay:
    """Confidence of correct vs incorrect predictions, per true class.

    The method's Figures 2-5: for each true class, box plots of the confidence
    (largest predicted probability) of the samples predicted right beside that
    of the samples predicted wrong, with the number of samples under each box.
    A model whose wrong answers are as confident as its right ones gives the
    user no way to tell them apart.

    Build it with :meth:`from_report`, :meth:`from_estimator` or
    :meth:`from_predictions`; all parameters are stored as attributes.

    Parameters
    ----------
    confidence : ndarray of shape (n_samples,)
        Largest predicted probability of each sample.
    correct : ndarray of shape (n_samples,) and dtype bool
        Whether each sample's prediction is right.
    y_true : ndarray of shape (n_samples,)
        True labels.
    labels : ndarray of shape (n_classes,)
        The classes along the x axis, in order.
    display_labels : list of str, default=None
        Names of ``labels`` on the axis; default the labels as text.
    estimator_name : str, default=None
        Shown in the title; None shows no name.

    Attributes
    ----------
    boxes_ : ndarray of shape (n_classes, 2), dtype=object
        The dict of artists returned by :meth:`matplotlib.axes.Axes.boxplot`
        for each class (rows) and for the correct (column 0) and incorrect
        (column 1) predictions; None where there is no such sample.
    text_ : ndarray of shape (n_classes, 2), dtype=object
        The ``n=`` count under each box (a matplotlib Text), None where no box.
    ax_ : matplotlib Axes
        Axes with the box plots.
    figure_ : matplotlib Figure
        Figure containing the box plots.

    See Also
    --------
    plot_confidence : :meth:`from_report`, saved as PNG.
    TopLabelCalibrationDisplay : Whether the confidence matches the accuracy.

    Examples
    --------
    >>> from skradnod.evaluation import ConfidenceDisplay
    >>> y_true = [0, 0, 1, 1]
    >>> y_proba = [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]]
    >>> disp = ConfidenceDisplay.from_predictions(y_true, y_proba)
    >>> disp.correct.tolist()
    [True, False, True, True]
    >>> [t.get_text() for t in disp.ax_.texts]
    ['n=1', 'n=1', 'n=2']
    """

    def __init__(
        self,
        confidence,
        correct,
        y_true,
        labels,
        *,
        display_labels=None,
        estimator_name=None,
    ):
        self.confidence = confidence
        self.correct = correct
        self.y_true = y_true
        self.labels = labels
        self.display_labels = display_labels
        self.estimator_name = estimator_name

    def plot(self, *, ax=None, title=None):
        """Draw the box plots.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; default the axes of a new
            :class:`matplotlib.figure.Figure` (not registered with pyplot).
        title : str, default=None
            Default: the estimator name and what the figure shows.

        Returns
        -------
        display : ConfidenceDisplay
            ``self``, with ``ax_``, ``figure_``, ``boxes_`` and ``text_`` set.
        """
        labels = np.asarray(self.labels)
        confidence = np.asarray(self.confidence, dtype=float)
        correct = np.asarray(self.correct, dtype=bool)
        y_true = np.asarray(self.y_true)
        names = _display_names(labels, self.display_labels, "ConfidenceDisplay")
        self.figure_, self.ax_ = _new_axes(ax, (max(4.5, 1.1 * len(labels) + 2), 4.0))
        self.boxes_ = np.full((len(labels), 2), None, dtype=object)
        self.text_ = np.full((len(labels), 2), None, dtype=object)
        width = 0.35
        for k, label in enumerate(labels):
            for column, is_correct in enumerate((True, False)):
                values = confidence[(y_true == label) & (correct == is_correct)]
                if values.size:
                    position = k + (width / 2 if column else -width / 2)
                    self._draw_box(k, column, position, values, width)
        ax = self.ax_
        ax.set_xticks(range(len(labels)), names)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_ylim(0, 1.0)
        ax.set_xlabel("True class")
        ax.set_ylabel("Confidence (max. predicted probability)")
        ax.legend(
            handles=[
                Patch(facecolor=_COLOURS[True], alpha=0.6, label="correct"),
                Patch(facecolor=_COLOURS[False], alpha=0.6, label="incorrect"),
            ],
            # below the axes: boxes and counts fill the plot area
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=2,
            frameon=False,
            fontsize=8,
        )
        ax.set_title(
            _title(
                title,
                self.estimator_name,
                "confidence of correct vs incorrect predictions",
            ),
            fontsize=9,
        )
        return self

    def _draw_box(self, k, column, position, values, width):
        box = self.ax_.boxplot(
            values,
            positions=[position],
            widths=width * 0.9,
            patch_artist=True,
            manage_ticks=False,
            medianprops={"color": "black"},
            flierprops={"markersize": 3},
        )
        box["boxes"][0].set_facecolor(_COLOURS[column == 0])
        box["boxes"][0].set_alpha(0.6)
        self.boxes_[k, column] = box
        # sample counts along the bottom, where no box can reach
        self.text_[k, column] = self.ax_.text(
            position,
            0.01,
            f"n={values.size}",
            ha="center",
            va="bottom",
            fontsize=7,
            transform=self.ax_.get_xaxis_transform(),
        )

    @classmethod
    def from_predictions(
        cls,
        y_true,
        y_proba,
        *,
        y_pred=None,
        labels=None,
        display_labels=None,
        name=None,
        ax=None,
        title=None,
    ):
        """Plot the confidence of correct vs incorrect predictions.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels.
        y_proba : array-like of shape (n_samples, n_classes)
            Predicted probabilities, columns ordered as ``labels``.
        y_pred : array-like of shape (n_samples,), default=None
            Predicted labels, which decide what is correct; default the most
            probable class of each row of ``y_proba``.
        labels : array-like of shape (n_classes,), default=None
            The classes of the columns of ``y_proba`` (the estimator's
            ``classes_``); default the sorted labels of ``y_true``.
        display_labels : list or dict, default=None
            Names of ``labels``, as a list in their order or a dict from label
            to name; default the labels as text.
        name : str, default=None
            Estimator name shown in the title.
        ax : matplotlib Axes, default=None
        title : str, default=None

        Returns
        -------
        display : ConfidenceDisplay

        Raises
        ------
        ValueError
            If the lengths of ``y_true``, ``y_proba`` and ``y_pred`` differ, or
            ``y_proba`` has not one column per label.
        """
        caller = "ConfidenceDisplay.from_predictions"
        y_true, y_proba, labels = _check_proba(y_true, y_proba, labels, caller)
        if y_pred is None:
            y_pred = labels[y_proba.argmax(axis=1)]
        y_pred = column_or_1d(y_pred)
        check_consistent_length(y_true, y_pred)
        display = cls(
            y_proba.max(axis=1),
            y_pred == y_true,
            y_true,
            labels,
            display_labels=_display_names(labels, display_labels, caller),
            estimator_name=name,
        )
        return display.plot(ax=ax, title=title)

    @classmethod
    def from_estimator(
        cls, estimator, X, y, *, display_labels=None, name=None, ax=None, title=None
    ):
        """Plot the confidence of a fitted classifier's predictions on ``X, y``.

        Correct means ``estimator.predict(X) == y``; the confidence is the
        largest column of ``estimator.predict_proba(X)``.

        Parameters
        ----------
        estimator : classifier
            Fitted classifier with ``predict_proba``, or a pipeline ending in one.
        X : array-like
            Input of the estimator.
        y : array-like of shape (n_samples,)
            True labels.
        display_labels : list or dict, default=None
            Names of the estimator's ``classes_``.
        name : str, default=None
            Shown in the title; default the estimator's class (its steps for a
            pipeline).
        ax : matplotlib Axes, default=None
        title : str, default=None

        Returns
        -------
        display : ConfidenceDisplay
        """
        y_proba, classes, default_name = _estimator_proba(
            estimator, X, "ConfidenceDisplay.from_estimator"
        )
        return cls.from_predictions(
            y,
            y_proba,
            y_pred=estimator.predict(X),
            labels=classes,
            display_labels=display_labels,
            name=default_name if name is None else name,
            ax=ax,
            title=title,
        )

    @classmethod
    def from_report(cls, report, *, ax=None, title=None):
        """Plot the pooled out-of-fold confidence of a report.

        Parameters
        ----------
        report : Report
            From :func:`cross_validate_report`, of an estimator with
            ``predict_proba``.
        ax : matplotlib Axes, default=None
        title : str, default=None
            Default: the estimator and what the figure shows.

        Returns
        -------
        display : ConfidenceDisplay

        Raises
        ------
        ValueError
            If the report has no probabilities.
        """
        _check_report_proba(report, "ConfidenceDisplay")
        return cls.from_predictions(
            report.y_true,
            report.proba,
            y_pred=report.y_pred,
            labels=report.classes,
            display_labels=report.class_names,
            name=report.estimator,
            ax=ax,
            title=title,
        )
