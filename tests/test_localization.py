"""TemplateMatcher finds planted crops: synthetic, real CT, cohort pairs."""

import os
import warnings
from pathlib import Path

import nrrd
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from skradnod.io import write_nrrd
from skradnod.localization import TemplateMatcher

DATA = Path(__file__).parent / "data"


def _true_centre(row0, col0, crop_shape, image_shape):
    """(x, y) of a crop at (row0, col0) in the documented [0, 1] convention."""
    h, w = crop_shape
    height, width = image_shape
    return np.array(
        [(col0 + (w - 1) / 2 + 0.5) / width, (row0 + (h - 1) / 2 + 0.5) / height]
    )


def _planted(n=6, size=96, seed=0):
    """Textured slices with crops of varied size cut at known positions."""
    rng = np.random.RandomState(seed)
    fulls, crops, centres = [], [], []
    for _ in range(n):
        image = rng.normal(-700, 150, (size, size + 16)).astype(np.float32)
        h, w = rng.randint(6, 24, size=2)
        row0 = rng.randint(0, size - h)
        col0 = rng.randint(0, size + 16 - w)
        fulls.append(image)
        crops.append(image[row0 : row0 + h, col0 : col0 + w].copy())
        centres.append(_true_centre(row0, col0, (h, w), image.shape))
    frame = pd.DataFrame(
        {"full": fulls, "nodule": crops}, index=[f"case{i}" for i in range(n)]
    )
    return frame, np.array(centres)


def _pixel_error(pred, true, shape):
    height, width = shape
    return np.abs((pred - true) * np.array([width, height]))


def test_finds_planted_crops_exactly():
    frame, centres = _planted()
    matcher = TemplateMatcher()
    found = matcher.fit_transform(frame)
    assert found.shape == (len(frame), 2)
    assert _pixel_error(found, centres, (96, 112)).max() <= 1e-9
    np.testing.assert_allclose(matcher.match_score_, 1.0, atol=1e-4)


def test_finds_noisy_crops_within_one_pixel():
    frame, centres = _planted(seed=1)
    rng = np.random.RandomState(2)
    # A crop re-windowed and re-noised (as after preprocessing) is still found.
    frame["nodule"] = [
        0.5 * crop + 100 + rng.normal(0, 20, crop.shape) for crop in frame["nodule"]
    ]
    found = TemplateMatcher(threshold=0.5).fit_transform(frame)
    assert _pixel_error(found, centres, (96, 112)).max() <= 1


def test_real_ct_nodule_found_within_one_pixel():
    volume, _ = nrrd.read(os.fspath(DATA / "lung1_image.nrrd"), index_order="C")
    mask, _ = nrrd.read(os.fspath(DATA / "lung1_label.nrrd"), index_order="C")
    image, nodule = volume[3].astype(np.float32), mask[3] > 0
    rows, cols = np.nonzero(nodule)
    # The crop around the nodule, with a margin as in the data set's crops.
    row0, col0 = rows.min() - 8, cols.min() - 8
    crop = image[row0 : rows.max() + 9, col0 : cols.max() + 9]
    frame = pd.DataFrame({"full": [image], "nodule": [crop]}, index=["lung1"])
    found = TemplateMatcher().fit_transform(frame)[0]
    true = _true_centre(row0, col0, crop.shape, image.shape)
    assert _pixel_error(found, true, image.shape).max() <= 1
    # And the centre lies on the nodule near the fixture's centroid (358, 218).
    x, y = found * 512 - 0.5
    assert abs(y - 358) < 10 and abs(x - 218) < 10


def test_paths_are_read(tmp_path):
    frame, centres = _planted(n=3)
    paths = {"full": [], "nodule": []}
    for i, (full, crop) in enumerate(zip(frame["full"], frame["nodule"])):
        for column, image in (("full", full), ("nodule", crop)):
            path = tmp_path / f"{column}{i}.nrrd"
            write_nrrd(path, image)
            paths[column].append(os.fspath(path))
    on_disk = pd.DataFrame(paths, index=frame.index)
    np.testing.assert_allclose(
        TemplateMatcher().fit_transform(on_disk), centres, atol=1e-9
    )


def test_missing_crop_warns_naming_the_row():
    frame, _ = _planted(n=3)
    rng = np.random.RandomState(5)
    frame.loc["case1", "nodule"] = rng.normal(size=(10, 10)).astype(np.float32)
    matcher = TemplateMatcher(threshold=0.8)
    with pytest.warns(UserWarning, match="'case1'") as record:
        matcher.fit_transform(frame)
    assert len([w for w in record if "not found" in str(w.message)]) == 1
    assert matcher.match_score_[1] < 0.8 <= matcher.match_score_[[0, 2]].min()


def test_no_warning_when_all_found():
    frame, _ = _planted(n=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TemplateMatcher().fit_transform(frame)


def test_bad_input_is_named():
    frame, _ = _planted(n=2)
    with pytest.raises(ValueError, match="lacks column"):
        TemplateMatcher().fit(frame[["full"]])
    with pytest.raises(ValueError, match="DataFrame"):
        TemplateMatcher().fit(np.zeros((2, 8, 8)))
    frame.loc["case0", "nodule"] = np.zeros((200, 20), dtype=np.float32)
    with pytest.raises(ValueError, match="'case0'.*larger"):
        TemplateMatcher().fit_transform(frame)
    frame.loc["case0", "nodule"] = np.zeros(5, dtype=np.float32)
    with pytest.raises(ValueError, match="'case0'.*'nodule'"):
        TemplateMatcher().fit_transform(frame)


def test_in_a_pipeline_and_feature_names():
    frame, centres = _planted(n=2)
    pipe = make_pipeline(TemplateMatcher())
    np.testing.assert_allclose(pipe.fit_transform(frame), centres, atol=1e-9)
    assert list(pipe[-1].get_feature_names_out()) == ["center_x", "center_y"]


def test_cohort_pairs_match_manifest_centres(tmp_path):
    datasets = pytest.importorskip("skradnod.datasets")
    data = datasets.make_lidc_cohort(tmp_path / "cohort", n_samples=12)
    if not {"cx", "cy"} <= set(data.frame.columns):
        pytest.fail("the cohort manifest carries no nodule centre (cx, cy)")
    found = TemplateMatcher().fit_transform(data.frame)
    true = data.frame[["cx", "cy"]].to_numpy(dtype=float)
    shape = np.asarray(data.frame["full"].iloc[0]).shape
    assert _pixel_error(found, true, shape).max() <= 1
