"""skorch callbacks used by skradnod's nets.

:class:`DynamicLossWeighting` balances the two losses of the multi-task full-slice
model (method step 9): classification cross-entropy and centre-regression MSE
differ in scale by orders of magnitude, and a fixed sum lets the larger one
dominate training.

:class:`BatchNormRecalibration` recomputes the BatchNorm statistics of a net on
its training data before every validation pass, so that early stopping and the
learning-rate schedule read the loss of the weights as they are, not of
running statistics that lag behind them.
"""

from numbers import Real

import numpy as np
import torch
from skorch.callbacks import Callback

__all__ = ["BatchNormRecalibration", "DynamicLossWeighting", "recalibrate_batchnorm"]


def recalibrate_batchnorm(net, dataset, *, loader=None):
    """Recompute the running statistics of every BatchNorm layer of ``net``.

    The layers' statistics are reset and re-estimated as a plain average over
    one pass of ``dataset`` through ``net.module_`` in training mode (no
    gradient, no augmentation: the non-training iterator). This is what
    :func:`torch.optim.swa_utils.update_bn` does; it is written out here
    because that function feeds one tensor to ``module(input)``, while skradnod's
    nets take dicts of branch inputs through :meth:`skorch.NeuralNet.infer`.

    Parameters
    ----------
    net : skorch.NeuralNet
        An initialised net.
    dataset : torch.utils.data.Dataset
        The data to estimate the statistics on (the training split).
    loader : iterable of (X, y) batches or None, default=None
        A loader over ``dataset`` to reuse; None builds the net's
        non-training loader (``net.get_iterator(dataset, training=False)``).

    Returns
    -------
    n_layers : int
        The number of BatchNorm layers recalibrated (0: nothing done).
    """
    module = net.module_
    batchnorm = torch.nn.modules.batchnorm._BatchNorm
    layers = [m for m in module.modules() if isinstance(m, batchnorm)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the pass
    was_training = module.training
    module.train()
    try:
        with torch.no_grad():
            if loader is None:
                loader = net.get_iterator(dataset, training=False)
            for X, y in loader:
                # BatchNorm cannot use a batch of one sample (the loaders
                # of training drop such a trailing batch too).
                if len(y) > 1:
                    net.infer(X)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        module.train(was_training)
    return len(layers)


class BatchNormRecalibration(Callback):
    """Re-estimate BatchNorm statistics on the training data before validating.

    During training a BatchNorm layer keeps an exponential average of its batch
    statistics (momentum 0.1: about the last ten batches), computed while the
    weights move. On small CT crops, whose intensities vary little, the weights
    move the statistics faster than the average follows: on 800 cohort crops
    after six epochs the eval-mode loss on the *training* data was 3.10 against
    1.07 with the batch statistics (accuracy 13 % vs 51 %), and the validation
    loss that early stopping reads jumped from epoch to epoch. Re-estimating the
    statistics with the epoch's final weights (one forward pass over the
    training split, about a third of an epoch's cost) gave 1.05.

    The callback does this once per epoch, right before the first validation
    batch, so the validation loss, early stopping (whose restored best weights
    include these statistics) and the learning-rate schedule all see the net as
    it will predict. Without a validation split it recalibrates once at the end
    of training. It is one of the default callbacks of skradnod's nets
    (``callbacks__bn_recalibration=None`` turns it off); nets without BatchNorm
    are left alone.

    Parameters
    ----------
    max_samples : int or None, default=256
        Estimate the statistics on at most this many training samples, evenly
        spaced through the training split (the same ones every epoch; no random
        numbers are drawn, so training is otherwise unchanged). A channel's
        mean and variance over 256 crops pool 256 x H x W pixels; on 800
        cohort crops of 32 px the pass over all of them took a quarter of every
        epoch (0.6 of 2.4 s, one CPU thread). None uses the whole training
        split.

    Examples
    --------
    >>> import numpy as np
    >>> from skradnod.models import NoduleCNNClassifier
    >>> X = np.random.RandomState(0).rand(40, 16, 16).astype(np.float32)
    >>> y = np.repeat([1, 2], 20)
    >>> clf = NoduleCNNClassifier(module__width=4, max_epochs=2, random_state=0,
    ...                           n_jobs=1).fit(X, y)
    >>> "bn_recalibration" in dict(clf.callbacks_)
    True
    """

    def __init__(self, max_samples=256):
        self.max_samples = max_samples

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.pending_ = False
        self.dataset_train_ = None
        self.loader_ = None

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if dataset_train is not self.dataset_train_:
            self.dataset_train_ = dataset_train
            self.loader_ = None
        self.pending_ = dataset_valid is not None

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training or not self.pending_:
            return
        self.pending_ = False
        self._recalibrate(net)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # Without a validation split no batch triggered it: once, at the end.
        history = net.history
        if self.dataset_train_ is not None and not (
            history and "valid_loss" in history[-1]
        ):
            self._recalibrate(net)
        # Release the data (and a loader's worker processes) with the fit.
        self.dataset_train_ = self.loader_ = None

    def _recalibrate(self, net):
        # One loader for the whole fit, like skorch's own training and
        # validation loaders, so persistent workers are started once.
        if self.loader_ is None:
            dataset = self.dataset_train_
            n = len(dataset)
            if self.max_samples is not None and n > self.max_samples:
                every = np.linspace(0, n - 1, self.max_samples).round().astype(int)
                dataset = torch.utils.data.Subset(dataset, every.tolist())
            self.loader_ = net.get_iterator(dataset, training=False)
        recalibrate_batchnorm(net, self.dataset_train_, loader=self.loader_)


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
