"""What every layer of skradnod shares: the image-batch contract and its helpers.

An image batch is a 3D array, a sequence of 2D arrays, a sequence of NRRD
paths or a :class:`LazyImageBatch`; :func:`check_image_batch` validates one and
names the offending sample; :class:`ImageStepMixin` makes a transformer an
image step (``set_output`` and the tags of one). NRRD files are read here
(``_nrrd``, the lowest module, since a batch of paths is read on access);
:func:`resolve_device` picks the torch device. Nothing here imports another
part of skradnod.
"""

from ._batch import (
    ImageStepMixin,
    LazyImageBatch,
    check_image,
    check_image_batch,
    is_path,
    stack_images,
)
from ._device import resolve_device

__all__ = [
    "ImageStepMixin",
    "LazyImageBatch",
    "check_image",
    "check_image_batch",
    "is_path",
    "resolve_device",
    "stack_images",
]
