"""Ctrl-C stops a fit: skorch's ``KeyboardInterrupt`` catch made to re-raise.

skorch's ``NeuralNet.partial_fit`` wraps its training loop in ``except
KeyboardInterrupt: pass``: its ``EarlyStopping`` callback raises
``KeyboardInterrupt`` to end training, and an interactive user keeps the net
trained so far. Inside a cross-validation or an experiment run a real Ctrl-C
must not be swallowed: the caller would carry on and report an under-trained
model as if it had finished. The two cannot be told apart by the exception, so
:class:`InterruptMixin` notes SIGINT itself while the training loop runs. skorch
has no option for this; a signal handler around ``fit_loop`` plus a check after
``on_train_end`` is the smallest hook that gives it.
"""

import contextlib
import signal
import threading

__all__ = ["InterruptMixin"]


@contextlib.contextmanager
def _noting_sigint(note):
    """Call ``note()`` on SIGINT, then the previous handler (which raises).

    Only the main thread can set signal handlers; elsewhere (a net trained in
    a worker thread) nothing is installed and SIGINT behaves as before.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN or SIG_DFL: leave them as they are
        yield
        return

    def handler(signum, frame):
        note()
        previous(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class InterruptMixin:
    """Re-raise a Ctrl-C (SIGINT) that skorch caught during training.

    Notes
    -----
    A SIGINT during :meth:`fit_loop` is noted; skorch then catches the
    ``KeyboardInterrupt`` and runs its ``on_train_end`` callbacks as usual, and
    :meth:`notify` raises ``KeyboardInterrupt`` once they are done. The net
    keeps the weights of the last finished batch, as in skorch, but the caller
    learns that training did not finish. ``EarlyStopping``'s own
    ``KeyboardInterrupt`` still ends training normally.
    """

    def fit_loop(self, X, y=None, **fit_params):
        self._interrupted = False

        def note():
            self._interrupted = True

        with _noting_sigint(note):
            return super().fit_loop(X, y, **fit_params)

    def notify(self, method_name, **cb_kwargs):
        super().notify(method_name, **cb_kwargs)
        if method_name == "on_train_end" and self.__dict__.pop("_interrupted", False):
            epochs = len(self.history_) if hasattr(self, "history_") else 0
            raise KeyboardInterrupt(
                f"{type(self).__name__}: training interrupted after {epochs} "
                f"epoch(s) of {self.max_epochs}"
            )
