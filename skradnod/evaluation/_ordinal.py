"""The literature's numbers: ordinal metrics and the three readings of score 3.

Malignancy is an ordinal rating 1-5, and papers on LIDC-IDRI report it in ways
the method's tables do not: within-one accuracy, the mean absolute error and
quadratic-weighted kappa of the 5-point scale, and a binary task whose
treatment of the indeterminate score 3 varies. :data:`LITERATURE_METRICS`
names them; each is defined for reports whose classes are ratings (within
1-5), NaN for other reports (the binary task's 0/1).

The three protocols for score 3, all read off the same predictions:

``benign`` (the thesis's)
    1-3 benign, 4-5 malignant (:func:`~skradnod.evaluation.to_binary`).
    P(malignant) = P(4) + P(5); predicted malignant when it is at least 0.5 (as
    :func:`~skradnod.evaluation.binary_report`).
``excluded`` (most binary results on LIDC-IDRI)
    The same P(malignant) and decision, scored only on the samples whose true
    score is not 3. The model is not retrained without them: this is how its
    5-class probabilities rank and classify the clear cases.
``three_class``
    benign (1-2) < indeterminate (3) < malignant (4-5); the prediction is the
    group of largest summed probability (P(1) + P(2), P(3), P(4) + P(5); a tie
    goes to the lower group), its accuracy is reported.

Without probabilities the decisions come from the predicted ratings (a
prediction of 4 or 5 is malignant) and the AUCs are NaN.
"""

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import cohen_kappa_score

RATING_LEVELS = np.arange(1, 6)

LITERATURE_METRICS = (
    "within_one",
    "mae",
    "qwk",
    "benign_accuracy",
    "benign_auc",
    "excluded_accuracy",
    "excluded_auc",
    "three_class_accuracy",
)
"""Names of the ordinal and score-3 protocol metrics of a :class:`Report`.

``within_one``: share of predictions at most one point from the true rating;
``mae``: mean absolute error in rating points (not a share); ``qwk``:
quadratic-weighted Cohen's kappa over the ratings 1-5; ``benign_accuracy``
and ``benign_auc``: binary with score 3 benign; ``excluded_accuracy`` and
``excluded_auc``: binary with true score 3 left out; ``three_class_accuracy``:
benign (1-2) / indeterminate (3) / malignant (4-5).
"""


def _on_rating_scale(classes):
    classes = np.asarray(classes)
    return classes.size > 0 and bool(np.isin(classes, RATING_LEVELS).all())


def three_class(ratings):
    """Map ratings 1-5 to benign (0: 1-2), indeterminate (1: 3), malignant (2: 4-5).

    Examples
    --------
    >>> from skradnod.evaluation._ordinal import three_class
    >>> three_class([1, 2, 3, 4, 5]).tolist()
    [0, 0, 1, 2, 2]
    """
    ratings = np.asarray(ratings)
    return (ratings >= 3).astype(np.int64) + (ratings >= 4)


def within_one_accuracy(y_true, y_pred):
    """Share of predicted ratings at most one point from the true rating.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        Ratings 1-5.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skradnod.evaluation import within_one_accuracy
    >>> within_one_accuracy([1, 3, 5, 2], [2, 3, 3, 2])
    0.75
    """
    diff = np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))
    return float(np.mean(diff <= 1)) if diff.size else float("nan")


def quadratic_kappa(y_true, y_pred):
    """Quadratic-weighted Cohen's kappa over the ratings 1-5 (scikit-learn's).

    ``cohen_kappa_score(..., weights="quadratic", labels=[1, 2, 3, 4, 5])``:
    the weights are the squared distances of the ratings themselves, also
    when a rating is absent. NaN when it is undefined (one rating only).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return float(
            cohen_kappa_score(
                y_true, y_pred, weights="quadratic", labels=RATING_LEVELS
            )
        )


def _protocols(y_true, y_pred, proba, classes, auc):
    """The score-3 protocol metrics (see the module docstring)."""
    y_true = np.asarray(y_true)
    malignant = y_true >= 4
    if proba is None:
        score = None
        called = np.asarray(y_pred) >= 4
        group = three_class(y_pred)
    else:
        classes = np.asarray(classes)
        score = proba[:, classes >= 4].sum(axis=1)
        called = score >= 0.5
        grouped = np.column_stack(
            [proba[:, three_class(classes) == g].sum(axis=1) for g in range(3)]
        )
        group = grouped.argmax(axis=1)  # ties: the first, the lower group
    kept = y_true != 3
    nan = float("nan")
    return {
        "benign_accuracy": float(np.mean(called == malignant)),
        "benign_auc": nan if score is None else auc(malignant, score),
        "excluded_accuracy": (
            float(np.mean(called[kept] == malignant[kept])) if kept.any() else nan
        ),
        "excluded_auc": (
            nan if score is None or not kept.any()
            else auc(malignant[kept], score[kept])
        ),
        "three_class_accuracy": float(np.mean(group == three_class(y_true))),
    }


def literature_metrics(y_true, y_pred, proba, classes, *, auc, cm=None):
    """:data:`LITERATURE_METRICS` of one set of predictions (NaN off the 1-5 scale).

    ``auc(positive, score)`` is the binary AUC (the caller's, so that the
    report and its bootstrap share one definition). With ``cm``, the
    confusion matrix over ``classes`` already counted, the ordinal three come
    from it (:func:`fast_ordinal`, for the bootstrap) instead of scikit-learn.
    """
    if not _on_rating_scale(classes) or len(y_true) == 0:
        return dict.fromkeys(LITERATURE_METRICS, float("nan"))
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if cm is None:
        out = {
            "within_one": within_one_accuracy(y_true, y_pred),
            "mae": float(np.mean(np.abs(y_true.astype(float) - y_pred))),
            "qwk": quadratic_kappa(y_true, y_pred),
        }
    else:
        out = fast_ordinal(cm, classes)
    out.update(_protocols(y_true, y_pred, proba, classes, auc))
    return out


def fast_ordinal(cm, values):
    """``within_one``, ``mae`` and ``qwk`` from a confusion matrix (the bootstrap's).

    ``cm[i, j]`` counts true ``values[i]`` predicted ``values[j]``. The kappa is
    Cohen's: ``1 - sum(w * observed) / sum(w * expected)`` with ``w`` the squared
    rating distances and ``expected`` the outer product of the margins, which
    equals scikit-learn's :func:`quadratic_kappa` (tests check it).
    """
    values = np.asarray(values, dtype=float)
    distance = np.abs(values[:, None] - values[None, :])
    n = cm.sum()
    weights = distance**2
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / n
    denominator = float(np.sum(weights * expected))
    return {
        "within_one": float(cm[distance <= 1].sum() / n),
        "mae": float(np.sum(cm * distance) / n),
        "qwk": (
            1.0 - float(np.sum(weights * cm)) / denominator
            if denominator > 0 else float("nan")
        ),
    }
