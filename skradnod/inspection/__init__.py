"""Inspection: why a model predicts what it does.

:class:`GradCAMDisplay` shows where in the image an image net looked
(Grad-CAM, via captum), :class:`FeatureImportanceDisplay` which radiomic
features (or feature classes) a radiomic model depends on (grouped
permutation importance on patient-grouped held-out folds, via
:func:`sklearn.inspection.permutation_importance`), and
:func:`explain_predictions` writes them per sample into a folder.
"""

from ._explain import explain_predictions
from ._gradcam import GradCAMDisplay, grad_cam
from ._importance_display import FeatureImportanceDisplay
from ._permutation import feature_groups, grouped_permutation_importance

__all__ = [
    "FeatureImportanceDisplay",
    "GradCAMDisplay",
    "explain_predictions",
    "feature_groups",
    "grad_cam",
    "grouped_permutation_importance",
]
