"""skorch callbacks used by skradnod's nets.

:class:`DynamicLossWeighting` balances the two losses of the multi-task full-slice
model (method step 9): classification cross-entropy and centre-regression MSE
differ in scale by orders of magnitude, and a fixed sum lets the larger one
dominate training.
"""

from numbers import Real

import numpy as np
from skorch.callbacks import Callback

__all__ = ["DynamicLossWeighting"]


class DynamicLossWeighting(Callback):
    """Set the weights of a multi-task loss from the losses' relative magnitudes.

    At the end of every epoch the callback averages each task's training loss
    over the epoch's batches (weighted by batch size) and sets the task weights
    inversely proportional to those averages, so every weighted term contributes
    the same amount to the total loss and none dominates.

    The rule, for task losses :math:`L_1, \\ldots, L_k` averaged over the epoch:

    .. math::

        t_i = \\frac{1 / L_i}{\\sum_j 1 / L_j}, \\qquad
        w_i \\leftarrow \\text{momentum} \\cdot w_i + (1 - \\text{momentum})
        \\cdot t_i

    so the weights always sum to 1 and the task with the *smaller* loss gets the
    *larger* weight. With two tasks and ``momentum=0``, :math:`w_1 = L_2 / (L_1
    + L_2)`, and :math:`w_1 L_1 = w_2 L_2`.

    Parameters
    ----------
    losses : tuple of str, default=("train_cls_loss", "train_reg_loss")
        Names of the per-batch history entries holding each task's unweighted
        loss; the net's ``get_loss`` records them with
        ``net.history.record_batch(name, value)``. Batches without the entry
        (validation batches) are skipped.
    initial_weights : tuple of float or None, default=None
        Weights of the first epoch; None means equal weights ``1 / k``. They are
        normalised to sum to 1.
    momentum : float, default=0.0
        Fraction of the previous weights kept at each update, in ``[0, 1)``;
        0 jumps to the balancing weights at once, larger values move smoothly.
    attribute : str
        Name of the net attribute the weights are written to (a float ndarray of
        length ``k``); the net's ``get_loss`` reads it. Default ``"loss_weights_"``.
    eps : float, default=1e-12
        Floor on the average losses, so a task whose loss reached 0 gets a large
        but finite weight.

    Notes
    -----
    The weights in use during an epoch are recorded in the net's history as
    ``"<loss name>_weight"`` (e.g. ``net.history[:, "train_cls_loss_weight"]``),
    one value per epoch. They are reset to ``initial_weights`` at the start of
    each ``fit``.

    Examples
    --------
    >>> from skradnod.callbacks import DynamicLossWeighting
    >>> cb = DynamicLossWeighting(momentum=0.5)
    >>> cb.balance([2.0, 0.5], [0.5, 0.5])   # the smaller loss gains weight
    array([0.35, 0.65])
    """

    def __init__(
        self,
        losses=("train_cls_loss", "train_reg_loss"),
        *,
        initial_weights=None,
        momentum=0.0,
        attribute="loss_weights_",
        eps=1e-12,
    ):
        self.losses = losses
        self.initial_weights = initial_weights
        self.momentum = momentum
        self.attribute = attribute
        self.eps = eps

    def _check_params(self):
        losses = tuple(self.losses)
        if len(losses) < 2 or not all(isinstance(name, str) for name in losses):
            raise ValueError(
                "DynamicLossWeighting: 'losses' must name at least two history "
                f"entries; got {self.losses!r}."
            )
        if not isinstance(self.momentum, Real) or not 0 <= self.momentum < 1:
            raise ValueError(
                "DynamicLossWeighting: 'momentum' must be in [0, 1); got "
                f"{self.momentum!r}."
            )
        if self.initial_weights is None:
            weights = np.full(len(losses), 1 / len(losses))
        else:
            weights = np.asarray(self.initial_weights, dtype=float)
            if weights.shape != (len(losses),) or (weights <= 0).any():
                raise ValueError(
                    "DynamicLossWeighting: 'initial_weights' must hold one "
                    f"positive weight per loss {losses}; got "
                    f"{self.initial_weights!r}."
                )
            weights = weights / weights.sum()
        return losses, weights

    def initialize(self):
        self.losses_, self.weights_ = self._check_params()
        return self

    def balance(self, mean_losses, weights):
        """Return the updated weights for the given average losses.

        Parameters
        ----------
        mean_losses : array-like of shape (k,)
            Average loss of each task over the epoch.
        weights : array-like of shape (k,)
            Current weights.

        Returns
        -------
        weights : ndarray of shape (k,)
            The new weights (they sum to 1).
        """
        inverse = 1.0 / np.maximum(np.asarray(mean_losses, dtype=float), self.eps)
        target = inverse / inverse.sum()
        new = self.momentum * np.asarray(weights, dtype=float) + (
            1 - self.momentum
        ) * target
        return new / new.sum()

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.losses_, self.weights_ = self._check_params()
        setattr(net, self.attribute, self.weights_.copy())

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        # The net's own on_epoch_begin has opened this epoch's history row.
        for name, weight in zip(self.losses_, self.weights_):
            net.history.record(f"{name}_weight", float(weight))

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        batches = net.history[-1]["batches"]
        means = []
        for name in self.losses_:
            values = [
                (batch[name], batch.get("train_batch_size", 1))
                for batch in batches
                if name in batch
            ]
            if not values:
                raise RuntimeError(
                    f"DynamicLossWeighting: no batch of this epoch recorded "
                    f"{name!r}; the net's get_loss must call "
                    f"net.history.record_batch({name!r}, value) for training "
                    "batches."
                )
            loss, size = np.asarray(values, dtype=float).T
            means.append(np.average(loss, weights=size))
        self.weights_ = self.balance(means, self.weights_)
        setattr(net, self.attribute, self.weights_.copy())
