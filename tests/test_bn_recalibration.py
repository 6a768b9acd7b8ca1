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


def _subset_net(max_samples):
    return NoduleCNNClassifier(
        module__width=4, max_epochs=2, random_state=0, n_jobs=1, valid_size=None,
        batch_size=16, callbacks__bn_recalibration__max_samples=max_samples,
    )


def test_max_samples_estimates_on_evenly_spaced_training_samples():
    X, y = _data(n=64)
    clf = _subset_net(16).fit(X, y)
    # No random numbers are drawn for the subset: the same seed, the same net.
    again = _subset_net(16).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert dict(clf.callbacks_)["bn_recalibration"].max_samples == 16
    # (_first_bn_input_stats runs the net in training mode: call it last.)
    every = np.linspace(0, 63, 16).round().astype(int)
    running = clf.module_.features[0][1].running_mean.clone()
    _, subset_mean, _ = _first_bn_input_stats(clf, X[every])
    # The statistics are those of the 16 chosen samples (one batch).
    np.testing.assert_allclose(running, subset_mean, atol=1e-5)
    whole = _subset_net(None).fit(X, y)
    running_whole = whole.module_.features[0][1].running_mean.clone()
    _, whole_mean, _ = _first_bn_input_stats(whole, X)
    np.testing.assert_allclose(running_whole, whole_mean, atol=1e-5)
    # The two estimates differ: the classes differ in the crops' centres.
    _, subset_of_whole, _ = _first_bn_input_stats(whole, X[every])
    assert not torch.allclose(subset_of_whole, whole_mean, atol=1e-5)
