"""skradnod.compose.FusionClassifier: branches, dropped rows, nested params, CV."""

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from imblearn.base import BaseSampler
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from torch import nn

from skradnod.compose import FusionClassifier


class MarkerDropper(BaseSampler):
    """Drops the rows whose first column is positive (a planted sampler)."""

    _sampling_type = "clean-sampling"
    _parameter_constraints: dict = {}

    def __init__(self, sampling_strategy="auto"):
        self.sampling_strategy = sampling_strategy

    def _fit_resample(self, X, y):
        self.sample_indices_ = np.flatnonzero(X[:, 0] <= 0)
        return X[self.sample_indices_], y[self.sample_indices_]


def make_frame(n=80, size=32, seed=0):
    """Paired toy data: bright/dark disc crops + a noisy feature table."""
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    y = np.arange(n) % 2
    images = []
    for label in y:
        image = rng.normal(0.5, 0.08, (size, size)).astype(np.float32)
        r0, c0 = rng.uniform(size * 0.3, size * 0.7, 2)
        disc = (rr - r0) ** 2 + (cc - c0) ** 2 < rng.uniform(4, size / 4) ** 2
        image[disc] = 0.95 if label else 0.05
        images.append(image)
    frame = pd.DataFrame(
        {
            "nodule": images,
            "marker": -np.ones(n),
            "f1": rng.normal(size=n),
            "f2": rng.normal(size=n),
        },
        index=[f"n{i}" for i in range(n)],
    )
    return frame, np.where(y == 1, 5, 2), np.arange(n) // 2


FAST = {
    "module__image_width": 4,
    "module__image_out": 16,
    "module__feature_hidden": 8,
    "module__hidden": 16,
    "max_epochs": 3,
    "lr": 1e-2,
    "batch_size": 16,
    "patience": None,
    "lr_patience": None,
}


def branches(dropper=False):
    features = (
        make_imb_pipeline(MarkerDropper(), StandardScaler())
        if dropper
        else make_imb_pipeline(StandardScaler())
    )
    return [
        ("image", "passthrough", "nodule"),
        ("features", features, ["marker", "f1", "f2"]),
    ]


def test_disc_task_is_learned_by_fusion():
    frame, y, _ = make_frame(160, seed=0)
    test, y_test, _ = make_frame(80, seed=1)
    clf = FusionClassifier(
        branches(), **{**FAST, "max_epochs": 10, "lr": 3e-3}, random_state=0
    ).fit(frame, y)
    assert clf.score(test, y_test) > 0.95
    np.testing.assert_array_equal(clf.classes_, [2, 5])
    assert clf.input_shapes_ == {"image": (32, 32), "features": (3,)}
    # n_features was filled in from the feature branch's output width.
    assert clf.module_.feature_branch.layer1[0].in_features == 3


class Capturing(FusionClassifier):
    """Records the net's training inputs (what skorch splits)."""

    def get_split_datasets(self, X, y=None, **fit_params):
        self.seen_ = (X, y)
        return super().get_split_datasets(X, y, **fit_params)


class PairRecorder(nn.Module):
    """Logits from both inputs; records the (image, feature) pairs it sees."""

    def __init__(self, n_classes=2, n_features=3):
        super().__init__()
        self.linear = nn.Linear(1 + n_features, n_classes)
        self.pairs = []

    def forward(self, image, features):
        self.pairs.append((image[:, 0, 0, 0].clone(), features[:, 1].clone()))
        return self.linear(torch.cat([image.mean(dim=(1, 2, 3))[:, None], features], 1))


def test_sampler_rows_dropped_from_every_branch_and_y_in_fit_only():
    n = 30
    frame, y, _ = make_frame(n, size=16)
    # Plant identities: image i is constant i, feature f1 is i, label i % 3.
    frame["nodule"] = [np.full((16, 16), i, np.float32) for i in range(n)]
    frame["f1"] = np.arange(n, dtype=float)
    frame.loc[frame.index[[3, 7, 20]], "marker"] = 1.0
    y = np.arange(n) % 3
    features = make_imb_pipeline(MarkerDropper(), FunctionTransformer())
    clf = Capturing(
        [("image", "passthrough", "nodule"), ("features", features, ["marker", "f1"])],
        module=PairRecorder, module__n_features=2, max_epochs=2, augment=False,
        patience=None, random_state=0,
    ).fit(frame, y)
    kept = np.setdiff1d(np.arange(n), [3, 7, 20])
    np.testing.assert_array_equal(clf.sample_indices_, kept)
    assert clf.n_dropped_ == 3
    X_seen, y_seen = clf.seen_
    np.testing.assert_array_equal(X_seen["image"][:, 0, 0], kept)
    np.testing.assert_array_equal(X_seen["features"][:, 1], kept)
    np.testing.assert_array_equal(clf.classes_[y_seen], kept % 3)
    # Every training batch paired image i with feature i.
    for image_ids, feature_ids in clf.module_.pairs:
        torch.testing.assert_close(image_ids, feature_ids)
    # Nothing is dropped at predict time.
    clf.module_.pairs.clear()
    assert clf.predict(frame).shape == (n,)
    seen = torch.cat([ids for ids, _ in clf.module_.pairs]).numpy()
    np.testing.assert_array_equal(seen, np.arange(n))


def test_nested_params_reach_branch_steps_and_net():
    clf = FusionClassifier(branches(dropper=True), **FAST)
    params = clf.get_params()
    assert params["features__standardscaler__with_mean"] is True
    assert params["lr"] == 1e-2 and params["module__hidden"] == 16
    assert params["image"] == "passthrough"
    clf.set_params(
        features__standardscaler__with_mean=False, lr=0.5, module__dropout=0.1
    )
    params = clf.get_params()
    assert params["features__standardscaler__with_mean"] is False
    assert params["lr"] == 0.5 and params["module__dropout"] == 0.1
    original = clf.transformers
    clf.set_params(features=StandardScaler())
    assert isinstance(clf.get_params()["features"], StandardScaler)
    assert original[1][1] is not clf.transformers[1][1]  # caller's list untouched


def test_fitted_branches_are_clones_exposed_by_name():
    frame, y, _ = make_frame(40)
    spec = branches(dropper=True)
    clf = FusionClassifier(spec, **FAST, random_state=0).fit(frame, y)
    fitted = clf.named_transformers_["features"]
    assert fitted is not spec[1][1] and fitted is clf.transformers_[1][1]
    assert hasattr(fitted[-1], "mean_") and not hasattr(spec[1][1][-1], "mean_")
    assert list(clf.named_transformers_) == ["image", "features"]
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)


def test_cross_val_score_with_groups_and_grid_search():
    frame, y, groups = make_frame(48)
    clf = FusionClassifier(branches(dropper=True), **FAST, random_state=0)
    scores = cross_val_score(
        clf, frame, y, groups=groups, cv=GroupKFold(2), params={"groups": groups}
    )
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    search = GridSearchCV(
        clf,
        {"features__standardscaler__with_mean": [True, False], "lr": [1e-2, 3e-3]},
        cv=GroupKFold(2),
    ).fit(frame, y, groups=groups)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert best.lr == search.best_params_["lr"]
    scaler = best.named_transformers_["features"][-1]
    best_with_mean = search.best_params_["features__standardscaler__with_mean"]
    assert scaler.with_mean == best_with_mean


def test_joblib_round_trip_predicts_identically(tmp_path):
    frame, y, _ = make_frame(40)
    clf = FusionClassifier(branches(dropper=True), **FAST, random_state=0)
    clf.fit(frame, y)
    joblib.dump(clf, tmp_path / "fusion.joblib")
    loaded = joblib.load(tmp_path / "fusion.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))


def test_errors_name_the_branch_or_column():
    frame, y, _ = make_frame(20)
    with pytest.raises(ValueError, match="'nodul' is not in X"):
        FusionClassifier([("image", "passthrough", "nodul")], **FAST).fit(frame, y)
    with pytest.raises(ValueError, match="clashes"):
        FusionClassifier([("module", "passthrough", "nodule")], **FAST).fit(frame, y)
    with pytest.raises(ValueError, match=r"\['img'\] are not arguments"):
        FusionClassifier(
            [("img", "passthrough", "nodule"), ("features", StandardScaler(), ["f1"])],
            **FAST,
        ).fit(frame, y)


def test_design_example_radiomics_branch_with_groups_and_grid_search(tmp_path):
    # The DESIGN.md composition on a small cohort, with fast settings: radiomic
    # features cached on disk, the "fast" selector preset, a tiny net.
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedGroupKFold

    from skradnod.datasets import make_lidc_cohort
    from skradnod.evaluation import to_binary
    from skradnod.feature_selection import make_radiomics_selector
    from skradnod.preprocessing import make_ct_preprocessor
    from skradnod.radiomics import RadiomicsExtractor

    data = make_lidc_cohort(n_samples=60, random_state=0)
    frame = data.frame.copy()
    # Plant a constant crop: its radiomic row is NaN, SparseRowDropper drops it.
    crops = list(frame["nodule"])
    crops[0] = np.full((48, 48), -800, np.int16)
    frame["nodule"] = crops
    y = to_binary(data.target)
    nodule_features = make_imb_pipeline(
        RadiomicsExtractor(
            image_types=("Original",),
            feature_classes=["firstorder", "shape2D"],
            memory=str(tmp_path),
        ),
        make_radiomics_selector(
            estimator=RandomForestClassifier(n_estimators=10, random_state=0),
            step=0.3,
        ),
    )
    model = FusionClassifier(
        transformers=[
            ("image", make_ct_preprocessor(size=32), "nodule"),
            ("features", nodule_features, "nodule"),
        ],
        **FAST,
        random_state=0,
    )
    with pytest.warns(UserWarning):
        model.fit(frame, y, groups=data.groups)
    assert 0 not in model.sample_indices_ and model.n_dropped_ >= 1
    assert model.predict(frame).shape == (60,)  # nothing dropped at predict
    selected = model.named_transformers_["features"][-1][-1].n_features_
    assert model.module_.feature_branch.layer1[0].in_features == selected

    cv = StratifiedGroupKFold(2)
    scores = cross_val_score(model, frame, y, groups=data.groups, cv=cv)
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    search = GridSearchCV(
        model,
        {"features__pipeline__correlationfilter__threshold": [0.8, 0.95],
         "lr": [1e-2]},
        cv=cv,
    ).fit(frame, y, groups=data.groups)
    assert len(search.cv_results_["params"]) == 2
    assert search.best_estimator_.n_dropped_ >= 1


def test_new_frame_needs_only_the_columns_the_branches_use():
    # Fitted on a frame with extra columns (cx, cy as
    # load_nodule_dataset gives), a new patient's frame holds just the used
    # columns, in any order; missing a used column is an error naming it.
    frame, y, _ = make_frame(24)
    frame["cx"], frame["cy"] = 0.5, 0.5
    clf = FusionClassifier(branches(), **FAST, random_state=0).fit(frame, y)
    used = frame[["f2", "nodule", "f1", "marker"]]
    np.testing.assert_array_equal(clf.predict_proba(used), clf.predict_proba(frame))
    with pytest.raises(ValueError, match=r"Columns \['f1'\] are not in X"):
        clf.predict(frame.drop(columns="f1"))
    # columns picked by position still need the fitted layout
    by_position = FusionClassifier(
        [("image", "passthrough", "nodule"), ("features", StandardScaler(), [1, 2])],
        **FAST, random_state=0,
    ).fit(frame, y)
    with pytest.raises(ValueError, match="expecting 6 features"):
        by_position.predict(used)


def test_image_branch_of_another_size_is_rejected():
    frame, y, _ = make_frame(24)
    clf = FusionClassifier(branches(), **FAST, random_state=0).fit(frame, y)
    bigger = frame.assign(nodule=[np.pad(im, 4) for im in frame["nodule"]])
    with pytest.raises(ValueError, match=r"'image'.*\(32, 32\).*\(40, 40\)"):
        clf.predict(bigger)


def test_set_output_pandas_reaches_the_branches():
    frame, y, _ = make_frame(24)
    clf = FusionClassifier(branches(), **FAST, random_state=0)
    clf.set_output(transform="pandas")
    clf.fit(frame, y)
    columns = ["marker", "f1", "f2"]
    features = clf.named_transformers_["features"].transform(frame[columns])
    assert isinstance(features, pd.DataFrame)
    assert list(features.columns) == columns
    assert clf.predict(frame).shape == (24,)
