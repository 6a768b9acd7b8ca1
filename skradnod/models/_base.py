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
from numbers import Integral, Real

import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.metadata_routing import MethodMapping
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.utils import is_dataset, to_device, to_tensor

from ..base import resolve_device
from ..model_selection import ValidationSplit
from ._contract import check_net_images
from ._data import BatchCollate, NetDataset, make_loader
from ._interrupt import InterruptMixin
from ._labels import LabelMixin
from ._recipe import recipe_callbacks
from ._runtime import RuntimeMixin
from ._speed import SPEED_PARAMETER_CONSTRAINTS, SpeedMixin
from ._state import TrainingStateMixin

__all__ = ["BaseNetClassifier"]


class BaseNetClassifier(
    RuntimeMixin,
    LabelMixin,
    InterruptMixin,
    TrainingStateMixin,
    SpeedMixin,
    NeuralNetClassifier,
):
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
        ``(min, max)`` of the training images' values (a lazy batch is read
        once to learn it); ``predict`` rejects a sample more than one range
        width outside it (raw HU after fitting on [0, 1]), see
        :mod:`skradnod.models._contract`.

    Notes
    -----
    Customisation points for subclasses (none rewrites skorch's fit loop):

    ``_check_X(X, *, reset)``
        Validate and convert ``X`` in ``fit`` (``reset=True``) and
        ``predict_proba`` (``reset=False``). The base accepts any image batch of
        :mod:`skradnod.utils` (a 3D array, a list / object array / Series of
        equal-size 2D arrays, a :class:`~skradnod.base.LazyImageBatch`) and
        returns a float32 3D array or the lazy batch; override for tables or
        dicts.
    ``get_module_params_from_data()``
        Data-dependent module arguments (default ``{"n_classes": ...}``); only
        those the module's signature accepts are passed, and explicit
        ``module__*`` parameters win.
    ``get_dataset(X, y)`` / ``get_collate_fn(training)``
        The torch Dataset (default :class:`~skradnod.models._data.NetDataset`:
        lazy per-item reads, a channel axis for 2D samples) and the collate
        function (default :class:`~skradnod.models._data.BatchCollate`: numpy
        stacking plus :func:`~skradnod.models._data.augment_batch` on 4D
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
    def _default_callbacks(self):
        return recipe_callbacks(self)

    # ------------------------------------------------------------------ #
    # input checking (hooks)
    # ------------------------------------------------------------------ #
    def _check_X(self, X, *, reset):
        """Validate an image batch; return a float32 3D array or a lazy batch."""
        return check_net_images(self, X, reset=reset)

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
        self.device_ = resolve_device(self.device)
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

        ``reset=True`` (``fit``, first ``partial_fit``) sets ``classes_`` and
        ``class_weight_``; later ``partial_fit`` calls check
        the labels against ``classes_``. Subclasses extend it (fusion branches,
        centre targets).
        """
        X = self._check_X(X, reset=reset)
        y, groups = self._check_targets(X, y, groups, reset=reset, classes=classes)
        return X, y, groups

    def check_data(self, X, y):
        # The labels were validated and classes_ set in fit (from the labels as
        # given, not the codes skorch sees), so skorch's inference is skipped.
        if y is None and not is_dataset(X):
            raise ValueError(f"{type(self).__name__} needs y to fit.")

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
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        kwargs.setdefault("collate_fn", self.get_collate_fn(training))
        return make_loader(self, dataset, kwargs, training=training)

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

