"""A classifier's probabilities as features, cross-fitted during training.

:class:`OutOfFoldProba` lets a network take a strong tabular model's opinion as
an input: the fusion network's feature branch can read a random forest's class
probabilities on the radiomic features instead of (or beside) the features
themselves. Probabilities the forest gives on its own training rows are far too
confident, so during ``fit_transform`` each training row gets the probabilities
of a forest fitted on the other folds (by patient), as
:class:`sklearn.ensemble.StackingClassifier` does for its final estimator; at
predict time the forest fitted on all training rows answers.
"""

from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.model_selection import cross_val_predict
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from ..model_selection import PatientStratifiedKFold

__all__ = ["OutOfFoldProba"]


class OutOfFoldProba(MetaEstimatorMixin, TransformerMixin, BaseEstimator):
    """Transform rows into a classifier's class probabilities, out of fold in fit.

    ``fit_transform(X, y, groups=...)`` returns, for every training row, the
    ``predict_proba`` of a clone of ``estimator`` fitted on the folds that do
    not hold the row (:func:`sklearn.model_selection.cross_val_predict` over
    patient-grouped folds), and keeps a clone fitted on all rows for
    ``transform``. The net downstream thus learns how much to trust the
    classifier from honest, held-out opinions, as the final estimator of
    :class:`sklearn.ensemble.StackingClassifier` does.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        The model whose probabilities become features (cloned).
    cv : int, default=5
        Number of patient-grouped folds (:class:`~skradnod.model_selection.
        PatientStratifiedKFold`; without groups it warns and stratifies).
    log : bool, default=True
        Return log-probabilities (clipped at 1e-4), the scale of logits, so a
        linear layer downstream can add them to its own.
    random_state : int, RandomState instance or None, default=None
        Seed of the fold shuffling.

    Attributes
    ----------
    estimator_ : estimator
        The clone fitted on all training rows.
    classes_ : ndarray of shape (n_classes,)
        Its classes, the order of the output columns.
    n_features_in_ : int
        Number of input features.

    See Also
    --------
    sklearn.ensemble.StackingClassifier : The same cross-fitting, for a
        classifier on top of classifiers.
    skradnod.compose.FusionClassifier : Whose branches may end with it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skradnod.stacking import OutOfFoldProba
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
    >>> step = OutOfFoldProba(RandomForestClassifier(20, random_state=0),
    ...                       cv=3, log=False, random_state=0)
    >>> Z = step.fit_transform(X, y, groups=np.arange(60) // 2)
    >>> Z.shape, bool(np.allclose(Z.sum(1), 1))
    ((60, 2), True)
    """

    __metadata_request__fit = {"groups": True}

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "log": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, cv=5, log=True, random_state=None):
        self.estimator = estimator
        self.cv = cv
        self.log = log
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Fit a clone of ``estimator`` on all rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features.
        y : array-like of shape (n_samples,)
            Labels.
        groups : array-like of shape (n_samples,), default=None
            Patient ids (used by :meth:`fit_transform`'s folds only).

        Returns
        -------
        self : object
            The fitted transformer.
        """
        X, y = validate_data(self, X, y, reset=True)
        return self._fit_all(X, y)

    def _fit_all(self, X, y):
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    # Decorated as fit is (scikit-learn's PCA.fit_transform does the same): it
    # fits too, without going through fit, which would check the data twice.
    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X, y, groups=None):
        """Out-of-fold probabilities of the training rows; then fit on all.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training features.
        y : array-like of shape (n_samples,)
            Labels.
        groups : array-like of shape (n_samples,), default=None
            Patient ids: no patient is on both sides of a fold.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities (or log-probabilities), columns ordered as
            ``classes_``.
        """
        X, y = validate_data(self, X, y, reset=True)
        self._fit_all(X, y)
        cv = PatientStratifiedKFold(
            self.cv, shuffle=True, random_state=self.random_state,
            name="OutOfFoldProba's folds",
        )
        splits = list(cv.split(X, y, groups))
        proba = cross_val_predict(
            clone(self.estimator), X, y, cv=splits, method="predict_proba"
        )
        return self._scale(proba)

    def transform(self, X):
        """Probabilities of the classifier fitted on all training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False)
        return self._scale(self.estimator_.predict_proba(X))

    def _scale(self, proba):
        proba = np.asarray(proba, dtype=np.float64)
        return np.log(np.clip(proba, 1e-4, 1.0)) if self.log else proba

    def get_feature_names_out(self, input_features=None):
        """``proba_<class>`` (or ``logproba_<class>``) for each class."""
        check_is_fitted(self, "classes_")
        prefix = "logproba" if self.log else "proba"
        return np.asarray([f"{prefix}_{c}" for c in self.classes_], dtype=object)
