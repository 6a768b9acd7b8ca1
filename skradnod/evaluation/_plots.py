"""Figures of a report in one call: a display's figure, saved as PNG.

Each function is the ``from_report`` (or ``from_embedding``) of a display
(:class:`ConfusionMatrixDisplay`, :class:`ConfidenceDisplay`,
:class:`TopLabelCalibrationDisplay`, :class:`LatentTSNEDisplay`), returning the
figure and saving it when given ``path``; the display keeps the computed values
and artists, the function is the shortcut the experiment reports use.
"""

from ._calibration_display import TopLabelCalibrationDisplay
from ._confidence_display import ConfidenceDisplay
from ._confusion_display import ConfusionMatrixDisplay
from ._plotting import _save
from ._tsne_display import LatentTSNEDisplay


def plot_confusion_matrix(
    report, *, normalize=None, ax=None, title=None, cmap="Blues", path=None
):
    """Draw the pooled out-of-fold confusion matrix of a report.

    :meth:`ConfusionMatrixDisplay.from_report`, returning the figure.

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
    >>> import numpy as np
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
    display = ConfusionMatrixDisplay.from_report(
        report, normalize=normalize, cmap=cmap, ax=ax, title=title
    )
    return _save(display.figure_, path)


def plot_confidence(report, *, ax=None, title=None, path=None):
    """Box plots of prediction confidence, correct vs incorrect, per true class.

    :meth:`ConfidenceDisplay.from_report`, returning the figure.

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
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from skradnod.evaluation import cross_validate_report, plot_confidence
    >>> X, y = load_iris(return_X_y=True)
    >>> report = cross_validate_report(GaussianNB(), X, y, groups=np.arange(150),
    ...                                n_bootstrap=0)
    >>> plot_confidence(report).axes[0].get_ylabel()
    'Confidence (max. predicted probability)'
    """
    display = ConfidenceDisplay.from_report(report, ax=ax, title=title)
    return _save(display.figure_, path)


def plot_calibration(report, *, n_bins=None, ax=None, title=None, path=None):
    """Reliability diagram of the top-label confidence, with the ECE in the title.

    :meth:`TopLabelCalibrationDisplay.from_report`, returning the figure.

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
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from skradnod.evaluation import cross_validate_report, plot_calibration
    >>> X, y = load_iris(return_X_y=True)
    >>> report = cross_validate_report(GaussianNB(), X, y, groups=np.arange(150),
    ...                                n_bootstrap=0)
    >>> "ECE" in plot_calibration(report).axes[0].get_title()
    True
    """
    display = TopLabelCalibrationDisplay.from_report(
        report, n_bins=n_bins, ax=ax, title=title
    )
    return _save(display.figure_, path)


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

    :meth:`LatentTSNEDisplay.from_embedding`, returning the figure.

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
        t-SNE gradient method; ``"auto"``: exact up to 1,000 samples,
        Barnes-Hut above.
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
    display = LatentTSNEDisplay.from_embedding(
        Z,
        y,
        display_labels=class_names,
        perplexity=perplexity,
        method=method,
        random_state=random_state,
        ax=ax,
        title=title,
    )
    fig = display.figure_
    fig.embedding_ = display.embedding
    return _save(fig, path)
