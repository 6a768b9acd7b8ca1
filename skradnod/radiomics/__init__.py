"""Radiomic features of nodule crops as a scikit-learn transformer (method step 7).

:class:`RadiomicsExtractor` (``_extractor``) turns an image batch into a table
of pyradiomics features, at each image's pixel spacing (``_spacing``), cached
per image (``_cache``). The per-image work (``_worker``) runs in joblib worker
processes, which import only it: so that importing ``skradnod.radiomics._worker``
stays light (neither scikit-learn nor SciPy), the extractor is imported here on
first use.
"""

# Not an __all__ of imports: RadiomicsExtractor is imported on first use.
__all__ = ["RadiomicsExtractor"]


def __getattr__(name):
    if name == "RadiomicsExtractor":
        from ._extractor import RadiomicsExtractor

        return RadiomicsExtractor
    raise AttributeError(f"module 'skradnod.radiomics' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
