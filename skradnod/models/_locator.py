"""A net that predicts where the nodule is in a full slice (beyond the method)."""

from numbers import Real

import numpy as np
import torch
from sklearn.metrics import r2_score
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch.callbacks import EpochScoring
from skorch.utils import to_tensor

from ..nn import HeatmapNet, decode_heatmap, gaussian_heatmap, heatmap_shape
from ._base import BaseNetClassifier
from ._data import CentreCollate, num_samples

__all__ = ["NoduleLocator"]


def _valid_distance(net, X, y):
    """Mean distance of predicted to true centres, in image sides (validation)."""
    y = np.asarray(y)
    return float(np.linalg.norm(net.predict(X) - y[:, 1:], axis=1).mean())


class NoduleLocator(BaseNetClassifier):
    """Predict the nodule's centre in full slices with a heat-map network.

    A :class:`~skradnod.nn.HeatmapNet` scores every cell of a grid at a quarter
    of the input resolution; it is trained with the shared recipe (AdamW,
    ReduceLROnPlateau, early stopping with the best weights restored, a
    patient-grouped validation split, BatchNorm recalibration, flips and
    rotations that move the centre targets with the image) on a
    cross-entropy against a Gaussian around each true centre. ``predict``
    returns the peak of the heat map, refined within its 3x3 neighbourhood.

    Beyond the method: it is the first stage of
    :class:`~skradnod.models.LocatedNoduleClassifier`, which crops the
    full-resolution slice around the predicted centre and classifies the crop.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=HeatmapNet
        The network: any module mapping ``(N, 1, H, W)`` to ``(N, rows *
        cols)`` logits on the grid of :func:`~skradnod.nn.heatmap_shape`.
        ``module__width`` sets HeatmapNet's width.
    sigma : float, default=1.0
        Standard deviation of the target Gaussian, in grid cells.
    batch_size : int, default=16
        Mini-batch size.
    augment : bool, default=True
        Random flips and rotations of the training slices, moving the centres.
    **kwargs
        Every other parameter of the recipe
        (:class:`~skradnod.models._base.BaseNetClassifier`: ``lr``,
        ``max_epochs``, ``patience``, ``valid_size``, ``rotation``,
        ``device``, ``random_state``, ``n_jobs``, ``verbose``, ...); its
        ``class_weight`` has no classes to weigh here and stays None.

    Attributes
    ----------
    grid_ : tuple of int
        ``(rows, cols)`` of the heat map.
    module_ : torch.nn.Module
        The trained network.
    input_shape_, input_range_, device_, history_ :
        As for every skradnod net; ``history_[:, "valid_distance"]`` is the
        mean validation error in image sides.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.models import NoduleLocator
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(0, 0.05, (48, 32, 32)).astype(np.float32)
    >>> rows, cols = rng.randint(4, 28, (2, 48))
    >>> for image, r, c in zip(X, rows, cols):
    ...     image[r - 2:r + 2, c - 2:c + 2] += 1.0  # a bright 4x4 "nodule"
    >>> centres = np.column_stack([cols / 32, rows / 32])
    >>> loc = NoduleLocator(module__width=8, max_epochs=40, lr=1e-2,
    ...                     valid_size=None, augment=False, random_state=0,
    ...                     n_jobs=1).fit(X, centres)
    >>> error_px = np.abs(loc.predict(X) - centres).max(axis=1) * 32
    >>> bool(np.median(error_px) < 2)
    True
    """

    _parameter_constraints: dict = {
        **BaseNetClassifier._parameter_constraints,
        "sigma": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        module=HeatmapNet,
        *,
        sigma=1.0,
        batch_size=16,
        class_weight=None,
        **kwargs,
    ):
        super().__init__(
            module, batch_size=batch_size, class_weight=class_weight, **kwargs
        )
        self.sigma = sigma

    @property
    def _default_callbacks(self):
        callbacks = []
        for name, callback in super()._default_callbacks:
            if name == "valid_acc":  # no classes: the centre error instead
                name, callback = "valid_distance", EpochScoring(
                    _valid_distance, name="valid_distance", lower_is_better=True
                )
            callbacks.append((name, callback))
        return callbacks

    def _check_fit_data(self, X, y, groups, *, reset, classes=None):
        X = self._check_X(X, reset=reset)
        n_samples = num_samples(X)
        centres = check_array(
            y, dtype=np.float32, input_name="y (the nodule centres)"
        )
        if centres.shape != (n_samples, 2):
            raise ValueError(
                f"{type(self).__name__}: y must hold one (x, y) centre per image, "
                f"shape ({n_samples}, 2); got {centres.shape}."
            )
        outside = np.flatnonzero(((centres < 0) | (centres > 1)).any(axis=1))
        if outside.size:
            raise ValueError(
                f"{type(self).__name__}: centres are (x, y) in [0, 1] (fractions "
                f"of the width and height); sample {int(outside[0])} has "
                f"{centres[outside[0]].tolist()}."
            )
        if groups is not None:
            groups = column_or_1d(groups)
            if len(groups) != n_samples:
                raise ValueError(
                    f"groups has {len(groups)} entries but X has {n_samples} "
                    "samples."
                )
        if reset:
            # No classes: one dummy label column keeps the recipe's targets
            # ([code, cx, cy] rows, as CentreCollate augments them) and its
            # stratified validation split (one stratum) unchanged.
            self.classes_inferred_ = np.array([0])
            self.class_weight_ = None
            self.grid_ = heatmap_shape(*self.input_shape_)
        targets = np.column_stack([np.zeros(n_samples, np.float32), centres])
        return X, targets, groups

    def get_module_params_from_data(self):
        return {}

    def get_collate_fn(self, training):
        return CentreCollate(
            augment=bool(training and self.augment), rotation=self.rotation
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device_)
        target = gaussian_heatmap(y_true[:, 1:], self.grid_, self.sigma)
        return self.criterion_(y_pred, target.to(y_pred.dtype))

    def predict_heatmap(self, X):
        """Probabilities over the grid cells, shape ``(n_samples, rows, cols)``.

        Parameters
        ----------
        X : image batch
            Full slices, preprocessed as in ``fit``.

        Returns
        -------
        heatmap : ndarray of shape (n_samples, rows, cols)
        """
        check_is_fitted(self, "module_")
        # skorch's forward: every batch's logits, concatenated, on the CPU.
        logits = self.forward(X, training=False).float()
        return torch.softmax(logits, dim=1).numpy().reshape(-1, *self.grid_)

    def predict_proba(self, X):
        """Not available: a locator predicts centres (:meth:`predict`)."""
        raise AttributeError(
            f"{type(self).__name__} predicts centres, not classes: use predict "
            "or predict_heatmap."
        )

    def predict(self, X):
        """Predicted nodule centres.

        Parameters
        ----------
        X : image batch
            Full slices, preprocessed as in ``fit``.

        Returns
        -------
        centres : ndarray of shape (n_samples, 2)
            ``(x, y)`` in ``[0, 1]``, in
            :class:`~skradnod.localization.TemplateMatcher`'s convention.
        """
        check_is_fitted(self, "module_")
        logits = self.forward(X, training=False).float()
        return decode_heatmap(logits.numpy(), self.grid_)

    def score(self, X, y, sample_weight=None):
        """R² of the predicted centres (scikit-learn's regressor score).

        Parameters
        ----------
        X : image batch
        y : array-like of shape (n_samples, 2)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return r2_score(y, self.predict(X), sample_weight=sample_weight)

    def __sklearn_tags__(self):
        from sklearn.utils import RegressorTags

        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        tags.classifier_tags = None
        tags.regressor_tags = RegressorTags()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags
