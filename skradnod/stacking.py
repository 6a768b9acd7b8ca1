"""Out-of-fold stacking; the code lives in :mod:`skradnod.compose`.

Kept so that ``from skradnod.stacking import OutOfFoldProba`` keeps working.
"""

from .compose import OutOfFoldProba  # noqa: F401 (re-exported for the old path)

# Nothing of its own: OutOfFoldProba is documented under skradnod.compose.
__all__ = []
