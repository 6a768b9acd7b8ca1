"""Networks on nodule crops and radiomic features (method step 9)."""

import torch
from torch import nn

from ._blocks import ConvBNReLU, InceptionBlock, ResidualBlock, SEBlock

__all__ = ["FeatureBranch", "FusionNet", "ImageBranch", "NoduleCNN"]


def _as_image_batch(x, in_channels, min_size):
    # Accept (N, H, W) as well as (N, C, H, W): the data contract's image batch
    # has no channel axis.
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(
            f"Expected images of shape (N, {in_channels}, H, W) or (N, H, W); "
            f"got {tuple(x.shape)}."
        )
    if min(x.shape[-2:]) < min_size:
        raise ValueError(
            f"Images must be at least {min_size}x{min_size} pixels for this "
            f"network; got {tuple(x.shape[-2:])}."
        )
    return x


class NoduleCNN(nn.Module):
    """The thesis's basic CNN: conv stages with residual blocks and SE attention.

    Three stages, each ``ConvBNReLU -> ResidualBlock -> SEBlock -> MaxPool``
    (channels ``width``, ``2 * width``, ``4 * width``), then global average
    pooling, dropout and a linear head. GAP makes it work for any input size
    (64x64 crops in the method; anything from 8 pixels up).

    Parameters
    ----------
    n_classes : int, default=5
        Number of output logits.
    in_channels : int, default=1
        Input channels (CT: 1).
    width : int, default=16
        Channels of the first stage (16 since the learning benchmark,
        ``benchmarks/bench_learning.py``; about a third of the CPU time of 32).
    dropout : float, default=0.3
        Dropout before the head.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import NoduleCNN
    >>> NoduleCNN(n_classes=5, width=8)(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 5])
    """

    def __init__(self, n_classes=5, in_channels=1, width=16, dropout=0.3):
        super().__init__()
        self.in_channels = in_channels
        stages = []
        channels = in_channels
        for out in (width, 2 * width, 4 * width):
            stages += [
                ConvBNReLU(channels, out),
                ResidualBlock(out),
                SEBlock(out),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, n_classes)

    def forward(self, x):
        # Three 2x poolings: 8 pixels is the least that keeps one pixel.
        x = self.features(_as_image_batch(x, self.in_channels, 8))
        x = x.mean(dim=(2, 3))
        return self.head(self.dropout(x))


class ImageBranch(nn.Module):
    """Image branch of the fusion network: five stages, GAP, dense, dropout.

    Stage 1: conv+BN+maxpool+SE; stage 2: an inception block (+maxpool);
    stages 3 and 5: residual block + maxpool + SE; stage 4: conv+BN+maxpool.
    Channels grow ``width, 2w, 2w, 4w, 4w``. With five 2x poolings a 32-pixel
    input reaches 1x1 before global average pooling.

    Parameters
    ----------
    in_channels : int, default=1
        Input channels.
    width : int, default=16
        Channels of the first stage.
    out_features : int, default=128
        Output width (the dense layer after pooling).
    dropout : float, default=0.3
        Dropout after the dense layer.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import ImageBranch
    >>> ImageBranch(width=4, out_features=10)(torch.zeros(3, 48, 48)).shape
    torch.Size([3, 10])
    """

    def __init__(self, in_channels=1, width=16, out_features=128, dropout=0.3):
        super().__init__()
        self.in_channels = in_channels
        w = width
        self.stages = nn.Sequential(
            nn.Sequential(ConvBNReLU(in_channels, w), nn.MaxPool2d(2), SEBlock(w)),
            nn.Sequential(InceptionBlock(w, 2 * w), nn.MaxPool2d(2)),
            nn.Sequential(ResidualBlock(2 * w), nn.MaxPool2d(2), SEBlock(2 * w)),
            nn.Sequential(ConvBNReLU(2 * w, 4 * w), nn.MaxPool2d(2)),
            nn.Sequential(ResidualBlock(4 * w), nn.MaxPool2d(2), SEBlock(4 * w)),
        )
        self.dense = nn.Linear(4 * w, out_features)
        self.dropout = nn.Dropout(dropout)
        self.out_features = out_features

    def forward(self, x):
        x = self.stages(_as_image_batch(x, self.in_channels, 32))
        x = torch.relu(self.dense(x.mean(dim=(2, 3))))
        return self.dropout(x)


class FeatureBranch(nn.Module):
    """Dense network on radiomic features: 3 layers, skip from layer 2 to 3.

    ``h1 = drop(bn(relu(fc1(x))))``, ``h2 = drop(bn(relu(fc2(h1))))``,
    ``h3 = drop(bn(relu(fc3(h2)))) + h2``. With ``n_classes`` a linear head
    gives logits (the stand-alone feature network); without it the branch
    returns ``h3`` for the fusion network.

    Parameters
    ----------
    n_features : int
        Input width (the number of selected features; the estimators fill it in
        from the data).
    n_classes : int or None, default=None
        If given, add a linear head with this many logits.
    hidden : int, default=64
        Width of the three dense layers.
    dropout : float, default=0.3
        Dropout after each layer.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import FeatureBranch
    >>> FeatureBranch(12, n_classes=5).eval()(torch.zeros(4, 12)).shape
    torch.Size([4, 5])
    """

    def __init__(self, n_features, n_classes=None, hidden=64, dropout=0.3):
        super().__init__()
        self.layer1 = self._layer(n_features, hidden, dropout)
        self.layer2 = self._layer(hidden, hidden, dropout)
        self.layer3 = self._layer(hidden, hidden, dropout)
        self.head = nn.Linear(hidden, n_classes) if n_classes else None
        self.out_features = hidden

    @staticmethod
    def _layer(n_in, n_out, dropout):
        return nn.Sequential(
            nn.Linear(n_in, n_out),
            nn.ReLU(inplace=True),
            nn.BatchNorm1d(n_out),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        h2 = self.layer2(self.layer1(x))
        h3 = self.layer3(h2) + h2
        return self.head(h3) if self.head is not None else h3


class FusionNet(nn.Module):
    """Fusion of an image branch and a feature branch (the thesis's best model).

    Batch norm on each branch output, concatenation, two dense layers with
    dropout, output logits. The names of ``forward``'s arguments (``image``,
    ``features``) are the branch names of
    :class:`skradnod.compose.FusionClassifier`.

    Parameters
    ----------
    n_features : int
        Width of the feature input (filled in from the data by the estimator).
    n_classes : int, default=5
        Number of output logits.
    in_channels : int, default=1
        Image channels.
    image_width : int, default=16
        ``width`` of the :class:`ImageBranch`.
    image_out : int, default=128
        Output width of the image branch.
    feature_hidden : int, default=64
        ``hidden`` of the :class:`FeatureBranch`.
    hidden : int, default=64
        Width of the two dense layers after the concatenation.
    dropout : float, default=0.3
        Dropout in the branches and the head.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import FusionNet
    >>> net = FusionNet(n_features=7, n_classes=2, image_width=4).eval()
    >>> net(image=torch.zeros(3, 32, 32), features=torch.zeros(3, 7)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        n_features,
        n_classes=5,
        in_channels=1,
        image_width=16,
        image_out=128,
        feature_hidden=64,
        hidden=64,
        dropout=0.3,
    ):
        super().__init__()
        self.image_branch = ImageBranch(
            in_channels, width=image_width, out_features=image_out, dropout=dropout
        )
        self.feature_branch = FeatureBranch(
            n_features, hidden=feature_hidden, dropout=dropout
        )
        self.image_bn = nn.BatchNorm1d(image_out)
        self.feature_bn = nn.BatchNorm1d(feature_hidden)
        self.head = nn.Sequential(
            nn.Linear(image_out + feature_hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, image, features):
        a = self.image_bn(self.image_branch(image))
        b = self.feature_bn(self.feature_branch(features))
        return self.head(torch.cat([a, b], dim=1))
