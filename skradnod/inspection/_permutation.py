"""Grouped permutation importance on patient-grouped held-out folds.

scikit-learn's :func:`~sklearn.inspection.permutation_importance` permutes one
column at a time. Radiomic features come in strongly correlated families (a
pyradiomics feature class such as ``original_glcm_*``): permuting one member
leaves its copies intact and measures almost nothing, so the families are
permuted as a whole. scikit-learn has no grouped variant, so
:class:`_GroupedRows` lets its function do the permuting, scoring and
repeating: each column it sees holds row numbers, and permuting column ``g``
permutes the rows of every feature of group ``g`` together.
"""

import warnings
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.inspection import permutation_importance
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, check_cv
from sklearn.utils import Bunch, check_array, column_or_1d

from ..evaluation._validation import _fit_folds
from ..model_selection import UngroupedSplitWarning

__all__ = ["feature_groups", "grouped_permutation_importance"]


class _GroupedRows(ClassifierMixin, BaseEstimator):
    """A fitted classifier that reads, per feature group, rows of a fixed table.

    ``predict(Z)`` builds the table whose columns of group ``g`` come from rows
    ``Z[:, g]`` of ``features``; with ``Z[:, g] = arange(n)`` everywhere it is
    ``features`` itself.
    """

    def __init__(self, estimator, features, columns):
        self.estimator = estimator
        self.features = features
        self.columns = columns

    def fit(self, Z, y=None):  # pragma: no cover - never fitted, only wrapped
        return self

    @property
    def classes_(self):
        return self.estimator.classes_

    def _table(self, Z):
        Z = np.asarray(Z, dtype=np.intp)
        table = np.empty_like(self.features)
        for g, columns in enumerate(self.columns):
            table[:, columns] = self.features[np.ix_(Z[:, g], columns)]
        return table

    def predict(self, Z):
        return self.estimator.predict(self._table(Z))

    def predict_proba(self, Z):
        return self.estimator.predict_proba(self._table(Z))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        return tags


def _group_key(name):
    """pyradiomics ``<image type>_<class>_<feature>`` -> ``<image type>_<class>``."""
    head, sep, _ = str(name).rpartition("_")
    return head if sep and head else str(name)


def feature_groups(feature_names, grouping="class"):
    """Feature groups by name: pyradiomics feature classes, or one per feature.

    Parameters
    ----------
    feature_names : array-like of str
        Column names, e.g. pyradiomics keys ``original_glcm_Contrast``.
    grouping : {"class", "feature"} or dict, default="class"
        ``"class"``: one group per image type and feature class, the name up to
        its last underscore (``original_glcm``, ``wavelet-LLH_firstorder``; a
        name without underscore is its own group). ``"feature"``: one group per
        column. A dict maps group names to lists of feature names; every
        feature must be in exactly one group.

    Returns
    -------
    groups : dict of str to list of int
        Group name to column positions, groups in order of their first column.

    Raises
    ------
    ValueError
        If ``grouping`` is not one of these, or a dict names an unknown
        feature, misses one or names one twice.

    Examples
    --------
    >>> from skradnod.inspection import feature_groups
    >>> feature_groups(["original_glcm_Contrast", "original_glcm_Idm",
    ...                 "original_firstorder_Mean"])
    {'original_glcm': [0, 1], 'original_firstorder': [2]}
    """
    names = [str(name) for name in feature_names]
    if isinstance(grouping, dict):
        return _dict_groups(names, grouping)
    if isinstance(grouping, str) and grouping in ("class", "feature"):
        groups = {}
        for j, name in enumerate(names):
            key = _group_key(name) if grouping == "class" else name
            groups.setdefault(key, []).append(j)
        return groups
    raise ValueError(
        "grouping must be 'class', 'feature' or a dict of group name to feature "
        f"names; got {grouping!r}."
    )


def _dict_groups(names, grouping):
    position = {name: j for j, name in enumerate(names)}
    if len(position) != len(names):
        raise ValueError("grouping by dict needs unique feature names.")
    groups, seen = {}, {}
    for group, members in grouping.items():
        if isinstance(members, str):
            members = [members]
        for member in members:
            if member not in position:
                raise ValueError(
                    f"grouping: group {group!r} names {member!r}, which is not a "
                    f"feature (there are {len(names)}, e.g. {names[:3]})."
                )
            if member in seen:
                raise ValueError(
                    f"grouping: feature {member!r} is in groups {seen[member]!r} "
                    f"and {group!r}; each feature belongs to one group."
                )
            seen[member] = group
        groups[str(group)] = [position[m] for m in members]
    missing = [name for name in names if name not in seen]
    if missing:
        raise ValueError(
            f"grouping: {len(missing)} feature(s) are in no group, e.g. "
            f"{missing[:3]}; every feature must be in one."
        )
    return groups


def grouped_permutation_importance(
    estimator,
    features,
    y,
    *,
    groups,
    feature_names=None,
    grouping="class",
    cv=5,
    scoring="balanced_accuracy",
    n_repeats=5,
    random_state=0,
    n_jobs=None,
):
    """Permutation importance of feature groups on patient-grouped held-out folds.

    A clone of ``estimator`` is fitted on each training fold (patient groups
    routed to every step that asks for them, e.g. RFECV or an inner search),
    and the groups of features are permuted on the fold it did not see with
    :func:`sklearn.inspection.permutation_importance`: the drop of the score
    is the group's importance. The folds' importances are pooled.

    Parameters
    ----------
    estimator : classifier
        Unfitted (or fitted: it is cloned) model of a feature table, e.g. the
        selection chain and forest of a radiomic row.
    features : array-like of shape (n_samples, n_features)
        The feature table (NaN allowed when ``estimator`` imputes).
    y : array-like of shape (n_samples,)
        Labels.
    groups : array-like of shape (n_samples,) or None
        Patient ids: the folds keep each patient on one side. None gives
        ungrouped folds and a warning.
    feature_names : array-like of str, default=None
        Names of the columns; default ``x0, x1, ...``.
    grouping : {"class", "feature"} or dict, default="class"
        How columns are grouped (:func:`feature_groups`).
    cv : int or cross-validation splitter, default=5
        An int gives ``StratifiedGroupKFold(cv, shuffle=True)`` (seeded by
        ``random_state``) with groups, ``StratifiedKFold`` without.
    scoring : str or callable, default="balanced_accuracy"
        The score whose drop is measured; balanced accuracy, as the radiomic
        row's model search uses, so that the majority class does not dominate.
    n_repeats : int, default=5
        Permutations of each group per fold.
    random_state : int, default=0
        Seeds the folds and the permutations.
    n_jobs : int or None, default=None
        Parallel fold fits.

    Returns
    -------
    result : Bunch
        ``importances`` (n_groups, n_folds * n_repeats), ``importances_mean``
        and ``importances_std`` over them, ``feature_names`` (the group
        names) and ``groups`` (dict of group name to its features).

    Raises
    ------
    ValueError
        If the lengths of ``features``, ``y`` and ``groups`` differ, or
        ``feature_names`` does not fit ``features``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skradnod.inspection import grouped_permutation_importance
    >>> rng = np.random.RandomState(0)
    >>> F = rng.normal(size=(60, 3)); y = (F[:, 2] > 0).astype(int)
    >>> result = grouped_permutation_importance(
    ...     RandomForestClassifier(n_estimators=20, random_state=0), F, y,
    ...     groups=np.arange(60) // 2, grouping="feature", cv=3)
    >>> result.feature_names[int(result.importances_mean.argmax())]
    'x2'
    """
    caller = "grouped_permutation_importance"
    _check_repeats(n_repeats, caller)
    features = check_array(
        features, dtype=float, ensure_all_finite="allow-nan", input_name="features"
    )
    y = column_or_1d(y)
    n = len(features)
    if len(y) != n or (groups is not None and len(groups) != n):
        lengths = f"y {len(y)}" + ("" if groups is None else f", groups {len(groups)}")
        raise ValueError(
            f"{caller}: features has {n} rows but {lengths}; they must be aligned."
        )
    names = _names(feature_names, features.shape[1], caller)
    by_group = feature_groups(names, grouping)
    splitter = _splitter(cv, groups, random_state, caller)
    splits = list(splitter.split(features, y, groups))
    fitted, _ = _fit_folds(clone(estimator), features, y, groups, splits, n_jobs,
                           False)
    columns = list(by_group.values())
    rng = np.random.RandomState(random_state)
    per_fold = []
    for model, (_, test) in zip(fitted, splits):
        view = _GroupedRows(model, features[test], columns)
        rows = np.tile(np.arange(len(test))[:, None], (1, len(columns)))
        result = permutation_importance(
            view, rows, y[test], scoring=scoring, n_repeats=n_repeats,
            random_state=rng.randint(np.iinfo(np.int32).max),
        )
        per_fold.append(result.importances)
    importances = np.concatenate(per_fold, axis=1)
    return Bunch(
        importances=importances,
        importances_mean=importances.mean(axis=1),
        importances_std=importances.std(axis=1),
        feature_names=np.asarray(list(by_group), dtype=object),
        groups={key: [names[j] for j in cols] for key, cols in by_group.items()},
    )


def _splitter(cv, groups, random_state, caller):
    """The outer folds: patient-grouped and stratified for an int ``cv``."""
    if not isinstance(cv, Integral):
        return check_cv(cv, classifier=True)
    if groups is not None:
        return StratifiedGroupKFold(int(cv), shuffle=True, random_state=random_state)
    warnings.warn(
        f"{caller}: no groups given, so folds are not grouped by patient; a "
        "patient with samples on both sides of a split makes the held-out "
        "score, and so the importances, optimistic. Pass groups=patient_ids.",
        UngroupedSplitWarning,
        stacklevel=3,
    )
    return StratifiedKFold(int(cv), shuffle=True, random_state=random_state)


def _names(feature_names, n_features, caller):
    if feature_names is None:
        return [f"x{j}" for j in range(n_features)]
    names = [str(name) for name in feature_names]
    if len(names) != n_features:
        raise ValueError(
            f"{caller}: feature_names has {len(names)} names but the features "
            f"have {n_features} columns."
        )
    return names


def _check_repeats(n_repeats, caller):
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, Integral) or (
        n_repeats < 1
    ):
        raise ValueError(f"{caller}: n_repeats must be a positive integer; got "
                         f"{n_repeats!r}.")
