"""skradnod.save_model / load_model: faithful round trips, no code run on load."""

import builtins
import io
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io
import torch
from _synthetic import make_bright_centres
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC

from skradnod import load_model, save_model  # the lazy top-level names
from skradnod.compose import FusionClassifier
from skradnod.models import (
    AutoencoderEmbedding,
    CenterRegressionClassifier,
    FeatureNetClassifier,
    NoduleCNNClassifier,
    TransferClassifier,
)

TINY = {"max_epochs": 1, "batch_size": 4, "valid_size": None, "patience": None,
        "lr_patience": None, "random_state": 0}


def _images(n=8):
    return make_bright_centres(n, size=16)


def _table(n=12, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    y = np.repeat([1, 5], n // 2)
    X[y == 5, 0] += 2
    return X, y


def _fusion():
    rng = np.random.RandomState(0)
    X, y = make_bright_centres(8, size=32)
    frame = pd.DataFrame({"nodule": list(X), "f1": rng.normal(size=8),
                          "f2": rng.normal(size=8)})
    clf = FusionClassifier(
        [("image", "passthrough", "nodule"),
         ("features", make_imb_pipeline(StandardScaler()), ["f1", "f2"])],
        module__image_width=4, module__image_out=8, module__feature_hidden=4,
        module__hidden=8, **TINY,
    )
    return clf, frame, y


def _full_slices(n=8, size=48, seed=0):
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    fulls, crops, labels = [], [], []
    for _ in range(n):
        r, c = rng.randint(6, size - 6, 2)
        image = rng.rand(size, size).astype(np.float32) * 0.3
        image[(rr - r) ** 2 + (cc - c) ** 2 <= 16] += 0.7
        fulls.append(image)
        crops.append(image[r - 6 : r + 7, c - 6 : c + 7].copy())
        labels.append(1 + (c >= size // 2))
    labels[0], labels[1] = 1, 2
    return pd.DataFrame({"full": fulls, "nodule": crops}), np.array(labels)


def _cases():
    X, y = _images()
    T, t = _table()
    yield "features_rf", make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)
    ), T, t
    yield "features_svc", make_imb_pipeline(
        StandardScaler(), SVC(probability=True, random_state=0)
    ), T, t
    yield "features_lr", make_pipeline(StandardScaler(), LogisticRegression()), T, t
    yield "nodule_cnn", make_pipeline(
        FunctionTransformer(), NoduleCNNClassifier(module__width=4, **TINY)
    ), X, y
    yield "feature_net", FeatureNetClassifier(**TINY), T.astype(np.float32), t
    yield "autoencoder", make_pipeline(
        AutoencoderEmbedding(latent_dim=4, channels=(4, 8), max_epochs=1,
                             batch_size=4, valid_size=None, patience=None,
                             lr_patience=None, augment=False, random_state=0),
        LogisticRegression(),
    ), X, y
    yield "transfer", TransferClassifier(
        backbone="resnet50", augment=False, **TINY
    ), X[:4], np.array([1, 5, 1, 5])
    full, labels = _full_slices()
    yield "center_regression", CenterRegressionClassifier(
        backbone="nodule_cnn", module__width=4, augment=False, **TINY
    ), full, labels
    yield ("fusion", *_fusion())


CASES = list(_cases())


def _predict_input(name, X):
    return X[["full"]] if name == "center_regression" else X


@pytest.mark.parametrize("name, model, X, y", CASES, ids=[c[0] for c in CASES])
def test_round_trip_predicts_identically(name, model, X, y, tmp_path):
    model.fit(X, y)
    path = save_model(model, tmp_path / "model.skradnod")
    loaded = load_model(path)
    assert type(loaded) is type(model)
    Xp = _predict_input(name, X)
    np.testing.assert_array_equal(loaded.predict_proba(Xp), model.predict_proba(Xp))
    np.testing.assert_array_equal(loaded.predict(Xp), model.predict(Xp))


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    X, y = _images()
    model = NoduleCNNClassifier(module__width=4, **TINY).fit(X, y)
    path = tmp_path_factory.mktemp("cnn") / "cnn.skradnod"
    save_model(model, path)
    return path, model, X


def test_net_round_trip_keeps_fitted_attributes(cnn_file):
    path, model, _ = cnn_file
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert loaded.input_shape_ == model.input_shape_
    assert loaded.input_range_ == model.input_range_
    assert len(loaded.history_) == len(model.history_) == 1
    assert loaded.history_[-1, "train_loss"] == model.history_[-1, "train_loss"]


def test_loading_leaves_the_global_rng_alone(cnn_file):
    # Rebuilding a net initialises its weights from the global RNGs.
    torch.manual_seed(123)
    np.random.seed(7)  # noqa: NPY002
    before_torch = torch.random.get_rng_state()
    before_np = np.random.get_state()[1].copy()  # noqa: NPY002
    load_model(cnn_file[0])
    assert torch.equal(torch.random.get_rng_state(), before_torch)
    np.testing.assert_array_equal(np.random.get_state()[1], before_np)  # noqa: NPY002


def test_loading_reads_only_the_given_file(cnn_file, monkeypatch):
    path = os.fspath(cnn_file[0])
    opened = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)):
            opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle"))
    load_model(path)
    assert [f for f in opened if not f.endswith(".py")] == [path]


class Boom:
    """A planted type: building it would run code."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def _planted_file(tmp_path, tree_bytes):
    """A real model file whose estimator member is replaced."""
    good = save_model(LogisticRegression().fit(*_table()), tmp_path / "good.skradnod")
    bad = tmp_path / "bad.skradnod"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for member in src.namelist():
            data = tree_bytes if member == "estimator.skops" else src.read(member)
            dst.writestr(member, data)
    return bad


def test_planted_type_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planted = make_pipeline(StandardScaler(), FunctionTransformer(os.system))
    bad = _planted_file(tmp_path, skops.io.dumps(planted))
    with pytest.raises(TypeError, match=r"posix\.system|os\.system") as error:
        load_model(bad)
    assert "bad.skradnod" in str(error.value)


def test_planted_object_is_refused_and_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = _planted_file(tmp_path, skops.io.dumps({"x": Boom.__new__(Boom)}))
    with pytest.raises(TypeError, match="Boom"):
        load_model(bad)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("kind", ["pickle", "joblib", "empty", "zip"])
def test_non_skradnod_file_is_refused(kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"model.{kind}"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(Boom()))
    elif kind == "joblib":
        import joblib

        joblib.dump(LogisticRegression(), path)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("other.txt", "hi")
    with pytest.raises(ValueError, match="not a skradnod model file") as error:
        load_model(path)
    assert str(path) in str(error.value)
    assert not (tmp_path / "pwned").exists()


def test_mismatched_weights_are_refused(cnn_file, tmp_path):
    import safetensors.torch

    path = cnn_file[0]
    bad = tmp_path / "bad.skradnod"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for member in src.namelist():
            data = src.read(member)
            if member == "weights.safetensors":
                weights = safetensors.torch.load(data)
                # A convolution's weight: BatchNorm fills a missing
                # num_batches_tracked in itself, so not just any key will do.
                weights.pop(next(k for k in sorted(weights)
                                 if k.endswith(".weight") and "conv" in k))
                data = safetensors.torch.save(weights)
            dst.writestr(member, data)
    with pytest.raises(ValueError, match="do not match"):
        load_model(bad)
