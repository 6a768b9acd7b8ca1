"""Nodule localisation in full slices by template matching.

The multi-task model of the method (step 9) learns to regress the nodule's centre
beside its class. The training targets come from here: each nodule crop is found
in its full slice with :func:`cv2.matchTemplate` (normalised correlation
coefficient), and the centre of the best match is scaled to ``[0, 1]``.
"""

import warnings
from numbers import Real

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .base import LazyImageBatch

__all__ = ["TemplateMatcher"]


def _read_cell(cell, row, column):
    """One image of a paired data set: an array, or an NRRD path read now."""
    try:
        # A one-item lazy batch reads a path and validates either form, with an
        # error naming the file.
        image = LazyImageBatch([cell])[0]
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise type(exc)(f"Row {row!r}, column {column!r}: {exc}") from exc
    return np.asarray(image, dtype=np.float32)


def match_template(image, template):
    """Locate ``template`` in ``image``; return ``(row0, col0, score)``.

    ``row0, col0`` is the top-left corner of the best match and ``score`` its
    normalised correlation coefficient in ``[-1, 1]``.
    """
    result = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)
    # A flat template or flat window divides by zero; such positions are no match.
    result = np.nan_to_num(result, nan=-1.0, posinf=-1.0, neginf=-1.0)
    _, score, _, (col0, row0) = cv2.minMaxLoc(result)
    return row0, col0, float(score)


class TemplateMatcher(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Find each nodule crop in its full slice and return its centre.

    For every row of a paired data set, the crop (column ``nodule``) is located
    in the slice (column ``full``) with :func:`cv2.matchTemplate` using the
    normalised correlation coefficient (``TM_CCOEFF_NORMED``), which ignores
    brightness offset and contrast, so crops and slices may be in HU or already
    windowed, as long as both are processed alike.

    Parameters
    ----------
    threshold : float, default=0.8
        Lowest match score (normalised correlation, at most 1) taken as "found".
        A row whose best score is lower still gets the best position, and a
        :class:`UserWarning` naming the row is issued.
    full : str, default="full"
        Column holding the full slices (2D arrays or NRRD paths).
    nodule : str, default="nodule"
        Column holding the crops (2D arrays or NRRD paths).

    Attributes
    ----------
    match_score_ : ndarray of shape (n_samples,)
        Best match score of each row of the last :meth:`transform` call.
    n_features_in_ : int
        Number of columns of the DataFrame seen in :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names seen in :meth:`fit`.

    See Also
    --------
    skradnod.models.CenterRegressionClassifier : Uses these centres as targets.

    Notes
    -----
    Centres follow the pixel-centre convention: the crop occupying columns
    ``c0 .. c0 + w - 1`` has its centre at column ``c0 + (w - 1) / 2``, and
    ``x = (column + 0.5) / W`` (``y`` likewise with rows and ``H``), so ``x = 0``
    is the left edge of the slice and ``x = 1`` its right edge. Multiply by
    ``(W, H)`` and subtract 0.5 to get pixel coordinates back.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skradnod.localization import TemplateMatcher
    >>> rng = np.random.RandomState(0)
    >>> full = rng.normal(size=(64, 64)).astype(np.float32)
    >>> crop = full[10:20, 30:44]      # rows 10-19, columns 30-43
    >>> X = pd.DataFrame({"full": [full], "nodule": [crop]})
    >>> centres = TemplateMatcher().fit_transform(X)
    >>> centres * 64 - 0.5             # back to pixels: (x, y) = (col, row)
    array([[36.5, 14.5]])
    """

    _parameter_constraints = {
        "threshold": [Interval(Real, -1, 1, closed="both")],
        "full": [str],
        "nodule": [str],
    }

    def __init__(self, threshold=0.8, *, full="full", nodule="nodule"):
        self.threshold = threshold
        self.full = full
        self.nodule = nodule

    def _check_frame(self, X):
        if not hasattr(X, "columns"):
            raise ValueError(
                "TemplateMatcher needs a pandas DataFrame with columns "
                f"{self.full!r} and {self.nodule!r}; got {type(X).__name__}."
            )
        missing = [c for c in (self.full, self.nodule) if c not in X.columns]
        if missing:
            raise ValueError(
                f"TemplateMatcher: X lacks column(s) {missing}; it has "
                f"{list(X.columns)}."
            )
        if len(X) == 0:
            raise ValueError("TemplateMatcher: X has no rows.")

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the columns; template matching learns nothing.

        Parameters
        ----------
        X : DataFrame
            Paired data set with the ``full`` and ``nodule`` columns.
        y : None
            Ignored.

        Returns
        -------
        self : TemplateMatcher
        """
        self._check_frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X):
        """Return the centre of each crop in its slice.

        Parameters
        ----------
        X : DataFrame
            Paired data set with the ``full`` and ``nodule`` columns; cells hold
            2D arrays or NRRD paths (read one row at a time).

        Returns
        -------
        centres : ndarray of shape (n_samples, 2)
            ``(x, y)`` centre of the best match, scaled to ``[0, 1]``.

        Warns
        -----
        UserWarning
            For each row whose best score is below ``threshold``, naming the row.
        """
        check_is_fitted(self)
        self._check_frame(X)
        centres = np.empty((len(X), 2))
        scores = np.empty(len(X))
        rows = zip(X.index, X[self.full], X[self.nodule])
        for i, (row, full_cell, nodule_cell) in enumerate(rows):
            image = _read_cell(full_cell, row, self.full)
            crop = _read_cell(nodule_cell, row, self.nodule)
            if crop.shape[0] > image.shape[0] or crop.shape[1] > image.shape[1]:
                raise ValueError(
                    f"Row {row!r}: the crop ({crop.shape}) is larger than the full "
                    f"slice ({image.shape}) it should be found in."
                )
            row0, col0, scores[i] = match_template(image, crop)
            height, width = image.shape
            centres[i, 0] = (col0 + (crop.shape[1] - 1) / 2 + 0.5) / width
            centres[i, 1] = (row0 + (crop.shape[0] - 1) / 2 + 0.5) / height
            if scores[i] < self.threshold:
                warnings.warn(
                    f"TemplateMatcher: the crop of row {row!r} was not found in its "
                    f"slice (best score {scores[i]:.3f} < threshold "
                    f"{self.threshold}); its centre is the best match anyway.",
                    UserWarning,
                )
        self.match_score_ = scores
        return centres

    def get_feature_names_out(self, input_features=None):
        """Names of the two output columns: ``center_x`` and ``center_y``."""
        check_is_fitted(self)
        return np.asarray(["center_x", "center_y"], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        # X is a DataFrame of images (or paths), neither a feature table nor a
        # 3D image batch.
        tags.input_tags.three_d_array = False
        tags.input_tags.string = True
        return tags
