"""How well the radiologists agree: the reference row of the reports.

LIDC-IDRI's nodules were rated by up to four radiologists each, and they
disagree. A model is scored against one rating (a reading's own, or the
readers' median); one reader scored the same way against the others shows
how far agreement with a radiologist can go. :func:`reader_agreement` does
that leave-one-reader-out: every rating of a nodule read by two or more
radiologists is compared with the median of the *other* readers' ratings,
rounded half up (as :func:`skradnod.datasets._nodules.consensus_label`;
on the LIDC-IDRI annotations this rule reproduces the published 42.6 %
exact agreement, round half to even gives 40.1 %), plus Fleiss' kappa over
the nodules.

The readers' ratings travel with the data in the column ``malignancy_readers``:
per row, the ratings 1-5 of every radiologist who read the row's nodule,
separated by ``;`` (``"3;4;4"``; one rating, ``"4"``, for a nodule read once).
Rows that share a ``nodule_id`` (a per-reading manifest: one row per reading)
are one nodule and must carry the same list; without ``nodule_id`` each row
is its own nodule.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..io._readers import parse_malignancy_readers
from ._bootstrap import _percentile_ci, bootstrap_indices
from ._ordinal import RATING_LEVELS, fast_ordinal, three_class

READER_METRICS = (
    "accuracy",
    "within_one",
    "mae",
    "qwk",
    "benign_accuracy",
    "excluded_accuracy",
    "three_class_accuracy",
    "fleiss_kappa",
)
"""Names of the metrics of a :class:`ReaderAgreement`.

One reader's rating against the rounded median of the others: ``accuracy``
(exact), ``within_one``, ``mae`` (points), ``qwk``, ``benign_accuracy`` (1-3 vs
4-5 both sides), ``excluded_accuracy`` (the same, leaving out readings whose
reference is 3), ``three_class_accuracy`` (1-2 / 3 / 4-5); and
``fleiss_kappa`` over the nodules (exact agreement corrected for chance).
"""

def fleiss_kappa(counts, weights=None):
    """Fleiss' kappa of a subjects x categories table of rating counts.

    ``counts[i, j]`` is how many raters put subject ``i`` in category ``j``.
    Written here because the statistics package that has it (statsmodels) is
    not a dependency; it is the formula of Fleiss (1971): per subject the share
    of agreeing rater pairs ``P_i = (sum_j n_ij**2 - n_i) / (n_i (n_i - 1))``,
    their mean ``P``, the chance agreement ``P_e = sum_j p_j**2`` of the
    category shares ``p_j`` over all ratings, and ``(P - P_e) / (1 - P_e)``.
    Subjects may have different numbers of raters (each needs at least two);
    with equal numbers this is Fleiss' original statistic.

    Parameters
    ----------
    counts : array-like of shape (n_subjects, n_categories)
        Non-negative integer counts, at least two per row.
    weights : array-like of shape (n_subjects,), default=None
        How many times each subject counts (a bootstrap resample's draws).

    Returns
    -------
    kappa : float
        NaN when chance agreement is 1 (every rating in one category).

    Examples
    --------
    >>> from skradnod.evaluation import fleiss_kappa
    >>> # two raters: agree, agree, disagree; shares 1/2, 1/2
    >>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]), 6)  # (2/3 - 1/2) / (1/2)
    0.333333
    """
    counts = np.asarray(counts, dtype=float)
    n = counts.sum(axis=1)
    if counts.ndim != 2 or (n < 2).any() or (counts < 0).any():
        raise ValueError(
            "fleiss_kappa needs a 2D table of non-negative counts with at least "
            f"two ratings per subject; got shape {counts.shape} with row totals "
            f"{sorted(set(n.tolist()))[:5]}."
        )
    w = np.ones(len(counts)) if weights is None else np.asarray(weights, float)
    agreement = ((counts**2).sum(axis=1) - n) / (n * (n - 1))
    observed = np.sum(w * agreement) / w.sum()
    shares = (w[:, None] * counts).sum(axis=0) / np.sum(w * n)
    chance = float(np.sum(shares**2))
    if chance >= 1:
        return float("nan")
    return float((observed - chance) / (1 - chance))


@dataclass
class ReaderAgreement:
    """The radiologists' leave-one-reader-out agreement (:func:`reader_agreement`).

    Attributes
    ----------
    metrics : dict of str to float
        Keys :data:`READER_METRICS`.
    ci : dict of str to (float, float)
        Bootstrap 95 % percentile intervals, resampling patients (or nodules).
    n_readings : int
        Readings compared (those of nodules with two or more readers).
    n_nodules : int
        Nodules with two or more readers.
    n_patients : int or None
        Their patients, when patient ids were given.
    n_bootstrap : int
        Resamples behind :attr:`ci`.
    readers_per_nodule : dict of int to int
        How many of the nodules had 2, 3, 4, ... readers.
    rule : str
        How the other readers' reference is formed.
    """

    metrics: dict
    ci: dict
    n_readings: int
    n_nodules: int
    n_patients: int | None
    n_bootstrap: int
    readers_per_nodule: dict = field(default_factory=dict)
    rule: str = "median of the other readers, halves rounded up"

    def to_dict(self):
        """A JSON-serialisable summary (NaN becomes None)."""
        from ._report import _jsonable

        return _jsonable({
            "metrics": dict(self.metrics),
            "ci95": {k: list(v) for k, v in self.ci.items()},
            "n_readings": self.n_readings,
            "n_nodules": self.n_nodules,
            "n_patients": self.n_patients,
            "n_bootstrap": self.n_bootstrap,
            "readers_per_nodule": self.readers_per_nodule,
            "rule": self.rule,
        })


def _nodule_table(readers, nodules, groups, ids, where):
    """One entry per nodule: its readers' ratings and its patient."""
    if nodules is None:
        return readers, groups
    nodules = np.asarray(nodules).tolist()  # Python values: named in errors
    first = {}
    for i, key in enumerate(nodules):
        if key not in first:
            first[key] = i
            continue
        j = first[key]
        if readers[i].tolist() != readers[j].tolist():
            what = "readers"
        elif groups is not None and _py(groups[i]) != _py(groups[j]):
            what = "patient"
        else:
            continue
        raise ValueError(
            f"{where}: rows id={_py(ids[j])!r} and id={_py(ids[i])!r} share "
            f"nodule_id {key!r} but not their {what} "
            f"({_describe(readers, groups, j)} vs {_describe(readers, groups, i)}); "
            "the rows of one nodule must carry the same malignancy_readers and "
            "patient_id."
        )
    keep = sorted(first.values())
    return [readers[i] for i in keep], None if groups is None else groups[keep]


def _as_text(value):
    """A sequence of ratings as ``"3;4;4"``; anything else as it is (to check)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ";".join(str(v) for v in value)
    return value


def _describe(readers, groups, i):
    text = ";".join(str(v) for v in readers[i])
    return text if groups is None else f"{text}, patient {_py(groups[i])!r}"


def _py(value):
    return value.item() if isinstance(value, np.generic) else value


def _leave_one_out(ratings):
    """(own, reference) of each reader of one nodule: the others' median, half up."""
    own, reference = [], []
    for i in range(len(ratings)):
        others = np.delete(ratings, i)
        own.append(ratings[i])
        reference.append(int(np.floor(np.median(others) + 0.5)))
    return own, reference


def _agreement_metrics(cm, table, weights=None):
    """READER_METRICS from the pooled (own x reference) matrix and the count table."""
    n = cm.sum()
    if n == 0:
        return dict.fromkeys(READER_METRICS, float("nan"))
    own = three_class(RATING_LEVELS)
    malignant = RATING_LEVELS >= 4
    same_binary = malignant[:, None] == malignant[None, :]
    kept = cm[:, RATING_LEVELS != 3]
    kept_same = same_binary[:, RATING_LEVELS != 3]
    out = {"accuracy": float(np.trace(cm) / n), **fast_ordinal(cm, RATING_LEVELS)}
    out["benign_accuracy"] = float(cm[same_binary].sum() / n)
    out["excluded_accuracy"] = (
        float(kept[kept_same].sum() / kept.sum()) if kept.sum() else float("nan")
    )
    out["three_class_accuracy"] = float(cm[own[:, None] == own[None, :]].sum() / n)
    out["fleiss_kappa"] = fleiss_kappa(table, weights)
    return {name: out[name] for name in READER_METRICS}


def reader_agreement(
    readers, *, nodules=None, groups=None, ids=None, n_bootstrap=1000,
    random_state=0, where="the data",
):
    """Leave-one-reader-out agreement of the radiologists, with patient CIs.

    Every rating of a nodule with two or more readers is compared with the
    median of the other readers' ratings of that nodule, halves rounded up
    (the median of 3 and 4 is 4): the exact, within-one, binary agreements,
    the mean absolute difference and quadratic-weighted kappa of those pairs
    (:data:`READER_METRICS`), and Fleiss' kappa (:func:`fleiss_kappa`) over the
    nodules. It is the number a model scored against a radiologist's rating
    could reach by being one more radiologist; nothing is trained.

    Parameters
    ----------
    readers : array-like of shape (n_samples,)
        Per row the ratings of every reader of its nodule, as the
        ``malignancy_readers`` column (``"3;4;4"``) or sequences of ints.
    nodules : array-like of shape (n_samples,), default=None
        Nodule id per row; rows with one id are one nodule (a per-reading
        data set) and must carry the same readers. None: each row is a nodule.
    groups : array-like of shape (n_samples,), default=None
        Patient ids; the bootstrap then resamples patients (else nodules).
    ids : array-like of shape (n_samples,), default=None
        Row ids, named in errors.
    n_bootstrap : int, default=1000
        Bootstrap resamples; 0 gives NaN intervals.
    random_state : int, default=0
        Seed of the bootstrap.
    where : str, default="the data"
        What errors name (a manifest's path).

    Returns
    -------
    agreement : ReaderAgreement

    Raises
    ------
    ValueError
        If an entry of ``readers`` is not ratings 1-5 separated by ``;``, if
        the lengths differ, or if two rows of one nodule carry different
        readers or patients.

    Examples
    --------
    >>> from skradnod.evaluation import reader_agreement
    >>> # three 2s match the others' median 2, the 5 does not; 3 vs 4 and 4 vs 3
    >>> a = reader_agreement(["2;2;2;5", "3;4"], n_bootstrap=0)
    >>> a.n_readings, a.metrics["accuracy"], a.metrics["within_one"]
    (6, 0.5, 0.8333333333333334)
    """
    if isinstance(readers, pd.Series):
        ids = readers.index if ids is None else ids
    n = len(readers)
    ids = np.arange(n) if ids is None else np.asarray(ids)
    for name, other in (("nodules", nodules), ("groups", groups), ("ids", ids)):
        if other is not None and len(other) != n:
            raise ValueError(
                f"reader_agreement: {name} has {len(other)} entries but readers "
                f"has {n}."
            )
    groups = None if groups is None else np.asarray(groups)
    parsed = parse_malignancy_readers(
        [_as_text(r) for r in readers], ids=ids, where=where
    )
    table_readers, patients = _nodule_table(parsed, nodules, groups, ids, where)
    multi = [k for k, r in enumerate(table_readers) if len(r) >= 2]
    cms = np.zeros((len(multi), 5, 5), dtype=np.int64)
    table = np.zeros((len(multi), 5), dtype=np.int64)
    for row, k in enumerate(multi):
        own, reference = _leave_one_out(table_readers[k])
        np.add.at(cms[row], (np.asarray(own) - 1, np.asarray(reference) - 1), 1)
        table[row] = np.bincount(table_readers[k] - 1, minlength=5)
    metrics = _agreement_metrics(cms.sum(axis=0), table)
    ci = _agreement_ci(
        cms, table, None if patients is None else patients[multi],
        n_bootstrap, random_state,
    )
    sizes = np.bincount(table.sum(axis=1)) if len(multi) else np.zeros(0, int)
    return ReaderAgreement(
        metrics=metrics,
        ci=ci,
        n_readings=int(table.sum()),
        n_nodules=len(multi),
        n_patients=None if patients is None else len(np.unique(patients[multi])),
        n_bootstrap=int(n_bootstrap),
        readers_per_nodule={k: int(c) for k, c in enumerate(sizes) if c},
    )


def _agreement_ci(cms, table, patients, n_bootstrap, random_state):
    if n_bootstrap <= 0 or len(cms) == 0:
        return {name: (float("nan"), float("nan")) for name in READER_METRICS}
    values = {name: [] for name in READER_METRICS}
    # Every metric is a function of the summed per-nodule matrices and the
    # count table, so a resample is a weighting of the nodules by their draws.
    for idx in bootstrap_indices(
        len(cms), groups=patients, n_bootstrap=n_bootstrap, random_state=random_state
    ):
        weights = np.bincount(idx, minlength=len(cms))
        cm = np.tensordot(weights, cms, axes=1)
        used = weights > 0
        sample = _agreement_metrics(cm, table[used], weights[used])
        for name in READER_METRICS:
            values[name].append(sample[name])
    return _percentile_ci(values)
