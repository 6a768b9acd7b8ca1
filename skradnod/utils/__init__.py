"""Utilities shared by skradnod's estimators: image batches and discovery."""

from ._batch import (
    LazyImageBatch,
    check_image,
    check_image_batch,
    is_path,
    stack_images,
)
from ._device import resolve_device
from .discovery import all_estimators

__all__ = [
    "LazyImageBatch",
    "all_estimators",
    "check_image",
    "check_image_batch",
    "is_path",
    "resolve_device",
    "stack_images",
]
