"""skradnod.models._speed: mixed precision, the CUDA data path, torch.compile.

Everything here runs on CPU: bf16/fp16 autocast works there too, the CUDA data
path is exercised on CPU by pretending the device is a GPU, and torch.compile
runs with its "eager" backend (the default inductor backend took 108 s for a
tiny net on this 2-core machine, too long for the suite; it is what
``benchmarks/gpu_check.sh`` times on a GPU). Tests that need a real GPU are in
``tests/test_gpu.py``.
"""

import pickle

import numpy as np
import pytest
import torch
from _synthetic import make_bright_centres
from skorch import NeuralNetClassifier

from skradnod.compose import FusionClassifier
from skradnod.models import (
    AutoencoderEmbedding,
    CenterRegressionClassifier,
    FeatureNetClassifier,
    NoduleCNNClassifier,
    TransferClassifier,
)
from skradnod.models._data import BatchCollate, augment_batch
from skradnod.models._speed import DeviceAugmentLoader, SpeedMixin, resolve_precision

TINY = {"module__width": 4, "lr": 1e-2, "random_state": 0, "n_jobs": 1}


class _SkorchOnly(NoduleCNNClassifier):
    """The net with every speed hook handed straight to skorch (the old code)."""

    train_step_single = NeuralNetClassifier.train_step_single
    validation_step = NeuralNetClassifier.validation_step
    evaluation_step = NeuralNetClassifier.evaluation_step
    _step_optimizer = NeuralNetClassifier._step_optimizer
    torch_compile = NeuralNetClassifier.torch_compile

    def build_loader(self, iterator, dataset, *, training, **kwargs):
        return iterator(dataset, **kwargs)


def _input_dtypes(clf):
    """Record the dtype of the first conv's output at every forward pass."""
    seen = []
    conv = next(m for m in clf.module_.modules() if isinstance(m, torch.nn.Conv2d))
    conv.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    return seen


def test_auto_precision_is_float32_on_cpu():
    assert resolve_precision("auto", "cpu") == "32"
    assert resolve_precision("fp16", "cpu") == "fp16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("16", "cpu")


def test_default_cpu_training_is_skorch_unchanged():
    # Same seed: the speed layer must leave a CPU fit bit-for-bit as it was.
    X, y = make_bright_centres(40)
    new = NoduleCNNClassifier(max_epochs=4, **TINY).fit(X, y)
    old = _SkorchOnly(max_epochs=4, **TINY).fit(X, y)
    np.testing.assert_array_equal(new.predict_proba(X), old.predict_proba(X))
    assert new._grad_scaler_ is None


def test_bf16_autocast_on_cpu_trains_and_predicts():
    X, y = make_bright_centres(40)
    ref = NoduleCNNClassifier(max_epochs=15, **TINY).fit(X, y)
    clf = NoduleCNNClassifier(max_epochs=15, precision="bf16", **TINY).fit(X, y)
    seen = _input_dtypes(clf)
    proba = clf.predict_proba(X)
    # Autocast was on (the conv ran in bfloat16), the output is float32 again.
    assert seen and set(seen) == {torch.bfloat16}  # every batch
    assert proba.dtype == np.float32
    np.testing.assert_array_equal(clf.predict(X), y)
    # bfloat16 arithmetic gives a (slightly) different model than float32.
    assert not np.array_equal(proba, ref.predict_proba(X))
    np.testing.assert_allclose(proba, ref.predict_proba(X), atol=0.2)


def test_fp16_uses_a_grad_scaler_and_learns():
    X, y = make_bright_centres(40)
    clf = NoduleCNNClassifier(max_epochs=15, precision="fp16", **TINY).fit(X, y)
    scaler = clf._grad_scaler_
    assert isinstance(scaler, torch.amp.GradScaler)
    # The scaler took part in the steps: its scale left the initial 2**16 or
    # its growth tracker counted unskipped steps.
    assert scaler.get_scale() != 2.0**16 or scaler._get_growth_tracker() > 0
    np.testing.assert_array_equal(clf.predict(X), y)


def test_compile_is_passed_to_torch_compile():
    X, y = make_bright_centres(40)
    kwargs = dict(max_epochs=3, **TINY)
    plain = NoduleCNNClassifier(**kwargs).fit(X, y)
    clf = NoduleCNNClassifier(compile=True, compile__backend="eager", **kwargs)
    clf.fit(X, y)
    assert type(clf.module_).__name__ == "OptimizedModule"
    # The eager backend traces the module without generating code: same numbers.
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize(
    "estimator",
    [
        NoduleCNNClassifier(),
        FeatureNetClassifier(),
        FusionClassifier([]),
        TransferClassifier(),
        CenterRegressionClassifier(),
        AutoencoderEmbedding(),
    ],
    ids=lambda est: type(est).__name__,
)
def test_every_net_lists_the_speed_parameters(estimator):
    params = estimator.get_params()
    assert params["precision"] == "auto"
    assert params["compile"] is False
    estimator.set_params(precision="bf16")
    assert estimator.get_params()["precision"] == "bf16"


def test_invalid_precision_names_the_parameter():
    X, y = make_bright_centres(40)
    with pytest.raises(ValueError, match="'precision'"):
        NoduleCNNClassifier(precision="half", **TINY).fit(X, y)


def test_autoencoder_trains_in_bf16():
    X, _ = make_bright_centres(16)
    ae = AutoencoderEmbedding(
        latent_dim=4, channels=(4, 8), max_epochs=2, valid_size=None,
        random_state=0, precision="bf16",
    ).fit(X)
    assert ae.net_.precision == "bf16"
    assert np.isfinite(ae.history_[:, "train_loss"]).all()
    assert ae.transform(X).shape == (16, 4)


# --------------------------------------------------------------------------- #
# the CUDA data path, run on CPU by pretending the device is a GPU
# --------------------------------------------------------------------------- #
class _CountingLoader(torch.utils.data.DataLoader):
    created = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _CountingLoader.created.append(self)


class _Recording(NoduleCNNClassifier):
    """Records whether each batch reaching the module is channels-last."""

    seen = []

    def infer(self, x, **fit_params):
        _Recording.seen.append(x.is_contiguous(memory_format=torch.channels_last))
        return super().infer(x, **fit_params)


@pytest.mark.filterwarnings("ignore:.*pin_memory")
def test_gpu_data_path_augments_after_the_loader(monkeypatch):
    monkeypatch.setattr(SpeedMixin, "_on_cuda", lambda self: True)
    _CountingLoader.created = []
    _Recording.seen = []
    X, y = make_bright_centres(40)
    clf = _Recording(
        max_epochs=15, iterator_train=_CountingLoader,
        iterator_train__num_workers=1, **TINY,
    ).fit(X, y)
    np.testing.assert_array_equal(clf.predict(X), y)
    # One training loader for the whole fit (persistent workers), pinned memory,
    # and its collate no longer augments: the augmentation runs on the batch.
    (loader,) = _CountingLoader.created
    assert loader.persistent_workers and loader.pin_memory
    assert loader.num_workers == 1
    assert loader.collate_fn.augment is False
    # The batches it stacks are augmented after the loader, on the device.
    train_loader = clf.get_iterator(clf.get_dataset(X[:4], y[:4]), training=True)
    assert isinstance(train_loader, DeviceAugmentLoader)
    assert train_loader.augmenter.augment is True
    assert train_loader.loader.collate_fn.augment is False
    # The module is channels-last, and so is every image batch it gets.
    conv = next(m for m in clf.module_.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert len(_Recording.seen) > 15 and all(_Recording.seen)


def test_device_augment_loader_applies_the_collate_augmentation():
    X = torch.arange(32.0).reshape(2, 1, 4, 4)
    y = torch.tensor([0, 1])
    collate = BatchCollate(augment=True, rotation=30.0)
    torch.manual_seed(0)
    ((X_aug, y_aug),) = list(DeviceAugmentLoader([(X, y)], "cpu", collate))
    torch.manual_seed(0)
    expected = augment_batch(X, rotation=30.0)
    assert torch.equal(X_aug, expected)
    assert not torch.equal(X_aug, X)
    assert torch.equal(y_aug, y)
    assert len(DeviceAugmentLoader([(X, y)] * 3, "cpu", collate)) == 3
