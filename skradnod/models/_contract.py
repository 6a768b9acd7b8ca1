"""The input contract of a fitted image model: image size and value range.

A net with global average pooling runs on any image size and any values, so
without a check it predicts silently on 48x48 crops after training on 32x32
ones, or on raw Hounsfield units after training on [0, 1]. A fitted model
records what it was trained on (:func:`record_contract`) and rejects a batch
outside it at predict time (:func:`check_contract`), naming the sample.

Images are 2D (one channel) by the data contract; a colour or vector image is
already rejected by :func:`skradnod.utils.check_image_batch`.

The value range is checked with a tolerance of one training range width beyond
either end: fitted on [0, 1], a batch is accepted within [-1, 2]. Data
preprocessed like the training data (HU window, CLAHE, scaling) always lands
inside; data in another unit (raw HU, 0-255 pixels) lands far outside; new
scanners or mild intensity shifts stay accepted.
"""

import numpy as np

from ..utils import LazyImageBatch, check_image_batch

__all__ = ["check_contract", "check_net_images", "record_contract"]


def _first_image(X):
    return np.asarray(X[0], dtype=np.float32)


def record_contract(estimator, X):
    """Set ``input_shape_`` and ``input_range_`` of ``estimator`` from ``X``.

    Parameters
    ----------
    estimator : object
        The model being fitted.
    X : ndarray of shape (n, H, W) or LazyImageBatch
        The training images as the net sees them. For a lazy batch only the
        first image is read (to learn the size); ``input_range_`` is then
        None, as reading every image to learn it would defeat lazy loading.
    """
    if isinstance(X, LazyImageBatch):
        estimator.input_shape_ = _first_image(X).shape
        estimator.input_range_ = None
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
    """Raise ValueError if ``X`` breaks the contract ``estimator`` was fitted on.

    Parameters
    ----------
    estimator : object
        A fitted model with ``input_shape_`` and ``input_range_`` (models
        fitted before these existed are not checked).
    X : ndarray of shape (n, H, W) or LazyImageBatch
        The images to predict on. Of a lazy batch only the first image is
        checked.
    """
    shape = getattr(estimator, "input_shape_", None)
    if shape is None:
        return
    name = type(estimator).__name__
    if isinstance(X, LazyImageBatch):
        images, first = None, _first_image(X)
        sample_shape = first.shape
    else:
        images, sample_shape = X, tuple(X.shape[1:])
    if tuple(sample_shape) != tuple(shape):
        raise ValueError(
            f"{name} was fitted on images of shape {tuple(shape)}, but sample 0 "
            f"of X has shape {tuple(sample_shape)}. Preprocess new images as the "
            "training images were (e.g. the same Resize or "
            "make_ct_preprocessor(size=...) in front of the net)."
        )
    fitted_range = getattr(estimator, "input_range_", None)
    if fitted_range is None or images is None:
        return
    low, high = allowed_range(fitted_range)
    flat = images.reshape(len(images), -1)
    mins, maxs = flat.min(axis=1), flat.max(axis=1)
    bad = np.flatnonzero((mins < low) | (maxs > high))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} was fitted on values in [{fitted_range[0]:.4g}, "
            f"{fitted_range[1]:.4g}], but sample {i} of X has values in "
            f"[{mins[i]:.4g}, {maxs[i]:.4g}] ({bad.size} sample(s) lie outside "
            f"the accepted [{low:.4g}, {high:.4g}]). Preprocess new images as "
            "the training images were (e.g. the HU window of "
            "make_ct_preprocessor): raw Hounsfield units are not [0, 1] values."
        )


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
        NRRD paths, or a :class:`~skradnod.utils.LazyImageBatch`.
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
        check_contract(estimator, batch)
    return batch
