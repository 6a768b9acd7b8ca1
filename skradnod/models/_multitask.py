"""The multi-task full-slice model: malignancy class plus nodule centre."""

from numbers import Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.utils import to_tensor

from ..base import LazyImageBatch, is_path
from ..callbacks import DynamicLossWeighting
from ..localization import TemplateMatcher
from ..nn import BACKBONES, MultiTaskNet
from ._data import CentreCollate
from ._transfer import TransferClassifier

__all__ = ["CenterRegressionClassifier"]


class CenterRegressionClassifier(TransferClassifier):
    """Classify full slices while regressing the nodule centre (multi-task).

    A :class:`~skradnod.models.TransferClassifier` whose net has a second,
    centre head.

    A :class:`~skradnod.nn.MultiTaskNet` shares one backbone between a
    classification head (class-weighted cross-entropy) and a centre head (MSE on
    ``(x, y)`` in ``[0, 1]``). The centre targets are computed in ``fit`` by
    finding each nodule crop in its slice with
    :class:`~skradnod.localization.TemplateMatcher`, so ``fit`` needs both
    images; prediction needs only the full slice. The two losses are balanced
    at every epoch end by :class:`~skradnod.callbacks.DynamicLossWeighting`
    (method step 9); everything else is the shared training recipe.

    Parameters
    ----------
    module : torch.nn.Module class, default=MultiTaskNet
        The network; it receives ``backbone``, ``weights``, ``freeze`` and
        ``n_classes`` unless given as ``module__<name>``.
    backbone : str, default="inception_resnet_v2"
        The shared backbone: one of :class:`~skradnod.nn.TransferNet`'s
        (the method used InceptionResNetV2) or ``"nodule_cnn"``.
    weights : None, "imagenet" or path, default=None
        Pretrained backbone weights (see :class:`~skradnod.nn.TransferNet`).
    freeze_backbone : bool, default=False
        Train only the two heads.
    preprocessor : transformer or None, default=None
        Image transformer (e.g. ``make_ct_preprocessor(size=256)``) fitted on
        the full slices in ``fit`` and applied before the network in ``fit``
        and prediction. Template matching runs on the raw pairs; centres are
        relative, so resizing keeps them valid, but cropping does not.
    full : str, default="full"
        Column of the full slices.
    nodule : str, default="nodule"
        Column of the nodule crops (used in ``fit`` only).
    match_threshold : float, default=0.8
        ``TemplateMatcher``'s threshold: pairs matched worse get a warning.
    loss_momentum : float, default=0.0
        ``DynamicLossWeighting``'s momentum.
    batch_size : int, default=16
        The method's batch size for full slices.
    **kwargs
        Every parameter of the recipe (``lr``, ``max_epochs``, ``patience``,
        ``class_weight``, ``valid_size``, ``augment``, ``rotation``,
        ``device``, ``random_state``, ``verbose``, ``precision``, ``compile``)
        and any skorch parameter.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``fit``.
    class_weight_ : ndarray of shape (n_classes,) or None
        Cross-entropy class weights (sum 1).
    preprocessor_ : transformer or None
        The fitted clone of ``preprocessor``.
    match_score_ : ndarray of shape (n_samples,)
        Template-matching score of each training pair.
    loss_weights_ : ndarray of shape (2,)
        Current (classification, regression) loss weights; their per-epoch
        values are in ``history_[:, "train_cls_loss_weight"]`` and
        ``history_[:, "train_reg_loss_weight"]``.
    module_ : MultiTaskNet
        The trained network.
    input_shape_ : tuple of int
        ``(H, W)`` of the training full slices (after ``preprocessor``);
        ``predict`` rejects other sizes.
    input_range_ : tuple of float or None
        ``(min, max)`` of their values; ``predict`` rejects a sample more than
        one range width outside it (e.g. raw HU after fitting on [0, 1]).
    device_ : str
        Device used for training.

    Notes
    -----
    Augmentation flips and rotates the training images and moves the centre
    targets with them. The validation loss, which early stopping and the
    learning-rate schedule monitor, is weighted with the weights of its epoch.
    Per-batch unweighted losses are recorded as ``train_cls_loss``,
    ``train_reg_loss``, ``valid_cls_loss`` and ``valid_reg_loss``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from skradnod.models import CenterRegressionClassifier
    >>> rng = np.random.RandomState(0)
    >>> full = list(rng.rand(8, 32, 32).astype(np.float32))
    >>> X = pd.DataFrame({"full": full, "nodule": [f[4:12, 8:20] for f in full]})
    >>> clf = CenterRegressionClassifier(backbone="nodule_cnn", max_epochs=1,
    ...                                  valid_size=None, random_state=0)
    >>> clf.fit(X, [1, 2] * 4).predict_center(X[["full"]]).shape
    (8, 2)
    """

    _parameter_constraints: dict = {
        **TransferClassifier._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES) | {"nodule_cnn"})],
        "preprocessor": [None, HasMethods(["fit", "transform"])],
        "full": [str],
        "nodule": [str],
        "match_threshold": [Interval(Real, -1, 1, closed="both")],
        "loss_momentum": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        module=MultiTaskNet,
        *,
        backbone="inception_resnet_v2",
        weights=None,
        freeze_backbone=False,
        preprocessor=None,
        full="full",
        nodule="nodule",
        match_threshold=0.8,
        loss_momentum=0.0,
        batch_size=16,
        **kwargs,
    ):
        super().__init__(
            module,
            backbone=backbone,
            weights=weights,
            freeze_backbone=freeze_backbone,
            batch_size=batch_size,
            **kwargs,
        )
        self.preprocessor = preprocessor
        self.full = full
        self.nodule = nodule
        self.match_threshold = match_threshold
        self.loss_momentum = loss_momentum

    # ------------------------------------------------------------------ #
    # recipe hooks
    # ------------------------------------------------------------------ #
    @property
    def _default_callbacks(self):
        callbacks = super()._default_callbacks
        weighting = DynamicLossWeighting(
            ("train_cls_loss", "train_reg_loss"), momentum=self.loss_momentum
        )
        # Before the scoring/scheduling callbacks would not matter; before
        # print_log it must be, so the weights show in the epoch's table.
        callbacks.insert(len(callbacks) - 1, ("loss_weighting", weighting))
        return callbacks

    def _full_images(self, X):
        if hasattr(X, "columns"):
            if self.full not in X.columns:
                raise ValueError(
                    f"{type(self).__name__}: X lacks the full-slice column "
                    f"{self.full!r}; it has {list(X.columns)}."
                )
            column = X[self.full].to_numpy()
            if len(column) and all(is_path(cell) for cell in column):
                # Paths stay paths: each slice is read when the loader needs it.
                return LazyImageBatch(list(column))
            return list(column)
        return X

    def _check_X(self, X, *, reset):
        images = self._full_images(X)
        if self.preprocessor is not None:
            if reset:
                self.preprocessor_ = clone(self.preprocessor)
                images = self.preprocessor_.fit_transform(images)
            else:
                images = self.preprocessor_.transform(images)
        elif reset:
            self.preprocessor_ = None
        return super()._check_X(images, reset=reset)

    def fit(self, X, y, groups=None, **fit_params):
        """Find the centres, then train both heads with the recipe.

        Parameters
        ----------
        X : DataFrame
            Paired data set with the ``full`` and ``nodule`` columns (arrays or
            NRRD paths; paths are read lazily by the data loader).
        y : array-like of shape (n_samples,)
            Labels, returned as given by ``predict``.
        groups : array-like of shape (n_samples,) or None, default=None
            Patient ids for the validation split (requested by default under
            metadata routing).
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : CenterRegressionClassifier
        """
        return super().fit(X, y, groups=groups, **fit_params)

    def _check_fit_data(self, X, y, groups, *, reset, classes=None):
        # The net's targets are rows [class code, cx, cy]: the centres found in
        # the training pairs travel with the labels (and the validation split
        # stratifies on the first column).
        if not hasattr(X, "columns") or self.nodule not in X.columns:
            raise ValueError(
                f"{type(self).__name__}.fit needs a DataFrame with the columns "
                f"{self.full!r} and {self.nodule!r} (the crops give the centre "
                f"targets); got {type(X).__name__}"
                + (f" with columns {list(X.columns)}" if hasattr(X, "columns")
                   else "")
                + "."
            )
        matcher = TemplateMatcher(
            self.match_threshold, full=self.full, nodule=self.nodule
        )
        centres = matcher.fit_transform(X).astype(np.float32)
        if reset:
            self.match_score_ = matcher.match_score_
        images, codes, groups = super()._check_fit_data(
            X, y, groups, reset=reset, classes=classes
        )
        return images, np.column_stack([codes.astype(np.float32), centres]), groups

    def get_collate_fn(self, training):
        return CentreCollate(
            augment=bool(training and self.augment), rotation=self.rotation
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, centres = y_pred
        y_true = to_tensor(y_true, device=self.device_)
        if y_true.ndim == 1:
            # No centre targets (scoring outside fit): classification only.
            return self.criterion_(logits, y_true.long())
        loss_cls = self.criterion_(logits, y_true[:, 0].long())
        loss_reg = torch.nn.functional.mse_loss(
            centres, y_true[:, 1:].to(centres.dtype)
        )
        prefix = "train" if training else "valid"
        self.history.record_batch(f"{prefix}_cls_loss", loss_cls.item())
        self.history.record_batch(f"{prefix}_reg_loss", loss_reg.item())
        weights = getattr(self, "loss_weights_", (0.5, 0.5))
        return weights[0] * loss_cls + weights[1] * loss_reg

    # ------------------------------------------------------------------ #
    # prediction
    # ------------------------------------------------------------------ #
    def predict_center(self, X):
        """Predicted nodule centres.

        Parameters
        ----------
        X : DataFrame or image batch
            Full slices (the ``full`` column of a DataFrame, or the images
            themselves); no crop is needed.

        Returns
        -------
        centres : ndarray of shape (n_samples, 2)
            ``(x, y)`` in ``[0, 1]``, in
            :class:`~skradnod.localization.TemplateMatcher`'s convention.
        """
        check_is_fitted(self, "module_")
        return np.concatenate(
            [out[1].numpy() for out in self.forward_iter(X, training=False)]
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags
