"""skradnod.models: the training recipe, NoduleCNNClassifier, FeatureNetClassifier."""

import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skradnod.evaluation import to_binary
from skradnod.io import write_nrrd
from skradnod.model_selection import UngroupedSplitWarning
from skradnod.models import FeatureNetClassifier, NoduleCNNClassifier
from skradnod.models._data import augment_batch
from skradnod.utils import LazyImageBatch


def make_discs(n=80, size=32, seed=0, labels=(0, 1)):
    """Bright (label 1) or dark (label 0) disc at a random spot on noise."""
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    X = rng.normal(0.5, 0.08, (n, size, size)).astype(np.float32)
    y = np.arange(n) % 2
    for i in range(n):
        r0, c0 = rng.uniform(size * 0.3, size * 0.7, 2)
        disc = (rr - r0) ** 2 + (cc - c0) ** 2 < rng.uniform(4, size / 4) ** 2
        X[i][disc] = 0.95 if y[i] else 0.05
    return X, np.asarray(labels)[y]


FAST = {
    "module__width": 4,
    "max_epochs": 4,
    "lr": 1e-2,
    "patience": None,
    "lr_patience": None,
}


# --------------------------------------------------------------------------- #
# augmentation
# --------------------------------------------------------------------------- #
def test_augment_batch_flips_give_the_four_mirror_images():
    torch.manual_seed(0)
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = augment_batch(image.repeat(64, 1, 1, 1), rotation=0.0)
    variants = [image, image.flip(-1), image.flip(-2), image.flip(-1).flip(-2)]
    found = {
        next(k for k, v in enumerate(variants) if torch.equal(o[None], v))
        for o in out
    }
    assert found == {0, 1, 2, 3}


def test_augment_batch_rotation_keeps_the_centre_and_moves_the_rest():
    torch.manual_seed(0)
    image = torch.zeros(1, 1, 33, 33)
    image[..., 16, 16] = 1.0
    image[..., 16, 28] = 1.0  # off-centre point
    out = augment_batch(image.repeat(16, 1, 1, 1), rotation=40.0, flip=False)
    assert torch.allclose(out[:, 0, 16, 16], torch.ones(16), atol=0.05)
    moved = out[:, 0, 16, 28] < 0.5
    assert moved.sum() >= 8
    # The off-centre point moved along its circle: its (interpolated) mass stays
    # 12 pixels from the centre.
    rr, cc = torch.meshgrid(torch.arange(33.0), torch.arange(33.0), indexing="ij")
    radius = ((rr - 16) ** 2 + (cc - 16) ** 2).sqrt()
    ring = out[:, 0] * (radius > 3)
    mean_radius = (ring * radius).sum(dim=(1, 2)) / ring.sum(dim=(1, 2))
    assert torch.allclose(mean_radius, torch.full((16,), 12.0), atol=0.7)


class Recorder(nn.Module):
    """Logits from the image mean; records which inputs equal the sentinel."""

    def __init__(self, n_classes=2, sentinel=None):
        super().__init__()
        self.linear = nn.Linear(1, n_classes)
        self.sentinel = torch.as_tensor(sentinel)
        self.train_equal, self.eval_equal = [], []

    def forward(self, x):
        equal = (x == self.sentinel).flatten(1).all(1)
        (self.train_equal if self.training else self.eval_equal).append(equal)
        return self.linear(x.mean(dim=(1, 2, 3))[:, None])


@pytest.mark.parametrize("augment", [True, False])
def test_augmentation_only_in_training_batches(augment):
    sentinel = np.zeros((1, 16, 16), np.float32)
    sentinel[0, 2, 5] = 1.0  # asymmetric: every flip or rotation moves it
    X = np.repeat(sentinel, 40, axis=0)
    y = np.arange(40) % 2
    clf = NoduleCNNClassifier(
        module=Recorder, module__sentinel=sentinel, augment=augment,
        max_epochs=3, patience=None, random_state=0,
    ).fit(X, y)
    train = torch.cat(clf.module_.train_equal)
    valid = torch.cat(clf.module_.eval_equal)
    assert len(train) == 3 * 32 and len(valid) == 3 * 8
    if augment:
        assert (~train).sum() > len(train) / 2  # most training images changed
    else:
        assert train.all()
    assert valid.all()  # validation batches are never augmented
    clf.module_.eval_equal.clear()
    clf.predict_proba(X)
    assert torch.cat(clf.module_.eval_equal).all()  # nor is predict


# --------------------------------------------------------------------------- #
# class weights, labels, seeding, devices, pickling
# --------------------------------------------------------------------------- #
def test_balanced_class_weights_are_inverse_frequency_and_sum_to_one():
    X, _ = make_discs(70, size=16)
    y = np.repeat([1, 3, 5], [10, 20, 40])
    clf = NoduleCNNClassifier(
        **{**FAST, "max_epochs": 1}, class_weight="balanced", random_state=0
    ).fit(X, y)
    expected = np.array([1 / 10, 1 / 20, 1 / 40])
    expected /= expected.sum()
    np.testing.assert_allclose(clf.class_weight_, expected)
    assert clf.class_weight_.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(clf.criterion_.weight.numpy(), expected, rtol=1e-6)


def test_dict_and_no_class_weights():
    X, _ = make_discs(40, size=16)
    y = np.repeat([1, 3, 5], [10, 10, 20])
    clf = NoduleCNNClassifier(
        **{**FAST, "max_epochs": 1}, class_weight={1: 2.0, 5: 1.0}
    ).fit(X, y)
    np.testing.assert_allclose(clf.class_weight_, [0.5, 0.25, 0.25])
    clf = NoduleCNNClassifier(**{**FAST, "max_epochs": 1}, class_weight=None)
    assert clf.fit(X, y).criterion_.weight is None
    with pytest.raises(ValueError, match=r"class_weight has labels \[7\]"):
        clf.set_params(class_weight={7: 1.0}).fit(X, y)


def test_ratings_1_to_5_come_back_from_predict():
    X, _ = make_discs(50, size=16)
    y = np.tile([1, 2, 3, 4, 5], 10)
    clf = NoduleCNNClassifier(**FAST, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [1, 2, 3, 4, 5])
    proba = clf.predict_proba(X)
    assert proba.shape == (50, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    pred = clf.predict(X)
    assert set(pred) <= {1, 2, 3, 4, 5}
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(1)])
    # Binary task: fit on to_binary(y); predict returns 0/1.
    pred_bin = clf.fit(X, to_binary(y)).predict(X)
    assert set(pred_bin) <= {0, 1} and clf.predict_proba(X).shape == (50, 2)


def test_disc_task_is_learned():
    X, y = make_discs(160, size=32, seed=0, labels=("dark", "bright"))
    X_test, y_test = make_discs(80, size=32, seed=1, labels=("dark", "bright"))
    clf = NoduleCNNClassifier(
        module__width=8, max_epochs=10, lr=3e-3, batch_size=16, patience=5,
        random_state=0,
    ).fit(X, y)
    assert clf.score(X_test, y_test) > 0.95
    assert set(clf.predict(X_test)) == {"dark", "bright"}
    history = clf.history
    assert history[-1, "valid_acc"] >= 0.9
    assert "train_loss" in history[-1] and "valid_loss" in history[-1]


def test_same_seed_same_predictions_different_seed_differs():
    X, y = make_discs(48, size=16)
    a = NoduleCNNClassifier(**FAST, random_state=3).fit(X, y).predict_proba(X)
    b = NoduleCNNClassifier(**FAST, random_state=3).fit(X, y).predict_proba(X)
    c = NoduleCNNClassifier(**FAST, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # Seeding does not leak: torch's global random state is restored.
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    NoduleCNNClassifier(**FAST, random_state=3).fit(X, y)
    torch.testing.assert_close(torch.rand(3), expected)


def test_joblib_round_trip_and_device_auto(tmp_path):
    X, y = make_discs(40, size=16)
    clf = NoduleCNNClassifier(**FAST, random_state=0).fit(X, y)
    assert clf.get_params()["device"] == "auto"
    assert clf.device_ == ("cuda" if torch.cuda.is_available() else "cpu")
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.get_params()["device"] == "auto"


def test_set_params_reinitialises_a_fitted_auto_device_net():
    # skorch rebuilds the module / criterion of an initialised net on a change
    # of their parameters and moves them to net.device, which must not be "auto".
    X, y = make_discs(40, size=16)
    clf = NoduleCNNClassifier(**FAST, random_state=0).fit(X, y)
    clf.set_params(module__width=6, criterion__label_smoothing=0.1)
    conv = next(m for m in clf.module_.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.out_channels == 6
    assert clf.criterion_.label_smoothing == 0.1
    assert clf.get_params()["device"] == "auto"
    clf.set_params(device="cpu", lr=0.01)
    assert clf.get_params()["device"] == "cpu" and clf.lr == 0.01
    clf.set_params(device="auto")
    assert clf.fit(X, y).get_params()["device"] == "auto"


def test_net_trained_on_cuda_loads_on_cpu_only_machine(tmp_path, monkeypatch):
    # Mock: the pickle says the net was trained on CUDA; this machine has none.
    X, y = make_discs(40, size=16)
    clf = NoduleCNNClassifier(**FAST, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    clf.device_ = "cuda"
    joblib.dump(clf, tmp_path / "clf.joblib")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = joblib.load(tmp_path / "clf.joblib")
    assert loaded.device_ == "cpu" and loaded.get_params()["device"] == "auto"
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


# --------------------------------------------------------------------------- #
# inputs
# --------------------------------------------------------------------------- #
def test_image_batch_forms_give_identical_models(tmp_path):
    X, y = make_discs(32, size=16)
    ref = NoduleCNNClassifier(**FAST, random_state=0).fit(X, y)
    expected = ref.predict_proba(X)
    paths = []
    for i, image in enumerate(X):
        paths.append(tmp_path / f"im{i}.nrrd")
        write_nrrd(paths[-1], image)
    lazy = LazyImageBatch(paths)
    for form in (list(X), lazy):
        clf = NoduleCNNClassifier(**FAST, random_state=0).fit(form, y)
        np.testing.assert_allclose(clf.predict_proba(form), expected, atol=1e-6)


def test_lazy_batch_reads_images_inside_the_loader():
    X, y = make_discs(24, size=16)
    reads = []

    def count(image):
        reads.append(1)
        return image

    lazy = LazyImageBatch(list(X)).with_step(count)
    clf = NoduleCNNClassifier(**{**FAST, "max_epochs": 2}, random_state=0)
    clf.fit(lazy, y)
    # Each epoch reads every training and validation image again, one by one.
    assert len(reads) >= 2 * 24


def test_bad_inputs_name_the_problem():
    X, y = make_discs(20, size=16)
    images = list(X)
    images[3] = images[3][:12]
    clf = NoduleCNNClassifier(**FAST)
    with pytest.raises(ValueError, match="sample 3 has shape"):
        clf.fit(images, y)
    with pytest.raises(ValueError, match="y has 19"):
        clf.fit(X, y[:19])
    with pytest.raises(ValueError, match="1 class"):
        clf.fit(X, np.ones(20))
    with pytest.raises(ValueError, match="2D array"):
        clf.fit(X[0], y[:1])
    with pytest.raises(ValueError, match="groups has 5"):
        clf.fit(X, y, groups=np.arange(5))


def test_grouped_validation_split_keeps_patients_apart():
    clf = NoduleCNNClassifier(random_state=0)
    y = np.repeat([0, 1], 50)
    groups = np.arange(100) // 4  # 25 patients of 4 readings
    split = clf._validation_split()
    train, valid = next(split.split(np.zeros(100), y, groups))
    assert not set(groups[train]) & set(groups[valid])
    assert 0.1 < len(valid) / 100 < 0.3
    with pytest.warns(UngroupedSplitWarning, match="NoduleCNNClassifier's early"):
        train, valid = next(split.split(np.zeros(100), y, None))  # stratified
    assert len(valid) == 20 and (y[valid] == 1).sum() == 10


def test_fit_with_groups_and_cross_val_score_with_groups():
    X, y = make_discs(60, size=16)
    groups = np.arange(60) // 3
    clf = NoduleCNNClassifier(**FAST, random_state=0).fit(X, y, groups=groups)
    assert len(clf.history) == 4 and "valid_loss" in clf.history[-1]
    scores = cross_val_score(
        NoduleCNNClassifier(**FAST, random_state=0), X, y, groups=groups,
        cv=GroupKFold(2), params={"groups": groups},
    )
    assert scores.shape == (2,)


def test_early_stopping_restores_the_best_weights():
    X, y = make_discs(60, size=16)
    # A huge learning rate makes the validation loss bounce: the last epoch is
    # rarely the best, and the restored module must be the best one.
    clf = NoduleCNNClassifier(
        module__width=4, max_epochs=12, lr=0.3, patience=3, lr_patience=None,
        augment=False, random_state=0,
    ).fit(X, y)
    losses = clf.history[:, "valid_loss"]
    codes = np.searchsorted(clf.classes_, y)
    with pytest.warns(UngroupedSplitWarning):
        train, valid = next(clf._validation_split().split(X, codes, None))
    with torch.no_grad():
        clf.module_.eval()
        logits = clf.module_(torch.from_numpy(X[valid][:, None]))
        loss = clf.criterion_(logits, torch.from_numpy(y[valid]).long()).item()
    assert loss == pytest.approx(min(losses), rel=1e-4)
    assert len(losses) < 12 or np.argmin(losses) == 11


def test_verbose_prints_epoch_table(capsys):
    X, y = make_discs(24, size=16)
    NoduleCNNClassifier(**{**FAST, "max_epochs": 2}).fit(X, y)
    assert capsys.readouterr().out == ""
    NoduleCNNClassifier(**{**FAST, "max_epochs": 2}, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "valid_loss" in out and "dur" in out


def test_partial_fit_continues_training():
    X, y = make_discs(40, size=16)
    clf = NoduleCNNClassifier(**{**FAST, "max_epochs": 2}, random_state=0)
    clf.partial_fit(X, y)
    first = clf.module_.head.weight.detach().clone()
    clf.partial_fit(X, y)
    assert len(clf.history) == 4
    assert not torch.equal(first, clf.module_.head.weight)
    with pytest.raises(ValueError, match="not seen in the first"):
        clf.partial_fit(X, y + 7)


def test_parameter_validation_at_fit():
    X, y = make_discs(20, size=16)
    with pytest.raises(ValueError, match="valid_size"):
        NoduleCNNClassifier(valid_size=1.5).fit(X, y)
    with pytest.raises(ValueError, match="class_weight"):
        NoduleCNNClassifier(class_weight="inverse").fit(X, y)
    with pytest.raises(TypeError, match="widht"):
        NoduleCNNClassifier(module__widht=3, max_epochs=1).fit(X, y)


# --------------------------------------------------------------------------- #
# FeatureNetClassifier
# --------------------------------------------------------------------------- #
def test_feature_net_learns_a_planted_rule_and_infers_width():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 7))
    y = np.where(X[:, 2] - X[:, 5] > 0, 5, 1)
    clf = FeatureNetClassifier(max_epochs=40, lr=1e-2, random_state=0)
    clf.fit(X[:200], y[:200])
    assert clf.n_features_in_ == 7
    assert clf.module_.layer1[0].in_features == 7
    assert clf.score(X[200:], y[200:]) > 0.9
    with pytest.raises(ValueError, match="X has 6 features"):
        clf.predict(X[:, :6])


def test_feature_net_in_a_pipeline_under_grid_search():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4)) * [1, 100, 1, 1]
    y = (X[:, 1] > 0).astype(int)
    pipe = make_pipeline(
        StandardScaler(),
        FeatureNetClassifier(max_epochs=15, lr=1e-2, patience=None, random_state=0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search = GridSearchCV(
            pipe,
            {"featurenetclassifier__lr": [1e-2, 3e-2],
             "featurenetclassifier__module__hidden": [8, 16]},
            cv=2,
        ).fit(X, y)
    assert search.best_score_ > 0.85
    best = search.best_estimator_[-1]
    assert best.module_.layer1[0].out_features == best.get_params()["module__hidden"]
    assert clone(best).get_params()["module__hidden"] in (8, 16)


def test_sqrt_class_weight_is_the_square_root_of_balanced():
    import numpy as np

    from skradnod.models import NoduleCNNClassifier

    rng = np.random.RandomState(0)
    X = rng.rand(70, 16, 16).astype(np.float32)
    y = np.repeat([1, 3, 5], [10, 40, 20])
    clf = NoduleCNNClassifier(module__width=4, max_epochs=1, random_state=0,
                              n_jobs=1, valid_size=None).fit(X, y)
    # frequencies 1/7, 4/7, 2/7 -> weights proportional to sqrt(7/1, 7/4, 7/2)
    expected = np.sqrt([1 / 10, 1 / 40, 1 / 20])
    np.testing.assert_allclose(clf.class_weight_, expected / expected.sum())
    balanced = clf.set_params(class_weight="balanced").fit(X, y).class_weight_
    np.testing.assert_allclose(balanced, [4 / 7, 1 / 7, 2 / 7])
