"""Ctrl-C stops a fit: skorch's ``KeyboardInterrupt`` catch made to re-raise.

skorch's ``NeuralNet.partial_fit`` wraps its training loop in ``except
KeyboardInterrupt: pass``, so that an interactive user keeps the net trained so
far. Inside a cross-validation or an experiment run that is the wrong default:
the caller carries on and reports an under-trained model as if it had finished.
:class:`InterruptMixin` keeps skorch's own handling (``on_train_end`` still runs,
so callbacks clean up and restore what they restore) and then raises the
interrupt again, so that ``fit`` and ``partial_fit`` never return normally from
one. skorch has no option for this; the two overrides below are the smallest
hook that gives it.
"""

__all__ = ["InterruptMixin"]


class InterruptMixin:
    """Re-raise a ``KeyboardInterrupt`` that skorch caught during training.

    Notes
    -----
    The interrupt is noted in :meth:`fit_loop`, skorch then runs its
    ``on_train_end`` callbacks as usual, and :meth:`notify` raises
    ``KeyboardInterrupt`` once they are done. The net keeps the weights of the
    last finished batch, as in skorch, but the caller learns that training did
    not finish.
    """

    def fit_loop(self, X, y=None, **fit_params):
        self._interrupted = False
        try:
            return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            self._interrupted = True
            raise

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        if method_name == "on_train_end" and self.__dict__.pop("_interrupted", False):
            epochs = len(self.history_) if hasattr(self, "history_") else 0
            raise KeyboardInterrupt(
                f"{type(self).__name__}: training interrupted after {epochs} "
                f"epoch(s) of {self.max_epochs}"
            )
