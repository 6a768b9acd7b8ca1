"""Image batches: the three forms of the data contract, and the lazy batch.

An image batch is a 3D array ``(n, H, W)``, a sequence (list, 1D object array,
pandas Series) of 2D arrays whose sizes may differ, or a sequence of NRRD paths.
:func:`check_image_batch` turns any of them into a 3D array or a list of 2D arrays
and raises a clear error naming the offending sample; :func:`stack_images` turns a
list of transformed images back into the contract's output (a 3D float32 array when
sizes agree, else a 1D object array).

:class:`LazyImageBatch` holds paths (or arrays) plus a chain of per-image steps
that run only when an item is read, so full-slice data sets never need to sit in
memory at once.
"""

import os
from collections.abc import Sequence
from numbers import Integral

import numpy as np

from .._nrrd import read_nrrd

__all__ = [
    "ImageStepMixin",
    "LazyImageBatch",
    "check_image",
    "check_image_batch",
    "is_path",
    "stack_images",
]


def is_path(obj):
    """Return True if ``obj`` looks like a file path (str or os.PathLike)."""
    return isinstance(obj, (str, os.PathLike))


def load_image(source, index, *, allow_nan=False):
    """One image of a batch: read if ``source`` is an NRRD path, then checked.

    Parameters
    ----------
    source : array-like, str or path-like
        The image, or the path of its NRRD file.
    index : int
        Its position in the batch, named in errors.
    allow_nan : bool, default=False
        Accept NaN and infinite pixels.

    Returns
    -------
    image : ndarray of shape (H, W)
        See :func:`check_image`.
    """
    if is_path(source):
        image, _ = read_nrrd(source)
        return check_image(image, index, source, allow_nan=allow_nan)
    return check_image(source, index, allow_nan=allow_nan)


def _describe(sample, index):
    if is_path(sample):
        return f"sample {index} ({os.fspath(sample)!r})"
    return f"sample {index}"


def check_image(image, index, source=None, *, allow_nan=False):
    """Validate one image of a batch: a finite, numeric 2D array.

    Parameters
    ----------
    image : array-like
        The image. A 3D array with one singleton axis (a one-slice volume) is
        squeezed to 2D, as :func:`skradnod.io.read_nrrd` does.
    index : int
        Its position in the batch, named in errors.
    source : str, path-like or None, default=None
        Where it came from (a file), named in errors instead of the index.
    allow_nan : bool, default=False
        Accept NaN and infinite pixels.

    Returns
    -------
    image : ndarray of shape (H, W)
        The image with its dtype unchanged.

    Raises
    ------
    ValueError
        Naming the sample (or file) when the image is not 2D, is empty, is not
        numeric, or holds NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.utils import check_image
    >>> check_image(np.zeros((1, 4, 4)), 0).shape
    (4, 4)
    >>> check_image(np.full((2, 2), np.nan), 3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Image batch sample 3 contains NaN or infinite pixels; ...
    """
    where = _describe(source if source is not None else image, index)
    image = np.asarray(image)
    if image.ndim == 3 and 1 in image.shape:
        # A volume with one slice is a 2D image (read_nrrd does the same).
        image = image.reshape([s for s in image.shape if s != 1] or [1, 1])
    if image.ndim != 2:
        raise ValueError(
            f"Image batch {where} is not a 2D image: got shape {image.shape}. "
            "Every image must be a 2D array indexed [row, col]."
        )
    if image.size == 0:
        raise ValueError(f"Image batch {where} is empty (shape {image.shape}).")
    if image.dtype == object or not (
        np.issubdtype(image.dtype, np.number) or image.dtype == bool
    ):
        raise ValueError(
            f"Image batch {where} has non-numeric dtype {image.dtype}."
        )
    if (
        not allow_nan
        and np.issubdtype(image.dtype, np.floating)
        and not np.isfinite(image).all()
    ):
        raise ValueError(
            f"Image batch {where} contains NaN or infinite pixels; "
            "images must be finite."
        )
    return image


class LazyImageBatch(Sequence):
    """A batch of images read and transformed only when an item is accessed.

    Parameters
    ----------
    sources : sequence of str, os.PathLike or ndarray
        NRRD paths (or in-memory 2D arrays) of the images.
    steps : tuple of callable, default=()
        Per-image functions ``image -> image`` applied in order when an item is
        read. Fitted transformers append their per-image step with
        :meth:`with_step`, so the chain is picklable whenever the transformers are
        (this is what lets data-loader worker processes apply it).

    Notes
    -----
    Indexing with an integer returns one transformed 2D image; indexing with a
    slice, a boolean mask or an integer array returns a new lazy batch over the
    selected sources (this is what scikit-learn's cross-validation does to X).
    :meth:`materialize` reads everything into memory.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.utils import LazyImageBatch
    >>> batch = LazyImageBatch([np.zeros((4, 4)), np.ones((4, 4))])
    >>> batch = batch.with_step(lambda im: im + 1)
    >>> batch[1].max()
    np.float64(2.0)
    >>> batch.materialize().shape
    (2, 4, 4)
    """

    def __init__(self, sources, steps=()):
        if isinstance(sources, np.ndarray) and sources.dtype != object:
            sources = list(sources)
        self.sources = list(sources)
        self.steps = tuple(steps)

    def __len__(self):
        return len(self.sources)

    @property
    def shape(self):
        """``(n_images,)``: per-image shapes are known only once read."""
        return (len(self.sources),)

    @property
    def ndim(self):
        return 1

    def with_step(self, step):
        """Return a new lazy batch with ``step`` appended to the chain."""
        return LazyImageBatch(self.sources, self.steps + (step,))

    def load(self, index):
        """Read and validate the raw image ``index`` (no steps applied)."""
        return load_image(self.sources[index], index)

    def __getitem__(self, key):
        if isinstance(key, Integral):
            image = self.load(key)
            for step in self.steps:
                image = step(image)
            return image
        if isinstance(key, slice):
            return LazyImageBatch(self.sources[key], self.steps)
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return LazyImageBatch([self.sources[i] for i in key], self.steps)

    def take(self, indices, axis=0):
        """Select images by position (the protocol ``_safe_indexing`` uses)."""
        return self[np.asarray(indices)]

    def materialize(self):
        """Read and transform every image; return :func:`stack_images` of them."""
        return stack_images([self[i] for i in range(len(self))])

    def __repr__(self):
        return f"LazyImageBatch(n_images={len(self)}, n_steps={len(self.steps)})"

    def __eq__(self, other):
        if not isinstance(other, LazyImageBatch):
            return NotImplemented
        return len(self) == len(other) and all(
            (a is b) or (is_path(a) and is_path(b) and os.fspath(a) == os.fspath(b))
            for a, b in zip(self.sources, other.sources)
        ) and self.steps == other.steps

    __hash__ = None


def check_image_batch(X, *, allow_lazy=False, allow_nan=False, name="X"):
    """Validate an image batch and return it as a 3D array or a list of 2D arrays.

    Parameters
    ----------
    X : ndarray of shape (n, H, W), sequence of 2D arrays, sequence of paths, \
            or LazyImageBatch
        The image batch (see the data contract in the user guide). A pandas
        Series (a column of a paired data set) counts as a sequence.
    allow_lazy : bool, default=False
        If True, a :class:`LazyImageBatch` is returned unchanged; if False it is
        materialized.
    allow_nan : bool, default=False
        Whether NaN/inf pixels are accepted.
    name : str, default="X"
        Name used in error messages.

    Returns
    -------
    batch : ndarray of shape (n, H, W), list of ndarray, or LazyImageBatch
        A 3D array is returned for 3D input (not copied); paths are read with
        :func:`skradnod.io.read_nrrd`.

    Raises
    ------
    ValueError
        For an empty batch, a non-2D image, a non-finite pixel, or a non-numeric
        image; the message names the sample (and its file).
    """
    if isinstance(X, LazyImageBatch):
        if allow_lazy:
            if len(X) == 0:
                raise ValueError(f"{name} is an empty image batch.")
            return X
        X = X.materialize()
    if hasattr(X, "iloc"):  # pandas Series / one-column DataFrame
        if getattr(X, "ndim", 1) == 2:
            if X.shape[1] != 1:
                raise ValueError(
                    f"{name} is a DataFrame with {X.shape[1]} columns; pass one "
                    "column of images (e.g. frame['nodule'])."
                )
            X = X.iloc[:, 0]
        X = list(X.to_numpy())
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 2:
            raise ValueError(
                f"{name} is a 2D array of shape {X.shape}; an image batch is a 3D "
                "array (n_images, H, W), a list of 2D arrays or a list of NRRD "
                "paths. Wrap a single image as X[np.newaxis]."
            )
        if X.ndim != 3:
            raise ValueError(
                f"{name} must be a 3D array (n_images, H, W); got shape {X.shape}."
            )
        if X.shape[0] == 0:
            raise ValueError(f"{name} is an empty image batch (0 images).")
        if X.shape[1] == 0 or X.shape[2] == 0:
            raise ValueError(f"{name} holds empty images of shape {X.shape[1:]}.")
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"{name} has non-numeric dtype {X.dtype}.")
        if not allow_nan and np.issubdtype(X.dtype, np.floating):
            bad = ~np.isfinite(X).reshape(len(X), -1).all(axis=1)
            if bad.any():
                raise ValueError(
                    f"{name} contains NaN or infinite pixels in sample(s) "
                    f"{np.flatnonzero(bad)[:10].tolist()}; images must be finite."
                )
        return X
    if is_path(X):
        raise ValueError(
            f"{name} is a single path {os.fspath(X)!r}; pass a list of paths."
        )
    try:
        items = list(X)
    except TypeError:
        raise ValueError(
            f"{name} of type {type(X).__name__} is not an image batch."
        ) from None
    if len(items) == 0:
        raise ValueError(f"{name} is an empty image batch (0 images).")
    return [load_image(item, i, allow_nan=allow_nan) for i, item in enumerate(items)]


class ImageStepMixin:
    """What the per-image steps share (NRRD loading, preprocessing, chains).

    - ``set_output``: scikit-learn's ``set_output(transform="pandas")`` makes
      tabular transformers return DataFrames; a pipeline forwards the call to
      every step and fails on a step without the method. An image batch (3D,
      or images of different sizes) has no columns to name, so image steps
      accept the call and keep returning arrays, and a pipeline that mixes
      image and tabular steps (a fusion model's branches) can set pandas
      output as a whole.
    - ``fit_transform`` checks ``X`` once: ``fit`` and ``transform`` each
      check it, and for NRRD paths that would read every file twice.
    - The tags of a step that takes image batches (3D arrays or paths) and
      learns nothing in ``fit``.

    Mix it in leftmost, before ``TransformerMixin``.
    """

    def set_output(self, *, transform=None):
        """Accept the output configuration; image batches stay arrays.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            Ignored: the output is an image batch, not a table.

        Returns
        -------
        self : estimator
            The estimator, unchanged.
        """
        return self

    def fit_transform(self, X, y=None, **fit_params):
        """Fit to ``X`` and transform it, reading and checking ``X`` once.

        Parameters
        ----------
        X : image batch
            3D array, sequence of 2D arrays or of NRRD paths, or a lazy batch.
        y : None
            Ignored.
        **fit_params : dict
            Passed to ``fit``.

        Returns
        -------
        X_out : image batch
            As ``transform`` returns it.
        """
        X = check_image_batch(X, allow_lazy=True)
        return self.fit(X, y, **fit_params).transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True  # NRRD paths
        return tags


def stack_images(images, dtype=np.float32):
    """Stack 2D images into a 3D array if sizes agree, else a 1D object array.

    Parameters
    ----------
    images : sequence of ndarray
        2D images.
    dtype : dtype, default=np.float32
        Output dtype of every image.

    Returns
    -------
    batch : ndarray of shape (n, H, W) or ndarray of shape (n,) and dtype object
    """
    images = [np.asarray(im, dtype=dtype) for im in images]
    shapes = {im.shape for im in images}
    if len(shapes) == 1:
        return np.stack(images)
    out = np.empty(len(images), dtype=object)
    for i, image in enumerate(images):
        out[i] = image
    return out
