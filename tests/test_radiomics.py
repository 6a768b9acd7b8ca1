"""RadiomicsExtractor: values against direct pyradiomics calls, masks, failures,
parallel and cached execution."""

import pickle
import warnings
from pathlib import Path

import nrrd
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from joblib import Memory, parallel_config
from radiomics.featureextractor import RadiomicsFeatureExtractor

from skradnod.io import write_nrrd
from skradnod.radiomics import RadiomicsExtractor
from skradnod.utils import LazyImageBatch

DATA = Path(__file__).parent / "data"
FAST = {"image_types": ("Original",), "feature_classes": ["firstorder"]}
AREA = "original_shape2D_PixelSurface"


def _sitk(array, spacing=(1.0, 1.0)):
    image = sitk.GetImageFromArray(array[np.newaxis])
    image.SetSpacing((spacing[1], spacing[0], 1.0))
    return image


def _direct(image, mask, spacing, image_types, feature_classes, **settings):
    """Features from a plain pyradiomics call, diagnostics excluded."""
    extractor = RadiomicsFeatureExtractor(force2D=True, **settings)
    extractor.disableAllImageTypes()
    for name in image_types:
        extractor.enableImageTypeByName(name)
    extractor.disableAllFeatures()
    for name in feature_classes:
        extractor.enableFeatureClassByName(name)
    result = extractor.execute(
        _sitk(image, spacing), _sitk(mask.astype(np.uint8), spacing)
    )
    return {k: float(v) for k, v in result.items() if not k.startswith("diagnostics")}


def _crops(n=4, size=40, seed=0):
    """HU-like crops: a bright disc of varying radius on lung background."""
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    out = []
    for i in range(n):
        radius = 5 + 2 * i
        disc = (rr - size / 2) ** 2 + (cc - size / 2) ** 2 < radius**2
        out.append(np.where(disc, 30.0, -800.0) + rng.normal(0, 25, (size, size)))
    return np.stack(out)


@pytest.fixture(scope="module")
def ct_slice():
    image, header = nrrd.read(str(DATA / "lung1_image.nrrd"), index_order="C")
    label, _ = nrrd.read(str(DATA / "lung1_label.nrrd"), index_order="C")
    directions = np.asarray(header["space directions"], dtype=float)
    # NRRD axis order is x (col), y (row): spacing is (row_mm, col_mm).
    spacing = (
        float(np.linalg.norm(directions[1])),
        float(np.linalg.norm(directions[0])),
    )
    return image[3], label[3].astype(bool), spacing


def test_real_ct_slice_matches_direct_pyradiomics(ct_slice):
    image, mask, spacing = ct_slice
    classes = ["firstorder", "glcm", "shape2D"]
    ext = RadiomicsExtractor(
        mask=[mask], image_types=("Original",), feature_classes=classes,
        spacing=spacing,
    )
    features = ext.fit_transform(image[np.newaxis])
    expected = _direct(image.astype(np.float64), mask, spacing, ["Original"], classes)
    names = list(ext.get_feature_names_out())
    assert names == list(expected)
    np.testing.assert_allclose(features[0], [expected[k] for k in names], rtol=1e-12)
    # The real nodule: 347 voxels of 0.57 mm pixels on this slice.
    assert features[0, names.index(AREA)] == pytest.approx(347 * 0.5703125**2)


def test_synthetic_crop_with_wavelets_matches_direct_pyradiomics():
    crops = _crops(2, size=30)
    ext = RadiomicsExtractor(settings={"binWidth": 50})
    features = ext.fit_transform(crops)
    mask = np.zeros((30, 30), dtype=bool)
    mask[4:25, 4:25] = True  # central 70 % of 30 pixels: 21, starting at 4
    for i, crop in enumerate(crops):
        expected = _direct(
            crop, mask, (1.0, 1.0), ["Original", "Wavelet"],
            ["firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape2D"],
            binWidth=50,
        )
        assert list(ext.get_feature_names_out()) == list(expected)
        np.testing.assert_allclose(features[i], list(expected.values()), rtol=1e-12)
    # Original + 4 in-plane wavelet bands, every class but 3D shape.
    assert 450 < features.shape[1] < 500


def test_paths_use_header_spacing(tmp_path):
    crops = _crops(2, size=20)
    paths = []
    for i, crop in enumerate(crops):
        paths.append(tmp_path / f"crop{i}.nrrd")
        write_nrrd(paths[-1], crop.astype(np.int16), spacing=(0.7, 0.6))
    params = {"image_types": ("Original",), "feature_classes": ["shape2D"]}
    ext = RadiomicsExtractor(**params)
    from_paths = ext.fit_transform(paths)
    area = list(ext.get_feature_names_out()).index(AREA)
    # Centre box of 20 pixels at 0.7: 14 x 14 pixels.
    np.testing.assert_allclose(from_paths[:, area], 196 * 0.7 * 0.6)
    from_arrays = RadiomicsExtractor(**params).fit_transform(crops)
    np.testing.assert_allclose(from_arrays[:, area], 196.0)
    with pytest.warns(UserWarning, match=r"overrides the pixel spacing of 2 NRRD"):
        explicit = RadiomicsExtractor(spacing=(2.0, 0.5), **params).fit_transform(
            paths
        )
    np.testing.assert_allclose(explicit[:, area], 196.0)
    lazy = RadiomicsExtractor(**params).fit_transform(LazyImageBatch(paths))
    np.testing.assert_allclose(lazy, from_paths)


def test_one_spacing_rule_path_and_array_agree(tmp_path):
    # The same image as a path and as an array gives the same
    # features under the rule (spacing= set to the file's), and the documented
    # difference (arrays at (1, 1) mm) is exactly the spacing-dependent features.
    crop = _crops(1, size=24)[0].astype(np.int16)
    path = tmp_path / "crop.nrrd"
    write_nrrd(path, crop, spacing=(0.7, 0.6))
    params = {
        "image_types": ("Original",),
        "feature_classes": ["firstorder", "shape2D"],
    }
    ext = RadiomicsExtractor(**params)
    from_path = ext.fit_transform([path])
    names = list(ext.get_feature_names_out())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the matching spacing warns about nothing
        same = RadiomicsExtractor(spacing=(0.7, 0.6), **params).fit_transform(
            crop[None]
        )
        also = RadiomicsExtractor(spacing=(0.7, 0.6), **params).fit_transform([path])
    np.testing.assert_array_equal(same, from_path)
    np.testing.assert_array_equal(also, from_path)
    default = RadiomicsExtractor(**params).fit_transform(crop[None])
    differ = {n for n, a, b in zip(names, default[0], from_path[0]) if a != b}
    # Only the features measured in mm: the shapes and TotalEnergy (scaled by
    # the pixel area).
    assert "original_firstorder_TotalEnergy" in differ
    assert differ - {"original_firstorder_TotalEnergy"}
    assert all("shape2D" in n for n in differ - {"original_firstorder_TotalEnergy"})
    # 17 x 17 centre pixels (70 % of 24) of 0.7 x 0.6 mm against 1 x 1 mm.
    area = names.index(AREA)
    assert from_path[0, area] == pytest.approx(289 * 0.42)
    assert default[0, area] == pytest.approx(289.0)


def test_spacing_contradictions_and_unknowns_are_named(tmp_path):
    crops = _crops(2, size=20)
    paths = []
    for i, (crop, sp) in enumerate(zip(crops, [(0.7, 0.7), (0.5, 0.5)])):
        paths.append(tmp_path / f"c{i}.nrrd")
        write_nrrd(paths[-1], crop.astype(np.int16), spacing=sp)
    params = {"image_types": ("Original",), "feature_classes": ["shape2D"]}
    clash = r"sample 1 \('.*c1.nrrd'\): header \(0.5, 0.5\)"
    with pytest.warns(UserWarning, match=clash):
        RadiomicsExtractor(spacing=(0.7, 0.7), **params).fit(paths)
    lazy = LazyImageBatch(paths, steps=(np.asarray,))
    with pytest.warns(UserWarning, match="files' pixel spacing is not applied"):
        RadiomicsExtractor(**params).fit(lazy)
    for bad in [(0.0, 1.0), (float("nan"), 1.0), (float("inf"), 1.0), (1.0,)]:
        with pytest.raises(ValueError, match="spacing must be two finite positive"):
            RadiomicsExtractor(spacing=bad, **params).fit(crops)


def test_a_spacing_column_carries_each_arrays_spacing(tmp_path):
    # Arrays carry their spacing in a frame column, so the same
    # images give the same features as arrays and as paths (on main the arrays
    # were measured at (1, 1) mm).
    crops = [c.astype(np.int16) for c in _crops(3, size=20)]
    spacings = [(0.7, 0.6), (0.5, 0.5), (0.9, 0.8)]
    paths = []
    for i, (crop, sp) in enumerate(zip(crops, spacings)):
        paths.append(tmp_path / f"c{i}.nrrd")
        write_nrrd(paths[-1], crop, spacing=sp)
    params = {"image_types": ("Original",), "feature_classes": ["shape2D"]}
    from_paths = RadiomicsExtractor(**params).fit_transform(paths)
    index = pd.Index(["a", "b", "c"], name="id")
    frame = pd.DataFrame({"nodule": list(crops), "sp": spacings}, index=index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ext = RadiomicsExtractor(spacing="sp", **params)
        np.testing.assert_array_equal(ext.fit_transform(frame), from_paths)
        # a number is a square pixel; paths with matching cells agree silently
        square = frame.assign(sp=[0.5, 0.5, 0.5])
        np.testing.assert_array_equal(ext.fit_transform(square)[1], from_paths[1])
        both = pd.DataFrame({"nodule": paths, "sp": spacings}, index=index)
        np.testing.assert_array_equal(ext.fit_transform(both), from_paths)
    area = list(ext.get_feature_names_out()).index(AREA)
    bare = RadiomicsExtractor(**params).fit_transform(np.stack(crops))
    assert (bare[:, area] != from_paths[:, area]).all()
    # an empty cell falls back to the header (paths) or (1, 1) mm (arrays)
    empty = [None, float("nan"), (0.9, 0.8)]
    np.testing.assert_array_equal(
        ext.fit_transform(pd.DataFrame({"nodule": paths, "sp": empty}, index=index)),
        from_paths)
    arrays = ext.fit_transform(frame.assign(sp=empty))
    np.testing.assert_array_equal(arrays[:2], bare[:2])
    # a cell that contradicts a header is applied and named
    clash = pd.DataFrame({"nodule": paths, "sp": [(0.7, 0.6), 2.0, None]},
                         index=index)
    with pytest.warns(UserWarning, match=r"The column 'sp' overrides the pixel "
                      r"spacing of 1 NRRD header\(s\) \(row id='b' .*header "
                      r"\(0.5, 0.5\), column \(2.0, 2.0\)"):
        ext.fit_transform(clash)
    # bad cells name the row; a Series or a wrong frame is refused
    for bad in [0.0, (1.0, -1.0), "wide", (1.0, 2.0, 3.0), float("inf")]:
        with pytest.raises(ValueError, match=r"row id='b', column 'sp': a pixel "
                           "spacing must be"):
            ext.fit(frame.assign(sp=[0.7, bad, 0.7]))
    with pytest.raises(ValueError, match="from the column 'sp' of a DataFrame X; "
                       "got Series"):
        ext.fit(frame["nodule"])
    with pytest.raises(ValueError, match=r"two columns: 'sp' and one of images; X "
                       r"has the columns \['nodule', 'sp', 'extra'\]"):
        ext.fit(frame.assign(extra=1))


def test_mask_options_select_the_planted_region():
    size = 40
    rr, cc = np.mgrid[:size, :size]
    disc = (rr - 21) ** 2 + (cc - 19) ** 2 < 8**2
    rng = np.random.RandomState(0)
    image = np.where(disc, 40.0, -850.0) + rng.normal(0, 10, (size, size))
    blob = (rr < 6) & (cc < 6)
    corner = np.where(blob, 40.0, -850.0) + rng.normal(0, 10, (size, size))
    params = {"image_types": ("Original",), "feature_classes": ["shape2D"]}

    def area(mask, X):
        ext = RadiomicsExtractor(mask=mask, **params)
        out = ext.fit_transform(X)
        return out[:, list(ext.get_feature_names_out()).index(AREA)]

    # Otsu finds the disc; a bright blob away from the centre falls back to the box.
    np.testing.assert_allclose(
        area("otsu", np.stack([image, corner])), [disc.sum(), 28**2]
    )
    # A larger bright wall reaching into the centre box loses to the component
    # under the centre pixel.
    small = (rr - 20) ** 2 + (cc - 20) ** 2 < 5**2
    walled = np.where(small | (rr < 10), 40.0, -850.0) + rng.normal(0, 10, (size, size))
    assert area("otsu", walled[np.newaxis])[0] == small.sum()
    assert area(lambda im: im > 0, image[np.newaxis])[0] == disc.sum()
    assert area(disc[np.newaxis], image[np.newaxis])[0] == disc.sum()
    assert area([disc], image[np.newaxis])[0] == disc.sum()
    assert area("center", image[np.newaxis])[0] == 28**2
    with pytest.raises(ValueError, match="2 masks but X holds 1"):
        area([disc, disc], image[np.newaxis])


def test_bad_images_give_nan_rows_and_warnings_naming_the_sample():
    crops = list(_crops(5, size=24))
    crops[1] = np.full((24, 24), -800.0)  # constant image
    ones = np.zeros((24, 24), dtype=bool)
    ones[12, 12] = True
    masks = [np.ones((24, 24), bool), np.ones((24, 24), bool),
             np.zeros((24, 24), bool), ones, np.ones((30, 30), bool)]
    ext = RadiomicsExtractor(mask=masks, **FAST)
    with pytest.warns(UserWarning) as record:
        out = ext.fit_transform(crops)
    messages = [str(w.message) for w in record]
    assert any("sample 1" in m and "constant" in m for m in messages)
    assert any("sample 2" in m and "empty" in m for m in messages)
    assert any("sample 3" in m and "single pixel" in m for m in messages)
    assert any("sample 4" in m and "does not match" in m for m in messages)
    assert np.isfinite(out[0]).all()
    assert np.isnan(out[1:]).all()


def test_feature_names_come_from_first_successful_image():
    crops = _crops(3, size=24)
    crops[0] = -800.0
    ext = RadiomicsExtractor(**FAST)
    with pytest.warns(UserWarning, match="sample 0"):
        ext.fit(crops)
    assert len(ext.get_feature_names_out()) == 18
    with (
        pytest.raises(ValueError, match="could not extract features from any"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        RadiomicsExtractor(**FAST).fit(crops[:1])


@pytest.mark.parametrize(
    "params, match",
    [
        ({"settings": {"binWidth": -1}}, "binWidth"),
        ({"settings": {"notASetting": 1}}, "notASetting"),
        ({"image_types": ("Bogus",)}, "Bogus"),
        ({"feature_classes": ["texture"]}, "texture"),
        ({"spacing": (1.0, -1.0)}, "spacing"),
    ],
)
def test_invalid_settings_raise_at_fit(params, match):
    with pytest.raises(ValueError, match=match):
        RadiomicsExtractor(**params).fit(_crops(1, size=20))


def test_parallel_and_dask_results_are_identical():
    crops = _crops(4, size=24)
    ref = RadiomicsExtractor(**FAST).fit_transform(crops)
    np.testing.assert_array_equal(
        RadiomicsExtractor(n_jobs=2, **FAST).fit_transform(crops), ref
    )
    with parallel_config(backend="threading", n_jobs=2):
        threaded = RadiomicsExtractor(**FAST).fit_transform(crops)
    np.testing.assert_array_equal(threaded, ref)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster), parallel_config(backend="dask"):
        out = RadiomicsExtractor(n_jobs=2, **FAST).fit_transform(crops)
    np.testing.assert_array_equal(out, ref)


def test_memory_cache_avoids_recomputation(tmp_path, monkeypatch):
    crops = _crops(3, size=24)
    # joblib nests a str location (not a Path) under "joblib/": use one form.
    memory = Memory(str(tmp_path), verbose=0)
    ext = RadiomicsExtractor(memory=memory, **FAST)
    first = ext.fit_transform(crops)
    assert len(list(tmp_path.rglob("*.npz"))) == 3
    assert not list(tmp_path.rglob("*.pkl"))

    def fail(*args, **kwargs):
        raise AssertionError("pyradiomics called despite a warm cache")

    monkeypatch.setattr(RadiomicsFeatureExtractor, "execute", fail)
    # A refit (as in a CV fold) and a transform read every image from the cache.
    again = RadiomicsExtractor(memory=str(tmp_path), **FAST).fit(crops).transform(crops)
    np.testing.assert_array_equal(again, first)
    # Other settings are another key: pyradiomics is called (and fails here).
    with (
        pytest.warns(UserWarning, match="pyradiomics failed"),
        pytest.raises(ValueError),
    ):
        RadiomicsExtractor(memory=memory, settings={"binWidth": 5}, **FAST).fit(crops)


class _Planted:
    """Unpickling this writes a marker file: the cache must never do it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def test_cache_never_unpickles_planted_files(tmp_path, monkeypatch):
    crops = _crops(3, size=24)
    ext = RadiomicsExtractor(memory=tmp_path, **FAST)
    first = ext.fit_transform(crops)
    marker = tmp_path.parent / f"{tmp_path.name}-marker"
    payload = pickle.dumps(_Planted(str(marker)))
    entries = sorted(tmp_path.rglob("*.npz"))
    # One entry becomes a pickle, one an .npz holding a pickled object array,
    # and joblib's file name is planted beside them.
    entries[0].write_bytes(payload)
    with entries[1].open("wb") as fh:
        np.savez(fh, names=np.array([_Planted(str(marker))], dtype=object),
                 values=np.zeros(1))
    (entries[2].parent / "output.pkl").write_bytes(payload)
    with pytest.warns(UserWarning, match="unreadable cache entry"):
        again = RadiomicsExtractor(memory=tmp_path, **FAST).fit(crops).transform(crops)
    assert not marker.exists()
    np.testing.assert_array_equal(again, first)
    # The bad entries were computed again and overwritten with good ones.
    calls = []
    monkeypatch.setattr(RadiomicsFeatureExtractor, "execute",
                        lambda *a, **k: calls.append(1))
    RadiomicsExtractor(memory=str(tmp_path), **FAST).fit(crops).transform(crops)
    assert not calls and not marker.exists()


def test_pickle_set_output_and_progress_bar(capsys):
    crops = _crops(3, size=24)
    ext = RadiomicsExtractor(verbose=True, **FAST)
    ext = pickle.loads(pickle.dumps(ext))
    out = ext.fit_transform(crops)
    assert "radiomics" in capsys.readouterr().err
    restored = pickle.loads(pickle.dumps(ext))
    np.testing.assert_array_equal(restored.transform(crops), out)
    frame = restored.set_output(transform="pandas").transform(crops)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(ext.get_feature_names_out())
    assert out.dtype == np.float64
    np.testing.assert_array_equal(frame.to_numpy(), out)
    # Mean HU grows with the disc: the features carry the planted structure.
    mean = frame["original_firstorder_Mean"].to_numpy()
    assert (np.diff(mean) > 0).all()
