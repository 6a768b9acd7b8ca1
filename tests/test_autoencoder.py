"""AutoencoderEmbedding: learns to reconstruct, latent vectors feed a classifier."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skradnod.models import AutoencoderEmbedding
from skradnod.nn import ConvAutoencoder


def _discs(n=48, size=16, seed=0):
    """Images in [0, 1]: a bright disc left (class 0) or right (class 1)."""
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:size, :size]
    images, labels = [], []
    for i in range(n):
        label = i % 2
        r = rng.randint(4, size - 4)
        c = rng.randint(3, 6) + label * (size - 9)
        image = 0.1 + 0.05 * rng.rand(size, size)
        image[(rr - r) ** 2 + (cc - c) ** 2 <= rng.randint(4, 9)] = 0.9
        images.append(image.astype(np.float32))
        labels.append(label)
    return np.stack(images), np.array(labels)


def _embedding(max_epochs):
    return AutoencoderEmbedding(
        latent_dim=8, channels=(8, 16), max_epochs=max_epochs, batch_size=8,
        lr=1e-2, valid_size=None, patience=None, lr_patience=None, augment=False,
        random_state=0,
    )


@pytest.fixture(scope="module")
def trained():
    X, y = _discs()
    return _embedding(15).fit(X), X, y


def test_reconstructs_better_than_after_the_first_epoch(trained):
    ae, X, _ = trained
    first = _embedding(1).fit(X).reconstruction_error(X).mean()
    final = ae.reconstruction_error(X).mean()
    assert final < 0.5 * first
    # The decoder of the latent vectors gives those reconstructions.
    rebuilt = ae.inverse_transform(ae.transform(X))
    assert rebuilt.shape == X.shape
    np.testing.assert_allclose(
        ((rebuilt - X) ** 2).mean(axis=(1, 2)), ae.reconstruction_error(X),
        rtol=1e-4, atol=1e-6,
    )


def test_latent_vectors_feed_a_classifier_in_a_pipeline(trained):
    _, X, y = trained
    X_test, y_test = _discs(24, seed=1)
    pipe = make_pipeline(_embedding(15), LogisticRegression(max_iter=1000))
    pipe.fit(X, y)
    assert pipe.score(X_test, y_test) >= 0.9
    Z = pipe[0].transform(X_test)
    assert Z.shape == (24, 8) and Z.dtype == np.float32
    assert list(pipe[0].get_feature_names_out()) == [
        f"autoencoderembedding{i}" for i in range(8)
    ]


def test_same_seed_same_embedding_and_size_check(trained):
    ae, X, _ = trained
    again = _embedding(15).fit(X)
    np.testing.assert_allclose(again.transform(X), ae.transform(X), rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(16, 16\)"):
        ae.transform(np.zeros((2, 20, 20), dtype=np.float32))
    with pytest.raises(ValueError, match="latent"):
        ae.inverse_transform(np.zeros((2, 3)))


def test_conv_autoencoder_shapes_and_errors():
    ae = ConvAutoencoder(input_size=(33, 50), latent_dim=5, channels=(4, 8))
    x = torch.rand(3, 33, 50)
    assert ae.encode(x).shape == (3, 5)
    out = ae(x)
    assert out.shape == (3, 1, 33, 50) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="too small"):
        ConvAutoencoder(input_size=(6, 6), channels=(4, 8, 16))
    with pytest.raises(ValueError, match=r"built for \(33, 50\)"):
        ae(torch.rand(1, 1, 32, 32))
