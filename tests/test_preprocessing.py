from pathlib import Path

import joblib
import nrrd
import numpy as np
import pytest
from sklearn.base import clone

from skradnod.io import NrrdLoader, write_nrrd
from skradnod.preprocessing import (
    CLAHE,
    BilateralFilter,
    CenterCrop,
    HUWindow,
    Resize,
    make_ct_preprocessor,
)
from skradnod.utils import LazyImageBatch

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def real_slice():
    """Slice 3 of the real CT fixture and its nodule mask (HU, 512 x 512)."""
    volume, _ = nrrd.read(str(DATA / "lung1_image.nrrd"), index_order="C")
    label, _ = nrrd.read(str(DATA / "lung1_label.nrrd"), index_order="C")
    return volume[3], label[3] > 0


def _ring(mask, width=6):
    """Pixels around ``mask`` (the nodule's lung background)."""
    import cv2

    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    dilated = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    return dilated & ~mask


def test_hu_window_maps_window_linearly():
    X = np.array([[[-1500, -1000, -300], [400, 2000, 50]]], dtype=np.int16)
    out = HUWindow().fit_transform(X)
    np.testing.assert_allclose(out[0], [[0, 0, 0.5], [1, 1, 1050 / 1400]], rtol=1e-6)
    assert out.dtype == np.float32
    out = HUWindow(min_hu=0, max_hu=100).fit_transform(X)
    np.testing.assert_allclose(out[0, 1], [1, 1, 0.5])


def test_chain_on_real_slice_keeps_nodule_visible(real_slice):
    image, nodule = real_slice
    assert image.min() <= -1000 and image.max() > 400  # real HU: bone above window
    pre = make_ct_preprocessor()
    out = pre.fit_transform(image[np.newaxis])[0]
    assert out.dtype == np.float32 and out.shape == (512, 512)
    assert out.min() >= 0 and out.max() <= 1
    ring = _ring(nodule)
    before = HUWindow().fit_transform(image[np.newaxis])[0]
    # the nodule is brighter than the lung around it before and after CLAHE +
    # bilateral, and the contrast is not washed out
    contrast_before = before[nodule].mean() - before[ring].mean()
    contrast_after = out[nodule].mean() - out[ring].mean()
    assert contrast_before > 0.15
    assert contrast_after > 0.8 * contrast_before
    # the bilateral filter lowers the noise inside the nodule
    chain_no_bilateral = make_ct_preprocessor(bilateral=False)
    noisy = chain_no_bilateral.fit_transform(image[np.newaxis])[0]
    assert out[nodule].std() < noisy[nodule].std()


def test_clahe_raises_local_contrast_and_checks_range():
    rng = np.random.RandomState(0)
    # a low-contrast image: values squeezed into [0.45, 0.55]
    X = 0.45 + 0.1 * rng.rand(1, 64, 64)
    out = CLAHE(clip_limit=4.0).fit_transform(X)
    assert out.std() > 2 * X.std()
    assert out.min() >= 0 and out.max() <= 1
    # ordering of pixel values within a tile is kept (monotone mapping)
    tile = slice(0, 8)
    corr = np.corrcoef(X[0, tile, tile].ravel(), out[0, tile, tile].ravel())[0, 1]
    assert corr > 0.9
    with pytest.raises(ValueError, match=r"value_range.*HUWindow first"):
        CLAHE().fit_transform(np.full((1, 16, 16), -500.0))
    hu = CLAHE(value_range=(-1000, 400)).fit_transform(np.full((1, 16, 16), -300.0))
    assert 0 <= hu.min() <= hu.max() <= 1


def test_bilateral_smooths_noise_but_keeps_edges():
    rng = np.random.RandomState(0)
    step = np.zeros((48, 48), np.float32)
    step[:, 24:] = 1.0
    noisy = step + rng.normal(0, 0.03, step.shape).astype(np.float32)
    out = BilateralFilter(d=7, sigma_color=0.2, sigma_space=5).fit_transform(
        noisy[np.newaxis]
    )[0]
    assert out[:, 2:20].std() < 0.5 * noisy[:, 2:20].std()
    # the edge stays a sharp step: the columns beside it keep their levels
    assert out[:, 22].mean() < 0.1 and out[:, 25].mean() > 0.9


def test_resize_and_center_crop_known_answers():
    crops = [np.arange(100, dtype=np.float32).reshape(10, 10), np.ones((45, 124))]
    out = Resize((5, 5)).fit_transform(crops)
    assert out.shape == (2, 5, 5)
    # area interpolation averages 2x2 blocks when shrinking by 2
    np.testing.assert_allclose(out[0, 0, 0], np.mean([0, 1, 10, 11]))
    np.testing.assert_allclose(out[1], 1.0, rtol=1e-6)
    up = Resize((20, 20)).fit_transform(np.ones((1, 7, 9)))
    np.testing.assert_allclose(up, 1.0, rtol=1e-6)
    image = np.arange(100, dtype=np.float32).reshape(10, 10)
    cropped = CenterCrop(0.6).fit_transform(image[np.newaxis])[0]
    np.testing.assert_array_equal(cropped, image[2:8, 2:8])
    varied = CenterCrop((0.5, 1.0)).fit_transform([np.zeros((10, 8)), np.zeros((4, 6))])
    assert varied.dtype == object and [v.shape for v in varied] == [(5, 8), (2, 6)]


def test_variable_size_batch_stays_object_until_resize():
    crops = [np.full((45, 44), -700.0), np.full((108, 124), 20.0)]
    out = HUWindow().fit_transform(crops)
    assert out.dtype == object and out[1].shape == (108, 124)
    assert make_ct_preprocessor(size=64).fit_transform(crops).shape == (2, 64, 64)


def test_paths_lazy_and_in_memory_agree(tmp_path, real_slice):
    image, _ = real_slice
    paths = []
    for i, shift in enumerate((0, 40, 80)):
        write_nrrd(tmp_path / f"{i}.nrrd", np.roll(image, shift, axis=1))
        paths.append(str(tmp_path / f"{i}.nrrd"))
    pre = make_ct_preprocessor(size=128)
    in_memory = pre.fit_transform(NrrdLoader().fit_transform(paths))
    from_paths = pre.fit_transform(paths)
    lazy = pre.fit_transform(NrrdLoader(lazy=True).fit_transform(paths))
    assert isinstance(lazy, LazyImageBatch) and len(lazy.steps) == 4
    np.testing.assert_allclose(from_paths, in_memory)
    np.testing.assert_allclose(lazy.materialize(), in_memory)
    # the lazy chain pickles (data-loader workers receive it)
    restored = joblib.load(_dump(tmp_path, lazy))
    np.testing.assert_allclose(restored[1], in_memory[1])


def _dump(tmp_path, obj):
    path = tmp_path / "obj.joblib"
    joblib.dump(obj, path)
    return path


def test_n_jobs_gives_identical_results(real_slice):
    image, _ = real_slice
    X = np.stack([np.roll(image, s, axis=0) for s in range(0, 40, 10)])
    serial = make_ct_preprocessor(size=96).fit_transform(X)
    threaded = make_ct_preprocessor(size=96, n_jobs=2).fit_transform(X)
    np.testing.assert_array_equal(serial, threaded)


@pytest.mark.parametrize(
    "estimator, match",
    [
        (HUWindow(min_hu=400, max_hu=-1000), "min_hu < max_hu"),
        (Resize((64,)), "pair of positive integers"),
        (Resize((0, 64)), "pair of positive integers"),
        (CLAHE(tile_grid_size=(8, 0)), "tile_grid_size"),
        (CenterCrop(1.5), "fraction"),
        (BilateralFilter(d=0), "'d' parameter"),
    ],
)
def test_bad_parameters_raise_clear_errors(estimator, match):
    with pytest.raises(ValueError, match=match):
        clone(estimator).fit(np.zeros((1, 8, 8)))


def test_bad_images_raise_clear_errors():
    X = np.zeros((3, 8, 8), np.float32)
    X[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*\[2\]"):
        HUWindow().fit_transform(X)
    with pytest.raises(ValueError, match="empty"):
        HUWindow().fit_transform(np.zeros((0, 8, 8)))
    with pytest.raises(ValueError, match="sample 1.*not a 2D image"):
        Resize().fit_transform([np.zeros((8, 8)), np.zeros((2, 8, 8))])
    with pytest.raises(ValueError, match="sample 0.*infinite"):
        Resize().fit_transform([np.full((8, 8), np.inf)])


def test_set_output_pandas_on_pipelines_with_image_steps():
    # It raised "Unable to configure output for Resize".
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    rng = np.random.RandomState(0)
    X = rng.randint(-1000, 400, size=(6, 20, 20)).astype(np.int16)
    flatten = FunctionTransformer(
        lambda batch: batch.reshape(len(batch), -1),
        feature_names_out=lambda self, names: [f"pixel{i}" for i in range(64)],
    )
    pipe = make_pipeline(
        NrrdLoader(), make_ct_preprocessor(size=8), flatten, StandardScaler()
    ).set_output(transform="pandas")
    out = pipe.fit_transform(X)
    assert isinstance(out, pd.DataFrame) and out.shape == (6, 64)
    # the image steps themselves keep returning image batches
    images = pipe[:2].transform(X)
    assert isinstance(images, np.ndarray) and images.shape == (6, 8, 8)
    np.testing.assert_array_equal(images, make_ct_preprocessor(size=8).fit_transform(X))


def test_resize_creates_no_values_outside_the_input_range():
    # Found by the property tests: area averaging of a constant 1.0 image in
    # float32 gave 1.0000001, outside the [0, 1] the nets are promised.
    from skradnod.preprocessing import Resize

    ones = np.ones((1, 13, 11), dtype=np.float32)
    for interpolation in ("auto", "cubic", "linear", "area"):
        out = Resize((7, 5), interpolation=interpolation).fit_transform(ones)
        assert out.max() <= 1.0 and out.min() >= 1.0
    step = np.zeros((1, 8, 8), dtype=np.float32)
    step[:, :, 4:] = 1.0
    out = Resize((20, 20), interpolation="cubic").fit_transform(step)
    assert out.min() >= 0.0 and out.max() <= 1.0
