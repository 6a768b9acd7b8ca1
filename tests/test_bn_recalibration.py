"""BatchNormRecalibration: running statistics equal those of the training data."""

import numpy as np
import torch
from skorch.helper import predefined_split

from skradnod.callbacks import recalibrate_batchnorm
from skradnod.models import NoduleCNNClassifier
from skradnod.models._data import NetDataset


def _data(n=48, size=16, seed=0):
    rng = np.random.RandomState(seed)
    X = (0.2 + 0.05 * rng.rand(n, size, size)).astype(np.float32)
    y = np.repeat([1, 2], n // 2)
    X[y == 2, 4:12, 4:12] += 0.1
    return X, y


def _first_bn_input_stats(net, X):
    """Mean and (biased) variance over the data of the first BN layer's input."""
    module = net.module_
    bn = next(m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    hook = bn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    module.train()
    with torch.no_grad():
        module(torch.from_numpy(X[:, None]))
    hook.remove()
    module.eval()
    x = seen[0]
    return bn, x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=True)


def test_recalibrated_statistics_are_the_training_data_statistics():
    X, y = _data(n=64)  # two full batches of 32: equal weights in the average
    clf = NoduleCNNClassifier(
        module__width=4, max_epochs=3, random_state=0, n_jobs=1, valid_size=None,
        callbacks__bn_recalibration=None,
    ).fit(X, y)
    bn, mean, var = _first_bn_input_stats(clf, X)
    # Trained without the callback: the running mean lags the data's.
    assert not torch.allclose(bn.running_mean, mean, atol=1e-4)
    n_layers = recalibrate_batchnorm(clf, NetDataset(X, np.zeros(len(X), np.int64)))
    assert n_layers > 0
    # The average of the two batch means is the data mean; the variance, an
    # average of per-batch variances, is close to the whole data's.
    np.testing.assert_allclose(bn.running_mean, mean, atol=1e-5)
    np.testing.assert_allclose(bn.running_var, var, rtol=0.1)
    assert bn.momentum == 0.1  # restored


def test_callback_recalibrates_before_validation():
    X, y = _data(n=64)
    X_valid, y_valid = _data(n=32, seed=1)
    valid = NetDataset(X_valid, np.searchsorted([1, 2], y_valid))
    clf = NoduleCNNClassifier(
        module__width=4, max_epochs=2, patience=None, random_state=0, n_jobs=1,
        train_split=predefined_split(valid),
    ).fit(X, y)
    assert "bn_recalibration" in dict(clf.callbacks_)
    # The statistics the net ended with were estimated on the training data
    # with the final weights, right before the last validation pass.
    bn, mean, _ = _first_bn_input_stats(clf, X)
    np.testing.assert_allclose(bn.running_mean, mean, atol=1e-5)
    # ... and the validation loss of that epoch is the eval-mode loss of them.
    proba = clf.predict_proba(X_valid)
    expected = clf.criterion_(
        torch.log(torch.as_tensor(proba)), torch.as_tensor(valid.y)
    ).item()
    assert abs(clf.history_[-1, "valid_loss"] - expected) < 5e-3


def test_without_validation_it_recalibrates_once_at_the_end():
    X, y = _data(n=64)
    clf = NoduleCNNClassifier(
        module__width=4, max_epochs=2, random_state=0, n_jobs=1, valid_size=None
    ).fit(X, y)
    bn, mean, _ = _first_bn_input_stats(clf, X)
    np.testing.assert_allclose(bn.running_mean, mean, atol=1e-5)


def test_can_be_turned_off():
    X, y = _data()
    clf = NoduleCNNClassifier(
        module__width=4, max_epochs=1, random_state=0, n_jobs=1,
        callbacks__bn_recalibration=None,
    ).fit(X, y)
    assert dict(clf.callbacks_).get("bn_recalibration") is None


def test_a_trailing_batch_of_one_is_skipped():
    X, y = _data(n=34)
    X, y = X[:33], y[:33]  # batches of 32 and 1
    clf = NoduleCNNClassifier(
        module__width=4, max_epochs=1, random_state=0, n_jobs=1, valid_size=None
    ).fit(X, y)
    bn, mean, _ = _first_bn_input_stats(clf, X[:32])
    np.testing.assert_allclose(bn.running_mean, mean, atol=1e-5)
