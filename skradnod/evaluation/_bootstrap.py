"""Patient bootstrap: resampling patients, not readings, for the intervals."""

import numpy as np
from sklearn.utils import check_random_state

from ._metrics import METRICS, _fast_metrics


def bootstrap_indices(n_samples, *, groups=None, n_bootstrap=1000, random_state=0):
    """Yield bootstrap resamples of sample positions, by patient when grouped.

    With ``groups``, patients are drawn with replacement and every sample of a
    drawn patient enters the resample (once per draw), so the interval reflects
    the variation between patients, the unit that was sampled.

    Parameters
    ----------
    n_samples : int
        Number of samples.
    groups : array-like of shape (n_samples,), default=None
        Patient id of each sample.
    n_bootstrap : int, default=1000
        Number of resamples.
    random_state : int, RandomState instance or None, default=0
        Seed of the resampling.

    Yields
    ------
    indices : ndarray of int
        Positions of one resample.

    Examples
    --------
    >>> from skradnod.evaluation import bootstrap_indices
    >>> [len(i) for i in bootstrap_indices(4, n_bootstrap=2)]
    [4, 4]
    """
    rng = check_random_state(random_state)
    if groups is None:
        for _ in range(n_bootstrap):
            yield rng.randint(0, n_samples, n_samples)
        return
    _, codes = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    for _ in range(n_bootstrap):
        drawn = rng.randint(0, len(members), len(members))
        yield np.concatenate([members[g] for g in drawn])


def _bootstrap_ci(y, y_pred, proba, classes, groups, n_bootstrap, random_state, n_bins):
    if n_bootstrap <= 0:
        return {name: (float("nan"), float("nan")) for name in METRICS}
    true_idx = np.searchsorted(classes, y)
    # A prediction outside the training labels cannot occur for a classifier; map
    # defensively so that it counts as wrong rather than crashing the bootstrap.
    pred_idx = np.searchsorted(classes, y_pred).clip(0, len(classes) - 1)
    wrong = classes[pred_idx] != y_pred
    pred_idx[wrong] = (true_idx[wrong] + 1) % len(classes)
    values = {name: [] for name in METRICS}
    for idx in bootstrap_indices(
        len(y), groups=groups, n_bootstrap=n_bootstrap, random_state=random_state
    ):
        sample = _fast_metrics(
            true_idx[idx],
            pred_idx[idx],
            None if proba is None else proba[idx],
            len(classes),
            n_bins,
            classes,
        )
        for name in METRICS:
            values[name].append(sample[name])
    return _percentile_ci(values)


def _percentile_ci(values):
    """95 % percentile intervals of each metric's resampled values (NaNs left out)."""
    ci = {}
    for name, draws in values.items():
        v = np.asarray(draws, dtype=float)
        v = v[~np.isnan(v)]
        ci[name] = (
            (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5)))
            if v.size
            else (float("nan"), float("nan"))
        )
    return ci
