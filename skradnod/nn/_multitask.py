"""Multi-task full-slice network: malignancy class and nodule centre.

The method's last full-slice model (step 9) shares one backbone between a
classification head and a regression head predicting the nodule's centre
``(x, y)`` scaled to ``[0, 1]``, which pushes the backbone to attend to the
nodule, a small part of a 512 x 512 slice.
"""

from torch import nn

from ._nodule import NoduleCNN
from ._transfer import BACKBONES, TransferNet

__all__ = ["MultiTaskNet"]


class _NoduleCNNTrunk(nn.Module):
    """NoduleCNN without its head: conv stages then global average pooling."""

    def __init__(self, width=16, in_channels=1):
        super().__init__()
        cnn = NoduleCNN(in_channels=in_channels, width=width)
        self.features = cnn.features
        self.num_features = cnn.head.in_features

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


class MultiTaskNet(nn.Module):
    """A shared backbone with a classification head and a centre head.

    Parameters
    ----------
    backbone : str or nn.Module, default="resnet50"
        One of :class:`TransferNet`'s backbones (``"resnet50"``,
        ``"densenet121"``, ``"inception_v3"``, ``"inception_resnet_v2"``),
        ``"nodule_cnn"`` (:class:`NoduleCNN`'s conv stages and global average
        pooling: small and fast, inputs of at least 32 px), or a module mapping
        images ``(n, C, H, W)`` to features ``(n, F)`` that has a
        ``num_features`` attribute.
    weights : None, "imagenet" or path, default=None
        Pretrained weights of a named backbone (see :class:`TransferNet`).
        Ignored for a module.
    in_channels : int, default=1
        Input channels of a named backbone.
    n_classes : int, default=5
        Outputs of the classification head.
    freeze : bool, default=False
        Freeze a named backbone (see :class:`TransferNet`).
    dropout : float, default=0.0
        Dropout on the shared features before both heads.
    width : int, default=16
        Channels of the first stage of the ``"nodule_cnn"`` trunk (ignored by
        the other backbones).

    Attributes
    ----------
    backbone : nn.Module
        The shared feature extractor.
    classifier : nn.Linear
        Class logits.
    regressor : nn.Sequential
        Linear layer with 2 outputs and a sigmoid: the centre ``(x, y)`` in
        ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import MultiTaskNet
    >>> net = MultiTaskNet("resnet50", n_classes=2)
    >>> logits, centres = net(torch.rand(2, 1, 32, 32))
    >>> logits.shape, centres.shape
    (torch.Size([2, 2]), torch.Size([2, 2]))
    """

    def __init__(
        self,
        backbone="resnet50",
        weights=None,
        in_channels=1,
        n_classes=5,
        freeze=False,
        dropout=0.0,
        width=16,
    ):
        super().__init__()
        if backbone == "nodule_cnn":
            self.backbone = _NoduleCNNTrunk(width=width, in_channels=in_channels)
            num_features = self.backbone.num_features
        elif isinstance(backbone, str):
            if backbone not in BACKBONES:
                raise ValueError(
                    f"Unknown backbone {backbone!r}; choose one of "
                    f"{sorted(BACKBONES) + ['nodule_cnn']} or pass a module with "
                    "num_features."
                )
            # TransferNet builds and adapts the backbone; only its feature part
            # is kept (its own head is dropped).
            transfer = TransferNet(
                backbone, weights=weights, in_channels=in_channels, freeze=freeze
            )
            transfer.head = nn.Identity()
            transfer.dropout = nn.Identity()
            self.backbone = transfer
            num_features = transfer.num_features
        elif isinstance(backbone, nn.Module):
            if not hasattr(backbone, "num_features"):
                raise ValueError(
                    f"The backbone module {type(backbone).__name__} needs a "
                    "num_features attribute (the width of its output features)."
                )
            self.backbone = backbone
            num_features = backbone.num_features
        else:
            raise ValueError(
                "backbone must be a backbone name or an nn.Module; got "
                f"{backbone!r}."
            )
        self.num_features = num_features
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(num_features, n_classes)
        self.regressor = nn.Sequential(nn.Linear(num_features, 2), nn.Sigmoid())

    def forward(self, x):
        if x.ndim == 3:
            x = x.unsqueeze(1)
        features = self.dropout(self.backbone(x))
        return self.classifier(features), self.regressor(features)
