"""Property-based tests of skradnod.io and skradnod.preprocessing (hypothesis).

Random dtypes, shapes, spacings, orientations, NaN/inf placement and manifest
contents. The properties: a write -> read round trip is exact or raises a clear
error; loading never narrows a dtype or changes a pixel; every preprocessing
output is finite and in [0, 1]. Example counts keep the module under a minute
on one slow core.
"""

import os
import tempfile
from pathlib import Path

import nrrd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skradnod.io import load_nodule_dataset, read_nrrd, write_nrrd
from skradnod.preprocessing import (
    CLAHE,
    BilateralFilter,
    CenterCrop,
    HUWindow,
    Resize,
    make_ct_preprocessor,
)

# derandomize: CI runs the same examples every time (a random draw found the
# Resize rounding fixed in test_preprocessing.py; set derandomize=False
# locally to explore further).
SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
STORABLE = ["uint8", "int8", "uint16", "int16", "int32", "uint32", "int64",
            "uint64", "float32", "float64"]
NOT_STORABLE = ["bool", "float16", "complex64"]
shapes = st.tuples(st.integers(1, 12), st.integers(1, 12))


def _image(dtype, shape, *, finite=False):
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and finite:
        elements = st.floats(-3000, 3000, width=dtype.itemsize * 8)
    else:
        elements = None  # every value of the dtype, NaN and inf included
    return hnp.arrays(dtype, shape, elements=elements)


def _tmpdir():
    return tempfile.TemporaryDirectory(prefix="skradnod-props-")


# --------------------------------------------------------------------------- #
# write -> read
# --------------------------------------------------------------------------- #
@SETTINGS
@given(
    data=st.data(),
    dtype=st.sampled_from(STORABLE + NOT_STORABLE),
    shape=shapes,
    spacing=st.none() | st.tuples(
        st.floats(0.01, 10), st.floats(0.01, 10)
    ),
)
def test_round_trip_is_exact_or_a_clear_error(data, dtype, shape, spacing):
    image = data.draw(_image(dtype, shape))
    with _tmpdir() as tmp:
        path = os.path.join(tmp, "image.nrrd")
        if dtype in NOT_STORABLE:
            with pytest.raises(ValueError, match=rf"cannot store dtype {dtype}"):
                write_nrrd(path, image, spacing=spacing)
            return
        write_nrrd(path, image, spacing=spacing)
        read, header = read_nrrd(path)
    assert read.dtype == image.dtype  # never narrowed, never widened
    np.testing.assert_array_equal(read, image)  # NaN == NaN here
    assert header["spacing"] == (spacing if spacing is not None else (1.0, 1.0))


@SETTINGS
@given(
    data=st.data(),
    shape=shapes,
    space=st.sampled_from(["left-posterior-superior", "right-anterior-superior",
                           "left-anterior-superior"]),
    signs=st.tuples(st.sampled_from([-1.0, 1.0]), st.sampled_from([-1.0, 1.0])),
    spacing=st.tuples(st.floats(0.1, 5), st.floats(0.1, 5)),
)
def test_mirrored_storage_reads_as_the_same_image(data, shape, space, signs, spacing):
    # One physical slice stored with either sign of each axis direction (and the
    # data mirrored accordingly) must read back identically.
    image = data.draw(_image("int16", shape))
    col_dir = [signs[1] * spacing[1], 0.0]
    row_dir = [0.0, signs[0] * spacing[0]]
    with _tmpdir() as tmp:
        reads = []
        for flip_rows, flip_cols in [(False, False), (True, False), (False, True)]:
            stored = image[::-1] if flip_rows else image
            stored = stored[:, ::-1] if flip_cols else stored
            header = {
                "space": space,
                "space directions": [
                    [-c for c in col_dir] if flip_cols else col_dir,
                    [-r for r in row_dir] if flip_rows else row_dir,
                ],
            }
            path = os.path.join(tmp, f"{flip_rows}{flip_cols}.nrrd")
            nrrd.write(path, np.ascontiguousarray(stored), header, index_order="C")
            read, read_header = read_nrrd(path)
            assert read_header["spacing"] == pytest.approx(spacing)
            reads.append(read)
    for read in reads[1:]:
        np.testing.assert_array_equal(read, reads[0])


# --------------------------------------------------------------------------- #
# manifests
# --------------------------------------------------------------------------- #
INT_DTYPES = ["uint8", "int8", "uint16", "int16", "int32", "int64"]
FLOAT_DTYPES = ["float32", "float64"]


@st.composite
def manifests(draw):
    """Rows of random dtypes and sizes, with at most one planted fault."""
    n = draw(st.integers(1, 4))
    rows = []
    for i in range(n):
        images = {}
        for column in ("full", "nodule"):
            dtype = draw(st.sampled_from(INT_DTYPES + FLOAT_DTYPES))
            shape = (16, 16) if column == "full" else draw(shapes)
            images[column] = draw(_image(dtype, shape, finite=True))
        rows.append({
            "id": f"r{i}",
            "images": images,
            "malignancy": draw(st.integers(1, 5)),
            "patient_id": draw(st.sampled_from(["p1", "p2", "7"])),
        })
    fault = draw(st.sampled_from(["none", "label", "patient", "non-finite"]))
    with_patients = fault == "patient" or draw(st.booleans())
    row = rows[draw(st.integers(0, n - 1))]
    if fault == "label":
        row["malignancy"] = draw(st.sampled_from([0, 6, -1, 10]))
    elif fault == "patient":
        row["patient_id"] = ""
    elif fault == "non-finite":
        column = draw(st.sampled_from(["full", "nodule"]))
        image = row["images"][column].astype(
            draw(st.sampled_from(FLOAT_DTYPES)))
        r = draw(st.integers(0, image.shape[0] - 1))
        c = draw(st.integers(0, image.shape[1] - 1))
        image[r, c] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        row["images"][column] = image
    return rows, with_patients


@SETTINGS
@given(manifest=manifests())
def test_loading_is_exact_or_a_clear_error(manifest):
    rows, with_patients = manifest
    with _tmpdir() as tmp:
        root = Path(tmp)
        records = []
        for row in rows:
            record = {"id": row["id"], "malignancy": row["malignancy"]}
            for column, image in row["images"].items():
                record[column] = f"{column}/{row['id']}.nrrd"
                write_nrrd(root / record[column], image)
            if with_patients:
                record["patient_id"] = row["patient_id"]
            records.append(record)
        pd.DataFrame(records).to_csv(root / "manifest.csv", index=False)

        bad_label = [r["id"] for r in rows if r["malignancy"] not in range(1, 6)]
        no_patient = [r["id"] for r in rows if with_patients and not r["patient_id"]]
        non_finite = [
            r["id"] for r in rows
            if any(not np.isfinite(im).all() for im in r["images"].values()
                   if im.dtype.kind == "f")
        ]
        event(
            "bad label" if bad_label else "empty patient" if no_patient
            else "non-finite" if non_finite else "loaded"
        )
        if bad_label:
            with pytest.raises(ValueError, match="1-5"):
                load_nodule_dataset(root)
        elif no_patient:
            match = f"patient_id is empty.*{no_patient[0]}"
            with pytest.raises(ValueError, match=match):
                load_nodule_dataset(root)
        elif non_finite:
            with pytest.raises(ValueError, match=f"{non_finite[0]}.*NaN or infinite"):
                load_nodule_dataset(root)
        else:
            data = load_nodule_dataset(root)
            for column in ("full", "nodule"):
                loaded = data.frame[column]
                for row, image in zip(rows, loaded):
                    original = row["images"][column]
                    assert np.can_cast(original.dtype, image.dtype, "safe")
                    np.testing.assert_array_equal(
                        image.astype(original.dtype), original
                    )
                    np.testing.assert_array_equal(image, original)


# --------------------------------------------------------------------------- #
# preprocessing
# --------------------------------------------------------------------------- #
@st.composite
def hu_batches(draw):
    dtype = draw(st.sampled_from(["int16", "uint8", "float32", "float64"]))
    n = draw(st.integers(1, 3))
    same = draw(st.booleans())
    first = draw(st.tuples(st.integers(2, 40), st.integers(2, 40)))
    images = []
    for _ in range(n):
        shape = first if same else draw(st.tuples(st.integers(2, 40),
                                                  st.integers(2, 40)))
        images.append(draw(_image(dtype, shape, finite=True)))
    return images


def _assert_unit_range(output):
    for image in output:
        assert image.dtype == np.float32
        assert np.isfinite(image).all()
        assert image.min() >= 0 and image.max() <= 1


@SETTINGS
@given(
    images=hu_batches(),
    size=st.none() | st.integers(1, 24),
    window=st.tuples(st.integers(-2000, 1000), st.integers(1, 3000)),
    clip_limit=st.floats(0.1, 10),
    tiles=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    bilateral=st.tuples(st.integers(1, 9), st.floats(0.01, 1), st.floats(0.1, 10)),
)
def test_ct_preprocessor_output_is_finite_and_in_unit_range(
    images, size, window, clip_limit, tiles, bilateral
):
    min_hu, width = window
    chain = make_ct_preprocessor(
        size=size, min_hu=min_hu, max_hu=min_hu + width, clip_limit=clip_limit,
        tile_grid_size=tiles, d=bilateral[0], sigma_color=bilateral[1],
        sigma_space=bilateral[2],
    )
    output = chain.fit_transform(images)
    assert len(output) == len(images)
    _assert_unit_range(output)
    if size is not None:
        assert output.shape == (len(images), size, size)


@SETTINGS
@given(
    images=hu_batches(),
    step=st.sampled_from([
        CLAHE(), BilateralFilter(), Resize((7, 5)), CenterCrop(0.5),
        CenterCrop((0.3, 1.0)),
    ]),
)
def test_every_step_after_the_window_stays_in_unit_range(images, step):
    windowed = HUWindow().fit_transform(images)
    _assert_unit_range(windowed)
    _assert_unit_range(step.fit_transform(windowed))


@SETTINGS
@given(
    data=st.data(),
    shape=st.tuples(st.integers(2, 16), st.integers(2, 16)),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_non_finite_pixels_are_rejected_naming_the_sample(data, shape, value):
    n = data.draw(st.integers(2, 4))
    bad = data.draw(st.integers(0, n - 1))
    row = data.draw(st.integers(0, shape[0] - 1))
    col = data.draw(st.integers(0, shape[1] - 1))
    images = [np.zeros(shape, np.float32) for _ in range(n)]
    images[bad][row, col] = value
    with pytest.raises(ValueError, match=rf"sample {bad}\b.*NaN or infinite"):
        make_ct_preprocessor().fit_transform(images)
