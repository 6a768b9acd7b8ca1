"""CT image preprocessing as scikit-learn transformers (method steps 2 and 4).

Every transformer here takes an image batch of the data contract (a 3D array, a
sequence of 2D arrays of varying size, or NRRD paths), works per image with OpenCV,
and returns float32 images: a 3D array when sizes agree, else a 1D object array.
Given a :class:`~skradnod.base.LazyImageBatch` it computes nothing and returns the
batch with its per-image step appended, so full slices are processed only when a
data loader reads them.
"""

from numbers import Integral, Real

import cv2
import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ..base._batch import (
    ImageStepMixin,
    LazyImageBatch,
    check_image_batch,
    stack_images,
)
from ._chain import ImageChain

__all__ = [
    "CLAHE",
    "BilateralFilter",
    "CenterCrop",
    "HUWindow",
    "ImageChain",
    "Resize",
    "make_ct_preprocessor",
]


def _check_positive_pair(value, name):
    if len(value) != 2 or not all(isinstance(v, Integral) and v > 0 for v in value):
        raise ValueError(f"{name} must be a pair of positive integers; got {value!r}.")


class _ImageTransformer(
    ImageStepMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Base of the per-image, stateless transformers.

    Subclasses implement ``_transform_one(image) -> image`` (a 2D float32 array)
    and may override ``_check_params``.
    """

    _parameter_constraints = {"n_jobs": [Integral, None]}

    def _check_params(self):
        """Cross-parameter checks that ``_parameter_constraints`` cannot express."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and the form of ``X``; nothing is learned.

        Parameters
        ----------
        X : image batch
            3D array, sequence of 2D arrays or of NRRD paths, or a lazy batch.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer.
        """
        self._check_params()
        check_image_batch(X, allow_lazy=True)
        return self

    def transform(self, X):
        """Apply the transformation to every image.

        Parameters
        ----------
        X : image batch
            3D array, sequence of 2D arrays or of NRRD paths, or a lazy batch.

        Returns
        -------
        X_out : ndarray of shape (n, H, W) or (n,) of dtype object, or \
                LazyImageBatch
            float32 images; a lazy batch gets this step appended instead.
        """
        self._validate_params()
        self._check_params()
        X = check_image_batch(X, allow_lazy=True)
        if isinstance(X, LazyImageBatch):
            return X.with_step(self._transform_one)
        n_jobs = self.n_jobs if self.n_jobs is not None else 1
        if n_jobs == 1 or len(X) < 2:
            images = [self._transform_one(image) for image in X]
        else:
            # OpenCV releases the GIL, so threads parallelise without copying
            # the images into worker processes.
            chunks = np.array_split(np.arange(len(X)), min(len(X), 4 * abs(n_jobs)))
            parts = Parallel(n_jobs=n_jobs, prefer="threads")(
                delayed(self._transform_chunk)([X[i] for i in chunk])
                for chunk in chunks
            )
            images = [image for part in parts for image in part]
        return stack_images(images)

    def _transform_chunk(self, images):
        return [self._transform_one(image) for image in images]


class HUWindow(_ImageTransformer):
    """Clip Hounsfield units to a window and map it linearly to [0, 1].

    Method step 4: the thesis keeps [-1000, 400] HU, the range of lung and soft
    tissue, so bone and metal no longer dominate the contrast.

    Parameters
    ----------
    min_hu : float, default=-1000
        Lower end of the window (mapped to 0).
    max_hu : float, default=400
        Upper end of the window (mapped to 1); must exceed ``min_hu``.
    n_jobs : int, default=None
        Threads used over images; None means 1.

    See Also
    --------
    make_ct_preprocessor : The whole preprocessing chain of the method.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.preprocessing import HUWindow
    >>> X = np.array([[[-2000, -1000], [-300, 1000]]], dtype=np.int16)
    >>> HUWindow().fit_transform(X)
    array([[[0. , 0. ],
            [0.5, 1. ]]], dtype=float32)
    """

    _parameter_constraints = {
        **_ImageTransformer._parameter_constraints,
        "min_hu": [Real],
        "max_hu": [Real],
    }

    def __init__(self, min_hu=-1000, max_hu=400, *, n_jobs=None):
        self.min_hu = min_hu
        self.max_hu = max_hu
        self.n_jobs = n_jobs

    def _check_params(self):
        if not self.min_hu < self.max_hu:
            raise ValueError(
                f"HUWindow needs min_hu < max_hu; got min_hu={self.min_hu}, "
                f"max_hu={self.max_hu}."
            )

    def _transform_one(self, image):
        image = np.asarray(image, dtype=np.float32)
        scale = np.float32(self.max_hu - self.min_hu)
        return np.clip((image - np.float32(self.min_hu)) / scale, 0.0, 1.0)


class CLAHE(_ImageTransformer):
    """Contrast Limited Adaptive Histogram Equalization (OpenCV).

    Method step 4: equalises the histogram in small tiles, enhancing local contrast
    without amplifying noise in flat regions (the clip limit). The image is mapped
    from ``value_range`` to 16-bit integers for ``cv2.createCLAHE`` and back, so
    the output lies in [0, 1].

    Parameters
    ----------
    clip_limit : float, default=2.0
        Contrast limit of each tile's histogram (OpenCV's ``clipLimit``).
    tile_grid_size : tuple of (int, int), default=(8, 8)
        Number of tiles in rows and columns.
    value_range : tuple of (float, float), default=(0.0, 1.0)
        Range of the input values: (0, 1) after :class:`HUWindow`, or an HU
        window such as (-1000, 400) to equalise raw HU. Values outside it raise
        an error naming the sample.
    n_jobs : int, default=None
        Threads used over images; None means 1.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.preprocessing import CLAHE
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(0.4, 0.6, size=(2, 32, 32))
    >>> Xt = CLAHE().fit_transform(X)
    >>> bool(Xt.std() > X.std())  # local contrast is stretched
    True
    """

    _parameter_constraints = {
        **_ImageTransformer._parameter_constraints,
        "clip_limit": [Interval(Real, 0, None, closed="neither")],
        "tile_grid_size": [tuple],
        "value_range": [tuple],
    }

    def __init__(
        self, clip_limit=2.0, tile_grid_size=(8, 8), *, value_range=(0.0, 1.0),
        n_jobs=None,
    ):
        self.clip_limit = clip_limit
        self.tile_grid_size = tile_grid_size
        self.value_range = value_range
        self.n_jobs = n_jobs

    def _check_params(self):
        _check_positive_pair(self.tile_grid_size, "CLAHE tile_grid_size")
        low, high = self.value_range
        if not low < high:
            raise ValueError(
                f"CLAHE value_range must be (low, high) with low < high; got "
                f"{self.value_range!r}."
            )

    def _transform_one(self, image):
        low, high = self.value_range
        image = np.asarray(image, dtype=np.float32)
        scaled = (image - np.float32(low)) / np.float32(high - low)
        # A tolerance of a few ulps absorbs rounding in earlier float32 steps.
        if scaled.min() < -1e-6 or scaled.max() > 1 + 1e-6:
            raise ValueError(
                f"CLAHE expects values in value_range={self.value_range}; got an "
                f"image with range [{image.min():g}, {image.max():g}]. Apply "
                "HUWindow first or set value_range."
            )
        as_uint16 = np.round(np.clip(scaled, 0, 1) * 65535).astype(np.uint16)
        clahe = cv2.createCLAHE(
            clipLimit=float(self.clip_limit),
            tileGridSize=tuple(int(g) for g in self.tile_grid_size),
        )
        return clahe.apply(as_uint16).astype(np.float32) / np.float32(65535)


class BilateralFilter(_ImageTransformer):
    """Edge-preserving smoothing with OpenCV's bilateral filter.

    Method step 4: reduces CT noise while keeping the boundaries between tissues
    (and the nodule's margin) sharp.

    Parameters
    ----------
    d : int, default=5
        Diameter of the pixel neighbourhood.
    sigma_color : float, default=0.1
        Filter sigma in intensity units (0.1 is a tenth of the [0, 1] range).
    sigma_space : float, default=5.0
        Filter sigma in pixels.
    n_jobs : int, default=None
        Threads used over images; None means 1.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.preprocessing import BilateralFilter
    >>> rng = np.random.RandomState(0)
    >>> X = 0.5 + rng.normal(0, 0.02, size=(1, 32, 32))
    >>> bool(BilateralFilter().fit_transform(X).std() < X.std())
    True
    """

    _parameter_constraints = {
        **_ImageTransformer._parameter_constraints,
        "d": [Interval(Integral, 1, None, closed="left")],
        "sigma_color": [Interval(Real, 0, None, closed="neither")],
        "sigma_space": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, d=5, sigma_color=0.1, sigma_space=5.0, *, n_jobs=None):
        self.d = d
        self.sigma_color = sigma_color
        self.sigma_space = sigma_space
        self.n_jobs = n_jobs

    def _transform_one(self, image):
        image = np.asarray(image, dtype=np.float32)
        return cv2.bilateralFilter(
            image, int(self.d), float(self.sigma_color), float(self.sigma_space)
        )


class Resize(_ImageTransformer):
    """Resize every image to a fixed shape (method step 2: crops to 64 x 64).

    Parameters
    ----------
    shape : tuple of (int, int), default=(64, 64)
        Output ``(rows, cols)``.
    interpolation : {"auto", "area", "linear", "cubic", "nearest"}, default="auto"
        OpenCV interpolation; "auto" uses area averaging when shrinking (no
        aliasing) and bilinear interpolation when enlarging.
    n_jobs : int, default=None
        Threads used over images; None means 1.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.preprocessing import Resize
    >>> crops = [np.zeros((45, 44)), np.ones((108, 124))]
    >>> Resize((64, 64)).fit_transform(crops).shape
    (2, 64, 64)
    """

    _parameter_constraints = {
        **_ImageTransformer._parameter_constraints,
        "shape": [tuple],
        "interpolation": [StrOptions({"auto", "area", "linear", "cubic", "nearest"})],
    }
    _INTERPOLATIONS = {
        "area": cv2.INTER_AREA,
        "linear": cv2.INTER_LINEAR,
        "cubic": cv2.INTER_CUBIC,
        "nearest": cv2.INTER_NEAREST,
    }

    def __init__(self, shape=(64, 64), *, interpolation="auto", n_jobs=None):
        self.shape = shape
        self.interpolation = interpolation
        self.n_jobs = n_jobs

    def _check_params(self):
        _check_positive_pair(self.shape, "Resize shape (rows, cols)")

    def _transform_one(self, image):
        image = np.asarray(image, dtype=np.float32)
        rows, cols = (int(s) for s in self.shape)
        if image.shape == (rows, cols):
            return image
        if self.interpolation == "auto":
            shrinking = rows * cols < image.shape[0] * image.shape[1]
            flag = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        else:
            flag = self._INTERPOLATIONS[self.interpolation]
        resized = cv2.resize(image, (cols, rows), interpolation=flag)
        # Interpolation makes no new values: area averaging in float32 can
        # round a constant 1.0 to 1.0000001, and cubic overshoots at edges.
        return np.clip(resized, image.min(), image.max(), out=resized)


class CenterCrop(_ImageTransformer):
    """Keep the central part of each image.

    Method step 7: without a segmentation, the thesis computes radiomics on the
    central 70 % of each nodule crop, where the nodule is.

    Parameters
    ----------
    fraction : float or tuple of (float, float), default=0.7
        Fraction of the rows and columns kept (one value for both).
    n_jobs : int, default=None
        Threads used over images; None means 1.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.preprocessing import CenterCrop
    >>> CenterCrop(0.5).fit_transform(np.zeros((1, 64, 40))).shape
    (1, 32, 20)
    """

    _parameter_constraints = {
        **_ImageTransformer._parameter_constraints,
        "fraction": [Interval(Real, 0, 1, closed="right"), tuple],
    }

    def __init__(self, fraction=0.7, *, n_jobs=None):
        self.fraction = fraction
        self.n_jobs = n_jobs

    def _fractions(self):
        fractions = (
            self.fraction if isinstance(self.fraction, tuple)
            else (self.fraction, self.fraction)
        )
        if len(fractions) != 2 or not all(
            isinstance(f, Real) and 0 < f <= 1 for f in fractions
        ):
            raise ValueError(
                f"CenterCrop fraction must be in (0, 1] (or a pair); got "
                f"{self.fraction!r}."
            )
        return fractions

    def _check_params(self):
        self._fractions()

    def _transform_one(self, image):
        image = np.asarray(image, dtype=np.float32)
        slices = []
        for size, fraction in zip(image.shape, self._fractions()):
            keep = max(1, int(round(size * fraction)))
            start = (size - keep) // 2
            slices.append(slice(start, start + keep))
        return image[tuple(slices)]


def make_ct_preprocessor(
    size=None,
    *,
    min_hu=-1000,
    max_hu=400,
    clahe=True,
    clip_limit=2.0,
    tile_grid_size=(8, 8),
    bilateral=True,
    d=5,
    sigma_color=0.1,
    sigma_space=5.0,
    n_jobs=None,
):
    """Build the method's preprocessing chain as an :class:`ImageChain`.

    Method steps 2 and 4: [resize →] clip HU to [min_hu, max_hu] and map to [0, 1]
    → CLAHE → bilateral filter. Each step keeps values in [0, 1], so the output is
    already on the [0, 1] scale the nets expect.

    Parameters
    ----------
    size : int or tuple of (int, int), default=None
        If given, images are first resized to this shape (64 for nodule crops).
    min_hu, max_hu : float, default=-1000, 400
        The HU window.
    clahe : bool, default=True
        Whether to apply CLAHE.
    clip_limit, tile_grid_size :
        CLAHE parameters.
    bilateral : bool, default=True
        Whether to apply the bilateral filter.
    d, sigma_color, sigma_space :
        Bilateral filter parameters.
    n_jobs : int, default=None
        Threads per step.

    Returns
    -------
    chain : ImageChain
        Steps named ``resize``, ``huwindow``, ``clahe``, ``bilateralfilter`` (those
        enabled), so ``clahe__clip_limit`` can be tuned in a grid search. Not a
        ``Pipeline``, so it can follow a sampler in imbalanced-learn's
        ``make_pipeline(DuplicateRemover(), make_ct_preprocessor(), net)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.preprocessing import make_ct_preprocessor
    >>> crops = [np.full((45, 50), -800.0), np.full((70, 60), 30.0)]
    >>> X = make_ct_preprocessor(size=64).fit_transform(crops)
    >>> X.shape, X.dtype, bool(X.min() >= 0 and X.max() <= 1)
    ((2, 64, 64), dtype('float32'), True)
    """
    steps = []
    if size is not None:
        shape = (size, size) if isinstance(size, Integral) else tuple(size)
        steps.append(("resize", Resize(shape, n_jobs=n_jobs)))
    steps.append(("huwindow", HUWindow(min_hu, max_hu, n_jobs=n_jobs)))
    if clahe:
        steps.append(
            ("clahe", CLAHE(clip_limit, tile_grid_size, n_jobs=n_jobs))
        )
    if bilateral:
        steps.append(
            (
                "bilateralfilter",
                BilateralFilter(d, sigma_color, sigma_space, n_jobs=n_jobs),
            )
        )
    return ImageChain(steps)
