"""OutOfFoldProba: held-out probabilities in fit, the full model afterwards."""

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from skradnod.model_selection import UngroupedSplitWarning
from skradnod.stacking import OutOfFoldProba


def _twins(n_patients=60, seed=0):
    """Two identical rows per patient with one random label: a 1-NN classifier
    answers a row right exactly when the patient's twin is in its training set."""
    rng = np.random.RandomState(seed)
    X = np.repeat(rng.normal(size=(n_patients, 4)), 2, axis=0)
    y = np.repeat(rng.randint(0, 2, n_patients), 2)
    groups = np.repeat(np.arange(n_patients), 2)
    return X, y, groups


def test_training_rows_get_held_out_probabilities_grouped_by_patient():
    X, y, groups = _twins()
    step = OutOfFoldProba(KNeighborsClassifier(1), cv=5, log=False, random_state=0)
    oof = step.fit_transform(X, y, groups=groups)
    # Grouped folds: the twin is always held out with the row, so 1-NN is at
    # chance on random labels...
    assert np.mean(oof.argmax(1) == y) < 0.7
    # ...while the model fitted on all rows knows every training row.
    assert np.mean(step.transform(X).argmax(1) == y) == 1.0
    np.testing.assert_array_equal(step.classes_, [0, 1])


def test_without_groups_it_warns_and_twins_leak():
    X, y, _ = _twins()
    step = OutOfFoldProba(KNeighborsClassifier(1), cv=5, log=False, random_state=0)
    with pytest.warns(UngroupedSplitWarning, match="OutOfFoldProba's folds"):
        oof = step.fit_transform(X, y)
    # The leak the grouping prevents: most twins land in other folds.
    assert np.mean(oof.argmax(1) == y) > 0.7


def test_log_probabilities_and_feature_names():
    X, y, groups = _twins()
    step = OutOfFoldProba(KNeighborsClassifier(3), cv=3, random_state=0)
    Z = step.fit_transform(X, y, groups=groups)
    assert Z.max() <= 0 and Z.min() >= np.log(1e-4)
    np.testing.assert_allclose(np.exp(Z).sum(1), 1, atol=2e-4)
    assert step.get_feature_names_out().tolist() == ["logproba_0", "logproba_1"]
