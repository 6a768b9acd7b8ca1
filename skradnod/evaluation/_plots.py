"""Figures of a report: confusion matrix, confidence, calibration, t-SNE."""

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from sklearn.manifold import TSNE
from sklearn.metrics import (
    ConfusionMatrixDisplay,
)

from ._metrics import _calibration_bins, _ece

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
