"""Plain torch modules of the method (step 9); nothing from scikit-learn here."""

from ._blocks import ConvBNReLU, InceptionBlock, ResidualBlock, SEBlock
from ._nodule import FeatureBranch, FusionNet, ImageBranch, NoduleCNN

__all__ = [
    "ConvBNReLU",
    "FeatureBranch",
    "FusionNet",
    "ImageBranch",
    "InceptionBlock",
    "NoduleCNN",
    "ResidualBlock",
    "SEBlock",
]
