"""scikit-learn's confusion-matrix display, outside pyplot, with ``from_report``."""

from sklearn import metrics

from ._plotting import _new_axes, _title


class ConfusionMatrixDisplay(metrics.ConfusionMatrixDisplay):
    """Confusion matrix visualization: scikit-learn's, plus :meth:`from_report`.

    A subclass of :class:`sklearn.metrics.ConfusionMatrixDisplay` (same
    parameters, attributes and ``from_estimator`` / ``from_predictions``) with
    two additions: :meth:`from_report` draws the pooled out-of-fold matrix of a
    :class:`Report`, and :meth:`plot` without ``ax`` draws on a new
    :class:`matplotlib.figure.Figure` instead of a pyplot figure, so nothing is
    left in pyplot's global state.

    Parameters
    ----------
    confusion_matrix : ndarray of shape (n_classes, n_classes)
        Confusion matrix; rows are true, columns predicted classes.
    display_labels : ndarray of shape (n_classes,), default=None
        Display labels; default ``0 .. n_classes - 1``.

    Attributes
    ----------
    im_ : matplotlib AxesImage
        Image representing the confusion matrix.
    text_ : ndarray of shape (n_classes, n_classes), dtype=matplotlib Text, or None
        The value of each cell; None if ``include_values`` is false.
    ax_ : matplotlib Axes
        Axes with the confusion matrix.
    figure_ : matplotlib Figure
        Figure containing the confusion matrix.

    See Also
    --------
    sklearn.metrics.ConfusionMatrixDisplay : The parent class.
    plot_confusion_matrix : :meth:`from_report`, saved as PNG.

    Examples
    --------
    >>> from skradnod.evaluation import ConfusionMatrixDisplay
    >>> disp = ConfusionMatrixDisplay.from_predictions([1, 1, 2, 2], [1, 2, 2, 2])
    >>> disp.confusion_matrix.tolist()
    [[1, 1], [0, 2]]
    >>> type(disp.figure_).__module__
    'matplotlib.figure'
    """

    def plot(self, *, ax=None, **kwargs):
        """Plot the confusion matrix.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; default the axes of a new
            :class:`matplotlib.figure.Figure` (not registered with pyplot).
        **kwargs : dict
            The other parameters of
            :meth:`sklearn.metrics.ConfusionMatrixDisplay.plot`
            (``include_values``, ``cmap``, ``xticks_rotation``,
            ``values_format``, ``colorbar``, ``im_kw``, ``text_kw``).

        Returns
        -------
        display : ConfusionMatrixDisplay
            ``self``, with ``ax_``, ``figure_``, ``im_`` and ``text_`` set.
        """
        _, ax = _new_axes(ax, (4.8, 4.2))
        return super().plot(ax=ax, **kwargs)

    # from_estimator and from_predictions only call scikit-learn's: they are
    # written out for their docstrings, since scikit-learn's refer to labels of
    # its own documentation that do not resolve in this one (sphinx -W).
    @classmethod
    def from_estimator(cls, estimator, X, y, **kwargs):
        """Plot the confusion matrix of a fitted classifier on ``X, y``.

        :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_estimator`, drawn
        with this class's :meth:`plot`.

        Parameters
        ----------
        estimator : classifier
            Fitted classifier or pipeline ending in one.
        X : array-like
            Input of ``estimator.predict``.
        y : array-like of shape (n_samples,)
            True labels.
        **kwargs : dict
            The other parameters of
            :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_estimator`
            (``labels``, ``normalize``, ``display_labels``, ``ax``, ...).

        Returns
        -------
        display : ConfusionMatrixDisplay
        """
        return super().from_estimator(estimator, X, y, **kwargs)

    @classmethod
    def from_predictions(cls, y_true, y_pred, **kwargs):
        """Plot the confusion matrix of true and predicted labels.

        :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_predictions`, drawn
        with this class's :meth:`plot`.

        Parameters
        ----------
        y_true, y_pred : array-like of shape (n_samples,)
            True and predicted labels.
        **kwargs : dict
            The other parameters of
            :meth:`sklearn.metrics.ConfusionMatrixDisplay.from_predictions`
            (``labels``, ``normalize``, ``display_labels``, ``ax``, ...).

        Returns
        -------
        display : ConfusionMatrixDisplay
        """
        return super().from_predictions(y_true, y_pred, **kwargs)

    @classmethod
    def from_report(
        cls,
        report,
        *,
        normalize=None,
        values_format=None,
        cmap="Blues",
        colorbar=False,
        ax=None,
        title=None,
    ):
        """Plot the pooled out-of-fold confusion matrix of a report.

        Rows and columns are all the report's classes, named by its
        ``class_names``; the axes read "True class" and "Predicted class" and
        the title gives the estimator and its accuracy.

        Parameters
        ----------
        report : Report
            From :func:`cross_validate_report`.
        normalize : {"true", "pred", "all"} or None, default=None
            Show counts (None) or rates normalised over true rows, predicted
            columns or all samples.
        values_format : str, default=None
            Format of the cell values; default ``".2f"`` for rates and ``"d"``
            for counts.
        cmap : str or matplotlib Colormap, default="Blues"
        colorbar : bool, default=False
        ax : matplotlib Axes, default=None
            Draw into this axes; default a new figure.
        title : str, default=None
            Default: the estimator and its accuracy.

        Returns
        -------
        display : ConfusionMatrixDisplay

        Examples
        --------
        >>> import numpy as np
        >>> from skradnod.evaluation import (ConfusionMatrixDisplay,
        ...                                  report_from_predictions)
        >>> report = report_from_predictions(
        ...     np.array([1, 1, 2, 2]), np.array([1, 2, 2, 2]), None,
        ...     np.array([0, 1, 0, 1]), classes=[1, 2],
        ...     class_names=["benign", "malignant"], n_bootstrap=0)
        >>> disp = ConfusionMatrixDisplay.from_report(report, normalize="true")
        >>> disp.confusion_matrix.tolist()
        [[0.5, 0.5], [0.0, 1.0]]
        >>> disp.ax_.get_xlabel()
        'Predicted class'
        """
        if values_format is None:
            values_format = ".2f" if normalize else "d"
        display = cls.from_predictions(
            report.y_true,
            report.y_pred,
            labels=report.classes,
            normalize=normalize,
            display_labels=report.class_names,
            values_format=values_format,
            cmap=cmap,
            colorbar=colorbar,
            ax=ax,
        )
        display.ax_.set_xlabel("Predicted class")
        display.ax_.set_ylabel("True class")
        display.ax_.set_title(
            _title(
                title,
                report.estimator,
                f"accuracy {report.metrics['accuracy']:.1%} (n={report.n_samples})",
            ),
            fontsize=9,
        )
        return display
