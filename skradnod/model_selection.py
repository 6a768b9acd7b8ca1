"""Patient-grouped splits for every level of a workflow.

A patient's readings must never sit on both sides of a split: not in the outer
cross-validation, not in an inner search or RFECV, and not in a net's
early-stopping validation set. scikit-learn's grouped splitters
(:class:`~sklearn.model_selection.StratifiedGroupKFold`) raise when no groups
reach them, and its stratified ones ignore groups. The two splitters here are
grouped whenever groups arrive (through ``fit(..., groups=)`` or scikit-learn's
metadata routing; both request ``groups`` by default) and otherwise fall back to
a stratified split with a warning that names the split, so no split is silently
ungrouped.

Metadata routing is off in scikit-learn by default; turn it on once with
``sklearn.set_config(enable_metadata_routing=True)`` and pass
``params={"groups": patient_ids}`` to ``cross_val_score``, ``cross_validate`` or
``GridSearchCV.fit``: the patient ids then reach every split below.
"""

import warnings
from numbers import Real

import numpy as np
from sklearn.model_selection import (
    BaseCrossValidator,
    GroupShuffleSplit,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
)
from sklearn.utils import check_random_state

__all__ = [
    "PatientStratifiedKFold",
    "UngroupedSplitWarning",
    "ValidationSplit",
]

ROUTING_HINT = (
    "Pass groups=patient_ids to fit, or enable metadata routing once with "
    "sklearn.set_config(enable_metadata_routing=True) and pass "
    "params={'groups': patient_ids} to cross_val_score / cross_validate / "
    "GridSearchCV.fit."
)


class UngroupedSplitWarning(UserWarning):
    """A split that should be grouped by patient received no groups."""


def _warn_ungrouped(name):
    warnings.warn(
        f"{name} is not grouped by patient: no groups reached it, so one "
        "patient's samples may sit on both sides of the split. " + ROUTING_HINT,
        UngroupedSplitWarning,
        stacklevel=4,
    )


class PatientStratifiedKFold(StratifiedGroupKFold):
    """Stratified k-fold grouped by patient whenever groups are given.

    With ``groups`` it is :class:`~sklearn.model_selection.StratifiedGroupKFold`;
    without, it warns (:class:`UngroupedSplitWarning`, naming ``name``) and splits
    like :class:`~sklearn.model_selection.StratifiedKFold` with the same
    ``shuffle`` and ``random_state``. It requests ``groups`` for ``split``, so
    scikit-learn's metadata routing delivers the patient ids when enabled.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds.
    shuffle : bool, default=False
        Shuffle before splitting.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling.
    name : str or None, default=None
        What this split is, for the warning (e.g. ``"RFECV's CV"``).

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.model_selection import PatientStratifiedKFold
    >>> y = np.array([0, 1] * 6)
    >>> groups = np.repeat(np.arange(6), 2)  # two readings per patient
    >>> cv = PatientStratifiedKFold(3)
    >>> all(set(groups[tr]).isdisjoint(groups[te])
    ...     for tr, te in cv.split(np.zeros((12, 1)), y, groups))
    True
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None, name=None):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
        self.name = name

    def split(self, X, y=None, groups=None):
        """Yield (train, test) indices; grouped when ``groups`` is given.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Only its length is used.
        y : array-like of shape (n_samples,)
            Labels to stratify on.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids.

        Yields
        ------
        train, test : ndarray
        """
        if groups is not None:
            yield from super().split(X, y, groups)
            return
        _warn_ungrouped(self.name or "A PatientStratifiedKFold split")
        stratified = StratifiedKFold(
            self.n_splits, shuffle=self.shuffle, random_state=self.random_state
        )
        yield from stratified.split(X, y)


class ValidationSplit(BaseCrossValidator):
    """One stratified hold-out split, grouped by patient when groups are given.

    The early-stopping split of skradnod's nets. Called as skorch's
    ``train_split`` (``split(dataset, y, groups=groups)``) it returns the
    training and validation subsets; :meth:`split` gives the indices. With
    ``groups`` no patient sits on both sides: one fold of a shuffled
    :class:`~sklearn.model_selection.StratifiedGroupKFold` with
    ``round(1 / valid_size)`` folds is held out (or a
    :class:`~sklearn.model_selection.GroupShuffleSplit` when there are too few
    patients to stratify). Without groups it warns
    (:class:`UngroupedSplitWarning`, naming ``name``) and holds out a stratified
    ``valid_size`` fraction. It requests ``groups`` for ``split`` (metadata
    routing).

    Parameters
    ----------
    valid_size : float, default=0.2
        Fraction of the samples (or patients) held out, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of the split, drawn when the split is made.
    name : str or None, default=None
        What this split is, for the warning.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.model_selection import ValidationSplit
    >>> y = np.array([0, 1] * 10)
    >>> groups = np.repeat(np.arange(10), 2)
    >>> train, valid = next(ValidationSplit(0.2, random_state=0).split(
    ...     np.zeros((20, 1)), y, groups))
    >>> set(groups[train]).isdisjoint(groups[valid])
    True
    """

    __metadata_request__split = {"groups": True}

    def __init__(self, valid_size=0.2, *, random_state=None, name=None):
        self.valid_size = valid_size
        self.random_state = random_state
        self.name = name

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits: 1."""
        return 1

    def split(self, X, y=None, groups=None):
        """Yield the one (train, valid) pair of indices.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Only its length is used.
        y : array-like of shape (n_samples,) or (n_samples, k), or None
            Labels to stratify on; of a 2D target (class code plus auxiliary
            targets such as nodule centres) the first column. None (an
            autoencoder's reconstruction target) does not stratify.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids.

        Yields
        ------
        train, valid : ndarray
        """
        if not (isinstance(self.valid_size, Real) and 0 < self.valid_size < 1):
            raise ValueError(
                f"valid_size must be a float in (0, 1); got {self.valid_size!r}."
            )
        n_samples = len(X)
        dummy = np.zeros(n_samples)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        labels = None
        if y is not None:
            y = np.asarray(y)
            labels = y[:, 0] if y.ndim == 2 else y
        if groups is not None:
            groups = np.asarray(groups)
            n_splits = max(2, round(1 / self.valid_size))
            if labels is not None and len(np.unique(groups)) >= n_splits:
                cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
                try:
                    yield next(cv.split(dummy, labels, groups))
                    return
                except ValueError:
                    pass  # a class too small to stratify: the group split below
            cv = GroupShuffleSplit(1, test_size=self.valid_size, random_state=seed)
            yield next(cv.split(dummy, labels, groups))
            return
        _warn_ungrouped(self.name or "A ValidationSplit")
        if labels is not None:
            try:
                cv = StratifiedShuffleSplit(
                    1, test_size=self.valid_size, random_state=seed
                )
                yield next(cv.split(dummy, labels))
                return
            except ValueError:
                pass  # a class with a single member cannot be stratified
        cv = ShuffleSplit(1, test_size=self.valid_size, random_state=seed)
        yield next(cv.split(dummy, labels))

    @property
    def cv(self):
        """The splitter skorch's metadata routing sends ``groups`` to: itself."""
        return self

    def __call__(self, dataset, y=None, groups=None):
        """skorch's ``train_split`` protocol: the (train, valid) subsets."""
        import torch  # here: the splitters above serve torch-free code too

        train, valid = next(self.split(np.arange(len(dataset)), y, groups))
        return (
            torch.utils.data.Subset(dataset, train),
            torch.utils.data.Subset(dataset, valid),
        )
