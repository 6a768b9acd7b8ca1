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

from ._nrrd import read_nrrd

__all__ = [
    "ImageStepMixin",
    "LazyImageBatch",
    "check_image",
    "check_image_batch",
    "describe_sample",
    "frame_ids",
    "is_path",
    "stack_images",
]


def is_path(obj):
    """Return True if ``obj`` looks like a file path (str or os.PathLike)."""
    return isinstance(obj, (str, os.PathLike))


def load_image(source, index, *, allow_nan=False, row_id=None):
    """One image of a batch: read if ``source`` is an NRRD path, then checked.

    Parameters
    ----------
    source : array-like, str or path-like
        The image, or the path of its NRRD file.
    index : int
        Its position in the batch, named in errors.
    allow_nan : bool, default=False
        Accept NaN and infinite pixels.
    row_id : object, default=None
        The sample's id (a manifest row's), named in errors instead of the
        position when given.

    Returns
    -------
    image : ndarray of shape (H, W)
        See :func:`check_image`.
    """
    if is_path(source):
        image, _ = read_nrrd(source)
        return check_image(
            image, index, source, allow_nan=allow_nan, row_id=row_id
        )
    return check_image(source, index, allow_nan=allow_nan, row_id=row_id)


def describe_sample(index, source=None, row_id=None):
    """How errors name one sample: its row id (else position), and its file.

    Parameters
    ----------
    index : int
        Position in the batch.
    source : object, default=None
        Where the sample came from; a path is named.
    row_id : object, default=None
        The sample's id, named instead of ``index`` when given.

    Returns
    -------
    where : str

    Examples
    --------
    >>> from skradnod.base._batch import describe_sample
    >>> describe_sample(3, "a.nrrd", row_id="p07-n1")
    "row id='p07-n1' ('a.nrrd')"
    >>> describe_sample(3)
    'sample 3'
    """
    where = f"sample {index}" if row_id is None else f"row id={row_id!r}"
    if is_path(source):
        where += f" ({os.fspath(source)!r})"
    return where


def check_image(image, index, source=None, *, allow_nan=False, row_id=None):
    """Validate one image of a batch: a finite, numeric 2D array.

    Parameters
    ----------
    image : array-like
        The image. A 3D array with one singleton axis (a one-slice volume) is
        squeezed to 2D, as :func:`skradnod.io.read_nrrd` does.
    index : int
        Its position in the batch, named in errors.
    source : str, path-like or None, default=None
        Where it came from (a file), named in errors beside the index.
    allow_nan : bool, default=False
        Accept NaN and infinite pixels.
    row_id : object, default=None
        The sample's id (a manifest row's), named in errors instead of the
        index when given.

    Returns
    -------
    image : ndarray of shape (H, W)
        The image with its dtype unchanged.

    Raises
    ------
    ValueError
        Naming the sample (or file) when the image is not 2D, is empty, is not
        real-valued numeric (complex pixels are refused: casting to float
        would drop the imaginary part), or holds NaN/inf.

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
    where = describe_sample(
        index, source if source is not None else image, row_id=row_id
    )
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
    if np.iscomplexobj(image):
        raise ValueError(_complex_message(f"Image batch {where}", image.dtype))
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


def _complex_message(what, dtype):
    return (
        f"{what} has complex dtype {dtype}; images must be real-valued (take "
        "np.abs or .real yourself: a cast would silently drop the imaginary "
        "part)."
    )


class ItemCheck:
    """A check a :class:`LazyImageBatch` runs on each item when it is read.

    Parameters
    ----------
    check : callable
        ``check(image, where) -> None``, raising with ``where`` (how errors
        name the item: its row id or position, and its file) in the message.
        Picklable whenever ``check`` is, so data-loader workers run it.
    """

    def __init__(self, check):
        self.check = check

    def __eq__(self, other):
        return isinstance(other, ItemCheck) and self.check == other.check

    __hash__ = None

    def __repr__(self):
        return f"ItemCheck({self.check!r})"


class LazyImageBatch(Sequence):
    """A batch of images read and transformed only when an item is accessed.

    Parameters
    ----------
    sources : sequence of str, os.PathLike or ndarray
        NRRD paths (or in-memory 2D arrays) of the images.
    steps : tuple of callable, default=()
        Per-image functions ``image -> image`` applied in order when an item is
        read (and :class:`ItemCheck` entries, see :meth:`with_check`). Fitted
        transformers append their per-image step with :meth:`with_step`, so
        the chain is picklable whenever the transformers are (this is what lets
        data-loader worker processes apply it).
    ids : sequence or None, default=None
        One id per source (e.g. the manifest's ``id`` column), named in the
        errors of an item instead of its position, and kept by every
        selection, so an error inside a cross-validation fold names the
        manifest row, not the position in the fold. None: errors name the
        position in this batch.

    Notes
    -----
    Indexing with an integer returns one transformed 2D image; indexing with a
    slice, a boolean mask or an integer array returns a new lazy batch over the
    selected sources (this is what scikit-learn's cross-validation does to X).
    :meth:`materialize` reads everything into memory. Every item read goes
    through :func:`check_image`, as the images of an array batch do.

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
    >>> LazyImageBatch([np.full((2, 2), np.nan)], ids=["p07"])[0]
    Traceback (most recent call last):
    ...
    ValueError: Image batch row id='p07' contains NaN or infinite pixels; ...
    """

    def __init__(self, sources, steps=(), *, ids=None):
        if isinstance(sources, np.ndarray) and sources.dtype != object:
            sources = list(sources)
        self.sources = list(sources)
        self.steps = tuple(steps)
        if ids is not None:
            ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
            if len(ids) != len(self.sources):
                raise ValueError(
                    f"LazyImageBatch got {len(ids)} ids for {len(self.sources)} "
                    "sources; give one id per source."
                )
        self.ids = ids

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
        return LazyImageBatch(self.sources, self.steps + (step,), ids=self.ids)

    def with_check(self, check):
        """Return a new lazy batch that checks each item after the steps so far.

        Parameters
        ----------
        check : callable
            ``check(image, where) -> None``; ``where`` names the item (its
            id, else its position, and its file). See :class:`ItemCheck`.

        Returns
        -------
        batch : LazyImageBatch
        """
        return self.with_step(ItemCheck(check))

    def describe(self, index):
        """How errors name item ``index``: its id (else position) and file."""
        row_id = None if self.ids is None else self.ids[index]
        return describe_sample(index, self.sources[index], row_id=row_id)

    def load(self, index):
        """Read and validate the raw image ``index`` (no steps applied)."""
        row_id = None if self.ids is None else self.ids[index]
        return load_image(self.sources[index], index, row_id=row_id)

    def __getitem__(self, key):
        if isinstance(key, Integral):
            image = self.load(key)
            for step in self.steps:
                if isinstance(step, ItemCheck):
                    step.check(image, self.describe(key))
                else:
                    image = step(image)
            return image
        if isinstance(key, slice):
            ids = None if self.ids is None else self.ids[key]
            return LazyImageBatch(self.sources[key], self.steps, ids=ids)
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        ids = None if self.ids is None else [self.ids[i] for i in key]
        return LazyImageBatch(
            [self.sources[i] for i in key], self.steps, ids=ids
        )

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
        ) and self.steps == other.steps and self.ids == other.ids

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
    row_ids = None
    if hasattr(X, "iloc"):  # pandas Series / one-column DataFrame
        if getattr(X, "ndim", 1) == 2:
            if X.shape[1] != 1:
                raise ValueError(
                    f"{name} is a DataFrame with {X.shape[1]} columns; pass one "
                    "column of images (e.g. frame['nodule'])."
                )
            X = X.iloc[:, 0]
        row_ids = frame_ids(X)
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
        if np.iscomplexobj(X):
            raise ValueError(_complex_message(name, X.dtype))
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
    return [
        load_image(
            item, i, allow_nan=allow_nan,
            row_id=None if row_ids is None else row_ids[i],
        )
        for i, item in enumerate(items)
    ]


def frame_ids(X):
    """The row ids of a pandas Series / DataFrame, or None if it has none.

    A frame from :func:`skradnod.io.load_nodule_dataset` is indexed by the
    manifest's ``id``, and a cross-validation fold keeps that index, so errors
    name the manifest row. A default ``RangeIndex`` (0..n-1) holds no ids:
    errors then name the position, as for a list.

    Parameters
    ----------
    X : object
        Anything; only a pandas object's ``index`` is read.

    Returns
    -------
    ids : list or None
    """
    index = getattr(X, "index", None)
    if index is None or not hasattr(X, "iloc"):
        return None
    import pandas as pd  # only reached with a pandas object

    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return None
    return index.tolist()


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
