"""The input contract of a fitted image model: image size and value range.

A net with global average pooling runs on any image size and any values, so
without a check it predicts silently on 48x48 crops after training on 32x32
ones, or on raw Hounsfield units after training on [0, 1]. A fitted model
records what it was trained on (:func:`record_contract`) and rejects a batch
outside it at predict time (:func:`check_contract`), naming the sample.

Images are 2D (one channel) by the data contract; a colour or vector image is
already rejected by :func:`skradnod.base.check_image_batch`.

The value range is checked with a tolerance of one training range width beyond
either end: fitted on [0, 1], a batch is accepted within [-1, 2]. Data
preprocessed like the training data (HU window, CLAHE, scaling) always lands
inside; data in another unit (raw HU, 0-255 pixels) lands far outside; new
scanners or mild intensity shifts stay accepted.
"""

import numpy as np

from ..base import LazyImageBatch, check_image_batch

__all__ = [
    "ImageContract", "check_contract", "check_net_images", "record_contract"
]


def _shape_error(name, shape, where, sample_shape):
    return ValueError(
        f"{name} was fitted on images of shape {tuple(shape)}, but {where} of X "
        f"has shape {tuple(sample_shape)}. Preprocess new images as the "
        "training images were (e.g. the same Resize or "
        "make_ct_preprocessor(size=...) in front of the net)."
    )


def _range_error(name, fitted_range, where, values, n_bad=None):
    low, high = allowed_range(fitted_range)
    count = "" if n_bad is None else f"{n_bad} sample(s) lie outside "
    return ValueError(
        f"{name} was fitted on values in [{fitted_range[0]:.4g}, "
        f"{fitted_range[1]:.4g}], but {where} of X has values in "
        f"[{values[0]:.4g}, {values[1]:.4g}] ({count or 'outside '}"
        f"the accepted [{low:.4g}, {high:.4g}]). Preprocess new images as "
        "the training images were (e.g. the HU window of "
        "make_ct_preprocessor): raw Hounsfield units are not [0, 1] values."
    )


class ImageContract:
    """The contract checked on each item of a lazy batch as it is read.

    Appended to a :class:`~skradnod.base.LazyImageBatch` at prediction
    (:meth:`~skradnod.base.LazyImageBatch.with_check`), so every image the
    data loader reads, in the main process or a worker, meets the size and
    value range an array batch is held to, and an error names the item's row
    id (or position) and file.

    Parameters
    ----------
    name : str
        The model's class name, for errors.
    shape : tuple of int
        The fitted ``input_shape_``.
    fitted_range : tuple of float or None
        The fitted ``input_range_`` (None: the range is not checked).
    """

    def __init__(self, name, shape, fitted_range):
        self.name = name
        self.shape = tuple(shape)
        self.fitted_range = fitted_range

    def __call__(self, image, where):
        image = np.asarray(image, dtype=np.float32)
        if image.shape != self.shape:
            raise _shape_error(self.name, self.shape, where, image.shape)
        if self.fitted_range is None:
            return
        low, high = allowed_range(self.fitted_range)
        values = (float(image.min()), float(image.max()))
        if values[0] < low or values[1] > high:
            raise _range_error(self.name, self.fitted_range, where, values)

    def __eq__(self, other):
        return isinstance(other, ImageContract) and vars(self) == vars(other)

    __hash__ = None


def record_contract(estimator, X):
    """Set ``input_shape_`` and ``input_range_`` of ``estimator`` from ``X``.

    Parameters
    ----------
    estimator : object
        The model being fitted.
    X : ndarray of shape (n, H, W) or LazyImageBatch
        The training images as the net sees them. A lazy batch is read once,
        one image at a time (memory stays at one image), so that its size
        and range are learned, and its sizes checked, as an array's are.

    Raises
    ------
    ValueError
        If the images of a lazy batch differ in size, naming the first that
        differs by its row id (or position) and file.
    """
    if isinstance(X, LazyImageBatch):
        shape, low, high = None, np.inf, -np.inf
        for i in range(len(X)):
            image = np.asarray(X[i], dtype=np.float32)
            if shape is None:
                shape = image.shape
            elif image.shape != shape:
                raise ValueError(
                    f"Images of X must share one size to form a batch: "
                    f"{X.describe(i)} has shape {image.shape}, {X.describe(0)} "
                    f"has {shape}. Resize them first (skradnod.preprocessing."
                    "Resize)."
                )
            low, high = min(low, float(image.min())), max(high, float(image.max()))
        estimator.input_shape_ = shape
        estimator.input_range_ = (low, high)
        return
    estimator.input_shape_ = tuple(X.shape[1:])
    estimator.input_range_ = (float(X.min()), float(X.max()))


def allowed_range(fitted_range):
    """The accepted value range for a fitted ``(low, high)`` (one width of slack).

    Examples
    --------
    >>> from skradnod.models._contract import allowed_range
    >>> allowed_range((0.0, 1.0))
    (-1.0, 2.0)
    """
    low, high = fitted_range
    width = high - low if high > low else max(abs(low), 1.0)
    return low - width, high + width


def check_contract(estimator, X):
    """Check ``X`` against the contract ``estimator`` was fitted on.

    Parameters
    ----------
    estimator : object
        A fitted model with ``input_shape_`` and ``input_range_`` (models
        fitted before these existed are not checked).
    X : ndarray of shape (n, H, W) or LazyImageBatch
        The images to predict on.

    Returns
    -------
    X : ndarray of shape (n, H, W) or LazyImageBatch
        The array unchanged; a lazy batch with an :class:`ImageContract`
        check appended, so each image is checked when the loader reads it
        (its first image is checked at once, for an early error).

    Raises
    ------
    ValueError
        Naming the first sample of another size or outside the range.
    """
    shape = getattr(estimator, "input_shape_", None)
    if shape is None:
        return X
    name = type(estimator).__name__
    fitted_range = getattr(estimator, "input_range_", None)
    if isinstance(X, LazyImageBatch):
        X = X.with_check(ImageContract(name, shape, fitted_range))
        X[0]  # noqa: B018 -- read (and check) the first image now: an early error
        return X
    if tuple(X.shape[1:]) != tuple(shape):
        raise _shape_error(name, shape, "sample 0", X.shape[1:])
    if fitted_range is None:
        return X
    low, high = allowed_range(fitted_range)
    flat = X.reshape(len(X), -1)
    mins, maxs = flat.min(axis=1), flat.max(axis=1)
    bad = np.flatnonzero((mins < low) | (maxs > high))
    if bad.size:
        i = int(bad[0])
        raise _range_error(
            name, fitted_range, f"sample {i}", (mins[i], maxs[i]), n_bad=bad.size
        )
    return X


def check_net_images(estimator, X, *, reset):
    """An image batch as a net takes it, checked against the input contract.

    What :class:`~skradnod.models.BaseNetClassifier` and
    :class:`~skradnod.models.AutoencoderEmbedding` do with their images in
    ``fit`` (``reset=True``: :func:`record_contract`) and at prediction
    (:func:`check_contract`).

    Parameters
    ----------
    estimator : object
        The model.
    X : image batch
        A 3D array, a list / object array / Series of equal-size 2D arrays,
        NRRD paths, or a :class:`~skradnod.base.LazyImageBatch`.
    reset : bool
        Record the contract (fit) instead of checking it.

    Returns
    -------
    X : ndarray of shape (n, H, W) and dtype float32, or LazyImageBatch
        A lazy batch stays lazy.

    Raises
    ------
    ValueError
        Naming the first sample whose size differs from sample 0's, or (at
        prediction) a sample outside the contract.
    """
    batch = check_image_batch(X, allow_lazy=True)
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
    if not isinstance(batch, LazyImageBatch):
        batch = np.asarray(batch, dtype=np.float32)
    if reset:
        record_contract(estimator, batch)
    else:
        batch = check_contract(estimator, batch)
    return batch
