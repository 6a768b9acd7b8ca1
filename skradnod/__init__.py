"""skradnod: lung-nodule classification as scikit-learn estimators.

:func:`save_model` and :func:`load_model` (from :mod:`skradnod.persistence`)
are available here; they are imported on first use so that ``import
skradnod`` stays light.
"""

# Not an __all__: the names are documented once, under skradnod.persistence.
_LAZY = ("load_model", "save_model")


def __getattr__(name):
    if name in _LAZY:
        from . import persistence

        return getattr(persistence, name)
    raise AttributeError(f"module 'skradnod' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])
