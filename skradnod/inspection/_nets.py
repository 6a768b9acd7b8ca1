"""Find the fitted net inside an estimator, its input for ``X`` and its conv layer.

Grad-CAM needs the torch module a prediction went through and the exact tensor
it read. A skradnod model reaches its net in one of a few ways: the net itself
(a skorch :class:`~skradnod.models._base.BaseNetClassifier`, including
:class:`~skradnod.compose.FusionClassifier` and the full-slice nets), a
:class:`~sklearn.pipeline.Pipeline` (or imbalanced-learn's) whose last step is
the net and whose other steps prepare the images (the experiment rows,
``skradnod/experiments/_rows.py``), or a
:class:`~skradnod.models.LocatedNoduleClassifier`, whose classifier reads the
crops it cuts around the centres it finds.
"""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

__all__ = ["default_layer", "resolve_net"]

# Pooling layers: the map after them is coarser than the one before, and a
# global pooling is where the spatial map ends.
_POOLING = (
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.LPPool2d,
    nn.FractionalMaxPool2d,
)


def _name(estimator):
    return type(estimator).__name__


def resolve_net(estimator, X, caller):
    """The fitted net at the end of ``estimator`` and the input it reads for ``X``.

    Parameters
    ----------
    estimator : estimator
        A fitted skradnod net, a pipeline ending in one, or a
        :class:`~skradnod.models.LocatedNoduleClassifier`.
    X : image batch or DataFrame
        Input of ``estimator.predict``.
    caller : str
        Named in errors.

    Returns
    -------
    net : BaseNetClassifier
        The fitted net.
    X_net : ndarray, LazyImageBatch or dict
        ``X`` as the net checked it (``net._check_X(..., reset=False)``): what
        its data loader reads, so the input contract (image size, value range)
        is enforced with the net's own errors.

    Raises
    ------
    ValueError
        If no fitted skradnod net with a module is found.
    """
    # Local import: skradnod.models imports torch-heavy modules, and the
    # located model is only one of the ways in.
    from ..models import LocatedNoduleClassifier

    path = []
    while True:
        if hasattr(estimator, "steps"):
            check_is_fitted(estimator)
            if len(estimator.steps) > 1:
                X = estimator[:-1].transform(X)
            path.append(_name(estimator))
            estimator = estimator.steps[-1][1]
            continue
        if isinstance(estimator, LocatedNoduleClassifier):
            check_is_fitted(estimator, "classifier_")
            X = estimator.crop(X)
            path.append(_name(estimator))
            estimator = estimator.classifier_
            continue
        break
    if not (hasattr(estimator, "module_") and hasattr(estimator, "_check_X")):
        where = f" (at the end of {' > '.join(path)})" if path else ""
        raise ValueError(
            f"{caller} needs a fitted skradnod net (NoduleCNNClassifier, "
            "FusionClassifier, TransferClassifier, CenterRegressionClassifier, "
            "or a pipeline or LocatedNoduleClassifier ending in one); got "
            f"{_name(estimator)}{where}, which has no fitted torch module. "
            "A radiomic model is explained by FeatureImportanceDisplay."
        )
    if not hasattr(estimator, "predict_proba") or not hasattr(estimator, "classes_"):
        raise ValueError(
            f"{caller} explains class predictions; {_name(estimator)} is not a "
            "classifier (no predict_proba / classes_)."
        )
    return estimator, estimator._check_X(X, reset=False)


def _image_keys(batch):
    """The entries of a dict batch that are images ``(n, C, H, W)``."""
    return [key for key, value in batch.items() if np.ndim(value) == 4]


def image_input(batch, caller):
    """The name of the image input of a net's batch (None: the batch is one)."""
    if not isinstance(batch, dict):
        if np.ndim(batch) != 4:
            raise ValueError(
                f"{caller} needs images; the net reads samples of shape "
                f"{tuple(np.shape(batch)[1:])}."
            )
        return None
    keys = _image_keys(batch)
    if len(keys) != 1:
        raise ValueError(
            f"{caller} explains a net with one image input; this net's inputs "
            f"{sorted(batch)} hold {len(keys)} images ({keys})."
        )
    return keys[0]


def _contains_pooling(module):
    return any(isinstance(child, _POOLING) for child in module.modules())


def check_has_conv(module, caller):
    """Raise, naming ``caller``, when ``module`` has no ``Conv2d``."""
    if not any(isinstance(child, nn.Conv2d) for child in module.modules()):
        raise ValueError(
            f"{caller}: {type(module).__name__} has no convolutional layer "
            "(torch.nn.Conv2d), so there is no feature map to explain; Grad-CAM "
            "is for image nets. A feature model is explained by "
            "FeatureImportanceDisplay."
        )


def default_layer(module, forward, inputs, caller):
    """Name of the layer Grad-CAM reads when none is given.

    The rule: run the module once and take the **last module to finish whose
    output is a 4-D feature map larger than 1x1, which runs once per forward
    pass (not a shared activation such as torchvision's reused ReLU) and which
    neither is nor contains a pooling layer**. That is the output of the last
    convolutional stage before the pooling that leads to the head: the output of a whole
    residual, inception or SE block rather than its last inner convolution,
    which sees only one branch (``features.10``, the last SE block, of
    :class:`~skradnod.nn.NoduleCNN`; ``backbone.backbone.layer4`` of a ResNet50
    :class:`~skradnod.nn.TransferNet`).

    Parameters
    ----------
    module : torch.nn.Module
    forward : callable
        ``forward(*inputs)`` returns the logits.
    inputs : tuple of torch.Tensor
        One batch (a single sample is enough).
    caller : str
        Named in errors.

    Returns
    -------
    name : str
        Qualified name in ``module.named_modules()``.

    Raises
    ------
    ValueError
        If the module has no ``Conv2d`` or no feature map larger than 1x1.
    """
    check_has_conv(module, caller)
    finished = []

    def hook(name):
        def record(mod, args, output):
            if torch.is_tensor(output):
                finished.append((name, tuple(output.shape)))

        return record

    handles = [
        child.register_forward_hook(hook(name))
        for name, child in module.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            forward(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    calls = {}
    for name, _ in finished:
        calls[name] = calls.get(name, 0) + 1
    for name, shape in reversed(finished):
        if calls[name] > 1:
            continue
        large = len(shape) == 4 and shape[2] * shape[3] > 1
        if large and not _contains_pooling(module.get_submodule(name)):
            return name
    raise ValueError(
        f"{caller}: {type(module).__name__} has no feature map larger than 1x1 "
        "for these images (they are too small for its poolings); pass layer=, "
        "the name of an earlier layer in module_.named_modules()."
    )


def get_layer(module, layer, caller):
    """``(name, submodule)`` of ``layer``: a qualified name or a submodule."""
    if isinstance(layer, nn.Module):
        for name, child in module.named_modules():
            if child is layer:
                return name, child
        raise ValueError(
            f"{caller}: layer={type(layer).__name__}(...) is not a submodule of "
            f"the net's {type(module).__name__}."
        )
    if not isinstance(layer, str):
        raise ValueError(
            f"{caller}: layer must be None, a layer name or a torch.nn.Module; "
            f"got {type(layer).__name__}."
        )
    names = [name for name, _ in module.named_modules() if name]
    if layer not in names:
        convs = [
            name
            for name, child in module.named_modules()
            if isinstance(child, nn.Conv2d)
        ]
        raise ValueError(
            f"{caller}: layer={layer!r} is not a layer of {type(module).__name__}; "
            f"its convolutions are {convs[-5:]} (last five; all names: "
            "module_.named_modules())."
        )
    return layer, module.get_submodule(layer)
