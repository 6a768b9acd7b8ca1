"""The shared training recipe of skradnod's neural-network estimators.

:class:`BaseNetClassifier` is a :class:`skorch.NeuralNetClassifier` that trains
the way the method's step 10 says (AdamW, ReduceLROnPlateau on the validation
loss, early stopping that restores the best weights, class-weighted
cross-entropy, a stratified (and patient-grouped) validation split) and feeds
image batches of the data contract to the module, with training-time
augmentation (step 5) inside the training data loader only.

Every concrete estimator (``NoduleCNNClassifier``, ``FeatureNetClassifier``,
``FusionClassifier``, the full-slice models) subclasses it and customises the
recipe only through the hooks listed in the class's Notes; the fit loop itself
is skorch's.
"""

import inspect
import os
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils import check_random_state, compute_class_weight
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.metadata_routing import MethodMapping
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)
from skorch.utils import get_map_location, is_dataset, to_device, to_tensor

from ..callbacks import BatchNormRecalibration
from ..model_selection import ValidationSplit
from ..utils import LazyImageBatch, check_image_batch, resolve_device
from ._contract import check_contract, record_contract
from ._speed import SPEED_PARAMETER_CONSTRAINTS, SpeedMixin
from ._state import TrainingStateMixin

__all__ = [
    "BaseNetClassifier",
    "num_samples",
    "BatchCollate",
    "NetDataset",
    "augment_batch",
]


# --------------------------------------------------------------------------- #
# Data: a Dataset over the data contract, and a collate that batches + augments
# --------------------------------------------------------------------------- #
def num_samples(X):
    """Number of samples of an input: its length, equal across a dict's inputs."""
    if isinstance(X, dict):
        lengths = {key: num_samples(value) for key, value in X.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(
                f"The inputs of a multi-input X differ in length: {lengths}."
            )
        return next(iter(lengths.values()))
    return len(X)


def _sample(X, i):
    """Sample ``i`` of X as float32 numpy; a 2D sample (an image) gets a channel."""
    if isinstance(X, dict):
        return {key: _sample(value, i) for key, value in X.items()}
    item = np.asarray(X[i], dtype=np.float32)
    if item.ndim == 2:
        # Image batches are (n, H, W) by the data contract; conv nets want (C, H, W).
        item = item[np.newaxis]
    return item


class NetDataset(torch.utils.data.Dataset):
    """A torch Dataset over an image batch, a feature table or a dict of them.

    Parameters
    ----------
    X : ndarray, list of ndarray, LazyImageBatch or dict of those
        The input. ``X[i]`` is read only when sample ``i`` is requested, so a
        :class:`~skradnod.utils.LazyImageBatch` loads (and preprocesses) its
        images inside the data loader, a few batches at a time. 2D samples
        (images) are returned with a leading channel axis.
    y : ndarray of shape (n_samples,) or None, default=None
        Encoded targets (``int64``); None at predict time.

    Notes
    -----
    ``X`` and ``y`` are public attributes so that skorch's scoring callbacks
    (``skorch.utils.data_from_dataset``) can reach them through a ``Subset``.
    """

    def __init__(self, X, y=None):
        self.X = X
        self.y = y
        self.n_samples = num_samples(X)
        if y is not None and len(y) != self.n_samples:
            raise ValueError(
                f"X has {self.n_samples} samples but y has {len(y)}."
            )

    def __len__(self):
        return self.n_samples

    def __getitem__(self, i):
        yi = self.y[i] if self.y is not None else 0
        return _sample(self.X, i), yi


def augment_batch(x, *, rotation=15.0, flip=True, generator=None):
    """Randomly flip and rotate every image of a batch (method step 5).

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, H, W)
        Image batch.
    rotation : float, default=15.0
        Each image is rotated by an angle drawn uniformly from
        ``[-rotation, rotation]`` degrees (bilinear, border values extended, as
        Keras' ``fill_mode="nearest"`` did in the thesis). 0 disables rotation.
    flip : bool, default=True
        Flip each image horizontally and, independently, vertically with
        probability 1/2.
    generator : torch.Generator or None, default=None
        Random source; None uses torch's global generator (seeded by the
        estimator's ``random_state``).

    Returns
    -------
    x_aug : torch.Tensor of shape (N, C, H, W)

    Examples
    --------
    >>> import torch
    >>> from skradnod.models._base import augment_batch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> augment_batch(x, rotation=0.0).shape
    torch.Size([1, 1, 4, 4])
    """
    n = x.shape[0]
    if flip:
        # Batched masks instead of a per-sample Python loop: the loader's cost
        # must stay negligible next to the net (see benchmarks/bench_training.py).
        shape = (n,) + (1,) * (x.ndim - 1)
        hflip = torch.rand(n, generator=generator) < 0.5
        vflip = torch.rand(n, generator=generator) < 0.5
        x = torch.where(hflip.view(shape).to(x.device), x.flip(-1), x)
        x = torch.where(vflip.view(shape).to(x.device), x.flip(-2), x)
    if rotation:
        angle = (torch.rand(n, generator=generator) * 2 - 1) * np.deg2rad(rotation)
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1
        ).to(device=x.device, dtype=x.dtype)
        grid = torch.nn.functional.affine_grid(theta, x.shape, align_corners=False)
        x = torch.nn.functional.grid_sample(
            x, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
    return x


def _stack(items):
    if isinstance(items[0], dict):
        return {key: _stack([item[key] for item in items]) for key in items[0]}
    return torch.from_numpy(np.stack(items))


def _augment(x, rotation):
    if isinstance(x, dict):
        return {key: _augment(value, rotation) for key, value in x.items()}
    if x.ndim == 4:  # (N, C, H, W): an image input; feature rows pass unchanged
        return augment_batch(x, rotation=rotation)
    return x


class BatchCollate:
    """Collate ``(X_i, y_i)`` samples into tensors, augmenting images if asked.

    A picklable callable (so ``iterator_train__num_workers > 0`` works): it
    stacks the samples with numpy (cheaper than torch's generic collate) and,
    when ``augment`` is True, applies :func:`augment_batch` to every 4D
    (image) tensor of the batch.

    Parameters
    ----------
    augment : bool, default=False
        Whether to augment (True only for the training iterator).
    rotation : float, default=15.0
        Rotation range in degrees, see :func:`augment_batch`.
    """

    def __init__(self, augment=False, rotation=15.0):
        self.augment = augment
        self.rotation = rotation

    def __call__(self, batch):
        xs, ys = zip(*batch)
        X = _stack(xs)
        y = torch.as_tensor(np.asarray(ys))
        if self.augment:
            X, y = self.augment_batch(X, y)
        return X, y

    def augment_batch(self, X, y):
        """Augment a collated batch (on any device; the nets call it on CUDA)."""
        return _augment(X, self.rotation), y


# --------------------------------------------------------------------------- #
# Callbacks helpers
# --------------------------------------------------------------------------- #
def _valid_accuracy(net, X, y):
    """Accuracy on the encoded labels (``net.predict`` returns decoded ones)."""
    proba = net.predict_proba(X)
    return float(np.mean(proba.argmax(axis=1) == np.asarray(y)))


class BaseNetClassifier(TrainingStateMixin, SpeedMixin, NeuralNetClassifier):
    """skorch classifier with skradnod's training recipe (method step 10).

    Subclasses set the default ``module`` and how ``X`` is checked; everything
    else (optimiser, scheduler, early stopping, class weights, validation
    split, augmentation, device, seeding, label decoding) lives here.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        The network. When it is a class, its data-dependent arguments
        (``n_classes``, and whatever :meth:`get_module_params_from_data`
        returns) are filled in from the training data unless given as
        ``module__<name>``.
    lr : float, default=1e-3
        AdamW learning rate.
    max_epochs : int, default=60
        Maximum number of epochs (early stopping usually ends sooner).
    batch_size : int, default=64
        Mini-batch size for training and inference.
    patience : int or None, default=10
        Early stopping: stop after ``patience`` epochs without a better
        validation loss and restore the weights of the best epoch. None trains
        for ``max_epochs``.
    lr_patience : int or None, default=5
        ReduceLROnPlateau patience on the validation loss; None keeps the
        learning rate constant.
    lr_factor : float, default=0.5
        ReduceLROnPlateau factor.
    class_weight : "balanced", "sqrt", dict or None, default="balanced"
        Cross-entropy class weights. "balanced": inversely proportional to the
        class frequencies in ``y`` (method step 6); "sqrt": inversely
        proportional to their square roots, between "balanced" and None (the
        nodule nets' default, see :class:`~skradnod.models.NoduleCNNClassifier`);
        a dict maps labels (as given to ``fit``) to weights, missing labels
        weigh 1. Either way the weights are normalised to sum to 1
        (``class_weight_``). None: unweighted.
    valid_size : float or None, default=0.2
        Fraction of the training data held out for the validation loss,
        stratified by class, and grouped when ``fit`` gets ``groups`` (no
        patient on both sides). None trains on everything; the callbacks then
        monitor the training loss.
    augment : bool, default=True
        Random flips and rotations of the training images (applied in the
        training data loader only; validation and prediction never see them).
    rotation : float, default=15.0
        Rotation range in degrees for the augmentation (0 disables rotation).
    device : str, default="auto"
        Torch device; "auto" picks CUDA when available, else CPU, at fit time
        (``device_``), and stays "auto" in ``get_params``. A net trained on CUDA
        loads (unpickles) on a CPU-only machine. On CUDA the data path is made
        fast automatically (pinned memory, channels-last, augmentation on the
        GPU, persistent loader workers; see :mod:`skradnod.models._speed`).
    precision : {"auto", "32", "bf16", "fp16"}, default="auto"
        Mixed precision (:func:`torch.autocast`; "fp16" adds gradient scaling).
        "auto" is "bf16" on a CUDA device that supports it, else "32": CPU
        training stays float32 and gives the same model for the same seed.
    compile : bool, default=False
        Compile the module with :func:`torch.compile` (skorch's parameter;
        ``compile__<arg>`` passes arguments). Pays off on long GPU runs.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split, the batch
        order and the augmentation: the same seed gives the same model on CPU.
        Torch's global random state is restored after ``fit``.
    n_jobs : int or None, default=None
        Torch intra-op threads while fitting and predicting
        (``torch.set_num_threads``, restored afterwards); -1 means all cores,
        None leaves torch's setting alone. Use 1 when several fits run in
        parallel (``GridSearchCV(n_jobs=...)``) or for small nets on a busy
        machine, where thread synchronisation costs more than it gains.
    verbose : int, default=0
        0: silent; 1: skorch's per-epoch history table; 2: plus a progress
        bar per epoch.
    **kwargs
        Any other skorch parameter (``module__dropout``, ``optimizer__weight_decay``,
        ``iterator_train__num_workers``, ``callbacks``, ``criterion``,
        ``optimizer``, ``train_split``, ``classes`` ...). A ``train_split``
        other than None replaces the ``valid_size`` split.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels seen in ``fit`` (or ``classes`` if given); ``predict``
        returns these.
    class_weight_ : ndarray of shape (n_classes,) or None
        The criterion's class weights (sum 1), aligned with ``classes_``.
    device_ : str
        The device the net was trained on.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch losses and scores.
    input_shape_ : tuple of int
        Size ``(H, W)`` of the training images (image nets); ``predict``
        rejects other sizes, naming the sample.
    input_range_ : tuple of float or None
        ``(min, max)`` of the training images' values (None after a lazy
        fit); ``predict`` rejects a sample more than one range width outside
        it (raw HU after fitting on [0, 1]), see
        :mod:`skradnod.models._contract`.

    Notes
    -----
    Customisation points for subclasses (none rewrites skorch's fit loop):

    ``_check_X(X, *, reset)``
        Validate and convert ``X`` in ``fit`` (``reset=True``) and
        ``predict_proba`` (``reset=False``). The base accepts any image batch of
        :mod:`skradnod.utils` (a 3D array, a list / object array / Series of
        equal-size 2D arrays, a :class:`~skradnod.utils.LazyImageBatch`) and
        returns a float32 3D array or the lazy batch; override for tables or
        dicts.
    ``get_module_params_from_data()``
        Data-dependent module arguments (default ``{"n_classes": ...}``); only
        those the module's signature accepts are passed, and explicit
        ``module__*`` parameters win.
    ``get_dataset(X, y)`` / ``get_collate_fn(training)``
        The torch Dataset (default :class:`NetDataset`: lazy per-item reads, a
        channel axis for 2D samples) and the collate function (default
        :class:`BatchCollate`: numpy stacking plus :func:`augment_batch` on 4D
        tensors when training and ``augment``). Override ``get_collate_fn``
        when augmentation must also change the target (e.g. centre coordinates).
    ``get_loss(y_pred, y_true, X, training)``
        skorch's hook; the default is class-weighted cross-entropy on logits.
    ``_default_callbacks``
        skorch's property; extend ``super()._default_callbacks`` to add
        callbacks that every instance should have (e.g. dynamic loss weights).
    ``_check_fit_data(X, y, groups, *, reset, classes=None)``
        The training data as the net takes it: checked ``X``, encoded ``y``
        (a subclass may add target columns) and ``groups``.
    ``_validation_split()``
        The early-stopping split (default
        :class:`~skradnod.model_selection.ValidationSplit`).

    ``fit(X, y, groups=None)`` passes ``groups`` only to the validation split,
    never to the module. ``fit`` requests ``groups`` under scikit-learn's
    metadata routing by default, so with
    ``sklearn.set_config(enable_metadata_routing=True)``, ``cross_val_score(...,
    params={"groups": g})``, ``GridSearchCV.fit(..., groups=g)`` and pipelines
    carry the patient ids down to it. Without groups the split warns
    (:class:`~skradnod.model_selection.UngroupedSplitWarning`).

    A pickled net (``joblib.dump``) holds the trained weights but not the
    optimizer state, which is twice their size for AdamW and is needed only to
    resume training; an unpickled net gets a fresh optimizer. Set
    ``warm_start=True`` before pickling to keep it (see
    :class:`~skradnod.models._state.TrainingStateMixin`).
    """

    # Patient ids are routed to ``fit`` by default: the validation split needs them.
    __metadata_request__fit = {"groups": True}
    __metadata_request__partial_fit = {"groups": True}

    _parameter_constraints: dict = {
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "lr_patience": [Interval(Integral, 0, None, closed="left"), None],
        "lr_factor": [Interval(Real, 0, 1, closed="neither")],
        "class_weight": [StrOptions({"balanced", "sqrt"}), dict, None],
        "valid_size": [Interval(Real, 0, 1, closed="neither"), None],
        "augment": ["boolean"],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        **SPEED_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        module,
        *,
        lr=1e-3,
        max_epochs=60,
        batch_size=64,
        patience=10,
        lr_patience=5,
        lr_factor=0.5,
        class_weight="balanced",
        valid_size=0.2,
        augment=True,
        rotation=15.0,
        device="auto",
        random_state=None,
        n_jobs=None,
        verbose=0,
        precision="auto",
        compile=False,
        **kwargs,
    ):
        kwargs.setdefault("criterion", torch.nn.CrossEntropyLoss)
        kwargs.setdefault("optimizer", torch.optim.AdamW)
        kwargs.setdefault("train_split", None)
        super().__init__(
            module,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            device=device,
            verbose=verbose,
            compile=compile,
            **kwargs,
        )
        self.precision = precision
        self.patience = patience
        self.lr_patience = lr_patience
        self.lr_factor = lr_factor
        self.class_weight = class_weight
        self.valid_size = valid_size
        self.augment = augment
        self.rotation = rotation
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ #
    # parameters and tags
    # ------------------------------------------------------------------ #
    def _validate_params(self):
        # scikit-learn checks the values of the recipe's parameters (called by
        # ``_fit_context``); skorch checks the names of its prefixed kwargs, which
        # needs the prefixes the modules register in ``initialize`` (which calls
        # this again at its end).
        if getattr(self, "module_", None) is not None:
            super()._validate_params()
        params = {
            key: getattr(self, key)
            for key in self._parameter_constraints
            if key in self.__dict__
        }
        validate_parameter_constraints(
            self._parameter_constraints, params, caller_name=type(self).__name__
        )

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        # skorch keeps a private bookkeeping set in __dict__, which its
        # get_params would otherwise expose as a parameter.
        params.pop("_params_to_validate", None)
        return params

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # An image batch is 3D, not a feature table.
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.random_state is None
        return tags

    # ------------------------------------------------------------------ #
    # callbacks
    # ------------------------------------------------------------------ #
    @property
    def _monitor(self):
        has_valid = self.valid_size is not None or self.train_split is not None
        return "valid_loss" if has_valid else "train_loss"

    @property
    def _default_callbacks(self):
        monitor = self._monitor
        callbacks = [
            ("epoch_timer", EpochTimer()),
            # Before any scoring reads the validation loss (see its docstring).
            ("bn_recalibration", BatchNormRecalibration()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ]
        if monitor == "valid_loss":
            callbacks += [
                ("valid_loss", PassthroughScoring(name="valid_loss")),
                (
                    "valid_acc",
                    EpochScoring(
                        _valid_accuracy, name="valid_acc", lower_is_better=False
                    ),
                ),
            ]
        if self.lr_patience is not None:
            callbacks.append(
                (
                    "lr_scheduler",
                    LRScheduler(
                        policy=torch.optim.lr_scheduler.ReduceLROnPlateau,
                        monitor=monitor,
                        patience=self.lr_patience,
                        factor=self.lr_factor,
                    ),
                )
            )
        if self.patience is not None:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor=monitor, patience=self.patience, load_best=True
                    ),
                )
            )
        if isinstance(self.verbose, Real) and self.verbose > 1:
            callbacks.append(("progress_bar", ProgressBar()))
        callbacks.append(("print_log", PrintLog()))
        return callbacks

    # ------------------------------------------------------------------ #
    # input checking (hooks)
    # ------------------------------------------------------------------ #
    def _check_X(self, X, *, reset):
        """Validate an image batch; return a float32 3D array or a lazy batch."""
        batch = check_image_batch(X, allow_lazy=True)
        if isinstance(batch, LazyImageBatch):
            self._input_contract(batch, reset)
            return batch
        if isinstance(batch, list):
            shapes = [image.shape for image in batch]
            for i, shape in enumerate(shapes):
                if shape != shapes[0]:
                    raise ValueError(
                        f"Images of X must share one size to form a batch: sample "
                        f"{i} has shape {shape}, sample 0 has {shapes[0]}. Resize "
                        "them first (skradnod.preprocessing.Resize)."
                    )
            batch = np.stack(batch)
        batch = np.asarray(batch, dtype=np.float32)
        self._input_contract(batch, reset)
        return batch

    def _input_contract(self, X, reset):
        # Image size and value range seen in fit; predict rejects others.
        if reset:
            record_contract(self, X)
        else:
            check_contract(self, X)

    def _check_y(self, y, n_samples):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != n_samples:
            raise ValueError(
                f"X has {n_samples} samples but y has {len(y)} labels."
            )
        return y

    def get_module_params_from_data(self):
        """Module arguments that depend on the training data (hook)."""
        return {"n_classes": len(self.classes_)}

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, groups=None, **fit_params):
        """Train the network with the recipe.

        Parameters
        ----------
        X : image batch (or table / dict, depending on the subclass)
            Training inputs.
        y : array-like of shape (n_samples,)
            Labels (e.g. ratings 1-5, or 0/1); ``predict`` returns them as
            given. Any class labels are accepted: a net is a generic
            classifier, and the 1-5 malignancy scale is checked where the data
            enter (``load_nodule_dataset``'s manifest check).
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids; the validation split then keeps each patient on one
            side. Requested by default under metadata routing, so
            ``cross_val_score(..., params={"groups": g})`` delivers them.
        **fit_params : dict
            Passed to the module's ``forward`` by skorch.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y, groups = self._check_fit_data(X, y, groups, reset=True)
        return self._train(X, y, groups, **fit_params)

    def _train(self, X, y, groups, **fit_params):
        """Initialise (unless warm-starting) and train on checked data."""
        with self._seeded(), self._torch_threads():
            # What skorch's NeuralNet.fit does, on data already checked here; its
            # fit would call our partial_fit, which checks data again.
            if not self.warm_start or not self.initialized_:
                self.initialize()
            with self._on_resolved_device():
                super().partial_fit(X, y, groups=groups, **fit_params)
        return self

    def partial_fit(self, X, y=None, classes=None, groups=None, **fit_params):
        """Train for ``max_epochs`` more epochs, initialising on the first call.

        Parameters
        ----------
        X : image batch (or table / dict, depending on the subclass)
            Training inputs.
        y : array-like of shape (n_samples,)
            Labels.
        classes : array-like or None, default=None
            All labels, needed on the first call when ``y`` lacks some.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids for this call's validation split.
        **fit_params : dict
            Passed to the module's ``forward`` by skorch.

        Returns
        -------
        self : object
            The estimator.
        """
        first = not self.initialized_ or not hasattr(self, "classes_inferred_")
        if first:
            self._validate_params()
        X, y, groups = self._check_fit_data(
            X, y, groups, reset=first, classes=classes
        )
        if first:
            self.initialize()
        with self._on_resolved_device(), self._torch_threads():
            return super().partial_fit(X, y, groups=groups, **fit_params)

    def _check_fit_data(self, X, y, groups, *, reset, classes=None):
        """Validate training data; return the net's X, encoded y and groups.

        ``reset=True`` (``fit``, first ``partial_fit``) sets ``classes_``,
        ``class_weight_`` and ``device_``; later ``partial_fit`` calls check
        the labels against ``classes_``. Subclasses extend it (fusion branches,
        centre targets).
        """
        X = self._check_X(X, reset=reset)
        y, groups = self._check_targets(X, y, groups, reset=reset, classes=classes)
        return X, y, groups

    def _check_targets(self, X, y, groups, *, reset, classes=None):
        """Encoded labels and checked groups for the checked inputs ``X``."""
        n_samples = num_samples(X)
        y = self._check_y(y, n_samples)
        if reset:
            self._set_classes(y, classes)
            self.class_weight_ = self._compute_class_weight(
                np.searchsorted(self.classes_, y)
            )
            self.device_ = resolve_device(self.device)
        else:
            unknown = np.setdiff1d(y, self.classes_)
            if unknown.size:
                raise ValueError(
                    f"y contains labels {unknown.tolist()} not seen in the first "
                    f"partial_fit (classes {self.classes_.tolist()})."
                )
        y_encoded = np.searchsorted(self.classes_, y).astype(np.int64)
        if groups is not None:
            groups = column_or_1d(groups)
            if len(groups) != n_samples:
                raise ValueError(
                    f"groups has {len(groups)} entries but X has {n_samples} "
                    "samples. If a sampler earlier in the pipeline dropped rows, "
                    "build it with skradnod.pipeline.make_pipeline, which "
                    "resamples groups with the rows."
                )
        return y_encoded, groups

    def _set_classes(self, y, classes=None):
        labels = np.unique(y)
        if classes is None:
            classes = self.classes
        if classes is not None:
            classes = np.asarray(classes)
            unknown = np.setdiff1d(labels, classes)
            if unknown.size:
                raise ValueError(
                    f"y contains labels {unknown.tolist()} that are not in the "
                    f"classes parameter {classes.tolist()}."
                )
            labels = np.unique(classes)
        elif len(labels) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; "
                f"y has 1 class ({labels[0]!r})."
            )
        # skorch's ``classes_`` property reads this attribute.
        self.classes_inferred_ = labels

    def _compute_class_weight(self, y_encoded):
        if self.class_weight is None:
            return None
        n_classes = len(self.classes_)
        if self.class_weight in ("balanced", "sqrt"):
            present = np.unique(y_encoded)
            weight = np.zeros(n_classes)
            weight[present] = compute_class_weight(
                "balanced", classes=present, y=y_encoded
            )
            if self.class_weight == "sqrt":
                weight = np.sqrt(weight)
        else:
            unknown = set(self.class_weight) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(
                    f"class_weight has labels {sorted(unknown)} not in y "
                    f"(classes {self.classes_.tolist()})."
                )
            weight = np.array(
                [float(self.class_weight.get(c, 1.0)) for c in self.classes_.tolist()]
            )
        return weight / weight.sum()

    @contextmanager
    def _torch_threads(self):
        if self.n_jobs is None:
            yield
            return
        n_threads = self.n_jobs
        if n_threads < 0:
            n_threads = max(1, (os.cpu_count() or 1) + 1 + n_threads)
        previous = torch.get_num_threads()
        torch.set_num_threads(n_threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    @contextmanager
    def _seeded(self):
        if self.random_state is None:
            yield
            return
        seed = (
            self.random_state
            if isinstance(self.random_state, Integral)
            else check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        on_cuda = str(self.device_).startswith("cuda")
        devices = [torch.cuda.current_device()] if on_cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def check_data(self, X, y):
        # The labels were validated and classes_ set in fit (from the labels as
        # given, not the codes skorch sees), so skorch's inference is skipped.
        if y is None and not is_dataset(X):
            raise ValueError(f"{type(self).__name__} needs y to fit.")

    # ------------------------------------------------------------------ #
    # device: resolved once ("auto" -> cuda/cpu), the parameter kept as given
    # ------------------------------------------------------------------ #
    @contextmanager
    def _on_resolved_device(self):
        # skorch reads ``self.device`` while initialising and training; it
        # sees the resolved device there while get_params keeps "auto".
        requested = self.device
        if requested == "auto":
            self.device = getattr(self, "device_", None) or resolve_device(requested)
        try:
            yield
        finally:
            self.device = requested

    def initialize(self):
        self.device_ = resolve_device(self.device)
        with self._on_resolved_device():
            return super().initialize()

    def load_params(self, *args, **kwargs):
        with self._on_resolved_device():
            return super().load_params(*args, **kwargs)

    def infer(self, x, groups=None, **fit_params):
        # skorch hands every fit parameter to the split and to forward; groups
        # are for the validation split only and never reach the module.
        x = to_tensor(x, device=self.device_)
        if isinstance(x, dict):
            return self.module_(**self._merge_x_and_fit_params(x, fit_params))
        return self.module_(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device_)
        return self.criterion_(y_pred, y_true)

    def __setstate__(self, state):
        if state.get("device") != "auto":
            super().__setstate__(state)
            return
        # A net fitted with device="auto" on a GPU machine: load its tensors
        # where they can live here, keep the parameter "auto".
        fitted = state.get("device_") or "cpu"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            location = str(get_map_location(fitted))
        super().__setstate__({**state, "device": location})
        self.device = "auto"
        if "device_" in state:
            self.device_ = location

    # ------------------------------------------------------------------ #
    # module, criterion, data loading
    # ------------------------------------------------------------------ #
    def initialize_module(self):
        kwargs = self.get_params_for("module")
        if isinstance(self.module, type) and hasattr(self, "classes_inferred_"):
            accepted = inspect.signature(self.module).parameters
            from_data = {
                key: value
                for key, value in self.get_module_params_from_data().items()
                if key in accepted
            }
            kwargs = {**from_data, **kwargs}
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize_criterion(self):
        kwargs = self.get_params_for("criterion")
        weight = getattr(self, "class_weight_", None)
        if weight is not None and "weight" not in kwargs:
            kwargs["weight"] = torch.as_tensor(weight, dtype=torch.float32)
        self.criterion_ = self.initialized_instance(self.criterion, kwargs)
        return self

    def get_dataset(self, X, y=None):
        if is_dataset(X):
            return X
        return NetDataset(X, y)

    def get_collate_fn(self, training):
        """Collate function of the training (``training=True``) or other loaders."""
        return BatchCollate(
            augment=bool(training and self.augment), rotation=self.rotation
        )

    def get_iterator(self, dataset, training=False):
        prefix = "iterator_train" if training else "iterator_valid"
        kwargs = self.get_params_for(prefix)
        iterator = self.iterator_train if training else self.iterator_valid
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        kwargs.setdefault("collate_fn", self.get_collate_fn(training))
        if training:
            kwargs.setdefault("shuffle", True)
            # BatchNorm cannot train on a batch of one sample: drop such a
            # trailing singleton (a different sample each epoch when shuffled).
            if len(dataset) > 1 and len(dataset) % kwargs["batch_size"] == 1:
                kwargs.setdefault("drop_last", True)
        return self.build_loader(iterator, dataset, training=training, **kwargs)

    def _validation_split(self):
        """The default early-stopping split (``valid_size``), patient-grouped."""
        return ValidationSplit(
            self.valid_size,
            random_state=self.random_state,
            name=f"{type(self).__name__}'s early-stopping validation split",
        )

    def get_split_datasets(self, X, y=None, groups=None, **fit_params):
        # ``groups`` is explicit: skorch hands fit parameters (routed ones under
        # metadata routing) to the split, and only the split needs the groups.
        if self.train_split is not None:
            if groups is not None:
                fit_params["groups"] = groups
            return super().get_split_datasets(X, y, **fit_params)
        dataset = self.get_dataset(X, y)
        if self.valid_size is None or y is None:
            return dataset, None
        return self._validation_split()(dataset, y, groups=groups)

    def get_metadata_routing(self):
        """Metadata routing: ``groups`` for ``fit`` reaches the validation split.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        router = super().get_metadata_routing()
        if self.train_split is None and self.valid_size is not None:
            router.add(
                splitter=self._validation_split(),
                method_mapping=MethodMapping()
                .add(caller="fit", callee="split")
                .add(caller="partial_fit", callee="split"),
            )
        return router

    # ------------------------------------------------------------------ #
    # prediction
    # ------------------------------------------------------------------ #
    def forward_iter(self, X, training=False, device="cpu"):
        if not is_dataset(X):
            X = self._check_X(X, reset=False)
        dataset = self.get_dataset(X)
        iterator = self.get_iterator(dataset, training=training)
        with self._torch_threads():
            for batch in iterator:
                yield to_device(
                    self.evaluation_step(batch, training=training), device
                )

    def predict_proba(self, X):
        """Class probabilities, one column per class of ``classes_``.

        Parameters
        ----------
        X : image batch (or table / dict, depending on the subclass)
            Inputs, never augmented.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "module_")
        return super().predict_proba(X)

    def predict(self, X):
        """Predicted labels, as given to ``fit``.

        Parameters
        ----------
        X : image batch (or table / dict, depending on the subclass)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

