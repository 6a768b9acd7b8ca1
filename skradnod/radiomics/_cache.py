"""The radiomics feature cache: plain ``.npz`` files, never unpickled.

:class:`RadiomicsExtractor`'s ``memory`` used to be a joblib ``Memory``, which
stores each result as a pickle and unpickles it on every later run: a file
planted in the cache folder ran code during ``skradnod reproduce``. The
features of one image are a tuple of names and a float vector, so they are
stored here as arrays and read with ``numpy.load(allow_pickle=False)``, which
cannot execute anything. joblib offers no pickle-free store, hence this module.
"""

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from ..base._atomic import atomic_write

__all__ = ["FeatureCache"]

# Bump when the stored layout or the extraction changes meaning.
_VERSION = "1"


class FeatureCache:
    """Per-image radiomic features keyed by image, mask, spacing and settings.

    Parameters
    ----------
    memory : str, os.PathLike or joblib.Memory
        The cache folder (a ``Memory``'s ``location``). Entries go to
        ``<folder>/skradnod-radiomics/``.
    """

    def __init__(self, memory):
        location = getattr(memory, "location", memory)
        self.folder = Path(os.fspath(location)) / "skradnod-radiomics"

    @staticmethod
    def key(image, mask, spacing, params_json):
        """SHA-256 of everything the features depend on."""
        digest = hashlib.sha256(_VERSION.encode())
        for array in (np.ascontiguousarray(image), np.ascontiguousarray(mask)):
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
        digest.update(repr(tuple(float(s) for s in spacing)).encode())
        digest.update(params_json.encode())
        return digest.hexdigest()

    def _path(self, key):
        return self.folder / key[:2] / f"{key}.npz"

    def get(self, key):
        """The cached ``(names, values)`` of ``key``, or None on a miss.

        An entry that cannot be read as this cache writes it (truncated,
        planted, holding objects) is a miss, with a warning naming the file; it
        is overwritten when the features are computed again.
        """
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as entry:
                if "names" in entry.files:
                    return str(entry["names"][()]), entry["values"].astype(np.float64)
                return None, str(entry["reason"][()])
        except (OSError, ValueError, KeyError) as exc:
            warnings.warn(
                f"RadiomicsExtractor: ignoring unreadable cache entry {path} "
                f"({type(exc).__name__}: {exc}); the features are computed again.",
                UserWarning,
                stacklevel=3,
            )
            return None

    def put(self, key, result):
        """Store ``(names, values)`` (names joined by newlines, or None)."""
        names, values = result
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if names is None:
            arrays = {"reason": np.array(str(values))}
        else:
            arrays = {"names": np.array(names), "values": np.asarray(values)}
        with atomic_write(path, "wb") as fh:
            np.savez(fh, **arrays)
