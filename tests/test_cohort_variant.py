"""Tests of the built-in cohort's second rendering, make_lidc_cohort(variant="b")."""

import hashlib
import json

import numpy as np
import pytest

from skradnod.datasets import _appearance, _lidc, _readings, _render, make_lidc_cohort

# What rendering b must not change: the readings, their labels and true centres.
SHARED = ["id", "patient_id", "scan_id", "annotation_id", "malignancy",
          "subtlety", "internalStructure", "calcification", "sphericity",
          "margin", "lobulation", "spiculation", "texture", "diameter_mm",
          "pixel_spacing", "slice_thickness", "z_mm", "cx", "cy"]
BOX = ["crop_top", "crop_left", "crop_height", "crop_width"]


@pytest.fixture(scope="module")
def readings():
    return _readings.read_lidc_readings()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The same 12 readings in both renderings (and b once more)."""
    root = tmp_path_factory.mktemp("variants")
    a = make_lidc_cohort(root / "a", n_samples=12, random_state=2, variant="a")
    b = make_lidc_cohort(root / "b", n_samples=12, random_state=2, variant="b")
    return root, a, b


def _digest(record):
    return hashlib.sha256(record["full"].tobytes() + record["nodule"].tobytes())


def test_variant_a_is_the_default(tmp_path, both):
    _, a, _ = both
    default = make_lidc_cohort(tmp_path, n_samples=12, random_state=2)
    np.testing.assert_array_equal(default.full, a.full)
    for x, y in zip(default.nodule, a.nodule):
        np.testing.assert_array_equal(x, y)
    assert default.manifest.drop(columns=["full", "nodule"]).equals(
        a.manifest.drop(columns=["full", "nodule"])
    )
    params = json.loads((tmp_path / "cohort.json").read_text())
    assert params["variant"] == "a"


def test_variant_a_renders_as_before_variants_existed():
    # Digests of the readings rendered by the code before ``variant`` existed
    # (commit 5181566), with this environment's numpy and OpenCV.
    records = _lidc.render_readings([4684, 4359, 2709], random_state=11)
    digests = [_digest(r).hexdigest()[:16] for r in records]
    assert digests == ["23487b672c86981e", "de1597bceb3ac249", "af9d364e65ff89be"]


def test_variant_b_same_readings_other_pixels(both):
    root, a, b = both
    assert a.manifest[SHARED].equals(b.manifest[SHARED])
    assert a.manifest["malignancy_readers"].equals(b.manifest["malignancy_readers"])
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.groups, b.groups)
    for full_a, full_b in zip(a.full, b.full):
        assert np.mean(full_a != full_b) > 0.5
    assert not a.manifest[BOX].equals(b.manifest[BOX])
    params = json.loads((root / "b" / "cohort.json").read_text())
    assert params["variant"] == "b"


def test_variant_b_is_deterministic(tmp_path, both):
    _, _, b = both
    again = make_lidc_cohort(tmp_path, n_samples=12, random_state=2, variant="b")
    np.testing.assert_array_equal(again.full, b.full)
    assert again.manifest[BOX].equals(b.manifest[BOX])
    # A reading renders the same on its own as in the cohort.
    first = int(b.frame["annotation_id"].iloc[0])
    record = _lidc.render_readings([first], random_state=2, variant="b")[0]
    np.testing.assert_array_equal(record["full"], b.full[0])
    other = make_lidc_cohort(tmp_path / "s3", n_samples=12, random_state=3,
                             variant="b")
    assert not np.array_equal(other.full, b.full)


def test_variant_b_hu_range(both):
    _, _, b = both
    assert b.full.dtype == np.int16
    assert b.full.min() >= _render.HU_MIN and b.full.max() <= _render.HU_MAX
    for crop in b.nodule:
        assert crop.dtype == np.int16
        assert crop.min() >= _render.HU_MIN and crop.max() <= _render.HU_MAX


def _assert_box_holds(record, frame_row=None):
    t, le, h, w = (record[c] for c in BOX)
    assert h == w and t >= 0 and le >= 0 and t + h <= 512 and le + w <= 512
    rows, cols = np.nonzero(record["mask"])
    # The whole nodule, and its true centre, lie inside the box.
    assert t <= rows.min() and rows.max() < t + h
    assert le <= cols.min() and cols.max() < le + w
    x, y = record["cx"] * 512 - 0.5, record["cy"] * 512 - 0.5
    assert le <= x < le + w and t <= y < t + h
    extent = max(np.ptp(rows), np.ptp(cols)) + 1
    lo, hi = _appearance.B.crop_side
    assert h >= extent + 2 and (lo <= h <= hi or h == extent + 2)
    np.testing.assert_array_equal(record["nodule"],
                                  record["full"][t : t + h, le : le + w])
    if frame_row is not None:
        assert [int(frame_row[c]) for c in BOX] == [t, le, h, w]


def test_variant_b_crop_holds_the_nodule(both, readings):
    _, _, b = both
    ids = b.frame["annotation_id"].tolist()
    records = _lidc.render_readings(ids, random_state=2, variant="b")
    for record, (_, row) in zip(records, b.frame.iterrows()):
        _assert_box_holds(record, row)
    # The largest nodules (the box grows past 176 px) and ones near the edge.
    extent = readings["contour"].map(lambda c: int(np.ptp(c, axis=0).max()))
    edge = readings["contour"].map(lambda c: int(min(c.min(), 511 - c.max())))
    picked = (readings.loc[extent.nlargest(2).index, "annotation_id"].tolist()
              + readings.loc[edge.nsmallest(2).index, "annotation_id"].tolist())
    for record in _lidc.render_readings(picked, variant="b"):
        _assert_box_holds(record)


def test_crop_rule_b_on_a_square_in_the_corner():
    # A 21 px square touching the slice's corner: any draw must hold it.
    square = np.array([[0, 0], [20, 0], [20, 20], [0, 20]])
    sides = set()
    for seed in range(40):
        top, left, h, w = _appearance.crop_box_b(
            (10.0, 10.0), square, _render.rng_for(seed), 512
        )
        assert top == 0 and left == 0 and h == w
        sides.add(h)
        assert 42 <= h <= 76  # 21 x U(2.0, 3.6)
    assert len(sides) > 5


def test_intensity_tables_of_b():
    # A laminated calcification's centre takes the rendering's HU for it.
    img_a = np.full((512, 512), -900.0, np.float32)
    img_b = img_a.copy()
    square = np.array([[200, 200], [240, 200], [240, 240], [200, 240]])
    ratings = {"texture": 5, "internalStructure": 1, "calcification": 2,
               "subtlety": 5}
    levels = {"ggo": -650.0, "solid": 30.0, "calc": 0.0}
    flat = np.zeros((512, 512), np.float32)
    for img, look in ((img_a, _appearance.A), (img_b, _appearance.B)):
        _render.draw_nodule(img, square, ratings, flat, levels,
                            _render.rng_for(0), look)
    assert img_a[220, 220] == pytest.approx(600.0, abs=1)
    assert img_b[220, 220] == pytest.approx(1100.0, abs=5)
    # Subtlety 1: b's contrast is lower.
    ratings.update(calcification=6, subtlety=1)
    img_a[:], img_b[:] = -900.0, -900.0
    for img, look in ((img_a, _appearance.A), (img_b, _appearance.B)):
        _render.draw_nodule(img, square, ratings, flat, levels,
                            _render.rng_for(0), look)
    assert img_a[220, 220] == pytest.approx(-900 + 0.55 * 930, abs=1)
    assert img_b[220, 220] == pytest.approx(-900 + 0.4 * 930, abs=1)


def test_variant_b_per_nodule(tmp_path):
    a = make_lidc_cohort(tmp_path / "a", n_samples=6, level="nodule")
    b = make_lidc_cohort(tmp_path / "b", n_samples=6, level="nodule", variant="b")
    columns = [*SHARED, "nodule_id", "n_readers", "annotation_ids"]
    assert a.manifest[columns].equals(b.manifest[columns])
    assert not np.array_equal(a.full, b.full)


def test_variant_b_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SKRADNOD_DATA", str(tmp_path))
    a = make_lidc_cohort(n_samples=5, random_state=1, lazy=True)
    b = make_lidc_cohort(n_samples=5, random_state=1, lazy=True, variant="b")
    home = tmp_path / "lidc_cohort"
    assert str(a.full[0]).startswith(str(home / "annotation-n5-seed1-v2"))
    assert str(b.full[0]).startswith(str(home / "annotation-b-n5-seed1-v2"))
    # A cache written before variants existed (no "variant" in cohort.json)
    # is rendering a, and is reused.
    params_path = home / "annotation-n5-seed1-v2" / "cohort.json"
    params = json.loads(params_path.read_text())
    del params["variant"]
    params_path.write_text(json.dumps(params))

    def fail(*args, **kwargs):
        raise AssertionError("the cached cohort was rebuilt")

    monkeypatch.setattr(_lidc, "_build", fail)
    make_lidc_cohort(n_samples=5, random_state=1)
    make_lidc_cohort(n_samples=5, random_state=1, variant="b")


@pytest.mark.parametrize("variant", ["c", "B", None, 1])
def test_unknown_variant(tmp_path, variant):
    with pytest.raises(ValueError, match="variant must be one of 'a', 'b'"):
        make_lidc_cohort(tmp_path, n_samples=2, variant=variant)
    assert not (tmp_path / "manifest.csv").exists()
    with pytest.raises(ValueError, match="variant"):
        _lidc.render_readings([1], variant=variant)


def test_make_cohort_command_variant(tmp_path, capsys):
    from skradnod.cli import main

    assert main(["make-cohort", str(tmp_path / "b"), "--n-samples", "6",
                 "--variant", "b"]) == 0
    assert "(rendering b)" in capsys.readouterr().out
    params = json.loads((tmp_path / "b" / "cohort.json").read_text())
    assert params["variant"] == "b" and params["n_samples"] == 6
    assert main(["make-cohort", str(tmp_path / "c"), "--variant", "c"]) == 2
    assert "invalid choice: 'c'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
