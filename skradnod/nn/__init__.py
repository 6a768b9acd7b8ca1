"""Plain torch modules of the method (step 9); nothing from scikit-learn here."""

from ._autoencoder import ConvAutoencoder
from ._blocks import ConvBNReLU, InceptionBlock, ResidualBlock, SEBlock
from ._locator import HeatmapNet, decode_heatmap, gaussian_heatmap, heatmap_shape
from ._losses import SoftOrdinalCrossEntropy
from ._multitask import MultiTaskNet
from ._nodule import FeatureBranch, FusionNet, ImageBranch, NoduleCNN
from ._transfer import BACKBONES, TransferNet

__all__ = [
    "BACKBONES",
    "ConvAutoencoder",
    "ConvBNReLU",
    "FeatureBranch",
    "FusionNet",
    "HeatmapNet",
    "ImageBranch",
    "InceptionBlock",
    "MultiTaskNet",
    "NoduleCNN",
    "ResidualBlock",
    "SEBlock",
    "SoftOrdinalCrossEntropy",
    "TransferNet",
    "decode_heatmap",
    "gaussian_heatmap",
    "heatmap_shape",
]
