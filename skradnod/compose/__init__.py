"""Compositions of skradnod's steps: the fusion classifier and out-of-fold stacking.

:class:`FusionClassifier` trains one multi-input net on the outputs of
per-column transformer branches (``_branches``, ``_fusion``);
:class:`OutOfFoldProba` gives a classifier's probabilities as features,
cross-fitted by patient during training (``_stacking``).
"""

from ._fusion import FusionClassifier
from ._stacking import OutOfFoldProba

__all__ = ["FusionClassifier", "OutOfFoldProba"]
