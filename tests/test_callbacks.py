"""DynamicLossWeighting: weights follow the documented inverse-loss rule."""

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from torch import nn

from skradnod.callbacks import DynamicLossWeighting


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 1)
        self.b = nn.Linear(3, 1)

    def forward(self, x):
        return self.a(x), self.b(x)


class _TwoTaskNet(NeuralNet):
    """Two regression tasks; task "reg" has targets 30x larger than "cls"."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        out_a, out_b = y_pred
        loss_a = nn.functional.mse_loss(out_a[:, 0], y_true[:, 0])
        loss_b = nn.functional.mse_loss(out_b[:, 0], y_true[:, 1])
        prefix = "train" if training else "valid"
        self.history.record_batch(f"{prefix}_cls_loss", loss_a.item())
        self.history.record_batch(f"{prefix}_reg_loss", loss_b.item())
        weights = torch.as_tensor(self.loss_weights_, dtype=loss_a.dtype)
        return weights[0] * loss_a + weights[1] * loss_b


def _data(seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    y = np.stack([X @ [1, 0, 0], 30 * X @ [0, 1, 1]], axis=1).astype(np.float32)
    return X, y


def _fit(callback, epochs=4):
    X, y = _data()
    torch.manual_seed(0)
    net = _TwoTaskNet(
        _TwoHeads, criterion=nn.MSELoss, max_epochs=epochs, batch_size=16,
        lr=0.01, train_split=None, callbacks=[callback], verbose=0,
    )
    return net.fit(X, y)


def _epoch_means(net, epoch):
    batches = net.history[epoch]["batches"]
    sizes = [b["train_batch_size"] for b in batches]
    return [
        np.average([b[k] for b in batches], weights=sizes)
        for k in ("train_cls_loss", "train_reg_loss")
    ]


def test_weights_follow_inverse_loss_rule():
    net = _fit(DynamicLossWeighting())
    w_cls = net.history[:, "train_cls_loss_weight"]
    w_reg = net.history[:, "train_reg_loss_weight"]
    # Epoch 1 trains with equal weights; weights always sum to 1.
    assert (w_cls[0], w_reg[0]) == (0.5, 0.5)
    np.testing.assert_allclose(np.add(w_cls, w_reg), 1.0)
    for epoch in range(len(net.history) - 1):
        loss_cls, loss_reg = _epoch_means(net, epoch)
        # The weights of the next epoch are L_other / (L_cls + L_reg) ...
        assert w_cls[epoch + 1] == pytest.approx(loss_reg / (loss_cls + loss_reg))
        # ... so the weighted terms are equal: neither loss dominates.
        assert w_cls[epoch + 1] * loss_cls == pytest.approx(
            w_reg[epoch + 1] * loss_reg
        )
    # The regression loss is the larger one: the weight moves to the smaller
    # (classification) side.
    assert w_cls[1] > 0.9 and w_reg[1] < 0.1
    np.testing.assert_allclose(net.loss_weights_, [*_next_weights(net)])


def _next_weights(net):
    loss_cls, loss_reg = _epoch_means(net, -1)
    return loss_reg / (loss_cls + loss_reg), loss_cls / (loss_cls + loss_reg)


def test_momentum_moves_part_of_the_way():
    net = _fit(DynamicLossWeighting(momentum=0.5), epochs=2)
    loss_cls, loss_reg = _epoch_means(net, 0)
    target = loss_reg / (loss_cls + loss_reg)
    assert net.history[1, "train_cls_loss_weight"] == pytest.approx(
        0.5 * 0.5 + 0.5 * target
    )


def test_balance_rule_directly():
    cb = DynamicLossWeighting()
    np.testing.assert_allclose(cb.balance([1.0, 3.0], [0.5, 0.5]), [0.75, 0.25])
    np.testing.assert_allclose(cb.balance([3.0, 1.0], [0.5, 0.5]), [0.25, 0.75])
    # A vanished loss gets (almost) all the weight, without dividing by zero.
    assert cb.balance([0.0, 1.0], [0.5, 0.5])[0] > 0.999
    three = DynamicLossWeighting(losses=("a", "b", "c"))
    np.testing.assert_allclose(
        three.balance([1.0, 2.0, 4.0], [1 / 3] * 3), np.array([4, 2, 1]) / 7
    )


def test_state_is_reset_at_each_fit():
    cb = DynamicLossWeighting(initial_weights=(1, 3))
    net = _fit(cb, epochs=2)
    assert net.history[0, "train_cls_loss_weight"] == 0.25
    net.fit(*_data(1))
    assert net.history[0, "train_cls_loss_weight"] == 0.25


def test_bad_parameters_and_missing_records():
    with pytest.raises(ValueError, match="momentum"):
        DynamicLossWeighting(momentum=1.0).initialize()
    with pytest.raises(ValueError, match="losses"):
        DynamicLossWeighting(losses=("only",)).initialize()
    with pytest.raises(ValueError, match="initial_weights"):
        DynamicLossWeighting(initial_weights=(1, -1)).initialize()
    with pytest.raises(RuntimeError, match="'train_other_loss'"):
        _fit(DynamicLossWeighting(losses=("train_cls_loss", "train_other_loss")))


def test_params_are_clonable():
    from sklearn.base import clone

    cb = DynamicLossWeighting(momentum=0.3)
    assert cb.get_params()["momentum"] == 0.3
    assert clone(cb).momentum == 0.3
