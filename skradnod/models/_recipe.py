"""The callbacks of the training recipe (method step 10).

Every net gets, in order: an epoch timer; BatchNorm re-estimation before the
validation pass (:class:`~skradnod.callbacks.BatchNormRecalibration`); the
training and validation losses and the validation accuracy;
ReduceLROnPlateau and early stopping (restoring the best weights) on the
validation loss, or on the training loss when there is no validation split;
a progress bar at ``verbose > 1``; and skorch's history table.
"""

from numbers import Real

import numpy as np
import torch
from skorch.callbacks import (
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
)

from ..callbacks import BatchNormRecalibration

__all__ = ["monitor_of", "recipe_callbacks", "schedule_callbacks"]


def _valid_accuracy(net, X, y):
    """Accuracy on the encoded labels (``net.predict`` returns decoded ones).

    Multi-task targets are ``[class code, cx, cy]`` rows; their first column
    is the class.
    """
    y = np.asarray(y)
    codes = y[:, 0] if y.ndim == 2 else y
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == codes))


def monitor_of(net):
    """The loss the recipe's callbacks watch: ``"valid_loss"`` or ``"train_loss"``."""
    has_valid = net.valid_size is not None or net.train_split is not None
    return "valid_loss" if has_valid else "train_loss"


def recipe_callbacks(net):
    """The recipe's ``(name, callback)`` list for ``net`` (skorch's default callbacks).

    Parameters
    ----------
    net : BaseNetClassifier
        Its ``patience``, ``lr_patience``, ``lr_factor``, ``valid_size``,
        ``train_split`` and ``verbose`` choose the callbacks.

    Returns
    -------
    callbacks : list of (str, skorch.callbacks.Callback)
    """
    monitor = monitor_of(net)
    callbacks = [
        ("epoch_timer", EpochTimer()),
        # Before any scoring reads the validation loss (see its docstring).
        ("bn_recalibration", BatchNormRecalibration()),
        ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
    ]
    if monitor == "valid_loss":
        callbacks += [
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            (
                "valid_acc",
                EpochScoring(
                    _valid_accuracy, name="valid_acc", lower_is_better=False
                ),
            ),
        ]
    callbacks += schedule_callbacks(
        monitor,
        patience=net.patience,
        lr_patience=net.lr_patience,
        lr_factor=net.lr_factor,
    )
    if isinstance(net.verbose, Real) and net.verbose > 1:
        callbacks.append(("progress_bar", ProgressBar()))
    callbacks.append(("print_log", PrintLog()))
    return callbacks


def schedule_callbacks(monitor, *, patience, lr_patience, lr_factor):
    """ReduceLROnPlateau and early stopping (best weights restored) on ``monitor``.

    Parameters
    ----------
    monitor : str
        The history key both watch (``"valid_loss"`` or ``"train_loss"``).
    patience : int or None
        Early-stopping patience; None: no early stopping.
    lr_patience : int or None
        ReduceLROnPlateau patience; None: a constant learning rate.
    lr_factor : float
        ReduceLROnPlateau factor.

    Returns
    -------
    callbacks : list of (str, skorch.callbacks.Callback)
    """
    callbacks = []
    if lr_patience is not None:
        callbacks.append(
            (
                "lr_scheduler",
                LRScheduler(
                    policy=torch.optim.lr_scheduler.ReduceLROnPlateau,
                    monitor=monitor,
                    patience=lr_patience,
                    factor=lr_factor,
                ),
            )
        )
    if patience is not None:
        callbacks.append(
            (
                "early_stopping",
                EarlyStopping(monitor=monitor, patience=patience, load_best=True),
            )
        )
    return callbacks
