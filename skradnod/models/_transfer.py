"""Transfer learning on full slices (method step 9)."""

import os

from sklearn.utils._param_validation import StrOptions

from ..nn import BACKBONES, TransferNet
from ._base import BaseNetClassifier

__all__ = ["TransferClassifier"]


class TransferClassifier(BaseNetClassifier):
    """Fine-tune an ImageNet-architecture backbone on CT slices.

    The shared training recipe of :class:`~skradnod.models.NoduleCNNClassifier`
    (AdamW, ReduceLROnPlateau, early stopping, class-weighted cross-entropy,
    training-only augmentation; see ``BaseNetClassifier``) applied to a
    :class:`~skradnod.nn.TransferNet`, with the method's batch size for full
    slices.

    Parameters
    ----------
    module : torch.nn.Module class, default=TransferNet
        The network; it receives ``backbone``, ``weights``, ``freeze`` and
        ``n_classes`` unless given as ``module__<name>``.
    backbone : {"resnet50", "densenet121", "inception_v3", \
            "inception_resnet_v2"}, default="resnet50"
        The architecture (torchvision's, or timm's for InceptionResNetV2; both
        from the ``transfer`` extra: ``pip install skradnod[transfer]``).
    weights : None, "imagenet" or path, default=None
        Pretrained weights: None (random), ``"imagenet"`` (downloaded by
        torchvision/timm), or a PyTorch state dict file such as RadImageNet
        weights converted to PyTorch (see
        :func:`skradnod.nn._transfer.load_backbone_weights` for how keys are
        matched).
    freeze_backbone : bool, default=False
        Train only the new head.
    batch_size : int, default=16
        The method's batch size for full slices.
    **kwargs
        Every parameter of the recipe (``lr``, ``max_epochs``, ``patience``,
        ``class_weight``, ``valid_size``, ``augment``, ``device``,
        ``random_state``, ``verbose``, ``precision``, ``compile``) and any
        skorch parameter.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels seen in ``fit``.
    class_weight_ : ndarray of shape (n_classes,) or None
        Cross-entropy class weights (sum 1).
    module_ : TransferNet
        The trained network.
    device_ : str
        Device used for training.
    history_ : skorch.History
        Per-epoch losses and scores.
    input_shape_ : tuple of int
        ``(H, W)`` of the training images; ``predict`` rejects other sizes.
    input_range_ : tuple of float or None
        ``(min, max)`` of the training images' values; ``predict`` rejects a
        sample more than one range width outside it (e.g. raw HU after
        fitting on [0, 1]).

    See Also
    --------
    skradnod.models.CenterRegressionClassifier : Adds a nodule-centre head.

    Notes
    -----
    Images are one-channel (the backbone's first convolution is adapted) and
    of any size: inputs below a backbone's minimum (75 px for the Inception
    nets, 32 px for the others) are upsampled inside the network. Full slices
    can be given as a lazy batch (``NrrdLoader(lazy=True)`` and the
    preprocessing transformers), so only a few batches are in memory at once.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.models import TransferClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(8, 32, 32).astype(np.float32)
    >>> y = np.array([1, 2] * 4)
    >>> clf = TransferClassifier(max_epochs=1, valid_size=None, random_state=0)
    >>> clf.fit(X, y).predict(X).shape
    (8,)
    """

    _parameter_constraints: dict = {
        **BaseNetClassifier._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES))],
        "weights": [None, str, os.PathLike],
        "freeze_backbone": ["boolean"],
    }

    def __init__(
        self,
        module=TransferNet,
        *,
        backbone="resnet50",
        weights=None,
        freeze_backbone=False,
        batch_size=16,
        **kwargs,
    ):
        super().__init__(module, batch_size=batch_size, **kwargs)
        self.backbone = backbone
        self.weights = weights
        self.freeze_backbone = freeze_backbone

    def get_module_params_from_data(self):
        return {
            "n_classes": len(self.classes_),
            "backbone": self.backbone,
            "weights": self.weights,
            "freeze": self.freeze_backbone,
        }
