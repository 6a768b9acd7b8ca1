"""skorch estimators over :mod:`skradnod.nn`, sharing one training recipe."""

# The recipe's base class is importable for subclassing, but not listed in
# __all__: it has no default module, so it is not an estimator on its own.
from ._autoencoder import AutoencoderEmbedding
from ._base import BaseNetClassifier  # noqa: F401
from ._located import LocatedNoduleClassifier, crop_around
from ._locator import NoduleLocator
from ._multitask import CenterRegressionClassifier
from ._nodule import FeatureNetClassifier, NoduleCNNClassifier
from ._transfer import TransferClassifier

__all__ = [
    "AutoencoderEmbedding",
    "CenterRegressionClassifier",
    "FeatureNetClassifier",
    "LocatedNoduleClassifier",
    "NoduleCNNClassifier",
    "NoduleLocator",
    "TransferClassifier",
    "crop_around",
]
