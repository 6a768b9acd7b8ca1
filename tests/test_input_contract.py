"""One input contract for arrays, paths and lazy batches.

A lazy batch's items meet the checks of an array batch (size, value range,
finite real pixels) when the loader reads them, and errors name the manifest
row id, also inside a cross-validation fold.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold, cross_validate
from sklearn.pipeline import make_pipeline

from skradnod.io import NrrdLoader, load_nodule_dataset, write_nrrd
from skradnod.models import NoduleCNNClassifier
from skradnod.preprocessing import Resize
from skradnod.utils import LazyImageBatch, check_image, check_image_batch

FAST = {
    "module__width": 4, "max_epochs": 1, "batch_size": 4, "valid_size": None,
    "random_state": 0, "n_jobs": 1,
}


def _write_dataset(root, n=8, size=16, *, bad=None):
    """n NRRD pairs in [0, 1], ids ``case-<i>``; ``bad`` maps a row to its image."""
    rng = np.random.RandomState(0)
    rows = []
    for i in range(n):
        image = rng.rand(size, size).astype(np.float32)
        if bad and i in bad:
            image = bad[i]
        write_nrrd(root / f"full{i}.nrrd", image)
        write_nrrd(root / f"nodule{i}.nrrd", image[:8, :8])
        rows.append({
            "id": f"case-{i}", "full": f"full{i}.nrrd", "nodule": f"nodule{i}.nrrd",
            "malignancy": 1 + 4 * (i % 2), "patient_id": f"p{i // 2}",
        })
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return load_nodule_dataset(root, lazy=True)


@pytest.fixture(scope="module")
def net_on_unit_range():
    rng = np.random.RandomState(1)
    X = rng.rand(8, 16, 16).astype(np.float32)
    return NoduleCNNClassifier(**FAST).fit(X, np.tile([1, 5], 4)), X


def test_raw_hu_lazy_batch_is_rejected_like_arrays_and_paths(
    net_on_unit_range, tmp_path
):
    # On main the lazy batch was predicted ([1, 1] here) while the same images
    # as an array or as paths were rejected.
    net, X = net_on_unit_range
    hu = (X[:3] * 1400 - 1000).astype(np.float32)
    paths = []
    for i, image in enumerate(hu):
        paths.append(str(tmp_path / f"hu{i}.nrrd"))
        write_nrrd(paths[-1], image)
    for batch in (hu, paths, LazyImageBatch(paths), LazyImageBatch(list(hu))):
        with pytest.raises(ValueError, match=r"values in \[-99\d.*raw Hounsfield"):
            net.predict(batch)


def test_lazy_item_outside_the_range_is_named_by_row_id(net_on_unit_range, tmp_path):
    # Only a later item is raw HU: the first image passes, the data loader's
    # read of that item fails and names its manifest row, not its position.
    net, X = net_on_unit_range
    data = _write_dataset(tmp_path, bad={5: (X[5] * 1400 - 1000)})
    lazy = NrrdLoader(lazy=True).fit_transform(data.frame["full"])
    assert lazy.ids == [f"case-{i}" for i in range(8)]
    fold = lazy[np.array([1, 3, 5, 7])]  # row case-5 is position 2 of the fold
    with pytest.raises(ValueError, match=r"row id='case-5' \('.*full5\.nrrd'\) of X"):
        net.predict(fold)
    # the batch the net reads (first item checked at once), pickled as for
    # data-loader workers, checks each item as it is read
    checked = pickle.loads(pickle.dumps(net._check_X(fold, reset=False)))
    assert checked[1].shape == (16, 16)
    with pytest.raises(ValueError, match=r"row id='case-5'"):
        checked[2]
    # a batch without ids names the position, as before
    with pytest.raises(ValueError, match=r"sample 2 \('.*full5\.nrrd'\) of X"):
        net.predict(LazyImageBatch(fold.sources))


def test_bad_row_in_a_cross_validation_fold_is_named_by_manifest_id(tmp_path):
    # A NaN slice planted in row case-6: cross-validation on the lazy frame
    # column fails in the fold that trains on it, naming the manifest row (on
    # main: "sample <position in the fold>").
    nan_image = np.random.RandomState(2).rand(16, 16).astype(np.float32)
    nan_image[3, 3] = np.nan
    data = _write_dataset(tmp_path, bad={6: nan_image})
    pipe = make_pipeline(
        NrrdLoader(lazy=True), Resize((16, 16)), NoduleCNNClassifier(**FAST)
    )
    with pytest.raises(ValueError, match=r"row id='case-6' .*NaN or infinite"):
        cross_validate(
            pipe, data.frame["full"], data.target, groups=data.groups,
            cv=StratifiedGroupKFold(2), error_score="raise",
        )


def test_lazy_fit_learns_range_and_checks_every_size(tmp_path):
    data = _write_dataset(tmp_path, n=6)
    write_nrrd(tmp_path / "full4.nrrd", np.zeros((20, 20), np.float32))
    lazy = NrrdLoader(lazy=True).fit_transform(data.frame["full"])
    with pytest.raises(ValueError, match=r"row id='case-4' .* has shape \(20, 20\)"):
        NoduleCNNClassifier(**FAST).fit(lazy, data.target)
    net = NoduleCNNClassifier(**FAST).fit(lazy[[0, 1, 2, 3]], data.target[:4])
    low, high = net.input_range_
    assert 0 <= low < 0.1 and 0.9 < high <= 1  # the images are rand() in [0, 1)


def test_frame_column_errors_name_the_row_id():
    column = pd.Series(
        [np.zeros((4, 4)), np.full((4, 4), np.inf)],
        index=pd.Index(["a-01", "b-02"], name="id"),
    )
    with pytest.raises(ValueError, match=r"row id='b-02' contains NaN"):
        check_image_batch(column)
    with pytest.raises(ValueError, match=r"^Image batch sample 1 contains NaN"):
        check_image_batch(list(column))


def test_lazy_batch_ids_follow_every_selection():
    batch = LazyImageBatch([np.zeros((2, 2))] * 4, ids=np.array(["w", "x", "y", "z"]))
    assert batch[1:3].ids == ["x", "y"]
    assert batch[np.array([True, False, False, True])].ids == ["w", "z"]
    assert batch.take([2]).ids == ["y"] and batch.with_step(np.abs).ids == batch.ids
    assert LazyImageBatch([np.zeros((2, 2))]).ids is None
    with pytest.raises(ValueError, match="2 ids for 1 sources"):
        LazyImageBatch([np.zeros((2, 2))], ids=["a", "b"])


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_images_are_refused(dtype):
    # On main the imaginary part was dropped silently by the float32 cast.
    image = np.full((4, 4), 1 + 2j, dtype=dtype)
    with pytest.raises(ValueError, match=r"sample 0 has complex dtype complex"):
        check_image(image, 0)
    with pytest.raises(ValueError, match=r"X has complex dtype"):
        check_image_batch(image[np.newaxis])
    with pytest.raises(ValueError, match=r"row id='c7' has complex dtype"):
        LazyImageBatch([image], ids=["c7"])[0]
    with pytest.raises(ValueError, match="complex dtype"):
        Resize((2, 2)).fit_transform([image])
