"""What a fitted net carries into its pickle: the model, not its training state.

skorch pickles every optimizer with its state (AdamW keeps two moments per
weight, twice the weights' size), and a second copy of it through the
learning-rate scheduler callback, which holds the optimizer: a fitted CNN
pickled at about 6x its weights. A model file is for prediction, so
:class:`TrainingStateMixin` leaves the optimizers' state out unless the net is
set to continue training (skorch's ``warm_start=True``), and gives an unpickled
net fresh optimizers, so ``partial_fit`` still works (from a reset optimizer).
"""

import copy

__all__ = ["TrainingStateMixin"]


class TrainingStateMixin:
    """Pickle a fitted skorch net without its optimizer state (unless warm_start).

    Notes
    -----
    With ``warm_start=False`` (the default) the pickle holds the module's weights,
    the criterion, ``history_`` and the parameters, and no optimizer: after
    loading, ``optimizer_`` is a fresh optimizer at the initial learning rate,
    so ``partial_fit`` continues from the trained weights with reset moments and
    without the scheduler's learning-rate reductions. Set ``warm_start=True``
    before pickling to keep the optimizer state, and with it the ability to
    resume training exactly where it stopped.
    """

    def _training_state_attributes(self):
        return [f"{name}_" for name in getattr(self, "_optimizers", [])]

    def __getstate__(self):
        if self.warm_start or not getattr(self, "initialized_", False):
            return super().__getstate__()
        names = [n for n in self._training_state_attributes() if n in self.__dict__]
        # skorch's __getstate__ serialises what is in __dict__: leave the
        # optimizers out of it for the duration of the call.
        removed = {name: self.__dict__.pop(name) for name in names}
        try:
            state = super().__getstate__()
        finally:
            self.__dict__.update(removed)
        callbacks = state.get("callbacks_")
        if callbacks:
            state["callbacks_"] = [
                (name, _without_optimizer(callback)) for name, callback in callbacks
            ]
        state["_optimizers_dropped_"] = names
        return state

    def __setstate__(self, state):
        dropped = state.pop("_optimizers_dropped_", None)
        super().__setstate__(state)
        if dropped:
            # Fresh optimizers over the loaded weights, so that partial_fit
            # (and set_params on optimizer__*) keep working.
            self.initialize_optimizer()


def _without_optimizer(callback):
    """A shallow copy of ``callback`` without the scheduler that holds an optimizer.

    skorch's ``LRScheduler`` builds ``lr_scheduler_`` again in
    ``on_train_begin``; leaving it out loses nothing a prediction needs.
    """
    if getattr(callback, "lr_scheduler_", None) is None:
        return callback
    callback = copy.copy(callback)
    callback.lr_scheduler_ = None
    return callback
