"""Building blocks of the nodule CNNs: SE attention, residual and inception blocks."""

import torch
from torch import nn

__all__ = ["ConvBNReLU", "InceptionBlock", "ResidualBlock", "SEBlock"]


class SEBlock(nn.Module):
    """Squeeze-and-excitation channel attention (Hu et al., 2018).

    Global average pooling squeezes each channel to one number; two dense layers
    (reduction ``reduction``) and a sigmoid give a per-channel scale in (0, 1)
    that multiplies the input.

    Parameters
    ----------
    channels : int
        Number of input (and output) channels.
    reduction : int, default=8
        Bottleneck reduction of the excitation MLP (at least 1 hidden unit).

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import SEBlock
    >>> SEBlock(16)(torch.ones(2, 16, 8, 8)).shape
    torch.Size([2, 16, 8, 8])
    """

    def __init__(self, channels, reduction=8):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def scale(self, x):
        """The per-channel attention weights, shape ``(N, C, 1, 1)``."""
        s = x.mean(dim=(2, 3))
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))
        return s[:, :, None, None]

    def forward(self, x):
        return x * self.scale(x)


class ConvBNReLU(nn.Sequential):
    """3x3 (or ``kernel_size``) convolution, batch norm, ReLU; size-preserving."""

    def __init__(self, in_channels, out_channels, kernel_size=3):
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                padding=kernel_size // 2,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualBlock(nn.Module):
    """Two 3x3 conv+BN layers with an identity (or 1x1 projection) shortcut.

    ``out = relu(shortcut(x) + bn2(conv2(relu(bn1(conv1(x))))))``. The last batch
    norm's scale starts at zero, so a fresh block is the identity on
    non-negative input (zero-init residual, Goyal et al., 2017), which keeps
    deep stacks easy to train.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int or None, default=None
        Output channels; None keeps ``in_channels`` (identity shortcut),
        otherwise the shortcut is a 1x1 conv + BN.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import ResidualBlock
    >>> ResidualBlock(8, 16)(torch.ones(2, 8, 10, 10)).shape
    torch.Size([2, 16, 10, 10])
    """

    def __init__(self, in_channels, out_channels=None):
        super().__init__()
        out_channels = out_channels or in_channels
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        nn.init.zeros_(self.bn2.weight)
        if out_channels == in_channels:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(self.shortcut(x) + out)


class InceptionBlock(nn.Module):
    """Parallel 1x1, 3x3, 5x5 and max-pool branches, concatenated (Szegedy, 2015).

    Each branch has ``out_channels // 4`` channels (the 1x1 branch takes the
    remainder), every branch preserves the spatial size.

    Parameters
    ----------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels (sum over the four branches).

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import InceptionBlock
    >>> InceptionBlock(8, 32)(torch.ones(2, 8, 9, 9)).shape
    torch.Size([2, 32, 9, 9])
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        if out_channels < 4:
            raise ValueError(
                f"InceptionBlock needs out_channels >= 4 (one per branch); got "
                f"{out_channels}."
            )
        quarter = out_channels // 4
        self.branch1 = ConvBNReLU(in_channels, out_channels - 3 * quarter, 1)
        self.branch3 = nn.Sequential(
            ConvBNReLU(in_channels, quarter, 1), ConvBNReLU(quarter, quarter, 3)
        )
        self.branch5 = nn.Sequential(
            ConvBNReLU(in_channels, quarter, 1), ConvBNReLU(quarter, quarter, 5)
        )
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), ConvBNReLU(in_channels, quarter, 1)
        )

    def forward(self, x):
        return torch.cat(
            [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)],
            dim=1,
        )
