"""Model files hold the model, not the optimizer state."""

import io
import pickle

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from skradnod.models import AutoencoderEmbedding, NoduleCNNClassifier
from skradnod.preprocessing import make_ct_preprocessor


def _weights_size(module):
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return len(buffer.getvalue())


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randint(-1000, 400, size=(30, 32, 32)).astype(np.int16)
    return X, np.repeat([1, 3, 5], 10)


def _fit(data, **params):
    net = NoduleCNNClassifier(
        module__width=8, max_epochs=2, random_state=0, n_jobs=1, **params
    )
    return make_pipeline(make_ct_preprocessor(size=32), net).fit(*data)


def test_pickled_cnn_pipeline_is_at_most_1_5x_its_weights(data):
    # It was ~6x: AdamW's two moments per weight, pickled twice (the optimizer
    # and the learning-rate scheduler callback that holds it).
    pipe = _fit(data)
    net = pipe[-1]
    blob = pickle.dumps(pipe)
    assert len(blob) <= 1.5 * _weights_size(net.module_)
    loaded = pickle.loads(blob)
    X = data[0]
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    # pickling did not strip the live object
    assert net.optimizer_.state_dict()["state"]
    # the loaded net has a fresh optimizer and trains on
    assert not loaded[-1].optimizer_.state_dict()["state"]
    before = loaded[-1].module_.head.weight.detach().clone()
    loaded[-1].partial_fit(pipe[0].transform(X), data[1])
    assert not torch.equal(before, loaded[-1].module_.head.weight)


def test_warm_start_keeps_the_optimizer_state(data):
    pipe = _fit(data, warm_start=True)
    state = pipe[-1].optimizer_.state_dict()["state"]
    loaded = pickle.loads(pickle.dumps(pipe))[-1].optimizer_.state_dict()["state"]
    assert loaded.keys() == state.keys()
    for key in state:
        torch.testing.assert_close(loaded[key]["exp_avg"], state[key]["exp_avg"])


def test_autoencoder_embedding_pickles_without_optimizer_state():
    rng = np.random.RandomState(0)
    X = rng.rand(16, 16, 16).astype(np.float32)
    emb = AutoencoderEmbedding(
        latent_dim=4, channels=(4, 8), max_epochs=1, random_state=0
    ).fit(X)
    small = len(pickle.dumps(emb))
    emb.net_.warm_start = True
    # AdamW's moments (twice the weights) are what the default pickle leaves out
    dropped = len(pickle.dumps(emb)) - small
    assert dropped >= 1.5 * _weights_size(emb.net_.module_)
    emb.net_.warm_start = False
    np.testing.assert_allclose(
        pickle.loads(pickle.dumps(emb)).transform(X), emb.transform(X)
    )
