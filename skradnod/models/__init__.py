"""skorch estimators over :mod:`skradnod.nn`, sharing one training recipe."""

from ._base import BaseNetClassifier  # noqa: F401  (base of the estimators)

__all__ = []
