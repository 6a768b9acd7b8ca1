"""A fitted image net remembers its input contract."""

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from skradnod.io import write_nrrd
from skradnod.models import NoduleCNNClassifier
from skradnod.models._contract import allowed_range
from skradnod.preprocessing import make_ct_preprocessor
from skradnod.utils import LazyImageBatch

FAST = {"module__width": 4, "max_epochs": 1, "random_state": 0, "n_jobs": 1}


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.randint(-1000, 400, size=(24, 32, 32)).astype(np.int16)
    y = np.repeat([1, 5], 12)
    pipe = make_pipeline(make_ct_preprocessor(size=32), NoduleCNNClassifier(**FAST))
    return pipe.fit(X, y), X


def test_net_records_size_and_range(fitted):
    pipe, _ = fitted
    net = pipe[-1]
    assert net.input_shape_ == (32, 32)
    low, high = net.input_range_
    assert 0 <= low < 0.2 and 0.8 < high <= 1


def test_other_size_is_rejected_naming_the_sample(fitted):
    pipe, X = fitted
    net = pipe[-1]
    Xt = pipe[0].transform(X)
    big = np.stack([np.kron(image, np.ones((3, 3)))[:48, :48] for image in Xt])
    with pytest.raises(ValueError, match=r"shape \(32, 32\).*sample 0.*\(48, 48\)"):
        net.predict(big)
    # the same images resized by the pipeline pass
    assert pipe.predict(X).shape == (24,)


def test_raw_hu_is_rejected_naming_the_sample(fitted):
    pipe, X = fitted
    net = pipe[-1]
    Xt = pipe[0].transform(X)
    mixed = Xt.copy()
    mixed[5] = X[5]  # one sample still in HU
    with pytest.raises(ValueError, match=r"sample 5 of X has values in \[-1000"):
        net.predict_proba(mixed)
    # a mild shift of preprocessed values stays inside the tolerance
    assert net.predict(np.clip(Xt * 1.1 - 0.05, -0.1, 1.1)).shape == (24,)


def test_tolerance_is_one_range_width():
    assert allowed_range((0.0, 1.0)) == (-1.0, 2.0)
    assert allowed_range((-1000.0, 400.0)) == (-2400.0, 1800.0)
    # a constant training set still gets a usable range
    assert allowed_range((3.0, 3.0)) == (0.0, 6.0)


def test_lazy_batches_check_the_size(tmp_path):
    rng = np.random.RandomState(0)
    paths = []
    for i, size in enumerate([16] * 8 + [24]):
        write_nrrd(tmp_path / f"{i}.nrrd", rng.rand(size, size).astype(np.float32))
        paths.append(str(tmp_path / f"{i}.nrrd"))
    y = np.tile([0, 1], 4)
    net = NoduleCNNClassifier(**FAST).fit(LazyImageBatch(paths[:8]), y)
    # A lazy fit learns the range as an array fit does.
    assert net.input_shape_ == (16, 16)
    low, high = net.input_range_
    assert 0 <= low < 0.1 and 0.9 < high <= 1
    with pytest.raises(ValueError, match=r"\(16, 16\).*\(24, 24\)"):
        net.predict(LazyImageBatch(paths[8:]))


def test_labels_outside_1_to_5_are_arbitrary_classes():
    # Decided: a net is a generic classifier and keeps any labels as given;
    # the 1-5 malignancy scale is checked where data enter (the manifest).
    rng = np.random.RandomState(0)
    X = rng.rand(20, 16, 16).astype(np.float32)
    y = np.repeat([0, 7], 10)
    X[y == 7, 4:12, 4:12] += 1.0
    net = NoduleCNNClassifier(**{**FAST, "max_epochs": 2}).fit(X, y)
    np.testing.assert_array_equal(net.classes_, [0, 7])
    assert set(net.predict(X)) <= {0, 7}
