"""Bar chart of the permutation importance of radiomic features or classes."""

import numpy as np
from sklearn.base import clone

from ..evaluation._plotting import _new_axes, _title
from ._permutation import grouped_permutation_importance

__all__ = ["FeatureImportanceDisplay"]


def split_extraction(estimator):
    """``(extraction, model)``: a pipeline cut after its last RadiomicsExtractor.

    ``extraction`` is None when there is no extractor (the estimator reads a
    feature table). The steps up to the extractor work on each image alone
    (loading, HU window, the extractor itself, whose ``fit`` learns only the
    feature names from the settings), so fitting them on all the data leaks
    nothing from a test fold into a training fold; the steps after it
    (outlier handling, imputation, scaling, selection, classifier) learn from
    the training rows and are refitted on each fold.
    """
    from ..radiomics import RadiomicsExtractor

    steps = getattr(estimator, "steps", None)
    if steps is None:
        return None, estimator
    cuts = [
        i for i, (_, step) in enumerate(steps)
        if isinstance(step, RadiomicsExtractor)
    ]
    if not cuts:
        return None, estimator
    cut = cuts[-1] + 1
    if cut == len(steps):
        raise ValueError(
            "FeatureImportanceDisplay: the pipeline ends with its RadiomicsExtractor; "
            "it needs a classifier after it."
        )
    return estimator[:cut], estimator[cut:]


class FeatureImportanceDisplay:
    """Permutation importance of features or feature groups, as a bar chart.

    Build it with :meth:`from_estimator` (a radiomic model, its images,
    labels and patient groups) or from importances already computed
    (:func:`grouped_permutation_importance`) with the constructor and
    :meth:`plot`. All parameters are stored as attributes.

    Parameters
    ----------
    importances_mean : ndarray of shape (n_groups,)
        Mean drop of the score when a group is permuted.
    importances_std : ndarray of shape (n_groups,)
        Its standard deviation over folds and repeats (the error bars).
    feature_names : array-like of str of shape (n_groups,)
        Name of each feature or group.
    importances : ndarray of shape (n_groups, n_permutations), default=None
        The single permutations' drops.
    groups : dict of str to list of str, default=None
        The features of each group.
    scoring : str, default=None
        The score, named on the x axis.

    Attributes
    ----------
    bars_ : matplotlib BarContainer
        The bars, from the most important down.
    ax_ : matplotlib Axes
        Axes with the chart.
    figure_ : matplotlib Figure
        Figure containing it.

    See Also
    --------
    grouped_permutation_importance : The numbers.
    GradCAMDisplay : Where an image net looks.

    Examples
    --------
    >>> from skradnod.inspection import FeatureImportanceDisplay
    >>> disp = FeatureImportanceDisplay(
    ...     [0.30, 0.02, 0.10], [0.05, 0.01, 0.03],
    ...     ["original_glcm", "original_shape2D", "original_firstorder"],
    ...     scoring="balanced_accuracy").plot(top_k=2)
    >>> [t.get_text() for t in disp.ax_.get_yticklabels()]
    ['original_firstorder', 'original_glcm']
    """

    def __init__(
        self, importances_mean, importances_std, feature_names, *,
        importances=None, groups=None, scoring=None,
    ):
        self.importances_mean = importances_mean
        self.importances_std = importances_std
        self.feature_names = feature_names
        self.importances = importances
        self.groups = groups
        self.scoring = scoring

    def plot(self, *, ax=None, top_k=15, title=None):
        """Draw the ``top_k`` most important, the most important on top.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; default the axes of a new
            :class:`matplotlib.figure.Figure` (not registered with pyplot).
        top_k : int or None, default=15
            Number of bars; None draws all.
        title : str, default=None
            Default: "Permutation importance" and how many are shown.

        Returns
        -------
        display : FeatureImportanceDisplay
            ``self``, with ``ax_``, ``figure_`` and ``bars_``.

        Raises
        ------
        ValueError
            If the three arrays differ in length or ``top_k`` is not positive.
        """
        mean = np.asarray(self.importances_mean, dtype=float)
        std = np.asarray(self.importances_std, dtype=float)
        names = [str(name) for name in self.feature_names]
        if not (mean.ndim == 1 and len(mean) == len(std) == len(names)):
            raise ValueError(
                "FeatureImportanceDisplay: importances_mean, importances_std and "
                f"feature_names must be 1D of one length; got {mean.shape}, "
                f"{std.shape} and {len(names)} names."
            )
        if top_k is not None and (
            isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
            or top_k < 1
        ):
            raise ValueError(
                f"FeatureImportanceDisplay.plot: top_k must be a positive integer "
                f"or None; got {top_k!r}."
            )
        order = np.argsort(-mean, kind="stable")[:top_k][::-1]
        self.figure_, self.ax_ = _new_axes(ax, (6.0, 0.6 + 0.28 * max(len(order), 3)))
        self.bars_ = self.ax_.barh(
            np.arange(len(order)), mean[order], xerr=std[order], color="#4c72b0",
            ecolor="#333333", capsize=2,
        )
        self.ax_.set_yticks(np.arange(len(order)), [names[i] for i in order],
                            fontsize=8)
        self.ax_.axvline(0.0, color="#888888", linewidth=0.8)
        score = self.scoring if isinstance(self.scoring, str) else "score"
        self.ax_.set_xlabel(f"drop in {score} when permuted")
        shown = f"top {len(order)} of {len(names)}" if len(order) < len(names) else (
            f"all {len(names)}")
        self.ax_.set_title(
            _title(title, f"Permutation importance ({shown})"), fontsize=9
        )
        return self

    @classmethod
    def from_estimator(
        cls, estimator, X, y, *, groups, cv=5, feature_names=None,
        grouping="class", scoring="balanced_accuracy", n_repeats=5,
        random_state=0, n_jobs=None, ax=None, top_k=15, title=None,
    ):
        """Grouped permutation importance of a radiomic model, on held-out folds.

        When ``estimator`` is a pipeline with a
        :class:`~skradnod.radiomics.RadiomicsExtractor` (the radiomic rows:
        extractor, selection chain, classifier), the features are extracted
        once, by a clone of the steps up to the extractor fitted on all of
        ``X``; this is no leakage, as those steps work on each image alone.
        A clone of the remaining steps is fitted on each training fold and the
        feature groups are permuted on its held-out fold (see
        :func:`grouped_permutation_importance`). Features dropped by the
        selection come out with importance 0. Without an extractor, ``X`` is
        the feature table.

        Parameters
        ----------
        estimator : classifier
            A radiomic pipeline (e.g. ``get_experiment("nodule/features")
            .build()[0]``) or a classifier of feature tables; fitted or not
            (it is cloned).
        X : image batch or array-like of shape (n_samples, n_features)
            Nodule crops (with an extractor) or the feature table.
        y : array-like of shape (n_samples,)
            Labels.
        groups : array-like of shape (n_samples,) or None
            Patient ids, so no patient is on both sides of a fold.
        cv : int or cross-validation splitter, default=5
            Folds (an int: ``StratifiedGroupKFold``).
        feature_names : array-like of str, default=None
            Default: the extractor's pyradiomics names, else the DataFrame's
            columns, else ``x0, x1, ...``.
        grouping : {"class", "feature"} or dict, default="class"
            Permute pyradiomics feature classes (``original_glcm``, ...),
            single features, or the given groups (:func:`feature_groups`).
        scoring : str or callable, default="balanced_accuracy"
        n_repeats : int, default=5
        random_state : int, default=0
        n_jobs : int or None, default=None
        ax : matplotlib Axes, default=None
        top_k : int or None, default=15
        title : str, default=None

        Returns
        -------
        display : FeatureImportanceDisplay

        Raises
        ------
        ValueError
            As :func:`grouped_permutation_importance`, and if the pipeline ends
            with its extractor.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.ensemble import RandomForestClassifier
        >>> from skradnod.inspection import FeatureImportanceDisplay
        >>> rng = np.random.RandomState(0)
        >>> F = rng.normal(size=(60, 4)); y = (F[:, 1] > 0).astype(int)
        >>> disp = FeatureImportanceDisplay.from_estimator(
        ...     RandomForestClassifier(n_estimators=20, random_state=0), F, y,
        ...     groups=np.arange(60) // 2, grouping="feature", cv=3)
        >>> disp.ax_.get_yticklabels()[-1].get_text()
        'x1'
        """
        extraction, model = split_extraction(estimator)
        if extraction is None:
            features = X
            if feature_names is None and hasattr(X, "columns"):
                feature_names = list(X.columns)
        else:
            extraction = clone(extraction)
            features = extraction.fit_transform(X)
            if feature_names is None:
                feature_names = extraction[-1].get_feature_names_out()
        result = grouped_permutation_importance(
            model, features, y, groups=groups, feature_names=feature_names,
            grouping=grouping, cv=cv, scoring=scoring, n_repeats=n_repeats,
            random_state=random_state, n_jobs=n_jobs,
        )
        display = cls(
            result.importances_mean, result.importances_std, result.feature_names,
            importances=result.importances, groups=result.groups,
            scoring=scoring,
        )
        return display.plot(ax=ax, top_k=top_k, title=title)
