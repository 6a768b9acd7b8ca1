"""Data for the nets: a Dataset over the data contract, batching and augmentation.

:class:`NetDataset` reads one sample at a time (lazily for a
:class:`~skradnod.base.LazyImageBatch`), :class:`BatchCollate` stacks samples
into tensors and augments training batches (method step 5) with
:func:`augment_batch`, and :func:`make_loader` builds every net's data loader.
:class:`CentreCollate` and :func:`augment_with_centres` do the same for the
multi-task model, whose centre targets move with the image.
"""

import numpy as np
import torch

__all__ = [
    "BatchCollate",
    "CentreCollate",
    "NetDataset",
    "augment_batch",
    "augment_images",
    "augment_with_centres",
    "make_loader",
    "num_samples",
]


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
        :class:`~skradnod.base.LazyImageBatch` loads (and preprocesses) its
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
    >>> from skradnod.models._data import augment_batch
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> augment_batch(x, rotation=0.0).shape
    torch.Size([1, 1, 4, 4])
    """
    return augment_images(x, rotation=rotation, flip=flip, generator=generator)[0]


def augment_images(x, *, rotation=15.0, flip=True, generator=None):
    """:func:`augment_batch`, also returning the random draws it applied.

    The one augmentation core of the nets: :func:`augment_batch` keeps the
    images, :func:`augment_with_centres` moves centre targets with the draws.

    Returns
    -------
    x_aug : torch.Tensor of shape (N, C, H, W)
    hflip, vflip : torch.Tensor of shape (N,) and dtype bool, or None
        Which images were flipped horizontally / vertically (None when
        ``flip`` is False). On ``x``'s device.
    angle : torch.Tensor of shape (N,) or None
        Rotation angles in radians (None when ``rotation`` is 0), on ``x``'s
        device.
    """
    n = x.shape[0]
    hflip = vflip = angle = None
    if flip:
        # Batched masks instead of a per-sample Python loop: the loader's cost
        # must stay negligible next to the net (see benchmarks/bench_training.py).
        # Random numbers come from the CPU generator, then move to the batch's
        # device (the nets augment on the GPU when they train there).
        shape = (n,) + (1,) * (x.ndim - 1)
        hflip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        vflip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(hflip.view(shape), x.flip(-1), x)
        x = torch.where(vflip.view(shape), x.flip(-2), x)
    if rotation:
        angle = (torch.rand(n, generator=generator) * 2 - 1) * np.deg2rad(rotation)
        angle = angle.to(x.device)
        cos, sin = torch.cos(angle), torch.sin(angle)
        zero = torch.zeros_like(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1
        ).to(dtype=x.dtype)
        grid = torch.nn.functional.affine_grid(theta, x.shape, align_corners=False)
        x = torch.nn.functional.grid_sample(
            x, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
    return x, hflip, vflip, angle


def augment_with_centres(x, centres, *, rotation=15.0, generator=None):
    """Flip and rotate images and move their centre targets alike.

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, H, W)
        Images.
    centres : torch.Tensor of shape (N, 2)
        ``(x, y)`` in ``[0, 1]`` (pixel-edge convention, see
        :class:`~skradnod.localization.TemplateMatcher`), on ``x``'s device.
    rotation : float, default=15.0
        Angles are drawn uniformly from ``[-rotation, rotation]`` degrees.
    generator : torch.Generator or None, default=None
        Random source (None: torch's global one).

    Returns
    -------
    x_aug, centres_aug : torch.Tensor
        Centres rotated out of the image are clipped to ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> from skradnod.models._data import augment_with_centres
    >>> x = torch.zeros(2, 1, 8, 8)
    >>> centres = torch.tensor([[0.25, 0.5], [0.5, 0.5]])
    >>> _, moved = augment_with_centres(x, centres, rotation=0.0)
    >>> bool(torch.all((moved == centres) | (moved == 1 - centres)))
    True
    """
    x, hflip, vflip, angle = augment_images(x, rotation=rotation, generator=generator)
    centres = centres.clone()
    centres[:, 0] = torch.where(hflip, 1 - centres[:, 0], centres[:, 0])
    centres[:, 1] = torch.where(vflip, 1 - centres[:, 1], centres[:, 1])
    if angle is not None:
        cos, sin = torch.cos(angle), torch.sin(angle)
        # affine_grid samples output point q from input point R q (normalised
        # coordinates in [-1, 1], which is 2 * centre - 1 with align_corners=False),
        # so a centre at input point p moves to R^T p.
        p = 2 * centres - 1
        q = torch.stack(
            [cos * p[:, 0] + sin * p[:, 1], -sin * p[:, 0] + cos * p[:, 1]], 1
        ).to(centres.dtype)
        centres = ((q + 1) / 2).clamp(0, 1)
    return x, centres


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


class CentreCollate(BatchCollate):
    """Collate ``(image, [code, cx, cy])`` samples, augmenting images and centres.

    A :class:`BatchCollate` whose augmentation also moves the centre targets
    (:func:`augment_with_centres`). At predict time there are no targets (the
    dataset yields 0 for each) and only the images are stacked.
    """

    def augment_batch(self, X, y):
        """Augment images and centre targets (on any device)."""
        if y.ndim != 2:  # no centre targets
            return X, y
        X, centres = augment_with_centres(X, y[:, 1:], rotation=self.rotation)
        return X, torch.cat([y[:, :1], centres], dim=1)


def make_loader(net, dataset, kwargs, *, training):
    """The data loader of a skradnod net over ``dataset``, with the recipe's defaults.

    The one ``get_iterator`` body of the nets (the classifiers and the
    autoencoder's reconstruction net).

    Parameters
    ----------
    net : skorch.NeuralNet with :class:`~skradnod.models._speed.SpeedMixin`
        The net; its ``batch_size``, ``iterator_train`` / ``iterator_valid``
        and :meth:`~skradnod.models._speed.SpeedMixin.build_loader` are used.
    dataset : torch.utils.data.Dataset
        The data.
    kwargs : dict
        The ``iterator_train__*`` / ``iterator_valid__*`` parameters. The net's
        ``batch_size`` (-1: the whole dataset) and, when training, shuffling
        fill in what they leave out.
    training : bool
        Whether this is the training loader.

    Returns
    -------
    loader : iterable of batches
    """
    kwargs = dict(kwargs)
    kwargs.setdefault("batch_size", net.batch_size)
    if kwargs["batch_size"] == -1:
        kwargs["batch_size"] = len(dataset)
    if training:
        kwargs.setdefault("shuffle", True)
        # BatchNorm cannot train on a batch of one sample: drop such a
        # trailing singleton (a different sample each epoch when shuffled).
        if len(dataset) > 1 and len(dataset) % kwargs["batch_size"] == 1:
            kwargs.setdefault("drop_last", True)
    iterator = net.iterator_train if training else net.iterator_valid
    return net.build_loader(iterator, dataset, training=training, **kwargs)
