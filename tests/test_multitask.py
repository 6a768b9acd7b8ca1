"""The multi-task full-slice model: centre regression, loss weights, augmentation."""

import numpy as np
import pandas as pd
import pytest
import torch

from skradnod.models import CenterRegressionClassifier
from skradnod.models._data import augment_with_centres
from skradnod.nn import MultiTaskNet


def _toy(n, size=32, seed=0):
    """Noisy slices with one bright disc; class 2 when the disc is on the right.

    Returns the paired frame (crops cut around the disc), labels and the true
    centres in TemplateMatcher's convention.
    """
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    fulls, crops, centres, labels = [], [], [], []
    for _ in range(n):
        r, c = rng.randint(6, size - 6, 2)
        image = rng.rand(size, size).astype(np.float32) * 0.3
        image[(rr - r) ** 2 + (cc - c) ** 2 <= 16] += 0.7
        fulls.append(image)
        crops.append(image[r - 6 : r + 7, c - 6 : c + 7].copy())
        centres.append([(c + 0.5) / size, (r + 0.5) / size])
        labels.append(1 + (c >= size // 2))
    frame = pd.DataFrame({"full": fulls, "nodule": crops})
    return frame, np.array(labels), np.array(centres)


@pytest.fixture(scope="module")
def fitted():
    X, y, centres = _toy(64)
    clf = CenterRegressionClassifier(
        backbone="nodule_cnn", module__width=8, max_epochs=12, lr=1e-2,
        valid_size=None, patience=None, lr_patience=None, augment=False,
        random_state=0,
    ).fit(X, y)
    return clf, centres


def test_centres_beat_the_mean_baseline(fitted):
    clf, train_centres = fitted
    X_test, y_test, test_centres = _toy(32, seed=1)
    predicted = clf.predict_center(X_test[["full"]])
    assert predicted.shape == (32, 2)
    assert ((predicted >= 0) & (predicted <= 1)).all()
    mse = ((predicted - test_centres) ** 2).mean()
    baseline = ((train_centres.mean(axis=0) - test_centres) ** 2).mean()
    assert mse < 0.6 * baseline
    assert set(clf.predict(X_test)) <= {1, 2}


def test_template_matching_gave_the_training_targets(fitted):
    clf, _ = fitted
    # Every planted crop was found exactly (score 1), so the targets are the
    # true centres.
    np.testing.assert_allclose(clf.match_score_, 1.0, atol=1e-4)


def test_loss_weights_are_dynamic_and_recorded(fitted):
    clf, _ = fitted
    w_cls = np.array(clf.history_[:, "train_cls_loss_weight"])
    w_reg = np.array(clf.history_[:, "train_reg_loss_weight"])
    assert (w_cls[0], w_reg[0]) == (0.5, 0.5)
    np.testing.assert_allclose(w_cls + w_reg, 1)
    # MSE on [0, 1] centres is far smaller than the cross-entropy: the centre
    # head gets the larger weight from epoch 2 on.
    assert (w_reg[1:] > 0.8).all()
    np.testing.assert_allclose(clf.loss_weights_.sum(), 1)


def test_predict_needs_only_the_full_slices(fitted):
    clf, _ = fitted
    X, _, _ = _toy(6, seed=2)
    as_frame = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X[["full"]]), as_frame)
    np.testing.assert_allclose(clf.predict_proba(np.stack(X["full"])), as_frame)
    np.testing.assert_allclose(
        clf.predict_center(np.stack(X["full"])), clf.predict_center(X)
    )


def test_fit_needs_the_crops():
    X, y, _ = _toy(4)
    clf = CenterRegressionClassifier(backbone="nodule_cnn", max_epochs=1)
    with pytest.raises(ValueError, match="'full' and 'nodule'"):
        clf.fit(X[["full"]], y)
    with pytest.raises(ValueError, match="'full' and 'nodule'"):
        clf.fit(np.stack(X["full"]), y)


def test_augmentation_moves_centres_with_the_images():
    size = 33
    rng = np.random.RandomState(0)
    images, centres = [], []
    for _ in range(16):
        r, c = rng.randint(8, size - 8, 2)
        image = np.zeros((size, size), dtype=np.float32)
        image[r - 1 : r + 2, c - 1 : c + 2] = 1.0  # a 3x3 dot centred on (r, c)
        images.append(image)
        centres.append([(c + 0.5) / size, (r + 0.5) / size])
    x = torch.from_numpy(np.stack(images))[:, None]
    generator = torch.Generator().manual_seed(0)
    x_aug, c_aug = augment_with_centres(
        x, torch.tensor(centres), rotation=30.0, generator=generator
    )
    for image, centre in zip(x_aug[:, 0].numpy(), c_aug.numpy()):
        rows, cols = np.mgrid[:size, :size]
        mass = image.sum()
        found = np.array([(cols * image).sum(), (rows * image).sum()]) / mass
        expected = centre * size - 0.5
        np.testing.assert_allclose(found, expected, atol=0.6)


def test_multitask_net_heads():
    net = MultiTaskNet("nodule_cnn", n_classes=3, width=4).eval()
    logits, centres = net(torch.rand(5, 32, 32))
    assert logits.shape == (5, 3) and centres.shape == (5, 2)
    assert ((centres > 0) & (centres < 1)).all()
    with pytest.raises(ValueError, match="num_features"):
        MultiTaskNet(torch.nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match="Unknown backbone"):
        MultiTaskNet("vgg16")
