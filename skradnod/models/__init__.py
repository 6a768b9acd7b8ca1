"""skorch estimators over :mod:`skradnod.nn`, sharing one training recipe."""

from ._base import BaseNetClassifier

__all__ = []
