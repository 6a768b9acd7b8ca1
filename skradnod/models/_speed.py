"""Training-speed options of the nets: mixed precision, GPU data path, compile.

:class:`SpeedMixin` sits left of skorch's ``NeuralNet`` in every skradnod net
and customises it only through skorch's hooks (``train_step_single``,
``validation_step``, ``evaluation_step``, ``_step_optimizer``,
``torch_compile``, ``initialize``), the way skorch's own ``AccelerateMixin``
adds automatic mixed precision; the fit loop stays skorch's.

What it does, and when:

- ``precision`` (a parameter): ``"32"`` trains in float32; ``"bf16"`` and
  ``"fp16"`` run the forward pass and the loss under :func:`torch.autocast`
  (``"fp16"`` with a :class:`torch.amp.GradScaler`); ``"auto"`` is ``"bf16"``
  on a CUDA device that supports it and ``"32"`` everywhere else, so CPU runs
  are unchanged.
- ``compile`` (skorch's parameter): ``torch.compile`` on the module.
- On CUDA only, because they cannot change what is learned: the module and the
  image batches in channels-last memory format; pinned host memory for the
  data loader, with non-blocking copies to the GPU; persistent loader workers
  (one loader kept for the whole ``fit``) when ``num_workers > 0``; and the
  training augmentation (flips, rotations) applied to the batch after it is on
  the GPU instead of in the loader, so the loader only stacks arrays.

On CPU with ``precision="32"`` (or ``"auto"``) every hook hands over to
skorch's unchanged code, so the same seed gives the same model as before.
"""

import copy
from contextlib import nullcontext

import torch
from sklearn.utils._param_validation import StrOptions
from skorch.dataset import unpack_data

from ..base import resolve_device

__all__ = ["DeviceAugmentLoader", "SpeedMixin", "resolve_precision"]

PRECISIONS = ("32", "bf16", "fp16", "auto")

#: Parameter constraints of the options, merged into each net's.
SPEED_PARAMETER_CONSTRAINTS = {
    "precision": [StrOptions(set(PRECISIONS))],
    "compile": ["boolean"],
}


def resolve_precision(precision, device):
    """The precision a net uses on ``device`` (``"auto"`` resolved).

    Parameters
    ----------
    precision : {"32", "bf16", "fp16", "auto"}
        The net's ``precision`` parameter.
    device : str or torch.device
        The device the net runs on.

    Returns
    -------
    precision : {"32", "bf16", "fp16"}
        ``"auto"`` becomes ``"bf16"`` on a CUDA device with bfloat16 support,
        else ``"32"``; the other values are returned as given.

    Examples
    --------
    >>> from skradnod.models._speed import resolve_precision
    >>> resolve_precision("auto", "cpu")
    '32'
    >>> resolve_precision("bf16", "cpu")
    'bf16'
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {PRECISIONS}; got {precision!r}."
        )
    if precision != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "32"


def _to(x, device):
    """Move a tensor (or a dict of them) to ``device``, non-blocking."""
    if isinstance(x, dict):
        return {key: _to(value, device) for key, value in x.items()}
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    return x


def _channels_last(x):
    if isinstance(x, dict):
        return {key: _channels_last(value) for key, value in x.items()}
    if isinstance(x, torch.Tensor) and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _float32(y):
    """Cast low-precision outputs back to float32 (numpy has no bfloat16)."""
    if isinstance(y, torch.Tensor):
        return y.float() if y.is_floating_point() else y
    if isinstance(y, tuple):
        return tuple(_float32(item) for item in y)
    if isinstance(y, list):
        return [_float32(item) for item in y]
    if isinstance(y, dict):
        return {key: _float32(value) for key, value in y.items()}
    return y


class DeviceAugmentLoader:
    """Iterate a data loader, moving each batch to a device and augmenting it there.

    The CUDA data path's training loader: the wrapped loader's collate only
    stacks arrays (in its workers), and the flips and rotations run on the GPU
    batch. Its length and batch order are the wrapped loader's.

    Parameters
    ----------
    loader : iterable of (X, y) batches
        The data loader (its collate function does not augment).
    device : torch.device
        Where the batches go.
    augmenter : object with ``augment_batch(X, y) -> (X, y)``
        The augmentation (a training :class:`~skradnod.models._data.BatchCollate`).

    Examples
    --------
    >>> import torch
    >>> from skradnod.models._data import BatchCollate
    >>> from skradnod.models._speed import DeviceAugmentLoader
    >>> batches = [(torch.arange(16.0).reshape(1, 1, 4, 4), torch.tensor([0]))]
    >>> flip = BatchCollate(augment=True, rotation=0.0)
    >>> _ = torch.manual_seed(1)
    >>> X, y = next(iter(DeviceAugmentLoader(batches, "cpu", flip)))
    >>> sorted(X.flatten().tolist()) == list(range(16)), len(batches)
    (True, 1)
    """

    def __init__(self, loader, device, augmenter):
        self.loader = loader
        self.augmenter = augmenter
        self.device = device

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for Xi, yi in self.loader:
            Xi, yi = _to(Xi, self.device), _to(yi, self.device)
            yield self.augmenter.augment_batch(Xi, yi)


class SpeedMixin:
    """skorch hooks for mixed precision, the CUDA data path and ``torch.compile``.

    Mix it in left of a skorch ``NeuralNet`` that has a ``precision``
    attribute (and skorch's ``compile``), and build the data loaders through
    :meth:`build_loader`. See the module docstring for what happens where.

    Notes
    -----
    A collate function can have its augmentation moved to the GPU: it needs an
    ``augment`` attribute and an ``augment_batch(X, y) -> (X, y)`` method that
    works on tensors of any device (see
    :class:`~skradnod.models._data.BatchCollate`). Collate functions without
    them keep augmenting in the loader.
    """

    # ------------------------------------------------------------------ #
    # where and how
    # ------------------------------------------------------------------ #
    def _speed_device(self):
        device = getattr(self, "device_", None) or self.device
        return torch.device(resolve_device(device) if device == "auto" else device)

    def _on_cuda(self):
        return self._speed_device().type == "cuda"

    def _precision(self):
        return resolve_precision(
            getattr(self, "precision", "32"), self._speed_device()
        )

    def _speed_plan(self):
        """``(device, precision)`` when a speed option applies, else None.

        Resolved once per step (not per helper call): the hooks below then
        hand a plain CPU float32 step to skorch unchanged.
        """
        device = self._speed_device()
        precision = resolve_precision(getattr(self, "precision", "32"), device)
        if device.type != "cuda" and precision == "32":
            return None
        return device, precision

    @staticmethod
    def _autocast(device, precision):
        if precision == "32":
            return nullcontext()
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device_type=device.type, dtype=dtype)

    @staticmethod
    def _prepare_batch(Xi, yi, device):
        """Move a batch to the GPU (if not there yet); images channels-last."""
        if device.type != "cuda":
            return Xi, yi
        Xi, yi = _to(Xi, device), _to(yi, device)
        return _channels_last(Xi), yi

    # ------------------------------------------------------------------ #
    # skorch hooks
    # ------------------------------------------------------------------ #
    def initialize(self):
        super().initialize()
        # fp16 gradients underflow without loss scaling; bf16 has float32's
        # exponent range and needs none.
        self._grad_scaler_ = (
            torch.amp.GradScaler(self._speed_device().type)
            if self._precision() == "fp16"
            else None
        )
        return self

    def torch_compile(self, module, name):
        # skorch calls this hook on each module right after moving it to the
        # device: the place to switch the module's memory format.
        if name in self._modules and self._on_cuda():
            module = module.to(memory_format=torch.channels_last)
        return super().torch_compile(module, name)

    def train_step_single(self, batch, **fit_params):
        plan = self._speed_plan()
        if plan is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi, yi = self._prepare_batch(Xi, yi, plan[0])
        with self._autocast(*plan):
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        # Backward outside autocast, as torch.amp recommends.
        scaler = getattr(self, "_grad_scaler_", None)
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        # Scoring callbacks cache y_pred and convert it to numpy.
        return {"loss": loss, "y_pred": _float32(y_pred)}

    def _step_optimizer(self, step_fn):
        scaler = getattr(self, "_grad_scaler_", None)
        if scaler is None or step_fn is None:
            return super()._step_optimizer(step_fn)
        # A GradScaler cannot step an optimizer through a closure (skorch's
        # AccelerateMixin steps explicitly for the same reason).
        step_fn()
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return None

    def validation_step(self, batch, **fit_params):
        plan = self._speed_plan()
        if plan is None:
            return super().validation_step(batch, **fit_params)
        Xi, yi = unpack_data(batch)
        batch = self._prepare_batch(Xi, yi, plan[0])
        with self._autocast(*plan):
            step = super().validation_step(batch, **fit_params)
        return {**step, "y_pred": _float32(step["y_pred"])}

    def evaluation_step(self, batch, training=False):
        plan = self._speed_plan()
        if plan is None:
            return super().evaluation_step(batch, training=training)
        Xi, yi = unpack_data(batch)
        batch = self._prepare_batch(Xi, yi, plan[0])
        with self._autocast(*plan):
            y_infer = super().evaluation_step(batch, training=training)
        return _float32(y_infer)

    # ------------------------------------------------------------------ #
    # data loading
    # ------------------------------------------------------------------ #
    def build_loader(self, iterator, dataset, *, training, **kwargs):
        """Create the data loader with the CUDA data-path options.

        Parameters
        ----------
        iterator : type
            The loader class (skorch's ``iterator_train`` / ``iterator_valid``).
        dataset : torch.utils.data.Dataset
            The data.
        training : bool
            Whether this is the training loader.
        **kwargs
            The loader's arguments. On CUDA, ``pin_memory=True`` and (with
            ``num_workers > 0``) ``persistent_workers=True`` are added unless
            given, and a training collate function that can augment on the
            device (see the class Notes) stops augmenting in the loader.

        Returns
        -------
        loader : iterable of batches
        """
        if not self._on_cuda() or not (
            isinstance(iterator, type)
            and issubclass(iterator, torch.utils.data.DataLoader)
        ):
            return iterator(dataset, **kwargs)
        kwargs.setdefault("pin_memory", True)
        if kwargs.get("num_workers", 0) > 0:
            # skorch builds the training and validation loaders once per fit
            # (and BatchNormRecalibration its own): workers live for the fit.
            kwargs.setdefault("persistent_workers", True)
        augmenter = None
        collate = kwargs.get("collate_fn")
        if (
            training
            and getattr(collate, "augment", False)
            and hasattr(collate, "augment_batch")
        ):
            # The loader only stacks; the batch is augmented once on the GPU.
            augmenter = collate
            collate = copy.copy(collate)
            collate.augment = False
            kwargs["collate_fn"] = collate

        loader = iterator(dataset, **kwargs)
        if augmenter is None:
            return loader
        return DeviceAugmentLoader(loader, self._speed_device(), augmenter)
