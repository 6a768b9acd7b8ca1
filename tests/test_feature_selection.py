"""The feature selection chain, each step on data with planted structure."""

import importlib
import logging

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

from skradnod.feature_selection import (
    CorrelationFilter,
    OutlierToNaN,
    SparseRowDropper,
    make_radiomics_selector,
)
from skradnod.model_selection import PatientStratifiedKFold


def _planted(n=60, seed=0):
    """Columns: informative, its noisy twin, constant, 3 noise columns.

    The twin carries extra noise that one of the noise columns shares, so the
    twin is more correlated with the rest than the informative column is: the
    method's rule must drop the twin.
    """
    rng = np.random.RandomState(seed)
    y = np.arange(n) % 2
    informative = y + rng.normal(0, 0.3, n)
    shared = rng.normal(0, 0.25, n)
    twin = informative + shared
    noise = rng.normal(size=(n, 3))
    noise[:, 0] += 2 * shared
    X = np.column_stack([twin, informative, np.full(n, 7.0), noise])
    columns = ["twin", "informative", "constant", "noise_a", "noise_b", "noise_c"]
    return pd.DataFrame(X, columns=columns), y


def test_outlier_to_nan_uses_training_statistics():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    X[17, 1] = 12.0  # planted outlier
    X[5, 2] = np.nan  # NaN in training is ignored, not propagated
    est = OutlierToNaN(threshold=3.0).fit(X)
    out = est.transform(X)
    assert np.isnan(out[17, 1])
    assert np.argwhere(np.isnan(out)).tolist() == [[5, 2], [17, 1]]
    np.testing.assert_allclose(est.mean_[2], np.nanmean(X[:, 2]))
    # New data is judged against the training mean/std, not its own.
    new = np.array([[0.0, 0.0, est.mean_[2] + 3.5 * est.scale_[2]]])
    assert np.isnan(est.transform(new)).tolist() == [[False, False, True]]
    # A looser threshold keeps the value.
    assert not np.isnan(OutlierToNaN(threshold=20).fit_transform(X)[17, 1])


def test_sparse_row_dropped_in_fit_kept_in_predict(caplog):
    X, y = _planted(30)
    X = X.to_numpy(copy=True)
    X[4, :3] = np.nan  # half missing: more than a third
    X[9, :2] = np.nan  # a third missing: kept
    dropper = SparseRowDropper()
    with caplog.at_level(logging.INFO, logger="skradnod.feature_selection"):
        X_res, y_res = dropper.fit_resample(X, y)
    assert "dropped 1 of 30" in caplog.text
    assert dropper.n_dropped_ == 1
    assert dropper.dropped_indices_.tolist() == [4]
    assert dropper.sample_indices_.tolist() == [i for i in range(30) if i != 4]
    np.testing.assert_array_equal(X_res, np.delete(X, 4, axis=0))
    np.testing.assert_array_equal(y_res, np.delete(y, 4))

    pipe = Pipeline(
        [
            ("drop", SparseRowDropper()),
            ("impute", SimpleImputer()),
            ("clf", LogisticRegression()),
        ]
    ).fit(X, y)
    # The classifier was fitted without the sparse row; predict keeps every row.
    assert pipe.named_steps["impute"].n_features_in_ == 6
    assert len(pipe.predict(X)) == 30
    # A DataFrame stays a DataFrame, with its index.
    frame = pd.DataFrame(X, index=[f"id{i}" for i in range(30)])
    X_df, _ = SparseRowDropper().fit_resample(frame, pd.Series(y))
    assert "id4" not in X_df.index and len(X_df) == 29
    with pytest.raises(ValueError, match="would drop all"):
        SparseRowDropper(max_missing=0.0).fit_resample(X[[4, 9]], y[[4, 9]])


def test_correlation_filter_drops_the_more_redundant_twin():
    X, _ = _planted(200)
    X = X.drop(columns="constant")
    filt = CorrelationFilter(threshold=0.8).fit(X)
    assert filt.correlation_[0, 1] > 0.8  # the planted pair
    assert list(filt.get_feature_names_out()) == [
        "informative", "noise_a", "noise_b", "noise_c",
    ]
    # The twin stands first: the rule, not the column order, decides.
    swapped = X[["informative", "twin", "noise_a", "noise_b", "noise_c"]]
    assert "twin" not in CorrelationFilter().fit(swapped).get_feature_names_out()
    # Above the pair's correlation nothing is dropped.
    assert CorrelationFilter(threshold=0.99).fit(X).get_support().all()


def test_make_radiomics_selector_keeps_informative_feature():
    X, y = _planted(90)
    selector = make_radiomics_selector(preset="fast", random_state=0)
    selector.fit(X, y)
    steps = selector.named_steps
    assert "constant" not in steps["variancethreshold"].get_feature_names_out()
    kept = list(selector.get_feature_names_out())
    assert "informative" in kept and "twin" not in kept
    assert len(kept) <= 2  # RFECV drops the pure noise columns
    assert selector.transform(X).shape == (90, len(kept))


def test_selector_defaults_are_the_method_and_fast_changes_two_things():
    thesis = make_radiomics_selector()
    assert [name for name, _ in thesis.steps] == [
        "variancethreshold", "outliertonan", "sparserowdropper", "knnimputer",
        "minmaxscaler", "correlationfilter", "rfecv",
    ]
    params = thesis.get_params()
    assert params["variancethreshold__threshold"] == 0.0
    assert params["outliertonan__threshold"] == 3.0
    assert params["sparserowdropper__max_missing"] == pytest.approx(1 / 3)
    assert params["knnimputer__n_neighbors"] == 5
    assert params["correlationfilter__threshold"] == 0.8
    assert params["rfecv__step"] == 1
    assert params["rfecv__scoring"] == "balanced_accuracy"
    # stratified, and grouped by patient when groups are routed to it
    assert isinstance(params["rfecv__cv"], PatientStratifiedKFold)
    assert params["rfecv__cv"].n_splits == 3
    assert params["rfecv__estimator__n_estimators"] == 100
    fast = make_radiomics_selector(preset="fast").get_params()
    # Compare plain values by repr (NaN != NaN; splitters have no __eq__).
    changed = {
        k for k, v in params.items()
        if k != "steps" and not hasattr(v, "get_params") and repr(fast[k]) != repr(v)
    }
    assert changed == {"rfecv__step", "rfecv__estimator__n_estimators"}
    with pytest.raises(ValueError, match="preset"):
        make_radiomics_selector(preset="slow")


# The method's SVM gives probabilities; scikit-learn 1.9 deprecates the flag but
# still honours it.
@pytest.mark.filterwarnings("ignore:The `probability` parameter:FutureWarning")
def test_selector_composes_with_models_under_grid_search():
    X, y = _planted(60)
    X = X.to_numpy(copy=True)
    X[3, :4] = np.nan  # a failed extraction row: dropped during fit only
    pipe = make_radiomics_selector(
        preset="fast",
        estimator=RandomForestClassifier(n_estimators=10, random_state=0),
        step=0.5,
        classifier=SVC(probability=True),
    )
    grid = [
        {"clf": [SVC(probability=True, random_state=0)],
         "correlationfilter__threshold": [0.8, 0.99]},
        {"clf": [RandomForestClassifier(n_estimators=10, random_state=0)]},
    ]
    try:
        models = importlib.import_module("skradnod.models")
        feature_net = getattr(models, "FeatureNetClassifier", None)
    except ImportError:
        feature_net = None
    if feature_net is not None:
        grid.append({"clf": [feature_net(max_epochs=3, verbose=0)]})
    search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3), error_score="raise")
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == len(grid) + 1
    # The planted informative feature separates the classes well.
    assert search.best_score_ > 0.8
    proba = search.predict_proba(X)
    assert proba.shape == (60, 2)
    assert len(search.predict(X)) == 60  # the NaN row is predicted, not dropped
    svc_scores = [
        score for score, params in zip(
            search.cv_results_["mean_test_score"], search.cv_results_["params"]
        ) if isinstance(params["clf"], SVC)
    ]
    assert min(svc_scores) > 0.7
