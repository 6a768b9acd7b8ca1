"""Out-of-fold stacking; the code lives in :mod:`skradnod.compose`.

Kept so that ``from skradnod.stacking import OutOfFoldProba`` keeps working.
"""

from .compose import OutOfFoldProba

__all__ = ["OutOfFoldProba"]
