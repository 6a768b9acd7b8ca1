"""Lazy full-slice batches: paths -> lazy preprocessing -> nets, same answers."""

import os

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from skradnod.io import NrrdLoader, load_nodule_dataset, write_nrrd
from skradnod.models import (
    AutoencoderEmbedding,
    CenterRegressionClassifier,
    NoduleCNNClassifier,
)
from skradnod.preprocessing import make_ct_preprocessor
from skradnod.utils import LazyImageBatch


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small paired NRRD data set in HU: a nodule-like disc in each slice."""
    root = tmp_path_factory.mktemp("slices")
    rng = np.random.RandomState(0)
    size = 40
    rr, cc = np.mgrid[:size, :size]
    rows = []
    for i in range(12):
        r, c = rng.randint(10, size - 10, 2)
        image = rng.normal(-800, 60, (size, size))
        image[(rr - r) ** 2 + (cc - c) ** 2 <= 9 + (i % 2) * 16] = 30
        image = image.astype(np.int16)
        write_nrrd(root / f"full{i}.nrrd", image)
        write_nrrd(root / f"nodule{i}.nrrd", image[r - 7 : r + 8, c - 7 : c + 8])
        rows.append({
            "id": f"n{i}", "full": f"full{i}.nrrd", "nodule": f"nodule{i}.nrrd",
            "malignancy": 1 + 3 * (i % 2), "patient_id": f"p{i // 2}",
        })
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def _cnn(**params):
    return NoduleCNNClassifier(
        module__width=4, max_epochs=2, batch_size=4, valid_size=None,
        random_state=0, **params,
    )


def test_lazy_pipeline_predicts_like_in_memory(dataset):
    lazy = load_nodule_dataset(dataset, lazy=True)
    memory = load_nodule_dataset(dataset)
    assert all(isinstance(p, str) and p.endswith(".nrrd") for p in lazy.full)

    def pipe(lazy_loading, **params):
        return make_pipeline(
            NrrdLoader(lazy=lazy_loading), make_ct_preprocessor(size=32),
            _cnn(**params),
        )

    # Augmentation off: in loader workers its random draws come from the
    # workers' own generators, so only the images read can be compared.
    reference = pipe(False, augment=False).fit(memory.full, memory.target)
    expected = reference.predict_proba(memory.full)
    # The lazy chain computes nothing up front: the net gets a lazy batch.
    lazy_batch = reference[:-1].set_params(nrrdloader__lazy=True).transform(lazy.full)
    assert isinstance(lazy_batch, LazyImageBatch) and len(lazy_batch.steps) >= 3
    np.testing.assert_allclose(
        reference[-1].predict_proba(lazy_batch), expected, rtol=1e-5, atol=1e-6
    )
    # Trained from paths, read item by item in the data loader (also in worker
    # processes): the same seed gives the same model as in memory.
    for workers in (0, 2):
        fitted = pipe(
            True, augment=False, iterator_train__num_workers=workers
        ).fit(
            lazy.full, lazy.target
        )
        np.testing.assert_allclose(
            fitted.predict_proba(lazy.full), expected, rtol=1e-4, atol=1e-5
        )


def test_lazy_autoencoder_matches_in_memory(dataset):
    lazy = load_nodule_dataset(dataset, lazy=True)
    prep = make_pipeline(NrrdLoader(lazy=True), make_ct_preprocessor(size=16))
    batch = prep.fit_transform(lazy.full)
    images = batch.materialize()
    params = {
        "latent_dim": 4, "channels": (4, 8), "max_epochs": 2, "batch_size": 4,
        "valid_size": None, "random_state": 0, "augment": False,
    }
    from_lazy = AutoencoderEmbedding(**params, num_workers=2).fit(batch)
    from_memory = AutoencoderEmbedding(**params).fit(images)
    np.testing.assert_allclose(
        from_lazy.transform(batch), from_memory.transform(images),
        rtol=1e-4, atol=1e-5,
    )


def test_center_regression_reads_paths_lazily(dataset):
    lazy = load_nodule_dataset(dataset, lazy=True)
    memory = load_nodule_dataset(dataset)
    params = {
        "backbone": "nodule_cnn", "module__width": 4, "max_epochs": 2,
        "batch_size": 4, "valid_size": None, "random_state": 0,
    }
    from_paths = CenterRegressionClassifier(
        preprocessor=make_ct_preprocessor(), **params
    ).fit(lazy.frame, lazy.target)
    from_arrays = CenterRegressionClassifier(
        preprocessor=make_ct_preprocessor(), **params
    ).fit(memory.frame, memory.target)
    # Same centre targets, same model, whether the slices were paths or arrays.
    np.testing.assert_allclose(from_paths.match_score_, from_arrays.match_score_)
    np.testing.assert_allclose(
        from_paths.predict_center(lazy.frame), from_arrays.predict_center(memory.frame),
        rtol=1e-4, atol=1e-5,
    )
    assert all(os.path.isfile(p) for p in lazy.frame["full"])


def test_image_steps_read_each_file_once_and_lazy_chains_none(tmp_path, monkeypatch):
    import skradnod.base._batch as batch_module
    from skradnod.preprocessing import ImageChain, Resize

    paths = []
    for i in range(3):
        paths.append(os.fspath(tmp_path / f"{i}.nrrd"))
        write_nrrd(paths[-1], np.full((16, 16), -500 + i, np.int16))
    reads = []
    read = batch_module.read_nrrd
    monkeypatch.setattr(
        batch_module, "read_nrrd", lambda path: reads.append(path) or read(path)
    )
    out = make_ct_preprocessor(size=8).fit_transform(paths)
    assert out.shape == (3, 8, 8) and sorted(reads) == sorted(paths)
    reads.clear()
    NrrdLoader().fit_transform(paths)
    assert sorted(reads) == sorted(paths)
    reads.clear()
    lazy = ImageChain(
        [("load", NrrdLoader(lazy=True)), ("resize", Resize((8, 8)))]
    ).fit_transform(paths)
    assert isinstance(lazy, LazyImageBatch) and reads == []
