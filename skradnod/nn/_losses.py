"""Losses for ordinal labels (malignancy ratings 1-5)."""

import torch
from torch import nn

__all__ = ["SoftOrdinalCrossEntropy"]


class SoftOrdinalCrossEntropy(nn.Module):
    """Cross-entropy against soft labels that respect the order of the classes.

    Malignancy ratings are ordinal, and radiologists reading the same nodule
    often differ by one step. Plain cross-entropy treats calling a 4 a 5 as
    wrong as calling it a 1. Soft ordinal labels (SORD; Diaz and Marathe, CVPR
    2019) replace the one-hot target of class :math:`y` by

    .. math::

        q_k = \\frac{\\exp(-s\\,(k - y)^2)}{\\sum_j \\exp(-s\\,(j - y)^2)}

    over the class positions :math:`k = 0, \\ldots, K - 1`, and minimise
    :math:`-\\sum_k q_k \\log p_k`. The net keeps its K logits and softmax, so
    ``predict_proba`` still returns class probabilities; larger ``scale``
    approaches plain cross-entropy.

    Parameters
    ----------
    weight : torch.Tensor of shape (n_classes,) or None, default=None
        Per-class weight of each sample's loss (by its true class), like
        :class:`torch.nn.CrossEntropyLoss`'s; the estimators pass their
        normalised ``class_weight_`` here. The mean is weighted the same way.
    scale : float, default=1.0
        :math:`s`, how fast the target falls off with the distance in classes
        (1.0: a neighbouring class gets :math:`e^{-1} \\approx 0.37` of the
        true class's weight before normalisation).

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import SoftOrdinalCrossEntropy
    >>> loss = SoftOrdinalCrossEntropy(scale=1.0)
    >>> logits = torch.tensor([[0.0, 0.0, 0.0, 5.0, 0.0]])
    >>> near = loss(logits, torch.tensor([4]))  # predicted 3 (0-based), true 4
    >>> far = loss(logits, torch.tensor([0]))
    >>> bool(near < far)
    True
    """

    def __init__(self, weight=None, scale=1.0):
        super().__init__()
        weight = None if weight is None else torch.as_tensor(weight)
        self.register_buffer("weight", weight)
        self.scale = float(scale)

    def forward(self, logits, target):
        n_classes = logits.shape[1]
        positions = torch.arange(n_classes, device=logits.device, dtype=logits.dtype)
        distance = positions.unsqueeze(0) - target.unsqueeze(1).to(logits.dtype)
        soft = torch.softmax(-self.scale * distance**2, dim=1)
        per_sample = -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1)
        if self.weight is None:
            return per_sample.mean()
        w = self.weight.to(logits.dtype)[target]
        return (w * per_sample).sum() / w.sum()
