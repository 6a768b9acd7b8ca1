"""Ctrl-C during training stops the fit and the run (skradnod.models._interrupt).

skorch catches ``KeyboardInterrupt`` inside ``partial_fit`` and returns the net
trained so far; these tests fail where a net, or ``skradnod reproduce``, carries
on after a real SIGINT (sent to this process), while early stopping, which
skorch also signals with ``KeyboardInterrupt``, still ends training normally.
"""

import json
import os
import signal

import pytest
from _synthetic import make_bright_centres
from skorch.callbacks import Callback

from skradnod.cli import main
from skradnod.models import AutoencoderEmbedding, NoduleCNNClassifier


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Ctrl-C as a terminal delivers it: Python's own SIGINT handler in place.

    A shell that starts a command in the background without job control
    (``cmd &`` in a script) starts it with SIGINT ignored; a Ctrl-C can then
    never reach it, and these tests would send theirs into nothing.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class InterruptAt(Callback):
    """Send SIGINT (Ctrl-C) at the end of epoch ``epoch``; note train end."""

    def __init__(self, epoch):
        self.epoch = epoch

    def initialize(self):
        self.ended_ = False
        return self

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            os.kill(os.getpid(), signal.SIGINT)

    def on_train_end(self, net, **kwargs):
        self.ended_ = True


def test_fit_raises_after_skorchs_cleanup():
    X, y = make_bright_centres(16)
    stop = InterruptAt(2)
    net = NoduleCNNClassifier(max_epochs=6, patience=None, batch_size=8,
                              callbacks=[("stop", stop)], random_state=0)
    with pytest.raises(KeyboardInterrupt, match="after 2 epoch"):
        net.fit(X, y)
    assert stop.ended_  # skorch's on_train_end callbacks still ran
    assert len(net.history_) == 2
    # partial_fit raises too, and an uninterrupted fit returns as before.
    stop.epoch = 7
    net.set_params(max_epochs=1)
    assert net.partial_fit(X, y) is net
    stop.epoch = len(net.history_) + 1
    with pytest.raises(KeyboardInterrupt):
        net.partial_fit(X, y)


def _interrupt_epochs(monkeypatch):
    from skorch import NeuralNet

    def interrupted(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(NeuralNet, "run_single_epoch", interrupted)


def test_autoencoder_fit_raises(monkeypatch):
    X, _ = make_bright_centres(16)
    ae = AutoencoderEmbedding(latent_dim=4, channels=(4, 8), max_epochs=5,
                              batch_size=8, valid_size=None, patience=None,
                              lr_patience=None, augment=False, random_state=0)
    _interrupt_epochs(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        ae.fit(X)


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort")
    assert main(["make-cohort", str(out), "--n-samples", "24"]) == 0
    return out


def test_reproduce_exits_130_and_writes_no_result(cohort_dir, tmp_path, capsys,
                                                   monkeypatch):
    _interrupt_epochs(monkeypatch)
    out = tmp_path / "res"
    status = main(["reproduce", str(cohort_dir), "--rows", "majority,nodule/basic_cnn",
                   "--task", "binary", "--preset", "quick", "--cv", "2",
                   "--out", str(out), "--quiet"])
    assert status == 130
    assert "interrupted" in capsys.readouterr().err
    # The row finished before the interrupt is recorded; the interrupted one
    # is not.
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert "nodule/majority" in [r["key"] for r in rows]
    assert "nodule/basic_cnn" not in [r["key"] for r in rows]
    assert "Basic CNN" not in (out / "results.md").read_text()


def test_early_stopping_still_ends_training_normally():
    from skorch.callbacks import EarlyStopping

    X, y = make_bright_centres(16)
    net = NoduleCNNClassifier(
        max_epochs=30, patience=None, batch_size=8, random_state=0,
        callbacks=[("stop", EarlyStopping(monitor="train_loss", patience=1,
                                          threshold=10.0))],
    )
    assert net.fit(X, y) is net
    assert len(net.history_) < 30
