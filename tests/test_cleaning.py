"""DuplicateRemover on batches with planted exact and near duplicates."""

import logging

import numpy as np
import pytest
from imblearn.pipeline import Pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from skradnod.cleaning import DuplicateRemover
from skradnod.radiomics import RadiomicsExtractor
from skradnod.utils import LazyImageBatch


def _crops(n, size=24, seed=0):
    """Distinct HU crops: a disc of random radius and position, CT-like noise."""
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        r0, c0 = rng.uniform(size / 3, 2 * size / 3, 2)
        radius = rng.uniform(3, size / 3)
        disc = (rr - r0) ** 2 + (cc - c0) ** 2 < radius**2
        out.append(np.where(disc, 40.0, -850.0) + rng.normal(0, 20, (size, size)))
    return np.stack(out)


def _planted(seed=0):
    """30 crops: 0/5 exact twins (same label), 2/7 near twins (labels differ),
    3/9/10 a near-duplicate triple with one label.

    cleanlab's radius is relative to the median nearest-neighbour distance, so
    duplicates must be a minority, as in a real cohort.
    """
    rng = np.random.RandomState(seed + 1)
    X = _crops(30, seed=seed)
    y = np.arange(30) % 5 + 1
    y[[0, 5]] = 1
    y[[2, 7]] = [3, 4]
    y[[3, 9, 10]] = 4
    X[5] = X[0]
    X[7] = X[2] + rng.normal(0, 1.0, X[2].shape)
    X[9] = X[3] + rng.normal(0, 1.0, X[3].shape)
    X[10] = X[3] + rng.normal(0, 1.0, X[3].shape)
    return X, y


def test_planted_duplicates_and_agree_policy(caplog):
    X, y = _planted()
    remover = DuplicateRemover()
    with caplog.at_level(logging.INFO, logger="skradnod.cleaning"):
        X_res, y_res = remover.fit_resample(X, y)
    assert [s.tolist() for s in remover.duplicate_sets_] == [[0, 5], [2, 7], [3, 9, 10]]
    # Exact twins agree: keep 0. Near twins disagree: drop both. Triple: keep 3.
    assert remover.removed_indices_.tolist() == [2, 5, 7, 9, 10]
    assert remover.sample_indices_.tolist() == [
        i for i in range(30) if i not in (2, 5, 7, 9, 10)
    ]
    assert remover.n_removed_ == 5
    assert "removed 5 of 30 images" in caplog.text
    np.testing.assert_array_equal(X_res, X[remover.sample_indices_])
    np.testing.assert_array_equal(y_res, y[remover.sample_indices_])


def test_no_duplicates_in_distinct_crops_and_zero_threshold():
    X = _crops(15, seed=3)
    y = np.arange(15) % 5 + 1
    remover = DuplicateRemover().fit(X, y)
    assert remover.duplicate_sets_ == [] and remover.n_removed_ == 0
    X_dup, y_dup = _planted()
    assert DuplicateRemover(threshold=0.0).fit(X_dup, y_dup).n_removed_ == 0


def test_crops_of_different_sizes_keep_their_form():
    X, y = _planted()
    crops = list(X)
    # Enlarge one twin: resizing to a common size still sees the pair.
    big = np.kron(X[0], np.ones((2, 2)))
    crops[5] = big
    remover = DuplicateRemover(size=(24, 24))
    X_res, y_res = remover.fit_resample(crops, y)
    assert [0, 5] in [s.tolist() for s in remover.duplicate_sets_]
    assert isinstance(X_res, list) and len(X_res) == len(y_res) == 25
    lazy = LazyImageBatch(list(X))
    X_lazy, _ = DuplicateRemover().fit_resample(lazy, y)
    assert isinstance(X_lazy, LazyImageBatch) and len(X_lazy) == 25


def test_feature_transform_and_pipeline_predict_keeps_all_rows():
    X, y = _planted()
    features = RadiomicsExtractor(
        image_types=("Original",), feature_classes=["firstorder"]
    )
    remover = DuplicateRemover(features=features)
    remover.fit(X, y)
    # Exact twins have identical features; noisy twins have near-identical ones.
    assert [0, 5] in [s.tolist() for s in remover.duplicate_sets_]
    assert remover.features_ is not features
    assert len(remover.features_.get_feature_names_out()) == 18

    flatten = FunctionTransformer(lambda batch: batch.reshape(len(batch), -1))
    pipe = Pipeline(
        [("dedup", DuplicateRemover()), ("flat", flatten),
         ("clf", LogisticRegression(max_iter=200))]
    ).fit(X, y)
    # Fitted on the 25 kept crops, predicting all 30.
    assert set(pipe.named_steps["clf"].classes_) == {1, 2, 3, 4, 5}
    assert len(pipe.predict(X)) == 30


def test_bad_input_names_the_problem():
    X, y = _planted()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        DuplicateRemover().fit(X, y[:-1])
    with pytest.raises(ValueError, match="2D array"):
        DuplicateRemover().fit(X[0], y[:1])
