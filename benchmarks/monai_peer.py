"""A peer model for ``bench_learning.py``: a MONAI network as a MONAI user writes it.

Not part of skradnod. The point of the row is to show what a researcher who
does not pick skradnod gets on the same folds: MONAI's own 2D ``resnet18`` or
``DenseNet121`` from scratch, MONAI's own transforms (HU window -1000..400 to
[0, 1], resize, random flips and quarter turns), class-weighted cross-entropy,
AdamW, ``ReduceLROnPlateau`` and early stopping on a patient-grouped
validation split. The training loop is written by hand on purpose: it is the
loop of MONAI's classification tutorials, which is the peer being measured
(wrapping it in skorch would measure skradnod's recipe again).

It is a scikit-learn classifier so that the benchmark's folds, metadata
routing (``groups`` to the inner split) and metrics treat it like every row.
"""

import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupShuffleSplit
from sklearn.utils.validation import check_is_fitted

NETWORKS = ("resnet18", "densenet121")


def _network(name, n_classes):
    from monai.networks.nets import DenseNet121, resnet18

    if name == "resnet18":
        # MONAI's default stem (7x7 convolution, stride 1): layer 1 runs at
        # full resolution, which is what makes it slow on a CPU.
        return resnet18(spatial_dims=2, n_input_channels=1, num_classes=n_classes)
    if name == "densenet121":
        return DenseNet121(spatial_dims=2, in_channels=1, out_channels=n_classes)
    raise ValueError(f"network must be one of {NETWORKS}; got {name!r}.")


def _transforms(size, train):
    from monai.transforms import (
        Compose,
        EnsureChannelFirst,
        EnsureType,
        RandFlip,
        RandRotate90,
        Resize,
        ScaleIntensityRange,
    )

    steps = [
        EnsureChannelFirst(channel_dim="no_channel"),
        ScaleIntensityRange(a_min=-1000, a_max=400, b_min=0.0, b_max=1.0, clip=True),
        Resize((size, size)),
    ]
    if train:
        steps += [RandFlip(prob=0.5, spatial_axis=0),
                  RandFlip(prob=0.5, spatial_axis=1),
                  RandRotate90(prob=0.5, max_k=3)]
    return Compose([*steps, EnsureType(dtype=np.float32)])


class MonaiPeerClassifier(ClassifierMixin, BaseEstimator):
    """A MONAI 2D network trained the way MONAI's tutorials train one.

    Parameters
    ----------
    network : {"resnet18", "densenet121"}, default="resnet18"
        MONAI's network, with its defaults except one input channel.
    size : int, default=64
        Side the crops are resized to (MONAI ``Resize``).
    max_epochs : int, default=50
        Epoch cap; early stopping usually ends sooner.
    patience : int, default=8
        Epochs without a lower validation loss before stopping; the weights of
        the best epoch are kept.
    lr : float, default=1e-3
        AdamW's learning rate (halved by ``ReduceLROnPlateau`` after 3 flat
        epochs).
    batch_size : int, default=32
    valid_size : float, default=0.2
        Share of the training patients held out for early stopping.
    random_state : int, default=0
    """

    def __init__(self, network="resnet18", size=64, max_epochs=50, patience=8,
                 lr=1e-3, batch_size=32, valid_size=0.2, random_state=0):
        self.network = network
        self.size = size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.batch_size = batch_size
        self.valid_size = valid_size
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags

    def _loader(self, images, y, train):
        from monai.data import DataLoader, Dataset

        data = [{"image": np.asarray(im, dtype=np.float32), "label": int(t)}
                for im, t in zip(images, y)]
        transform = _transforms(self.size, train)

        def apply(item):
            return {"image": transform(item["image"]), "label": item["label"]}

        return DataLoader(Dataset(data, transform=apply), batch_size=self.batch_size,
                          shuffle=train, num_workers=0)

    def fit(self, X, y, groups=None):
        """Train with early stopping on a patient-grouped validation split."""
        import torch
        from monai.utils import set_determinism

        images = list(X)
        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        train, valid = next(GroupShuffleSplit(
            1, test_size=self.valid_size, random_state=self.random_state
        ).split(images, codes, groups))
        set_determinism(seed=self.random_state)
        model = _network(self.network, len(self.classes_))
        counts = np.bincount(codes[train], minlength=len(self.classes_))
        weight = torch.tensor(len(train) / (len(counts) * np.maximum(counts, 1)),
                              dtype=torch.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=3)
        train_loader = self._loader([images[i] for i in train], codes[train], True)
        valid_loader = self._loader([images[i] for i in valid], codes[valid], False)
        best, best_state, waited, self.history_ = np.inf, None, 0, []
        start = time.perf_counter()
        for _ in range(self.max_epochs):
            model.train()
            for batch in train_loader:
                optimizer.zero_grad()
                loss = loss_fn(model(batch["image"]), batch["label"])
                loss.backward()
                optimizer.step()
            valid_loss = self._valid_loss(model, valid_loader, loss_fn)
            scheduler.step(valid_loss)
            self.history_.append({"valid_loss": valid_loss,
                                  "dur": time.perf_counter() - start})
            if valid_loss < best:
                best, waited = valid_loss, 0
                best_state = {
                    k: v.detach().clone() for k, v in model.state_dict().items()
                }
            else:
                waited += 1
                if waited >= self.patience:
                    break
        model.load_state_dict(best_state)
        set_determinism(seed=None)
        self.module_ = model.eval()
        return self

    @staticmethod
    def _valid_loss(model, loader, loss_fn):
        import torch

        model.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for batch in loader:
                total += float(loss_fn(model(batch["image"]), batch["label"])) * len(
                    batch["label"])
                n += len(batch["label"])
        return total / max(n, 1)

    def predict_proba(self, X):
        """Softmax probabilities, columns in ``classes_`` order."""
        import torch

        check_is_fitted(self, "module_")
        images = list(X)
        loader = self._loader(images, np.zeros(len(images), int), False)
        with torch.no_grad():
            out = [torch.softmax(self.module_(b["image"]), 1).numpy() for b in loader]
        return np.concatenate(out)

    def predict(self, X):
        """The most probable class."""
        return self.classes_[self.predict_proba(X).argmax(1)]
