"""NoduleLocator and LocatedNoduleClassifier on slices with planted nodules."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skradnod.model_selection import UngroupedSplitWarning
from skradnod.models import (
    LocatedNoduleClassifier,
    NoduleCNNClassifier,
    NoduleLocator,
    crop_around,
)
from skradnod.nn import decode_heatmap, gaussian_heatmap, heatmap_shape
from skradnod.preprocessing import make_ct_preprocessor

SIZE = 48


def _planted(n=64, seed=0):
    """Slices in HU with one bright nodule each, at centres the test chose.

    The nodule's radius is the class: 2 px (label 1) or 4 px (label 2), so a
    classifier that reads a crop around the right place can tell them apart.
    """
    rng = np.random.RandomState(seed)
    rows, cols = rng.randint(8, SIZE - 8, (2, n))
    labels = np.arange(n) % 2 + 1
    rr, cc = np.mgrid[:SIZE, :SIZE]
    full, nodule = [], []
    for r, c, label in zip(rows, cols, labels):
        image = rng.normal(-850, 15, (SIZE, SIZE)).astype(np.float32)
        radius = 2 * label
        image[(rr - r) ** 2 + (cc - c) ** 2 <= radius**2] = 40.0
        full.append(image)
        nodule.append(image[r - 7 : r + 8, c - 7 : c + 8].copy())
    frame = pd.DataFrame({"full": full, "nodule": nodule})
    # Pixel (r, c) has its centre at (c + 0.5, r + 0.5).
    centres = np.column_stack([(cols + 0.5) / SIZE, (rows + 0.5) / SIZE])
    groups = np.arange(n) // 2
    return frame, labels, centres, groups


def _locator(**params):
    return NoduleLocator(
        module__width=8, max_epochs=30, lr=1e-2, valid_size=None, augment=False,
        random_state=0, n_jobs=1, **params,
    )


def test_gaussian_and_decode_are_inverse():
    centres = torch.tensor([[0.3, 0.7], [0.05, 0.95], [0.5, 0.5]])
    target = gaussian_heatmap(centres, (16, 20), sigma=0.8)
    assert torch.allclose(target.sum(dim=1), torch.ones(3))
    decoded = decode_heatmap(np.log(target.numpy() + 1e-12), (16, 20))
    # Within a quarter cell (a Gaussian cut by the border shifts a little).
    np.testing.assert_allclose(decoded, centres.numpy(), atol=0.25 / 16)


def test_heatmap_shape_matches_the_net():
    from skradnod.nn import HeatmapNet

    net = HeatmapNet(width=4)
    for h, w in [(32, 32), (33, 50), (128, 128)]:
        out = net(torch.zeros(1, 1, h, w))
        assert out.shape[1] == np.prod(heatmap_shape(h, w))


def test_locator_finds_planted_nodules_on_new_slices():
    frame, _, centres, _ = _planted(96)
    X = _window().fit_transform(list(frame["full"]))
    loc = _locator().fit(X[:64], centres[:64])
    error_px = np.linalg.norm(loc.predict(X[64:]) - centres[64:], axis=1) * SIZE
    assert np.median(error_px) < 2.0, error_px
    heat = loc.predict_heatmap(X[64:66])
    assert heat.shape == (2, *loc.grid_)
    np.testing.assert_allclose(heat.sum(axis=(1, 2)), 1, rtol=1e-5)
    assert loc.score(X[64:], centres[64:]) > 0.9
    with pytest.raises(AttributeError, match="predicts centres"):
        loc.predict_proba(X[:2])


def test_locator_rejects_bad_centres():
    X = np.zeros((4, 16, 16), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape \(4, 2\)"):
        _locator().fit(X, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="sample 2 has"):
        _locator().fit(X, np.array([[0.5, 0.5]] * 2 + [[1.5, 0.5]] + [[0, 0]]))


def test_crop_around_keeps_the_box_inside():
    image = np.arange(100.0).reshape(10, 10)
    crops = crop_around([image] * 3, np.array([[0, 0], [1, 1], [0.55, 0.35]]), 4)
    np.testing.assert_array_equal(crops[0], image[:4, :4])
    np.testing.assert_array_equal(crops[1], image[6:, 6:])
    # x = 5.5 px, y = 3.5 px: pixel (3, 5) is the crop's pixel (2, 2).
    assert crops[2][2, 2] == image[3, 5]
    with pytest.raises(ValueError, match="Sample 0.*smaller than the crop size 12"):
        crop_around([image], np.array([[0.5, 0.5]]), 12)


def _window():
    return make_ct_preprocessor(clahe=False, bilateral=False)


def _located(**params):
    return LocatedNoduleClassifier(
        locator=make_pipeline(_window(), _locator()),
        classifier=make_pipeline(
            _window(),
            NoduleCNNClassifier(
                module__width=8, max_epochs=30, lr=1e-2, valid_size=None,
                augment=False, random_state=0, n_jobs=1,
            ),
        ),
        crop_size=16,
        **params,
    )


def test_located_crop_contains_the_planted_nodule_and_classifies_it():
    frame, labels, centres, _ = _planted(96)
    train, test = frame.iloc[:64], frame.iloc[64:]
    clf = _located().fit(train, labels[:64])
    crops = clf.crop(test[["full"]])
    assert crops.shape == (32, 16, 16)
    # The crop's central 4x4 pixels hold the nodule (40 HU).
    assert (crops[:, 6:10, 6:10].max(axis=(1, 2)) == 40.0).mean() >= 0.9
    np.testing.assert_allclose(clf.predict_center(test), centres[64:], atol=3 / SIZE)
    assert np.median(clf.center_error(test)) < 2.0
    assert (clf.predict(test[["full"]]) == labels[64:]).mean() >= 0.8
    assert clf.classes_.tolist() == [1, 2]
    assert clf.match_score_.shape == (64,)


def test_located_routes_groups_to_both_nets():
    frame, labels, _, groups = _planted(24)
    net_params = {"module__width": 4, "max_epochs": 1, "random_state": 0, "n_jobs": 1}
    clf = LocatedNoduleClassifier(
        locator=NoduleLocator(**net_params),
        classifier=NoduleCNNClassifier(**net_params),
        crop_size=16,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UngroupedSplitWarning)
        clf.fit(frame, labels, groups=groups)
    with pytest.warns(UngroupedSplitWarning):
        clone(clf).fit(frame, labels)


def test_located_needs_both_columns():
    frame, labels, _, _ = _planted(8)
    with pytest.raises(ValueError, match="columns 'full' and 'nodule'"):
        _located().fit(frame[["full"]], labels)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['slice'\]"):
        _located(full="slice").fit(frame, labels)
    with pytest.raises(ValueError, match="full-slice column 'full'"):
        _located().fit(frame, labels).predict(frame[["nodule"]])


def test_located_model_saves_and_loads_without_pickle(tmp_path):
    from skradnod.persistence import load_model, save_model

    frame, labels, _, _ = _planted(24)
    clf = _located().set_params(
        locator__nodulelocator__max_epochs=2,
        classifier__nodulecnnclassifier__max_epochs=2,
    ).fit(frame, labels)
    save_model(clf, tmp_path / "located.skradnod")
    loaded = load_model(tmp_path / "located.skradnod")
    np.testing.assert_array_equal(
        loaded.predict_proba(frame[["full"]]), clf.predict_proba(frame[["full"]])
    )
    np.testing.assert_array_equal(
        loaded.predict_center(frame[["full"]]), clf.predict_center(frame[["full"]])
    )
