"""Find the nodule in the full slice, crop it, classify the crop (beyond the method).

The method's full-slice models (its Table 2) classify a whole 512x512 slice
shrunk to the net's input: at 64 px or less a 5-30 mm nodule is a few pixels,
and they score at chance. :class:`LocatedNoduleClassifier` composes the two
stages a radiologist's eye does: a :class:`~skradnod.models.NoduleLocator`
finds the nodule on a downsized slice, and the nodule classifier reads a
fixed-size crop of the *full-resolution* slice around that centre, so the
nodule keeps its detail and its physical size.
"""

from numbers import Integral, Real

import numpy as np
from sklearn import config_context
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.validation import check_is_fitted

from ..base import LazyImageBatch, is_path
from ..localization import TemplateMatcher

__all__ = ["LocatedNoduleClassifier", "crop_around"]


def crop_around(images, centres, size):
    """Square crops of ``size`` pixels centred on ``centres``, kept inside the image.

    Parameters
    ----------
    images : sequence of 2D arrays or LazyImageBatch
        Full-resolution slices (each read once).
    centres : ndarray of shape (n, 2)
        ``(x, y)`` in ``[0, 1]`` (pixel-edge convention of
        :class:`~skradnod.localization.TemplateMatcher`).
    size : int
        Side of the crops. A box that would leave the image is shifted inside
        it, as the cohort's crop rule does, so every crop is ``size x size``.

    Returns
    -------
    crops : ndarray of shape (n, size, size) and dtype float32

    Raises
    ------
    ValueError
        If an image is smaller than ``size``, naming the sample.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.models import crop_around
    >>> image = np.zeros((16, 16)); image[2, 12] = 1.0
    >>> crop = crop_around([image], np.array([[12.5 / 16, 2.5 / 16]]), 5)[0]
    >>> crop.shape, float(crop[2, 2])  # the pixel sits at the crop's centre
    ((5, 5), 1.0)
    >>> crop_around([image], np.array([[0.0, 0.0]]), 5)[0].shape  # shifted in
    (5, 5)
    """
    centres = np.asarray(centres, dtype=float)
    crops = np.empty((len(centres), size, size), dtype=np.float32)
    for i, (image, (x, y)) in enumerate(zip(images, centres)):
        image = np.asarray(image)
        height, width = image.shape
        if height < size or width < size:
            raise ValueError(
                f"Sample {i}: the slice is {height}x{width} pixels, smaller than "
                f"the crop size {size}."
            )
        # The pixel holding the centre (pixel-edge convention) goes to index
        # size // 2 of the crop: its middle (odd size) or just past it (even).
        top = int(np.clip(np.floor(y * height) - size // 2, 0, height - size))
        left = int(np.clip(np.floor(x * width) - size // 2, 0, width - size))
        crops[i] = image[top : top + size, left : left + size]
    return crops


def _default_locator():
    from sklearn.pipeline import make_pipeline

    from ..preprocessing import make_ct_preprocessor
    from ._locator import NoduleLocator

    # The HU window alone: CLAHE would equalise the lung's local contrast that
    # makes a nodule stand out from its surroundings.
    return make_pipeline(
        make_ct_preprocessor(size=128, clahe=False, bilateral=False),
        NoduleLocator(),
    )


def _default_classifier():
    from sklearn.pipeline import make_pipeline

    from ..preprocessing import make_ct_preprocessor
    from ._nodule import NoduleCNNClassifier

    return make_pipeline(make_ct_preprocessor(), NoduleCNNClassifier())


class LocatedNoduleClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Classify full slices by locating the nodule, cropping and classifying the crop.

    ``fit`` finds each training crop in its slice
    (:class:`~skradnod.localization.TemplateMatcher`), trains ``locator`` to
    predict those centres from the full slice, and trains ``classifier`` on
    ``crop_size`` crops of the full-resolution slices around them. Prediction
    needs only the full slice: the locator's centre gives the crop that the
    classifier reads. Beyond the method (its full-slice rows classify the
    whole slice); see the user guide's "Full-slice models".

    Parameters
    ----------
    locator : estimator or None, default=None
        Fitted on ``(full slices, centres)``; its ``predict`` returns ``(x,
        y)`` centres in ``[0, 1]``. None: ``make_pipeline(make_ct_preprocessor(
        size=128, clahe=False, bilateral=False), NoduleLocator())``.
    classifier : classifier or None, default=None
        Fitted on the crops and the labels. None: ``make_pipeline(
        make_ct_preprocessor(), NoduleCNNClassifier())``.
    crop_size : int, default=64
        Side of the crops in full-resolution pixels (64 px at LIDC's typical
        0.7 mm is 45 mm: a 30 mm nodule and its margin). Fixed, so the crop
        keeps the nodule's physical size, which the method's crops (sized to
        the nodule, then resized) lose.
    train_crops : {"predicted", "matched"}, default="predicted"
        Where the classifier's training crops are cut: around the fitted
        locator's centres on the training slices ("predicted": the crops it
        will see at prediction, off-centre where the locator errs), or around
        the template-matched centres ("matched": perfectly centred crops,
        which left the test's classifier at 58 % on its own training slices
        once the locator's 1-2 px errors moved the nodule).
    full : str, default="full"
        Column of the full slices.
    nodule : str, default="nodule"
        Column of the nodule crops (``fit`` only: they give the centres).
    match_threshold : float, default=0.8
        ``TemplateMatcher``'s threshold: pairs matched worse get a warning.

    Attributes
    ----------
    locator_ : estimator
        The fitted locator.
    classifier_ : classifier
        The fitted crop classifier.
    classes_ : ndarray of shape (n_classes,)
        The labels, from ``classifier_``.
    match_score_ : ndarray of shape (n_samples,)
        Template-matching score of each training pair.

    See Also
    --------
    NoduleLocator : The default locator's net.
    CenterRegressionClassifier : The method's multi-task full-slice model.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.pipeline import make_pipeline
    >>> from skradnod.models import (LocatedNoduleClassifier, NoduleCNNClassifier,
    ...                              NoduleLocator)
    >>> from skradnod.preprocessing import make_ct_preprocessor
    >>> rng = np.random.RandomState(0)
    >>> full = rng.normal(-800, 20, (12, 48, 48)).astype(np.float32)
    >>> where = rng.randint(8, 40, (12, 2))
    >>> for image, (r, c) in zip(full, where):
    ...     image[r - 3:r + 3, c - 3:c + 3] = 40.0  # a 6x6 "nodule"
    >>> X = pd.DataFrame({"full": list(full), "nodule": [
    ...     image[r - 6:r + 6, c - 6:c + 6] for image, (r, c) in zip(full, where)]})
    >>> clf = LocatedNoduleClassifier(
    ...     locator=NoduleLocator(module__width=4, max_epochs=1, valid_size=None),
    ...     classifier=NoduleCNNClassifier(module__width=4, max_epochs=1,
    ...                                    valid_size=None),
    ...     crop_size=16).fit(X, [1, 2] * 6)
    >>> clf.predict(X[["full"]]).shape, clf.predict_center(X[["full"]]).shape
    ((12,), (12, 2))
    """

    # Patient ids reach the children's early-stopping splits (metadata routing).
    __metadata_request__fit = {"groups": True}

    _parameter_constraints: dict = {
        "locator": [None, HasMethods(["fit", "predict"])],
        "classifier": [None, HasMethods(["fit", "predict_proba"])],
        "crop_size": [Interval(Integral, 4, None, closed="left")],
        "train_crops": [StrOptions({"predicted", "matched"})],
        "full": [str],
        "nodule": [str],
        "match_threshold": [Interval(Real, -1, 1, closed="both")],
    }

    def __init__(
        self,
        locator=None,
        classifier=None,
        *,
        crop_size=64,
        train_crops="predicted",
        full="full",
        nodule="nodule",
        match_threshold=0.8,
    ):
        self.locator = locator
        self.classifier = classifier
        self.crop_size = crop_size
        self.train_crops = train_crops
        self.full = full
        self.nodule = nodule
        self.match_threshold = match_threshold

    def _full_images(self, X):
        if not hasattr(X, "columns") or self.full not in X.columns:
            raise ValueError(
                f"{type(self).__name__} needs a DataFrame with the full-slice "
                f"column {self.full!r}; got {type(X).__name__}"
                + (f" with columns {list(X.columns)}" if hasattr(X, "columns")
                   else "")
                + "."
            )
        column = X[self.full].to_numpy()
        ids = X.index.tolist() if "id" not in X.columns else X["id"].tolist()
        if len(column) and all(is_path(cell) for cell in column):
            # Paths stay paths: each slice is read when it is needed.
            return LazyImageBatch(list(column), ids=ids)
        return list(column)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Find the training centres, fit the locator, fit the classifier on crops.

        Parameters
        ----------
        X : DataFrame
            Paired data set with the ``full`` and ``nodule`` columns (arrays or
            NRRD paths).
        y : array-like of shape (n_samples,)
            Labels, returned as given by ``predict``.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids, routed to the children that request them (the nets'
            early-stopping splits).

        Returns
        -------
        self : LocatedNoduleClassifier
        """
        if not hasattr(X, "columns") or self.nodule not in X.columns:
            raise ValueError(
                f"{type(self).__name__}.fit needs a DataFrame with the columns "
                f"{self.full!r} and {self.nodule!r} (the crops give the centre "
                f"targets); got {type(X).__name__}."
            )
        matcher = TemplateMatcher(
            self.match_threshold, full=self.full, nodule=self.nodule
        )
        centres = matcher.fit_transform(X)
        self.match_score_ = matcher.match_score_
        images = self._full_images(X)
        self.locator_ = clone(
            _default_locator() if self.locator is None else self.locator
        )
        self.classifier_ = clone(
            _default_classifier() if self.classifier is None else self.classifier
        )
        # Routing on for the children's fit alone, as cross_validate_report
        # does, so the patient ids reach every net's early-stopping split
        # whether or not the caller enabled it.
        metadata = {} if groups is None else {"groups": groups}
        with config_context(enable_metadata_routing=True):
            routed = process_routing(self, "fit", **metadata)
            self.locator_.fit(images, centres, **routed.locator.fit)
            if self.train_crops == "predicted":
                # The crops the classifier will see at prediction: around the
                # locator's centres, with its (training-set) errors.
                centres = self.locator_.predict(images)
            crops = crop_around(images, centres, self.crop_size)
            self.classifier_.fit(crops, y, **routed.classifier.fit)
        return self

    @property
    def classes_(self):
        """The labels, as the fitted classifier gives them."""
        check_is_fitted(self, "classifier_")
        return self.classifier_.classes_

    def predict_center(self, X):
        """Predicted nodule centres ``(x, y)`` in ``[0, 1]`` from the full slices.

        Parameters
        ----------
        X : DataFrame
            With the ``full`` column (no crop needed).

        Returns
        -------
        centres : ndarray of shape (n_samples, 2)
        """
        return self._centres(self._full_images(X))

    def _centres(self, images):
        check_is_fitted(self, "locator_")
        return np.asarray(self.locator_.predict(images), dtype=float)

    def center_error(self, X):
        """Distance of each predicted centre to the crop's, in full-slice pixels.

        The reference is where ``TemplateMatcher`` finds the sample's crop in
        its slice (the locator's training target), so ``X`` needs both
        columns: on held-out patients this is the locator's error.

        Parameters
        ----------
        X : DataFrame
            With the ``full`` and ``nodule`` columns.

        Returns
        -------
        error : ndarray of shape (n_samples,)
            Euclidean distances in pixels of the full-resolution slice.
        """
        reference = TemplateMatcher(
            self.match_threshold, full=self.full, nodule=self.nodule
        ).fit_transform(X)
        images = self._full_images(X)
        # (width, height) of each slice, to turn fractions into pixels.
        sizes = np.array([np.shape(image)[::-1] for image in images], dtype=float)
        return np.linalg.norm((self._centres(images) - reference) * sizes, axis=1)

    def crop(self, X):
        """The crops the classifier reads, ``crop_size`` px around the centres found.

        Parameters
        ----------
        X : DataFrame
            With the ``full`` column.

        Returns
        -------
        crops : ndarray of shape (n_samples, crop_size, crop_size)
        """
        images = self._full_images(X)
        return crop_around(images, self._centres(images), self.crop_size)

    def predict_proba(self, X):
        """Class probabilities of the crops around the predicted centres.

        Parameters
        ----------
        X : DataFrame
            With the ``full`` column.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self.classifier_.predict_proba(self.crop(X))

    def predict(self, X):
        """Predicted labels, as given to ``fit``.

        Parameters
        ----------
        X : DataFrame
            With the ``full`` column.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def get_metadata_routing(self):
        """Metadata routing: ``groups`` for ``fit`` go to both children's ``fit``.

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRouter
        """
        router = MetadataRouter(owner=type(self).__name__).add_self_request(self)
        mapping = MethodMapping().add(caller="fit", callee="fit")
        router.add(
            locator=_default_locator() if self.locator is None else self.locator,
            method_mapping=mapping,
        )
        router.add(
            classifier=(
                _default_classifier() if self.classifier is None else self.classifier
            ),
            method_mapping=mapping,
        )
        return router

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is a table whose cells hold images (or NRRD paths).
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = False
        tags.input_tags.string = True
        return tags
