"""Estimator discovery, and the image-batch helpers of :mod:`skradnod.base`.

The helpers moved to :mod:`skradnod.base`; they are re-exported here so that
``from skradnod.utils import check_image_batch`` keeps working.
"""

from ..base import (  # noqa: F401 (re-exported for the old import paths)
    LazyImageBatch,
    check_image,
    check_image_batch,
    is_path,
    resolve_device,
    stack_images,
)
from .discovery import all_estimators

# Only discovery is this module's own; the helpers are documented (and listed
# in __all__) under skradnod.base.
__all__ = ["all_estimators"]
