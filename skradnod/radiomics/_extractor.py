"""Radiomic features of nodule crops as a scikit-learn transformer (method step 7).

:class:`RadiomicsExtractor` turns an image batch into a table of pyradiomics
features (``radiomics.featureextractor.RadiomicsFeatureExtractor`` with
``force2D=True``), one row per image. The region of interest is the central 70 %
of each crop by default, as in the method; an automatic Otsu segmentation, a
callable or explicit masks can replace it.

The per-image work is a module-level function of plain data (image, mask,
spacing, settings), so it runs unchanged in joblib worker processes, on a
dask.distributed cluster (``joblib.parallel_config(backend="dask")``) and under a
feature cache keyed by exactly those inputs (``.npz`` files, never unpickled).
"""

import json
import os
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base._batch import LazyImageBatch, check_image_batch, is_path
from ..base._nrrd import read_nrrd
from ._cache import FeatureCache
from ._spacing import spacing_rule, split_spacing_column
from ._worker import (
    _build_extractor,
    _extract_packed,
    _unpack,
)

__all__ = ["RadiomicsExtractor"]

# pyradiomics' 3D shape class is meaningless on a single slice (zero volume,
# flatness 0); its 2D counterpart replaces it.
_DEFAULT_EXCLUDED_CLASSES = ("shape",)


def _center_mask(shape, fraction):
    """The central ``fraction`` of an image as a boolean mask (at least 1 pixel)."""
    mask = np.zeros(shape, dtype=bool)
    slices = []
    for size in shape:
        extent = max(1, int(round(size * fraction)))
        start = (size - extent) // 2
        slices.append(slice(start, start + extent))
    mask[tuple(slices)] = True
    return mask


def _otsu_threshold(values, bins=256):
    hist, edges = np.histogram(values, bins=bins)
    hist = hist.astype(float)
    centers = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(hist)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(hist * centers)
    mean_low = sum_low / np.maximum(weight_low, 1e-12)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1e-12)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return centers[int(np.argmax(between))]


def _otsu_mask(image, fraction):
    """Otsu foreground, largest component touching the centre box, else the box.

    The method had no segmentation and used the centre box; this is the
    automatic alternative: a nodule is brighter (denser) than the lung around it
    and sits near the centre of its crop.
    """
    center = _center_mask(image.shape, fraction)
    if image.max() <= image.min():
        return center
    foreground = image > _otsu_threshold(image.ravel())
    labels, n_labels = ndimage.label(foreground)
    if n_labels == 0:
        return center
    sizes = np.bincount(labels.ravel(), minlength=n_labels + 1)
    # The component under the centre pixel is the nodule the crop is centred
    # on; otherwise take the largest one reaching into the centre box.
    at_centre = labels[image.shape[0] // 2, image.shape[1] // 2]
    if at_centre > 0 and sizes[at_centre] >= 2:
        return labels == at_centre
    near = np.unique(labels[center & foreground])
    near = near[near > 0]
    if near.size == 0:
        return center
    best = near[np.argmax(sizes[near])]
    if sizes[best] < 2:
        return center
    return labels == best


def _pyradiomics_params(image_types, feature_classes, settings):
    """The parameter dictionary pyradiomics validates (its YAML schema layout)."""
    setting = dict(settings or {})
    # A 2D crop is a one-slice volume to pyradiomics; force2D makes texture
    # matrices and filters work in-plane. Diagnostics are dropped from the output
    # anyway, so do not compute them.
    setting.setdefault("additionalInfo", False)
    setting["force2D"] = True
    setting["force2Ddimension"] = 0
    if isinstance(image_types, dict):
        image_type = {str(k): dict(v or {}) for k, v in image_types.items()}
    else:
        image_type = {str(name): {} for name in image_types}
    if feature_classes is None:
        from radiomics import getFeatureClasses

        feature_class = {
            name: []
            for name in getFeatureClasses()
            if name not in _DEFAULT_EXCLUDED_CLASSES
        }
    elif isinstance(feature_classes, dict):
        feature_class = {str(k): list(v or []) for k, v in feature_classes.items()}
    else:
        feature_class = {str(name): [] for name in feature_classes}
    return {"setting": setting, "imageType": image_type, "featureClass": feature_class}


def _as_masks(mask_param, images, fraction):
    if isinstance(mask_param, str):
        if mask_param == "center":
            return [_center_mask(im.shape, fraction) for im in images]
        return [_otsu_mask(im, fraction) for im in images]
    if callable(mask_param):
        return [np.asarray(mask_param(im)) for im in images]
    masks = list(mask_param)
    if len(masks) != len(images):
        raise ValueError(
            f"mask holds {len(masks)} masks but X holds {len(images)} images; "
            "a sequence of masks must be aligned with X."
        )
    return [np.asarray(m) for m in masks]


class RadiomicsExtractor(TransformerMixin, BaseEstimator):
    """Extract pyradiomics features from each image of a batch.

    Implements step 7 of the method: radiomic features of nodule crops, with the
    central 70 % of each crop as the region of interest.

    Parameters
    ----------
    mask : {"center", "otsu"}, callable or sequence of ndarray, default="center"
        Region of interest per image. ``"center"``: the central ``crop_fraction``
        box of each image (the method's choice, for crops centred on the nodule).
        ``"otsu"``: an automatic segmentation, the Otsu-foreground component
        under the centre pixel, else the largest one reaching into the centre box,
        else the centre box itself. A callable maps an image to its mask. A
        sequence of 2D masks must be aligned with X (only sensible when X is
        always the same batch).
    crop_fraction : float in (0, 1], default=0.7
        Side fraction of the centre box.
    image_types : sequence of str or dict, default=("Original", "Wavelet")
        pyradiomics image types (a dict maps a type to its custom arguments).
        ``("Original", "Wavelet")`` gives the method's ~470 features.
    feature_classes : sequence of str or dict, default=None
        pyradiomics feature classes (a dict maps a class to a list of feature
        names, an empty list meaning all). None: every class except the 3D
        ``shape`` class, which ``shape2D`` replaces on a single slice.
    settings : dict, default=None
        pyradiomics settings (``binWidth``, ``normalize``,
        ``resampledPixelSpacing``...). ``force2D`` is always on.
    spacing : tuple of (float, float) or str, default=None
        Pixel spacing ``(row_mm, col_mm)``. One rule decides the spacing of
        each image, whatever form X takes: a pair applies to every image (a
        warning names every NRRD header it contradicts); a string names a
        column of a DataFrame X that holds each row's spacing (a number for
        square pixels, a pair, or empty), X's one other column holding the
        images -- :func:`skradnod.io.load_nodule_dataset` gives such columns
        (``nodule_spacing``, ``full_spacing``) read from the files' headers, so
        images read into memory keep their files' spacing; otherwise (None, or
        an empty cell) the header of each NRRD path (or of a lazy batch of
        paths with no steps), else ``(1, 1)`` mm. So an image gives the same
        features as a path and as an array that carries its spacing. A lazy
        batch with steps (which may resize) warns that the files' spacing is
        dropped.
    n_jobs : int, default=None
        Images extracted in parallel with :class:`joblib.Parallel` (so any joblib
        backend, including dask, applies). None means 1 unless in a
        :func:`joblib.parallel_config` context.
    memory : str, os.PathLike, joblib.Memory or None, default=None
        Folder (or a ``Memory``'s location) of a cache of per-image features
        keyed by image content, mask, spacing and settings: refitting inside
        cross-validation or a grid search reads them back instead of
        recomputing. Entries are ``.npz`` files read without unpickling, so a
        file planted in the folder cannot run code.
    verbose : bool, default=False
        Show a tqdm progress bar.

    Attributes
    ----------
    feature_names_out_ : ndarray of str
        pyradiomics feature keys (``diagnostics_*`` excluded), fixed in ``fit``
        from the first image that could be extracted.
    params_ : dict
        The pyradiomics parameter dictionary (``setting``, ``imageType``,
        ``featureClass``) used for every image.

    See Also
    --------
    skradnod.feature_selection.make_radiomics_selector : The selection chain
        that follows extraction in the method.

    Notes
    -----
    An image that cannot be extracted (empty or one-pixel mask, mask of another
    size than the image, image constant inside the mask, or any pyradiomics
    error) gives a row of NaN and a warning naming the sample, so one bad crop
    never stops a long run; the selection chain drops or imputes such rows.
    Invalid settings raise a ``ValueError`` at ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.radiomics import RadiomicsExtractor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(0, 100, size=(3, 32, 32))
    >>> ext = RadiomicsExtractor(image_types=("Original",),
    ...                          feature_classes=["firstorder"])
    >>> features = ext.fit_transform(X)
    >>> features.shape
    (3, 18)
    >>> "original_firstorder_Mean" in ext.get_feature_names_out()
    True
    """

    _parameter_constraints = {
        "mask": [StrOptions({"center", "otsu"}), callable, "array-like"],
        "crop_fraction": [Interval(Real, 0, 1, closed="right")],
        "image_types": [list, tuple, dict],
        "feature_classes": [None, list, tuple, dict],
        "settings": [None, dict],
        "spacing": [None, tuple, list, str],
        "n_jobs": [None, Integral],
        "memory": [None, str, os.PathLike, HasMethods(["cache"])],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        mask="center",
        *,
        crop_fraction=0.7,
        image_types=("Original", "Wavelet"),
        feature_classes=None,
        settings=None,
        spacing=None,
        n_jobs=None,
        memory=None,
        verbose=False,
    ):
        self.mask = mask
        self.crop_fraction = crop_fraction
        self.image_types = image_types
        self.feature_classes = feature_classes
        self.settings = settings
        self.spacing = spacing
        self.n_jobs = n_jobs
        self.memory = memory
        self.verbose = verbose

    def _validated_params(self):
        if len(self.image_types) == 0:
            raise ValueError("image_types is empty; name at least one image type.")
        params = _pyradiomics_params(
            self.image_types, self.feature_classes, self.settings
        )
        try:
            params_json = json.dumps(params, sort_keys=True)
        except TypeError as exc:
            raise ValueError(
                f"settings, image_types and feature_classes must hold plain values "
                f"(numbers, strings, lists, dicts): {exc}"
            ) from None
        try:
            extractor = _build_extractor(params_json)
        except Exception as exc:  # pyradiomics raises pykwalify or ValueError errors
            message = getattr(exc, "msg", None) or str(exc)
            raise ValueError(
                f"Invalid pyradiomics parameters for RadiomicsExtractor "
                f"(settings={self.settings!r}, image_types={self.image_types!r}, "
                f"feature_classes={self.feature_classes!r}): {message}"
            ) from exc
        from radiomics import getFeatureClasses

        unknown = set(extractor.enabledFeatures) - set(getFeatureClasses())
        if unknown:
            raise ValueError(
                f"Unknown pyradiomics feature class(es) {sorted(unknown)} in "
                f"feature_classes; available: {sorted(getFeatureClasses())}."
            )
        if self.spacing is not None and not isinstance(self.spacing, str):
            spacing = tuple(self.spacing)
            if len(spacing) != 2 or not all(
                isinstance(s, Real) and np.isfinite(s) and s > 0 for s in spacing
            ):
                raise ValueError(
                    f"spacing must be two finite positive numbers (row_mm, col_mm); "
                    f"got {self.spacing!r}."
                )
        return params, params_json

    def _read(self, X):
        """Images as float64 2D arrays, their spacings and a name for each."""
        column = ids = None
        if isinstance(self.spacing, str):
            X, column, ids = split_spacing_column(X, self.spacing)
        if isinstance(X, LazyImageBatch) and X.steps:
            # Per-image steps may resize: the files' spacing no longer applies.
            sources = X.sources
            images = check_image_batch(X)
            headers = [None] * len(images)
        else:
            if isinstance(X, LazyImageBatch):
                X = X.sources
            items = None
            if not (isinstance(X, np.ndarray) and X.dtype != object) and not is_path(
                X
            ):
                try:
                    items = list(X.to_numpy() if hasattr(X, "to_numpy") else X)
                except TypeError:
                    items = None
            if items and all(is_path(item) for item in items):
                images, headers = [], []
                for item in items:
                    image, header = read_nrrd(item)
                    images.append(image)
                    headers.append(header)
                images = check_image_batch(images)
                sources = items
            else:
                images = check_image_batch(X)
                headers = [None] * len(images)
                sources = [None] * len(images)
        names = [
            f"sample {i} ({os.fspath(src)!r})" if is_path(src) else f"sample {i}"
            for i, src in enumerate(sources)
        ] if ids is None else [
            f"{row} ({os.fspath(src)!r})" if is_path(src) else row
            for row, src in zip(ids, sources)
        ]
        lazy_steps = isinstance(X, LazyImageBatch) and bool(X.steps)
        spacings = spacing_rule(self.spacing, headers, names, lazy_steps, column)
        images = [np.asarray(im, dtype=np.float64) for im in images]
        return images, spacings, names

    def _extract(self, images, spacings, params_json, stop_at_first=False):
        masks = _as_masks(self.mask, images, self.crop_fraction)
        results = [None] * len(images)
        todo = list(range(len(images)))
        cache = keys = None
        if getattr(self.memory, "location", self.memory) is not None:
            cache = FeatureCache(self.memory)
            keys = [
                cache.key(image, mask, spacing, params_json)
                for image, mask, spacing in zip(images, masks, spacings)
            ]
            # Read cache hits here rather than in workers: a hit costs a hash and
            # a small file read, far less than shipping the image to a worker.
            todo = []
            for i, key in enumerate(keys):
                results[i] = cache.get(key)
                if results[i] is None:
                    todo.append(i)
        if stop_at_first:
            # fit only needs the feature names: the first image that works.
            done = []
            for i in range(len(images)):
                if results[i] is None:
                    results[i] = _extract_packed(
                        images[i], masks[i], spacings[i], params_json
                    )
                    if cache is not None:
                        cache.put(keys[i], results[i])
                done.append(results[i])
                if results[i][0] is not None:
                    break
            return [_unpack(r) for r in done]
        jobs = (
            delayed(_extract_packed)(images[i], masks[i], spacings[i], params_json)
            for i in todo
        )
        computed = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
        if self.verbose:
            from tqdm.auto import tqdm

            computed = tqdm(
                computed, total=len(images), initial=len(images) - len(todo),
                desc="radiomics",
            )
        # Exhaust the generator (joblib warns about a half-read one).
        for i, result in zip(todo, list(computed)):
            results[i] = result
            if cache is not None:
                cache.put(keys[i], result)
        return [_unpack(r) for r in results]

    def _warn_failures(self, results, names):
        for (features, reason), name in zip(results, names):
            if features is None:
                warnings.warn(
                    f"RadiomicsExtractor: {name} could not be extracted ({reason}); "
                    "its features are NaN.",
                    UserWarning,
                    stacklevel=3,
                )

    def _set_names(self, results, names):
        for features, _ in results:
            if features is not None:
                self.feature_names_out_ = np.asarray(features, dtype=object)
                return
        reasons = "; ".join(f"{n}: {r}" for (_, r), n in list(zip(results, names))[:5])
        raise ValueError(
            f"RadiomicsExtractor could not extract features from any of the "
            f"{len(results)} images, so no feature names could be fixed ({reasons})."
        )

    def _table(self, results):
        columns = self.feature_names_out_
        index = None
        out = np.full((len(results), len(columns)), np.nan, dtype=np.float64)
        for i, (features, values) in enumerate(results):
            if features is None:
                continue
            if len(features) == len(columns) and all(
                a == b for a, b in zip(features, columns)
            ):
                out[i] = values
                continue
            if index is None:
                index = {name: j for j, name in enumerate(columns)}
            for name, value in zip(features, values):
                j = index.get(name)
                if j is not None:
                    out[i, j] = value
        return out

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the settings and fix the feature names.

        Parameters
        ----------
        X : image batch or DataFrame
            A 3D array, a sequence of 2D arrays, or a sequence of NRRD paths;
            with ``spacing`` a column name, a DataFrame of that column and one
            column of images.
        y : None
            Ignored.

        Returns
        -------
        self : RadiomicsExtractor
        """
        self.params_, params_json = self._validated_params()
        images, spacings, names = self._read(X)
        results = self._extract(images, spacings, params_json, stop_at_first=True)
        self._warn_failures(results, names)
        self._set_names(results, names)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit and extract features in one pass over the images.

        Parameters
        ----------
        X : image batch or DataFrame
            A 3D array, a sequence of 2D arrays, or a sequence of NRRD paths;
            with ``spacing`` a column name, a DataFrame of that column and one
            column of images.
        y : None
            Ignored.

        Returns
        -------
        features : ndarray of shape (n_images, n_features)
            float64 features; a row of NaN for an image that failed.
        """
        self.params_, params_json = self._validated_params()
        images, spacings, names = self._read(X)
        results = self._extract(images, spacings, params_json)
        self._warn_failures(results, names)
        self._set_names(results, names)
        return self._table(results)

    def transform(self, X):
        """Extract the features of every image.

        Parameters
        ----------
        X : image batch or DataFrame
            A 3D array, a sequence of 2D arrays, or a sequence of NRRD paths;
            with ``spacing`` a column name, a DataFrame of that column and one
            column of images.

        Returns
        -------
        features : ndarray of shape (n_images, n_features)
            float64 features in the order of :meth:`get_feature_names_out`; a row
            of NaN (and a warning) for an image that failed.
        """
        check_is_fitted(self)
        params_json = json.dumps(self.params_, sort_keys=True)
        images, spacings, names = self._read(X)
        results = self._extract(images, spacings, params_json)
        self._warn_failures(results, names)
        return self._table(results)

    def get_feature_names_out(self, input_features=None):
        """Names of the features: pyradiomics keys without ``diagnostics_*``.

        Parameters
        ----------
        input_features : None
            Ignored (the input is images, which have no feature names).

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return self.feature_names_out_.copy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags
