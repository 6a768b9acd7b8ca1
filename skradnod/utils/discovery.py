"""Find every public estimator of skradnod (like ``sklearn.utils.all_estimators``)."""

import importlib
import inspect

from sklearn.base import BaseEstimator

__all__ = ["all_estimators"]

# Modules that hold public estimators. Torch-based ones are imported only if torch
# is importable, so discovery works in a minimal install too.
_MODULES = (
    "skradnod.io",
    "skradnod.preprocessing",
    "skradnod.cleaning",
    "skradnod.radiomics",
    "skradnod.feature_selection",
    "skradnod.localization",
    "skradnod.models",
    "skradnod.compose",
    "skradnod.stacking",
)


def all_estimators():
    """Return ``(name, class)`` for every public estimator class of skradnod.

    A class is public when it is listed in its module's ``__all__``, derives from
    :class:`sklearn.base.BaseEstimator` and is not abstract. Modules not yet
    present are skipped.

    Returns
    -------
    estimators : list of (str, type)
        Sorted by name.

    Examples
    --------
    >>> from skradnod.utils import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "HUWindow" in names
    True
    """
    found = {}
    for module_name in _MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and not inspect.isabstract(obj)
            ):
                found[name] = obj
    return sorted(found.items())
