"""The radiomic feature selection chain of the method (step 8).

Constant columns are dropped, outliers (``|z| > 3``) become missing values, training
rows with more than a third of their values missing are dropped, the rest is
KNN-imputed and MinMax-scaled, one feature of each highly correlated pair is
dropped, and recursive feature elimination with a random forest keeps the subset
with the best cross-validated balanced accuracy.

:func:`make_radiomics_selector` builds that chain as an imbalanced-learn
``Pipeline`` from scikit-learn's own steps plus the three written here:
:class:`OutlierToNaN`, :class:`SparseRowDropper` (a sampler, active at fit time
only) and :class:`CorrelationFilter`.
"""

import logging
from numbers import Real

import numpy as np
from imblearn.base import BaseSampler
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import RFECV, SelectorMixin, VarianceThreshold
from sklearn.impute import KNNImputer
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .model_selection import PatientStratifiedKFold
from .pipeline import Pipeline

__all__ = [
    "CorrelationFilter",
    "OutlierToNaN",
    "SparseRowDropper",
    "make_radiomics_selector",
]

logger = logging.getLogger(__name__)


class OutlierToNaN(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace values far from the training mean by NaN.

    A value whose z-score, computed with the training mean and standard deviation
    of its column, exceeds ``threshold`` in absolute value becomes NaN, to be
    imputed later (method step 8: ``|z| > 3`` -> missing).

    Parameters
    ----------
    threshold : float, default=3.0
        Largest accepted absolute z-score.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Training mean of each column (NaN ignored).
    scale_ : ndarray of shape (n_features,)
        Training standard deviation of each column (NaN ignored). A column with no
        spread has no z-score: its values are never replaced.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    SparseRowDropper : Drops the rows that end up mostly missing.
    sklearn.impute.KNNImputer : Fills the missing values back in.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.feature_selection import OutlierToNaN
    >>> X = np.array([[0.0], [1.0], [0.0], [1.0], [0.0], [1.0], [0.0], [1.0],
    ...               [0.0], [1.0], [0.5], [40.0]])
    >>> out = OutlierToNaN(threshold=3.0).fit_transform(X)
    >>> np.flatnonzero(np.isnan(out[:, 0])).tolist()
    [11]
    """

    _parameter_constraints = {"threshold": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, threshold=3.0):
        self.threshold = threshold

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the mean and standard deviation of each column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; NaN values are ignored.
        y : None
            Ignored.

        Returns
        -------
        self : OutlierToNaN
        """
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)
        with np.errstate(all="ignore"):
            finite = ~np.isnan(X)
            count = finite.sum(axis=0)
            total = np.where(finite, X, 0.0).sum(axis=0)
            self.mean_ = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            deviation = np.where(finite, X - self.mean_, 0.0)
            self.scale_ = np.sqrt((deviation**2).sum(axis=0) / np.maximum(count, 1))
        self.scale_[count == 0] = np.nan
        return self

    def transform(self, X):
        """Replace outlying values by NaN.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_features)
            A float64 copy of X with outliers set to NaN.
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=False,
            copy=True,
        )
        usable = np.isfinite(self.scale_) & (self.scale_ > 0)
        with np.errstate(all="ignore"):
            z = np.abs(X[:, usable] - self.mean_[usable]) / self.scale_[usable]
        block = X[:, usable]
        block[z > self.threshold] = np.nan
        X[:, usable] = block
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class SparseRowDropper(BaseSampler):
    """Drop training rows with too many missing values (a sampler).

    Method step 8: a training sample with more than a third of its features
    missing (failed extraction, or values turned to NaN as outliers) is removed
    rather than imputed. As an imbalanced-learn sampler it acts in ``fit`` only:
    inside :class:`imblearn.pipeline.Pipeline` it is skipped at predict time, so
    no test sample is ever dropped.

    Parameters
    ----------
    max_missing : float in [0, 1], default=1/3
        Largest accepted fraction of missing values in a row; rows with more are
        dropped.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_kept,)
        Indices of the rows kept by the last ``fit_resample``.
    dropped_indices_ : ndarray of shape (n_dropped,)
        Indices of the rows dropped.
    n_dropped_ : int
        Number of rows dropped (also logged at WARNING level on the
        ``skradnod.feature_selection`` logger).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    OutlierToNaN : Produces the missing values this step counts.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.feature_selection import SparseRowDropper
    >>> X = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, 1.0], [4.0, np.nan, 6.0]])
    >>> X_res, y_res = SparseRowDropper().fit_resample(X, [0, 1, 0])
    >>> y_res.tolist(), SparseRowDropper().fit(X, [0, 1, 0]).dropped_indices_.tolist()
    ([0, 0], [1])
    """

    _parameter_constraints = {"max_missing": [Interval(Real, 0, 1, closed="both")]}
    _sampling_type = "clean-sampling"

    def __init__(self, max_missing=1 / 3):
        self.max_missing = max_missing

    def _select(self, X, y):
        X_valid, y_valid = validate_data(
            self,
            X,
            y,
            ensure_all_finite="allow-nan",
            dtype=None,
            reset=True,
            multi_output=True,
            y_numeric=False,
        )
        X_valid = np.asarray(X_valid, dtype=np.float64)
        missing = np.isnan(X_valid).mean(axis=1)
        keep = missing <= self.max_missing
        self.sample_indices_ = np.flatnonzero(keep)
        self.dropped_indices_ = np.flatnonzero(~keep)
        self.n_dropped_ = int(self.dropped_indices_.size)
        if self.sample_indices_.size == 0:
            raise ValueError(
                f"SparseRowDropper(max_missing={self.max_missing}) would drop all "
                f"{len(X_valid)} rows: every row has more than that fraction of "
                "missing values."
            )
        if self.n_dropped_:
            logger.warning(
                "SparseRowDropper dropped %d of %d training rows with more than "
                "%.3g missing: %s",
                self.n_dropped_,
                len(X_valid),
                self.max_missing,
                self.dropped_indices_.tolist(),
            )
        return X_valid, y_valid

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Find the rows to drop.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May hold NaN.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : SparseRowDropper
        """
        self._select(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_resample(self, X, y):
        """Drop the rows with more than ``max_missing`` missing values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May hold NaN. A DataFrame stays a DataFrame.
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_resampled : ndarray or DataFrame of shape (n_kept, n_features)
        y_resampled : ndarray or Series of shape (n_kept,)
        """
        X_valid, y_valid = self._select(X, y)
        return self._fit_resample(X, y, X_valid, y_valid)

    def _fit_resample(self, X, y, X_valid=None, y_valid=None):
        keep = self.sample_indices_
        X_out = _safe_indexing(X, keep) if hasattr(X, "iloc") else X_valid[keep]
        y_out = _safe_indexing(y, keep) if hasattr(y, "iloc") else y_valid[keep]
        return X_out, y_out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = False
        return tags


def _drop_correlated(corr, threshold):
    """Indices kept by the method's rule on an absolute correlation matrix."""
    n = corr.shape[0]
    corr = corr.copy()
    np.fill_diagonal(corr, 0.0)
    remaining = np.ones(n, dtype=bool)
    while True:
        sub = np.where(np.outer(remaining, remaining), corr, 0.0)
        i, j = np.unravel_index(np.argmax(sub), sub.shape)
        if sub[i, j] <= threshold:
            break
        # Of the most correlated remaining pair, drop the feature that is more
        # correlated with all remaining features on average (it carries less
        # information of its own); a tie drops the later column.
        n_others = remaining.sum() - 1
        mean_i = sub[i].sum() / n_others
        mean_j = sub[j].sum() / n_others
        first, second = min(i, j), max(i, j)
        mean_first = mean_i if first == i else mean_j
        mean_second = mean_j if first == i else mean_i
        remaining[first if mean_first > mean_second else second] = False
    return remaining


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Drop one feature of each highly correlated pair.

    Method step 8: while some pair of remaining features has an absolute Pearson
    correlation above ``threshold``, the most correlated such pair is taken and
    the feature with the higher mean absolute correlation to all remaining
    features is dropped.

    Parameters
    ----------
    threshold : float in [0, 1], default=0.8
        Largest accepted absolute correlation between two kept features.

    Attributes
    ----------
    support_ : ndarray of shape (n_features,) of bool
        Mask of the kept features.
    correlation_ : ndarray of shape (n_features, n_features)
        Absolute correlation matrix of the training data (0 for a constant
        column).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.feature_selection.VarianceThreshold : Drops constant features.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.feature_selection import CorrelationFilter
    >>> rng = np.random.RandomState(0)
    >>> a, b = rng.normal(size=(2, 100))
    >>> X = np.column_stack([a, b, a + 0.01 * rng.normal(size=100)])
    >>> CorrelationFilter(threshold=0.8).fit(X).get_support().tolist()
    [True, True, False]
    """

    _parameter_constraints = {"threshold": [Interval(Real, 0, 1, closed="both")]}

    def __init__(self, threshold=0.8):
        self.threshold = threshold

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Choose the features to keep.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : CorrelationFilter
        """
        X = validate_data(self, X, dtype=np.float64)
        centered = X - X.mean(axis=0)
        norms = np.sqrt((centered**2).sum(axis=0))
        constant = norms == 0
        norms[constant] = 1.0
        unit = centered / norms
        corr = np.abs(unit.T @ unit)
        corr[constant, :] = 0.0
        corr[:, constant] = 0.0
        self.correlation_ = np.clip(corr, 0.0, 1.0)
        self.support_ = _drop_correlated(self.correlation_, self.threshold)
        return self

    def _get_support_mask(self):
        check_is_fitted(self)
        return self.support_


PRESETS = {
    "thesis": {"step": 1, "n_estimators": 100},
    "fast": {"step": 0.1, "n_estimators": 30},
}


def make_radiomics_selector(
    *,
    preset="thesis",
    variance_threshold=0.0,
    outlier_threshold=3.0,
    max_missing=1 / 3,
    n_neighbors=5,
    correlation_threshold=0.8,
    estimator=None,
    step=None,
    cv=3,
    min_features_to_select=1,
    scoring="balanced_accuracy",
    classifier=None,
    random_state=None,
    n_jobs=None,
):
    """Build the method's feature selection chain as an imbalanced-learn Pipeline.

    ``VarianceThreshold -> OutlierToNaN -> SparseRowDropper -> KNNImputer ->
    MinMaxScaler -> CorrelationFilter -> RFECV``, with step names as
    :func:`imblearn.pipeline.make_pipeline` gives them (``variancethreshold``,
    ``outliertonan``, ``sparserowdropper``, ``knnimputer``, ``minmaxscaler``,
    ``correlationfilter``, ``rfecv``), so every parameter can be tuned, e.g.
    ``correlationfilter__threshold``.

    Parameters
    ----------
    preset : {"thesis", "fast"}, default="thesis"
        Defaults for ``step`` and the forest. ``"thesis"``: ``step=1`` and a
        100-tree forest (the method; about 300 forest fits when ~100 features
        reach RFECV). ``"fast"``: ``step=0.1`` (remove 10 % of the remaining
        features per elimination round, ~25 rounds instead of ~100) and a 30-tree
        forest; nothing else changes. Explicit ``step``/``estimator`` override it.
    variance_threshold : float, default=0.0
        Features with a training variance not above it are dropped.
    outlier_threshold : float, default=3.0
        ``|z|`` above which a value becomes NaN.
    max_missing : float, default=1/3
        Training rows with more than this fraction missing are dropped.
    n_neighbors : int, default=5
        Neighbours of the KNN imputer.
    correlation_threshold : float, default=0.8
        Largest accepted absolute correlation between kept features.
    estimator : classifier, default=None
        Estimator ranking the features in RFECV (it needs ``feature_importances_``
        or ``coef_``). None: ``RandomForestClassifier`` with the preset's number of
        trees and ``random_state``.
    step : int or float, default=None
        Features removed per RFECV round (a float in (0, 1) is a fraction). None:
        the preset's.
    cv : int, default=3
        Folds of RFECV's CV, a
        :class:`~skradnod.model_selection.PatientStratifiedKFold`: grouped by
        patient when ``groups`` reach it (``fit(X, y, groups=...)`` under
        metadata routing, or through a routed ``cross_val_score`` /
        ``GridSearchCV``), else stratified with a warning.
    min_features_to_select : int, default=1
        Fewest features RFECV may keep.
    scoring : str or callable, default="balanced_accuracy"
        What RFECV maximises.
    classifier : estimator, default=None
        If given, appended as a final step named ``"clf"``, so the selector and
        the model form one pipeline (imbalanced-learn does not accept a pipeline
        holding a sampler as an intermediate step); a grid search can then swap
        models with ``{"clf": [SVC(probability=True), RandomForestClassifier()]}``.
    random_state : int, RandomState instance or None, default=None
        Seed of the default forest.
    n_jobs : int, default=None
        Parallel jobs of RFECV (over its CV folds; the default forest itself
        runs single-threaded to avoid nested parallelism).

    Returns
    -------
    selector : skradnod.pipeline.Pipeline
        An imbalanced-learn pipeline whose routed ``groups`` follow the rows
        ``SparseRowDropper`` keeps.

    See Also
    --------
    skradnod.radiomics.RadiomicsExtractor : Produces the features.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skradnod.feature_selection import make_radiomics_selector
    >>> X, y = make_classification(n_samples=60, n_features=8, n_informative=2,
    ...                            random_state=0)
    >>> selector = make_radiomics_selector(preset="fast", random_state=0)
    >>> [name for name, _ in selector.steps]  # doctest: +NORMALIZE_WHITESPACE
    ['variancethreshold', 'outliertonan', 'sparserowdropper', 'knnimputer',
     'minmaxscaler', 'correlationfilter', 'rfecv']
    >>> selector.fit(X, y).transform(X).shape[0]
    60
    """
    if preset not in PRESETS:
        raise ValueError(
            f"preset must be one of {sorted(PRESETS)}; got {preset!r}."
        )
    defaults = PRESETS[preset]
    if step is None:
        step = defaults["step"]
    if estimator is None:
        # Single-threaded: RFECV already spreads its folds over n_jobs.
        estimator = RandomForestClassifier(
            n_estimators=defaults["n_estimators"], random_state=random_state
        )
    steps = [
        ("variancethreshold", VarianceThreshold(threshold=variance_threshold)),
        ("outliertonan", OutlierToNaN(threshold=outlier_threshold)),
        ("sparserowdropper", SparseRowDropper(max_missing=max_missing)),
        ("knnimputer", KNNImputer(n_neighbors=n_neighbors)),
        ("minmaxscaler", MinMaxScaler()),
        ("correlationfilter", CorrelationFilter(threshold=correlation_threshold)),
        (
            "rfecv",
            RFECV(
                estimator,
                step=step,
                cv=PatientStratifiedKFold(
                    cv, name="RFECV's CV in make_radiomics_selector"
                ),
                min_features_to_select=min_features_to_select,
                scoring=scoring,
                n_jobs=n_jobs,
            ),
        ),
    ]
    if classifier is not None:
        steps.append(("clf", classifier))
    return Pipeline(steps)

