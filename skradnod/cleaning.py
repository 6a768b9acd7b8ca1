"""Removal of exact and near-duplicate images (method step 3).

:class:`DuplicateRemover` is an imbalanced-learn sampler: it drops rows at fit time
only. Duplicates are found by cleanlab's ``Datalab`` (the ``near_duplicate`` issue
type) on the images' pixels, resized to a common shape, or on any feature
transform of the images.
"""

import contextlib
import io
import logging
from numbers import Integral, Real

import numpy as np
from cleanlab import Datalab
from imblearn.base import BaseSampler
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.base import _fit_context, clone
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .base._batch import LazyImageBatch, check_image_batch

__all__ = ["DuplicateRemover"]

logger = logging.getLogger(__name__)


def _connected_sets(neighbour_lists, n):
    """Group samples linked by the near-duplicate relation (graph components).

    Returns the components with more than one member, each sorted, ordered by
    their smallest member.
    """
    rows = [i for i, neighbours in enumerate(neighbour_lists) for _ in neighbours]
    cols = [int(j) for neighbours in neighbour_lists for j in neighbours]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sets = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    return sorted((m for m in sets if m.size > 1), key=lambda m: m[0])


def _near_duplicate_sets(table, y, options):
    """cleanlab's ``near_duplicate`` sets: for each sample, its near duplicates."""
    lab = Datalab(data={"label": np.asarray(y)}, label_name="label", verbosity=0)
    # Datalab prints progress even at verbosity 0.
    with contextlib.redirect_stdout(io.StringIO()):
        lab.find_issues(features=table, issue_types={"near_duplicate": options})
    return lab.get_info("near_duplicate")["near_duplicate_sets"]


class DuplicateRemover(BaseSampler):
    """Drop exact and near-duplicate images, keeping one where labels agree.

    Method step 3: duplicates are found with cleanlab's ``Datalab``
    (``near_duplicate`` issue type); within a set of duplicates one image is kept
    if all labels agree, and the whole set is dropped if they disagree (an image
    rated differently twice says nothing reliable about its label).

    Parameters
    ----------
    threshold : float, default=0.13
        cleanlab's relative radius: two images are near duplicates when their
        distance is below ``threshold`` times the median distance of every image
        to its nearest neighbour. Exact duplicates (distance 0) are always found
        for ``threshold > 0``.
    policy : {"agree"}, default="agree"
        What to do with a duplicate set: ``"agree"`` keeps its first image if all
        its labels are equal and drops the whole set otherwise.
    k : int, default=10
        Neighbours searched per image (capped at ``n_samples - 1``).
    metric : str or None, default=None
        Distance between feature vectors; None lets cleanlab choose (cosine for
        many dimensions, euclidean for few).
    features : transformer or None, default=None
        Maps the image batch to a 2D feature table (fitted with ``fit_transform``
        on the training batch, e.g. a ``RadiomicsExtractor`` or an embedding);
        its columns are standardised before the neighbour search.
        None: the pixels, resized to ``size`` with
        :class:`skradnod.preprocessing.Resize` and flattened.
    size : tuple of (int, int), default=(32, 32)
        Common image shape for the pixel features.

    Attributes
    ----------
    duplicate_sets_ : list of ndarray
        Each set of mutually linked duplicates (indices into the training batch).
    sample_indices_ : ndarray of shape (n_kept,)
        Indices of the images kept.
    removed_indices_ : ndarray of shape (n_removed,)
        Indices of the images dropped.
    n_removed_ : int
        Number of images dropped (also logged at WARNING level on the
        ``skradnod.cleaning`` logger).
    features_ : transformer
        The fitted ``features`` transformer (None when pixels are used).

    See Also
    --------
    skradnod.feature_selection.SparseRowDropper : The other sampler of the method.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.cleaning import DuplicateRemover
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(8, 16, 16))
    >>> X[5] = X[0]                      # an exact duplicate, same label
    >>> X[7] = X[2] + 1e-3               # a near duplicate, another label
    >>> y = np.array([1, 2, 3, 4, 5, 1, 2, 4])
    >>> remover = DuplicateRemover()
    >>> X_res, y_res = remover.fit_resample(X, y)
    >>> [s.tolist() for s in remover.duplicate_sets_]
    [[0, 5], [2, 7]]
    >>> remover.sample_indices_.tolist()
    [0, 1, 3, 4, 6]
    """

    _parameter_constraints = {
        "threshold": [Interval(Real, 0, None, closed="left")],
        "policy": [StrOptions({"agree"})],
        "k": [Interval(Integral, 1, None, closed="left")],
        "metric": [None, str, callable],
        "features": [None, HasMethods(["fit_transform"])],
        "size": [tuple],
    }
    _sampling_type = "clean-sampling"

    def __init__(
        self,
        threshold=0.13,
        *,
        policy="agree",
        k=10,
        metric=None,
        features=None,
        size=(32, 32),
    ):
        self.threshold = threshold
        self.policy = policy
        self.k = k
        self.metric = metric
        self.features = features
        self.size = size

    def _feature_table(self, X, batch):
        if self.features is not None:
            self.features_ = clone(self.features)
            table = np.asarray(self.features_.fit_transform(X), dtype=np.float64)
            if table.ndim != 2 or table.shape[0] != len(batch):
                raise ValueError(
                    f"DuplicateRemover: features must map {len(batch)} images to a "
                    f"2D table with one row per image; got shape {table.shape}."
                )
            # Radiomic features span many orders of magnitude: standardise so that
            # no single feature decides the distances. A failed extraction (NaN
            # row) ends up at the mean.
            with np.errstate(all="ignore"):
                std = np.nanstd(table, axis=0)
                table = (table - np.nanmean(table, axis=0)) / np.where(std > 0, std, 1)
            return np.nan_to_num(table, nan=0.0, posinf=0.0, neginf=0.0)
        from .preprocessing import Resize

        self.features_ = None
        resized = Resize(shape=tuple(self.size)).fit_transform(batch)
        return np.asarray(resized, dtype=np.float64).reshape(len(batch), -1)

    def _find_sets(self, table, y):
        n = len(table)
        if n < 2:
            return []
        options = {"threshold": self.threshold, "k": min(self.k, n - 1)}
        if self.metric is not None:
            options["metric"] = self.metric
        neighbours = _near_duplicate_sets(table, y, options)
        return _connected_sets(neighbours, n)

    def _select(self, X, y):
        batch = check_image_batch(X, name="X")
        y = column_or_1d(y, warn=True)
        check_consistent_length(batch, y)
        table = self._feature_table(X, batch)
        self.duplicate_sets_ = self._find_sets(table, y)
        remove = np.zeros(len(batch), dtype=bool)
        for members in self.duplicate_sets_:
            if np.unique(y[members]).size == 1:
                remove[members[1:]] = True
            else:
                remove[members] = True
        self.sample_indices_ = np.flatnonzero(~remove)
        self.removed_indices_ = np.flatnonzero(remove)
        self.n_removed_ = int(remove.sum())
        if self.n_removed_:
            logger.warning(
                "DuplicateRemover removed %d of %d images (%d duplicate sets): %s",
                self.n_removed_,
                len(batch),
                len(self.duplicate_sets_),
                self.removed_indices_.tolist(),
            )
        return batch, y

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Find the duplicate sets and the images to keep.

        Parameters
        ----------
        X : image batch
            A 3D array, a sequence of 2D arrays, or a sequence of NRRD paths.
        y : array-like of shape (n_images,)
            Labels, used by the policy.

        Returns
        -------
        self : DuplicateRemover
        """
        self._select(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y):
        """Drop duplicates following the policy.

        Parameters
        ----------
        X : image batch
            A 3D array, a sequence of 2D arrays, NRRD paths or a lazy batch.
        y : array-like of shape (n_images,)

        Returns
        -------
        X_resampled : image batch
            The kept images, in the form of X (a 3D array stays 3D, a list stays
            a list, a lazy batch stays lazy).
        y_resampled : ndarray or Series of shape (n_kept,)
        """
        _, y_valid = self._select(X, y)
        return self._fit_resample(X, y, y_valid)

    def _fit_resample(self, X, y, y_valid=None):
        keep = self.sample_indices_
        if isinstance(X, LazyImageBatch):
            X_out = X[keep]
        elif hasattr(X, "iloc") or isinstance(X, np.ndarray):
            X_out = _safe_indexing(X, keep)
        else:
            X_out = [X[i] for i in keep]
        y_out = _safe_indexing(y, keep) if hasattr(y, "iloc") else y_valid[keep]
        return X_out, y_out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.input_tags.sparse = False
        tags.input_tags.dataframe = False
        tags.input_tags.string = True
        return tags
