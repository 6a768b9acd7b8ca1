"""A fully convolutional heat-map network that finds the nodule in a full slice.

Beyond the method: its multi-task net regresses the centre from globally pooled
features, which at a resolution where a 5 mm nodule is still visible has to
learn position from texture alone. A heat map keeps the spatial layout: one
logit per cell of a grid at a quarter of the input resolution, a softmax over
the cells, and the centre read off the peak (CenterNet-style keypoint heat
maps, Zhou et al. 2019, with one keypoint per slice).
"""

import math

import numpy as np
import torch
from torch import nn

from ._blocks import ResidualBlock
from ._nodule import _as_image_batch

__all__ = ["HeatmapNet", "decode_heatmap", "gaussian_heatmap", "heatmap_shape"]

_STRIDE_STAGES = 2  # two stride-2 convolutions: the grid is 1/4 of the input


def heatmap_shape(height, width):
    """The grid ``(rows, cols)`` of :class:`HeatmapNet`'s output for an input size.

    Each stride-2 convolution (kernel 3, padding 1) maps ``n`` pixels to
    ``ceil(n / 2)``.

    Examples
    --------
    >>> from skradnod.nn import heatmap_shape
    >>> heatmap_shape(128, 130)
    (32, 33)
    """
    for _ in range(_STRIDE_STAGES):
        height, width = math.ceil(height / 2), math.ceil(width / 2)
    return height, width


def _conv(in_channels, out_channels, *, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, 3, stride=stride, padding=dilation,
            dilation=dilation, bias=False,
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class HeatmapNet(nn.Module):
    """Nodule-centre heat map of a full slice: one logit per grid cell.

    Two stride-2 stages with residual blocks bring the slice to a grid at a
    quarter of its resolution; three dilated convolutions (dilation 2, 4, 8)
    widen the receptive field to about 120 input pixels, enough to tell a
    nodule from a vessel or a rib by its surroundings; a 1x1 convolution gives
    one logit per cell. The output is flattened to ``(N, rows * cols)`` so
    that a softmax over it is a distribution over positions.

    Parameters
    ----------
    width : int, default=16
        Channels of the first stage (the second has ``2 * width``).
    in_channels : int, default=1
        Input channels (CT: 1).

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import HeatmapNet
    >>> HeatmapNet(width=4)(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 256])
    """

    def __init__(self, width=16, in_channels=1):
        super().__init__()
        self.in_channels = in_channels
        wide = 2 * width
        self.features = nn.Sequential(
            _conv(in_channels, width, stride=2),
            ResidualBlock(width),
            _conv(width, wide, stride=2),
            ResidualBlock(wide),
            _conv(wide, wide, dilation=2),
            _conv(wide, wide, dilation=4),
            _conv(wide, wide, dilation=8),
        )
        self.head = nn.Conv2d(wide, 1, 1)

    def forward(self, x):
        x = _as_image_batch(x, self.in_channels, 4)
        return self.head(self.features(x)).flatten(1)


def gaussian_heatmap(centres, grid, sigma=1.0):
    """Target distributions over the grid cells: a Gaussian at each centre.

    Parameters
    ----------
    centres : torch.Tensor of shape (N, 2)
        ``(x, y)`` in ``[0, 1]``, pixel-edge convention (the centre of cell
        ``j`` of ``n`` is ``(j + 0.5) / n``), as
        :class:`~skradnod.localization.TemplateMatcher` gives them.
    grid : (int, int)
        ``(rows, cols)`` of the heat map.
    sigma : float, default=1.0
        Standard deviation in cells.

    Returns
    -------
    target : torch.Tensor of shape (N, rows * cols)
        Each row sums to 1.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import gaussian_heatmap
    >>> t = gaussian_heatmap(torch.tensor([[0.125, 0.875]]), (4, 4), sigma=0.3)
    >>> int(t.argmax())  # row 3, column 0
    12
    """
    rows, cols = grid
    device, dtype = centres.device, torch.float32
    col = centres[:, 0].to(dtype) * cols - 0.5
    row = centres[:, 1].to(dtype) * rows - 0.5
    rr = torch.arange(rows, device=device, dtype=dtype)
    cc = torch.arange(cols, device=device, dtype=dtype)
    d2 = (rr[None, :, None] - row[:, None, None]) ** 2 + (
        cc[None, None, :] - col[:, None, None]
    ) ** 2
    logits = -d2 / (2 * sigma**2)
    return torch.softmax(logits.flatten(1), dim=1)


def decode_heatmap(logits, grid):
    """Centres ``(x, y)`` in ``[0, 1]`` from heat-map logits.

    The peak cell, refined by the probability-weighted mean position of its
    3x3 neighbourhood (sub-cell precision without the bias a soft-argmax over
    the whole map gets from diffuse probability far from the peak).

    Parameters
    ----------
    logits : ndarray of shape (N, rows * cols)
    grid : (int, int)

    Returns
    -------
    centres : ndarray of shape (N, 2)

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.nn import decode_heatmap
    >>> logits = np.full((1, 16), -10.0)
    >>> logits[0, 4 * 3 + 0] = 5.0  # row 3, column 0
    >>> decode_heatmap(logits, (4, 4)).round(3).tolist()
    [[0.125, 0.875]]
    """
    rows, cols = grid
    logits = np.asarray(logits, dtype=np.float64).reshape(-1, rows, cols)
    proba = np.exp(logits - logits.max(axis=(1, 2), keepdims=True))
    centres = np.empty((len(proba), 2))
    for i, p in enumerate(proba):
        r, c = np.unravel_index(int(p.argmax()), p.shape)
        r0, r1 = max(r - 1, 0), min(r + 2, rows)
        c0, c1 = max(c - 1, 0), min(c + 2, cols)
        window = p[r0:r1, c0:c1]
        rr, cc = np.mgrid[r0:r1, c0:c1]
        total = window.sum()
        centres[i] = (
            ((cc * window).sum() / total + 0.5) / cols,
            ((rr * window).sum() / total + 0.5) / rows,
        )
    return centres
