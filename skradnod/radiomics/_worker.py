"""The per-image work of :class:`skradnod.radiomics.RadiomicsExtractor`.

Kept in a module of its own that imports neither scikit-learn nor SciPy: joblib
worker processes import only this (plus pyradiomics) to run it, which halves
their start-up time, a cost paid once per worker and per run.
"""

import functools
import json
import logging

import numpy as np

__all__ = ["extract_features"]


@functools.lru_cache(maxsize=8)
def _build_extractor(params_json):
    """A pyradiomics extractor per process and parameter set.

    Building one validates the parameters against pyradiomics' schema (~15 ms);
    caching it per worker process keeps that out of the per-image cost while the
    estimator itself only ever holds the plain parameter dictionary.
    """
    import radiomics
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    radiomics.setVerbosity(logging.ERROR)
    return RadiomicsFeatureExtractor(json.loads(params_json))


def _to_sitk(array, spacing):
    import SimpleITK as sitk

    # pyradiomics works on volumes: a crop is one axial slice. SimpleITK's
    # spacing is (x=col, y=row, z).
    image = sitk.GetImageFromArray(array[np.newaxis])
    image.SetSpacing((float(spacing[1]), float(spacing[0]), 1.0))
    return image


def extract_features(image, mask, spacing, params_json):
    """Features of one image: ``(names, values)`` or ``(None, reason)`` on failure.

    A module-level function of plain data, so joblib can ship it to workers and
    ``Memory`` can cache it by the content of its arguments.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        The image (float64).
    mask : ndarray of shape (H, W)
        Region of interest (nonzero = inside).
    spacing : tuple of float
        Pixel spacing ``(row_mm, col_mm)``.
    params_json : str
        pyradiomics parameters (``setting``, ``imageType``, ``featureClass``) as
        JSON.

    Returns
    -------
    names : tuple of str or None
        Feature keys, diagnostics excluded; None if extraction failed.
    values : ndarray of shape (n_features,) or str
        float64 feature values, or the reason for the failure.
    """
    image = np.asarray(image, dtype=np.float64)
    mask = np.asarray(mask)
    if mask.shape != image.shape:
        return None, (
            f"mask of shape {mask.shape} does not match the image of shape "
            f"{image.shape}"
        )
    inside = mask != 0
    n_inside = int(inside.sum())
    if n_inside == 0:
        return None, "the mask is empty"
    if n_inside == 1:
        return None, "the mask holds a single pixel"
    roi = image[inside]
    if roi.max() == roi.min():
        return None, f"the image is constant ({roi[0]:g}) inside the mask"
    try:
        extractor = _build_extractor(params_json)
        params = json.loads(params_json)
        label = int(params["setting"].get("label", 1))
        result = extractor.execute(
            _to_sitk(image, spacing),
            _to_sitk(inside.astype(np.uint8) * label, spacing),
        )
    except Exception as exc:  # noqa: BLE001 - any pyradiomics failure is per-image
        return None, f"pyradiomics failed: {type(exc).__name__}: {exc}"
    names = tuple(k for k in result if not k.startswith("diagnostics_"))
    values = np.array([float(result[k]) for k in names], dtype=np.float64)
    return names, values


def _extract_packed(image, mask, spacing, params_json):
    """:func:`extract_features` with the names as one string: what is cached.

    A warm cache is read once per image; unpickling one string is several times
    faster than unpickling ~500 small ones.
    """
    names, values = extract_features(image, mask, spacing, params_json)
    return ("\n".join(names) if names is not None else None), values


def _unpack(result):
    names, values = result
    return (tuple(names.split("\n")) if names is not None else None), values
