"""Pretrained ImageNet-style backbones adapted to one-channel CT slices.

The method (step 9) fine-tunes ResNet50, DenseNet121, InceptionV3 and
InceptionResNetV2 pretrained on ImageNet or RadImageNet. torchvision provides the
first three, timm the fourth; both are the optional ``transfer`` extra and are
imported only when a backbone is built.
"""

import os

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["TransferNet", "BACKBONES", "load_backbone_weights"]

_EXTRA_HINT = "Install the transfer-learning extra: pip install skradnod[transfer]"

#: Backbone name -> (library, smallest input side in pixels). Smaller inputs are
#: upsampled (bilinear) to that side in ``forward``: InceptionV3's stem and
#: InceptionResNetV2's reduce 75 px to a 1-pixel map, DenseNet121 and ResNet50
#: need 32 px for their five stride-2 stages.
BACKBONES = {
    "resnet50": ("torchvision", 32),
    "densenet121": ("torchvision", 32),
    "inception_v3": ("torchvision", 75),
    "inception_resnet_v2": ("timm", 75),
}

# Keys of a backbone's own classifier head. In a weight file they belong to a head
# trained for another task (ImageNet's 1000 classes, RadImageNet's 165...): they
# are loaded into TransferNet's head only when the shapes agree.
_HEAD_PREFIXES = ("head.", "fc.", "classifier.", "last_linear.", "AuxLogits.")
_STRIP_PREFIXES = ("module.", "backbone.", "model.")


def _import(library):
    try:
        if library == "timm":
            import timm

            return timm
        import torchvision.models

        return torchvision.models
    except ImportError as exc:
        raise ImportError(
            f"The transfer-learning backbones need {library}, which is not "
            f"installed. {_EXTRA_HINT}"
        ) from exc


def _first_conv(module):
    """Qualified name and module of the first 2D convolution."""
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d):
            return name, child
    raise ValueError(f"{type(module).__name__} has no Conv2d layer.")


def adapt_input_weight(weight, in_channels):
    """Adapt a first-conv weight ``(out, c, kh, kw)`` to ``in_channels`` channels.

    For one channel the weights are summed over the input channels, which gives
    the same response to a grey image as the pretrained conv gives to that image
    repeated in all three channels. For more channels the RGB weights are tiled
    and rescaled so the response to a repeated grey image is kept.
    """
    c = weight.shape[1]
    if in_channels == c:
        return weight
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // c)
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (c / in_channels)


def _set_submodule(root, name, module):
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, module)


def _build_torchvision(name, pretrained, in_channels):
    models = _import("torchvision")
    weights = None
    if pretrained:
        enum = {
            "resnet50": models.ResNet50_Weights,
            "densenet121": models.DenseNet121_Weights,
            "inception_v3": models.Inception_V3_Weights,
        }[name]
        weights = enum.DEFAULT
    if name == "inception_v3":
        # No auxiliary head (its loss is not part of the recipe); transform_input
        # renormalises 3-channel RGB input and makes no sense for CT.
        model = models.inception_v3(
            weights=weights, aux_logits=False, init_weights=not pretrained
        )
        model.transform_input = False
    else:
        model = getattr(models, name)(weights=weights)
    if name == "densenet121":
        num_features = model.classifier.in_features
        model.classifier = nn.Identity()
    else:
        num_features = model.fc.in_features
        model.fc = nn.Identity()
    conv_name, conv = _first_conv(model)
    if in_channels != conv.in_channels:
        new = nn.Conv2d(
            in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
        )
        with torch.no_grad():
            new.weight.copy_(adapt_input_weight(conv.weight, in_channels))
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
        _set_submodule(model, conv_name, new)
    return model, num_features


def _build_timm(name, pretrained, in_channels):
    timm = _import("timm")
    # timm adapts the pretrained first conv to in_channels itself (summing for 1).
    model = timm.create_model(
        name, pretrained=pretrained, num_classes=0, in_chans=in_channels
    )
    return model, model.num_features


def _strip(key):
    changed = True
    while changed:
        changed = False
        for prefix in _STRIP_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def load_backbone_weights(net, path):
    """Load a PyTorch state dict file into a :class:`TransferNet`.

    Parameters
    ----------
    net : TransferNet
        The network; its backbone (and, when shapes agree, its head) is filled.
    path : str or os.PathLike
        A file written by ``torch.save(state_dict, path)`` (or a checkpoint dict
        holding it under ``"state_dict"`` or ``"model"``).

    Notes
    -----
    Keys are matched after removing any leading ``module.`` (DataParallel),
    ``backbone.`` and ``model.`` prefixes, so the file may hold a bare
    torchvision/timm model, a :class:`TransferNet`, or either wrapped. Every
    backbone weight must be in the file. Keys of a classifier head (``head.``,
    ``fc.``, ``classifier.``, ``last_linear.``, ``AuxLogits.``) are loaded into
    the head only when their shapes match it (same number of features and
    classes), and are otherwise ignored: a head trained on another label set is
    of no use. A first-convolution weight with another number of input channels
    (RGB weights for a CT net) is adapted as in :func:`adapt_input_weight`. Any
    other key, or a shape mismatch, is an error.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a state dict, or its keys do not match the backbone;
        the message lists the missing and unexpected keys.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weight file not found: {path!r}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-weight files
        raise ValueError(f"Cannot read weight file {path!r}: {exc}") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ValueError(
            f"Weight file {path!r} does not hold a state dict (a mapping of "
            "parameter names to tensors)."
        )

    own = net.backbone.state_dict()
    head = net.head.state_dict()
    conv_key = _first_conv(net.backbone)[0] + ".weight"
    backbone_state, head_state, unexpected, mismatched = {}, {}, [], []
    for key, value in state.items():
        name = _strip(key)
        if name in own:
            if value.shape != own[name].shape:
                if name == conv_key and value.shape[0] == own[name].shape[0]:
                    value = adapt_input_weight(value, own[name].shape[1])
                else:
                    mismatched.append(
                        f"{key}: {tuple(value.shape)} vs {tuple(own[name].shape)}"
                    )
                    continue
            backbone_state[name] = value
        elif name.startswith(_HEAD_PREFIXES):
            leaf = name.rsplit(".", 1)[-1]
            if leaf in head and head[leaf].shape == value.shape:
                head_state[leaf] = value
        else:
            unexpected.append(key)
    missing = sorted(set(own) - set(backbone_state) - {
        # BatchNorm counters are bookkeeping, not weights; some exporters drop them.
        k for k in own if k.endswith("num_batches_tracked")
    })
    if missing or unexpected or mismatched:
        def _listing(keys):
            shown = ", ".join(keys[:10])
            return shown + (f", ... ({len(keys)} in all)" if len(keys) > 10 else "")

        parts = [
            f"Weight file {path!r} does not match the {net.backbone_name} backbone."
        ]
        if missing:
            parts.append(f"Missing keys: {_listing(missing)}.")
        if unexpected:
            parts.append(f"Unexpected keys: {_listing(unexpected)}.")
        if mismatched:
            parts.append(f"Shape mismatches: {_listing(mismatched)}.")
        parts.append(
            "Prefixes 'module.', 'backbone.' and 'model.' are removed before "
            "matching; classifier-head keys are ignored when their shapes differ."
        )
        raise ValueError(" ".join(parts))
    net.backbone.load_state_dict(backbone_state, strict=False)
    if set(head_state) == set(head):
        net.head.load_state_dict(head_state)


class TransferNet(nn.Module):
    """An ImageNet-architecture backbone with a new head, for CT slices.

    Parameters
    ----------
    backbone : {"resnet50", "densenet121", "inception_v3", \
            "inception_resnet_v2"}, default="resnet50"
        The architecture: torchvision's first three, timm's fourth.
    weights : None, "imagenet" or path, default=None
        None: random initialisation. ``"imagenet"``: the library's pretrained
        ImageNet weights (downloaded by torchvision/timm on first use). A path:
        a PyTorch state dict file, e.g. RadImageNet weights converted to
        PyTorch, loaded with :func:`load_backbone_weights` (see there for how
        keys are matched).
    in_channels : int, default=1
        Input channels; the pretrained first convolution is adapted (summed over
        RGB for one channel).
    n_classes : int, default=5
        Outputs of the new linear head.
    freeze : bool, default=False
        If True, the backbone's parameters are not trained and its BatchNorm
        layers stay in evaluation mode (fixed statistics); only the head learns.
    dropout : float, default=0.0
        Dropout before the head.

    Attributes
    ----------
    backbone : nn.Module
        Feature extractor returning ``(n, num_features)`` pooled features.
    head : nn.Linear
        The classifier head.
    num_features : int
        Width of the backbone's features.
    min_size : int
        Smallest input side; smaller inputs are upsampled to it.

    Examples
    --------
    >>> import torch
    >>> from skradnod.nn import TransferNet
    >>> net = TransferNet("resnet50", n_classes=3)
    >>> net(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        backbone="resnet50",
        weights=None,
        in_channels=1,
        n_classes=5,
        freeze=False,
        dropout=0.0,
    ):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(
                f"Unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)}."
            )
        if not (weights is None or weights == "imagenet" or isinstance(
            weights, (str, os.PathLike)
        )):
            raise ValueError(
                "weights must be None, 'imagenet' or the path of a state dict "
                f"file; got {weights!r}."
            )
        library, self.min_size = BACKBONES[backbone]
        build = _build_timm if library == "timm" else _build_torchvision
        self.backbone_name = backbone
        self.freeze = freeze
        self.backbone, self.num_features = build(
            backbone, weights == "imagenet", in_channels
        )
        self.in_channels = in_channels
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.num_features, n_classes)
        if weights is not None and weights != "imagenet":
            load_backbone_weights(self, weights)
        if freeze:
            for param in self.backbone.parameters():
                param.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        if self.freeze:
            # Frozen means frozen: BatchNorm running statistics must not drift.
            self.backbone.eval()
        return self

    def prepare(self, x):
        """Add the channel axis to ``(n, H, W)`` input and upsample small input."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        height, width = x.shape[-2:]
        if min(height, width) < self.min_size:
            scale = self.min_size / min(height, width)
            size = (max(self.min_size, round(height * scale)),
                    max(self.min_size, round(width * scale)))
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x

    def features(self, x):
        """Pooled backbone features ``(n, num_features)``."""
        return self.backbone(self.prepare(x))

    def forward(self, x):
        return self.head(self.dropout(self.features(x)))
