"""The convolutional autoencoder as a scikit-learn transformer (method step 9)."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNet
from skorch.utils import to_tensor

from ..base import resolve_device
from ..model_selection import ValidationSplit
from ..nn import ConvAutoencoder
from ._contract import check_net_images
from ._data import BatchCollate, NetDataset, make_loader
from ._interrupt import InterruptMixin
from ._recipe import schedule_callbacks
from ._runtime import torch_seeded
from ._speed import SPEED_PARAMETER_CONSTRAINTS, SpeedMixin
from ._state import TrainingStateMixin

__all__ = ["AutoencoderEmbedding"]


class _ReconstructionNet(InterruptMixin, TrainingStateMixin, SpeedMixin, NeuralNet):
    """skorch net whose target is its own (possibly augmented) input batch."""

    def __init__(self, *args, precision="32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision

    def infer(self, x, groups=None, **fit_params):
        # groups are for the validation split (train_split) only.
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        target = to_tensor(X, device=self.device)
        return self.criterion_(y_pred, target)

    def get_iterator(self, dataset, training=False):
        kwargs = self.get_params_for("iterator_train" if training else "iterator_valid")
        return make_loader(self, dataset, kwargs, training=training)


class AutoencoderEmbedding(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Learn a latent representation of images with a convolutional autoencoder.

    ``fit`` trains a :class:`~skradnod.nn.ConvAutoencoder` to reconstruct the
    images (mean squared error), with the training recipe's optimiser (AdamW),
    learning-rate schedule (ReduceLROnPlateau), early stopping on a held-out
    validation loss and training-time flips/rotations; ``transform`` returns
    the latent vectors, a feature table any classifier can take next in a
    :class:`~sklearn.pipeline.Pipeline`.

    Parameters
    ----------
    latent_dim : int, default=32
        Length of the latent vector (the number of output features).
    channels : tuple of int, default=(16, 32, 64)
        Channels of the encoder's stride-2 stages.
    lr : float, default=1e-3
        AdamW learning rate.
    max_epochs : int, default=60
        Maximum number of epochs.
    batch_size : int, default=16
        Mini-batch size (the method's size for full slices).
    patience : int or None, default=10
        Early stopping patience on the validation loss (best weights restored);
        None trains for ``max_epochs``.
    lr_patience : int or None, default=5
        ReduceLROnPlateau patience (factor 0.5); None keeps ``lr``.
    valid_size : float or None, default=0.2
        Held-out fraction for the validation loss; None monitors the training
        loss.
    augment : bool, default=True
        Random flips and rotations of training images (the reconstruction
        target is the augmented image).
    rotation : float, default=15.0
        Rotation range in degrees.
    output_activation : {"sigmoid", None}, default="sigmoid"
        Sigmoid for images in ``[0, 1]`` (after ``HUWindow``); None for
        unscaled images.
    num_workers : int, default=0
        Data-loader worker processes (each reads and preprocesses lazy images).
    device : str, default="auto"
        Torch device; "auto" is CUDA when available, else CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, split, batch order and augmentation.
    verbose : int, default=0
        1 prints skorch's per-epoch table.
    precision : {"auto", "32", "bf16", "fp16"}, default="auto"
        Mixed precision of training ("auto": bfloat16 on a CUDA device that
        supports it, float32 elsewhere, so CPU results are unchanged).
    compile : bool, default=False
        Compile the autoencoder with ``torch.compile``.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network (``net_.module_`` is the ConvAutoencoder).
    history_ : skorch.History
        Per-epoch ``train_loss`` (and ``valid_loss``).
    input_size_ : tuple of int
        ``(H, W)`` of the training images; transform needs the same size.
    input_shape_ : tuple of int
        Same as ``input_size_`` (the shared input contract).
    input_range_ : tuple of float or None
        ``(min, max)`` of the training images' values; ``transform`` rejects a
        sample more than one range width outside it (e.g. raw HU after
        fitting on [0, 1]).
    device_ : str
        Device used.
    n_features_out_ : int
        ``latent_dim``.

    See Also
    --------
    skradnod.evaluation.LatentTSNEDisplay : Draw the latent space by class.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.models import AutoencoderEmbedding
    >>> X = np.random.RandomState(0).rand(8, 16, 16).astype(np.float32)
    >>> ae = AutoencoderEmbedding(latent_dim=4, channels=(4, 8), max_epochs=2,
    ...                           valid_size=None, random_state=0)
    >>> ae.fit_transform(X).shape
    (8, 4)
    """

    _parameter_constraints = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "channels": [tuple, list],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "lr_patience": [Interval(Integral, 0, None, closed="left"), None],
        "valid_size": [Interval(Real, 0, 1, closed="neither"), None],
        "augment": ["boolean"],
        "rotation": [Interval(Real, 0, 180, closed="both")],
        "output_activation": [str, None],
        "num_workers": [Interval(Integral, 0, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        **SPEED_PARAMETER_CONSTRAINTS,
    }

    def __init__(
        self,
        latent_dim=32,
        *,
        channels=(16, 32, 64),
        lr=1e-3,
        max_epochs=60,
        batch_size=16,
        patience=10,
        lr_patience=5,
        valid_size=0.2,
        augment=True,
        rotation=15.0,
        output_activation="sigmoid",
        num_workers=0,
        device="auto",
        random_state=None,
        verbose=0,
        precision="auto",
        compile=False,
    ):
        self.latent_dim = latent_dim
        self.channels = channels
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.patience = patience
        self.lr_patience = lr_patience
        self.valid_size = valid_size
        self.augment = augment
        self.rotation = rotation
        self.output_activation = output_activation
        self.num_workers = num_workers
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.precision = precision
        self.compile = compile

    # Patient ids are routed to ``fit`` by default: the validation split needs them.
    __metadata_request__fit = {"groups": True}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None):
        """Train the autoencoder to reconstruct ``X``.

        Parameters
        ----------
        X : image batch
            Images of one size: a 3D array, a list of 2D arrays, NRRD paths or
            a :class:`~skradnod.base.LazyImageBatch` (read by the data loader).
        y : None
            Ignored.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids: the early-stopping validation split keeps each patient
            on one side (requested by default under metadata routing).

        Returns
        -------
        self : AutoencoderEmbedding
        """
        # The nets' image check: equal sizes, float32, a lazy batch kept lazy.
        X = check_net_images(self, X, reset=True)
        self.input_size_ = self.input_shape_
        self.device_ = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        # The split draws the same seed from random_state as ``seed`` above.
        split = (
            None if self.valid_size is None
            else ValidationSplit(
                self.valid_size,
                random_state=self.random_state,
                name=f"{type(self).__name__}'s early-stopping validation split",
            )
        )
        fit_params = {}
        if groups is not None:
            groups = column_or_1d(groups)
            if len(groups) != len(X):
                raise ValueError(
                    f"groups has {len(groups)} entries but X has {len(X)} images."
                )
            fit_params["groups"] = groups
        monitor = "train_loss" if split is None else "valid_loss"
        self.net_ = _ReconstructionNet(
            ConvAutoencoder,
            module__input_size=self.input_size_,
            module__latent_dim=self.latent_dim,
            module__channels=tuple(self.channels),
            module__output_activation=self.output_activation,
            criterion=torch.nn.MSELoss,
            optimizer=torch.optim.AdamW,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=split,
            callbacks=schedule_callbacks(
                monitor,
                patience=self.patience,
                lr_patience=self.lr_patience,
                lr_factor=0.5,
            ),
            dataset=NetDataset,
            iterator_train__collate_fn=BatchCollate(
                augment=self.augment, rotation=self.rotation
            ),
            iterator_train__num_workers=self.num_workers,
            iterator_valid__collate_fn=BatchCollate(augment=False),
            iterator_valid__num_workers=self.num_workers,
            device=self.device_,
            verbose=self.verbose,
            precision=self.precision,
            compile=self.compile,
        )
        if self.random_state is None:
            self.net_.fit(X, None, **fit_params)
        else:
            with torch_seeded(seed, self.device_):
                self.net_.fit(X, None, **fit_params)
        self.history_ = self.net_.history
        self._n_features_out = self.latent_dim
        self.n_features_out_ = self.latent_dim
        return self

    def _batches(self, X):
        check_is_fitted(self)
        # Rejects other image sizes, naming the sample (the input contract).
        return check_net_images(self, X, reset=False)

    def transform(self, X):
        """Latent vectors of the images.

        Parameters
        ----------
        X : image batch
            Images of the training size.

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
        """
        X = self._batches(X)
        module = self.net_.module_
        module.eval()
        out = []
        with torch.no_grad():
            for xb, _ in self.net_.get_iterator(self.net_.get_dataset(X)):
                out.append(module.encode(xb.to(self.device_)).cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def inverse_transform(self, Z):
        """Decode latent vectors into images.

        Parameters
        ----------
        Z : array-like of shape (n_samples, latent_dim)

        Returns
        -------
        images : ndarray of shape (n_samples, H, W)
        """
        check_is_fitted(self)
        Z = torch.as_tensor(np.asarray(Z, dtype=np.float32), device=self.device_)
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            raise ValueError(
                f"Z must have shape (n_samples, latent_dim={self.latent_dim}); got "
                f"{tuple(Z.shape)}."
            )
        module = self.net_.module_
        module.eval()
        with torch.no_grad():
            images = module.decode(Z)
        return images[:, 0].cpu().numpy()

    def reconstruction_error(self, X):
        """Mean squared reconstruction error of each image.

        Parameters
        ----------
        X : image batch

        Returns
        -------
        error : ndarray of shape (n_samples,)
        """
        X = self._batches(X)
        module = self.net_.module_
        module.eval()
        errors = []
        with torch.no_grad():
            # Batch by batch, so a lazy batch is never read whole.
            for xb, _ in self.net_.get_iterator(self.net_.get_dataset(X)):
                xb = xb.to(self.device_)
                errors.append(((module(xb) - xb) ** 2).mean(dim=(1, 2, 3)).cpu())
        return torch.cat(errors).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.non_deterministic = self.random_state is None
        return tags
