from pathlib import Path

import nrrd
import numpy as np
import pandas as pd
import pytest

from skradnod.io import NrrdLoader, load_nodule_dataset, read_nrrd, write_nrrd
from skradnod.utils import LazyImageBatch, check_image_batch, stack_images

DATA = Path(__file__).parent / "data"


def test_write_read_round_trip_keeps_orientation_and_spacing(tmp_path):
    # A non-square, non-symmetric image catches any transpose or flip.
    image = np.arange(6 * 9, dtype=np.int16).reshape(6, 9)
    write_nrrd(tmp_path / "a.nrrd", image, spacing=(0.8, 0.6))
    read, header = read_nrrd(tmp_path / "a.nrrd")
    np.testing.assert_array_equal(read, image)
    assert read.dtype == np.int16
    assert header["spacing"] == (0.8, 0.6)
    # gzip-encoded, as the NRRD header says
    assert header["encoding"] == "gzip"


def test_one_slice_volume_reads_as_2d(tmp_path):
    volume = np.arange(20, dtype=np.float32).reshape(1, 4, 5)
    nrrd.write(str(tmp_path / "v.nrrd"), volume, index_order="C")
    image, _ = read_nrrd(tmp_path / "v.nrrd")
    np.testing.assert_array_equal(image, volume[0])


def test_real_ct_slice_is_in_radiological_orientation(tmp_path):
    # The fixture is LPS with positive directions: columns run to the patient's
    # left, rows to the posterior. The nodule (label) centroid must land on the
    # same pixel whether read through read_nrrd or from the raw array.
    volume, header = nrrd.read(str(DATA / "lung1_image.nrrd"), index_order="C")
    label, _ = nrrd.read(str(DATA / "lung1_label.nrrd"), index_order="C")
    slice_header = {
        "space": header["space"],
        "space directions": header["space directions"],
    }
    nrrd.write(str(tmp_path / "s.nrrd"), volume[3:4], slice_header, index_order="C")
    image, read_header = read_nrrd(tmp_path / "s.nrrd")
    np.testing.assert_array_equal(image, volume[3])
    assert read_header["spacing"] == pytest.approx((0.5703125, 0.5703125))
    # Anterior (chest wall) at the top: the body's first rows in the top half.
    body_rows = np.flatnonzero((image > -500).any(axis=1))
    assert body_rows[0] < 256 < body_rows[-1]
    # The same physical slice described in RAS (axes pointing the other way)...
    ras_header = {
        "space": "right-anterior-superior",
        "space directions": -np.asarray(header["space directions"]),
    }
    nrrd.write(str(tmp_path / "r.nrrd"), volume[3:4], ras_header, index_order="C")
    np.testing.assert_array_equal(read_nrrd(tmp_path / "r.nrrd")[0], volume[3])
    # ...and stored mirrored in LPS with reversed directions read back identical.
    mirrored_header = dict(slice_header)
    mirrored_header["space directions"] = -np.asarray(header["space directions"])
    mirrored = volume[3:4, ::-1, ::-1].copy()
    nrrd.write(str(tmp_path / "m.nrrd"), mirrored, mirrored_header, index_order="C")
    np.testing.assert_array_equal(read_nrrd(tmp_path / "m.nrrd")[0], volume[3])
    assert label[3].sum() > 0


def test_read_nrrd_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nrrd"):
        read_nrrd(tmp_path / "missing.nrrd")
    bad = tmp_path / "corrupt.nrrd"
    bad.write_bytes(b"this is not an nrrd file")
    with pytest.raises(ValueError, match="corrupt.nrrd"):
        read_nrrd(bad)
    with pytest.raises(ValueError, match="7 slices|volume of 7"):
        read_nrrd(DATA / "lung1_image.nrrd")
    # truncated gzip payload
    good = tmp_path / "good.nrrd"
    write_nrrd(good, np.ones((30, 30)))
    raw = good.read_bytes()
    (tmp_path / "trunc.nrrd").write_bytes(raw[: len(raw) - 20])
    with pytest.raises(ValueError, match="trunc.nrrd"):
        read_nrrd(tmp_path / "trunc.nrrd")
    with pytest.raises(ValueError, match="2D"):
        write_nrrd(tmp_path / "x.nrrd", np.zeros((2, 2, 2)))


def _write_dataset(root, n=6, patient=True, rng=None):
    rng = rng or np.random.RandomState(0)
    rows = []
    for i in range(n):
        full = rng.randint(-1000, 400, size=(32, 32)).astype(np.int16)
        crop = rng.randint(-1000, 400, size=(8 + i, 10)).astype(np.int16)
        write_nrrd(root / "full" / f"{i}.nrrd", full, spacing=0.7)
        write_nrrd(root / "nodule" / f"{i}.nrrd", crop, spacing=0.7)
        row = {
            "id": f"n{i}",
            "full": f"full/{i}.nrrd",
            "nodule": f"nodule/{i}.nrrd",
            "malignancy": i % 5 + 1,
            "texture": i,
        }
        if patient:
            row["patient_id"] = f"p{i // 2}"
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return rows


def test_load_nodule_dataset_in_memory_and_lazy(tmp_path):
    rows = _write_dataset(tmp_path)
    data = load_nodule_dataset(tmp_path)
    assert data.full.shape == (6, 32, 32)
    assert data.nodule.dtype == object and data.nodule[3].shape == (11, 10)
    np.testing.assert_array_equal(data.target, [r["malignancy"] for r in rows])
    np.testing.assert_array_equal(data.groups, [r["patient_id"] for r in rows])
    assert list(data.ids) == [r["id"] for r in rows]
    assert list(data.frame.columns) == [
        "full", "nodule", "texture", "full_spacing", "nodule_spacing"]
    assert set(data.frame["nodule_spacing"]) == {(0.7, 0.7)}
    first, _ = read_nrrd(tmp_path / "full" / "0.nrrd")
    np.testing.assert_array_equal(data.frame.loc["n0", "full"], first)

    lazy = load_nodule_dataset(tmp_path / "manifest.csv", lazy=True)
    assert all(Path(p).is_file() for p in lazy.frame["nodule"])
    # paths in, arrays out: the loader makes path-based pipelines equivalent
    loaded = NrrdLoader().fit_transform(lazy.frame["nodule"])
    for a, b in zip(loaded, data.nodule):
        np.testing.assert_array_equal(a, b)


def test_features_are_the_same_from_memory_and_from_disk(tmp_path):
    # The features row reads each crop beside its file's
    # spacing, so reading the data into memory or lazily gives the same
    # features (on main: (1, 1) mm in memory, the headers' spacing lazily).
    from skradnod.experiments import get_experiment, row_input

    rows = _write_dataset(tmp_path)
    # one file declares another spacing, one declares none
    crop, _ = read_nrrd(tmp_path / "nodule" / "1.nrrd")
    write_nrrd(tmp_path / "nodule" / "1.nrrd", crop, spacing=(0.5, 0.6))
    nrrd.write(str(tmp_path / "nodule" / "2.nrrd"),  # no spacing in the header
               read_nrrd(tmp_path / "nodule" / "2.nrrd")[0].T.copy())
    memory = load_nodule_dataset(tmp_path)
    lazy = load_nodule_dataset(tmp_path, lazy=True)
    spacings = list(memory.frame["nodule_spacing"])
    assert spacings[1] == (0.5, 0.6) and spacings[2] is None
    assert spacings == list(lazy.frame["nodule_spacing"])
    extractor = get_experiment("nodule/features").build(preset="quick")[0][0]
    assert extractor.spacing == "nodule_spacing"
    extractor.set_params(image_types=("Original",), feature_classes=["shape2D"])
    X = row_input(memory, "nodule/features")
    assert list(X.columns) == ["nodule", "nodule_spacing"]
    in_memory = extractor.fit_transform(X)
    from_disk = extractor.fit_transform(row_input(lazy, "nodule/features"))
    np.testing.assert_array_equal(in_memory, from_disk)
    before = extractor.set_params(spacing=None).fit_transform(memory.nodule)
    assert not np.array_equal(before, from_disk)
    assert len(rows) == 6


def test_a_manifest_may_not_name_the_spacing_columns(tmp_path):
    _write_dataset(tmp_path)
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    manifest.assign(nodule_spacing=0.7).to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(ValueError, match=r"manifest.csv': column\(s\) "
                       r"\['nodule_spacing'\] are filled by load_nodule_dataset"):
        load_nodule_dataset(tmp_path)


def test_load_nodule_dataset_without_patient_id(tmp_path):
    _write_dataset(tmp_path, patient=False)
    assert load_nodule_dataset(tmp_path, lazy=True).groups is None


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda m: m.drop(columns="nodule"), ValueError, "nodule"),
        (lambda m: m.assign(malignancy=[1, 2, 3, 4, 6, 5]), ValueError, "n4"),
        (lambda m: m.assign(malignancy=[1, 2, 3, 4, 0, 5]), ValueError, "1-5"),
        (
            lambda m: m.assign(full=["full/0.nrrd"] * 5 + ["full/nope.nrrd"]),
            FileNotFoundError,
            "n5.*nope.nrrd",
        ),
    ],
)
def test_bad_manifest_errors_name_the_row(tmp_path, edit, error, match):
    _write_dataset(tmp_path)
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    edit(manifest).to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(error, match=match):
        load_nodule_dataset(tmp_path)


def test_missing_manifest_and_bad_images(tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest.csv"):
        load_nodule_dataset(tmp_path)
    _write_dataset(tmp_path)
    (tmp_path / "nodule" / "2.nrrd").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="n2.*2.nrrd"):
        load_nodule_dataset(tmp_path)
    # a 3-slice volume is not a 2D image
    nrrd.write(str(tmp_path / "nodule" / "2.nrrd"), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="n2.*3 slices|n2.*volume"):
        load_nodule_dataset(tmp_path)


def test_check_image_batch_forms_and_errors(tmp_path):
    images = [np.zeros((4, 5)), np.ones((6, 5))]
    out = check_image_batch(images)
    assert [im.shape for im in out] == [(4, 5), (6, 5)]
    stacked = stack_images(images)
    assert stacked.dtype == object and stacked[1].shape == (6, 5)
    assert stack_images([np.zeros((3, 3))] * 2).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="2D array of shape"):
        check_image_batch(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="empty"):
        check_image_batch([])
    with pytest.raises(ValueError, match="sample 1"):
        check_image_batch([np.zeros((3, 3)), np.zeros((2, 3, 3))])
    with pytest.raises(ValueError, match=r"sample\(s\) \[1\]"):
        check_image_batch(np.stack([np.zeros((3, 3)), np.full((3, 3), np.nan)]))
    with pytest.raises(FileNotFoundError, match="nowhere.nrrd"):
        check_image_batch([str(tmp_path / "nowhere.nrrd")])


def test_lazy_batch_reads_only_on_access(tmp_path):
    paths = []
    for i in range(3):
        write_nrrd(tmp_path / f"{i}.nrrd", np.full((4, 4), i, dtype=np.int16))
        paths.append(str(tmp_path / f"{i}.nrrd"))
    batch = NrrdLoader(lazy=True).fit_transform(paths)
    assert isinstance(batch, LazyImageBatch) and len(batch) == 3
    # removing a file only fails when that item is read
    Path(paths[0]).unlink()
    assert batch[2].max() == 2
    sub = batch[np.array([1, 2])]
    assert isinstance(sub, LazyImageBatch) and sub[0].max() == 1
    with pytest.raises(FileNotFoundError, match="0.nrrd"):
        batch[0]


def test_mixed_dtypes_widen_and_never_change_a_pixel(tmp_path):
    # The first crop is uint8, the others int16 with negative
    # HU; reading in memory used to cast every crop to uint8 (-916 -> 108).
    _write_dataset(tmp_path)
    write_nrrd(tmp_path / "nodule" / "0.nrrd", np.full((8, 10), 200, dtype=np.uint8))
    crop = np.linspace(-916, 71, 90).astype(np.int16).reshape(9, 10)
    write_nrrd(tmp_path / "nodule" / "1.nrrd", crop)
    # full slices: float32 beside int16 widen to float32 in one 3D array
    write_nrrd(tmp_path / "full" / "2.nrrd", np.full((32, 32), -0.5, np.float32))
    data = load_nodule_dataset(tmp_path)
    np.testing.assert_array_equal(data.nodule[1], crop)
    assert data.nodule[1].dtype == np.int16 and data.nodule[0].max() == 200
    assert data.full.dtype == np.float32 and data.full[2, 0, 0] == -0.5
    for i in range(6):
        on_disk, _ = read_nrrd(tmp_path / "nodule" / f"{i}.nrrd")
        np.testing.assert_array_equal(data.frame.iloc[i]["nodule"], on_disk)
    # int64 beyond float64's 53-bit mantissa beside float32: no common dtype
    # holds both exactly, so each image keeps its own.
    big = np.full((32, 32), 2**60 + 1, dtype=np.int64)
    write_nrrd(tmp_path / "full" / "3.nrrd", big)
    data = load_nodule_dataset(tmp_path)
    assert data.full.dtype == object
    assert data.full[3].dtype == np.int64 and data.full[3][0, 0] == 2**60 + 1
    assert data.full[2].dtype == np.float32


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_are_an_error_in_memory_as_lazily(tmp_path, value):
    _write_dataset(tmp_path)
    crop = np.zeros((8, 10), dtype=np.float32)
    crop[3, 4] = value
    write_nrrd(tmp_path / "nodule" / "4.nrrd", crop)
    with pytest.raises(ValueError, match=r"n4.*4\.nrrd.*NaN or infinite"):
        load_nodule_dataset(tmp_path)
    lazy = load_nodule_dataset(tmp_path, lazy=True)
    with pytest.raises(ValueError, match=r"4\.nrrd.*NaN or infinite"):
        NrrdLoader().fit_transform(lazy.nodule)


@pytest.mark.parametrize("empty", ["", "  "])
def test_empty_patient_id_is_an_error_naming_the_row(tmp_path, empty):
    _write_dataset(tmp_path)
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    manifest.loc[3, "patient_id"] = empty
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(ValueError, match=r"patient_id is empty.*'n3'"):
        load_nodule_dataset(tmp_path)


def test_vector_and_empty_nrrd_messages(tmp_path):
    # An RGB image read as "a volume of 40 slices", and a
    # 0-byte file reported with an empty reason.
    rgb = np.zeros((40, 40, 3), dtype=np.uint8)
    nrrd.write(str(tmp_path / "plain.nrrd"), rgb, index_order="C")
    with pytest.raises(ValueError, match=r"plain\.nrrd.*colour image \(3 comp"):
        read_nrrd(tmp_path / "plain.nrrd")
    # with kinds (fastest axis first, as NRRD lists them) the header decides
    nrrd.write(
        str(tmp_path / "kinds.nrrd"), rgb[:, :, :2].copy(), index_order="C",
        header={"kinds": ["vector", "domain", "domain"]},
    )
    with pytest.raises(ValueError, match=r"kinds\.nrrd.*\(2 components"):
        read_nrrd(tmp_path / "kinds.nrrd")
    (tmp_path / "empty.nrrd").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.nrrd.*empty \(0 bytes\)"):
        read_nrrd(tmp_path / "empty.nrrd")
