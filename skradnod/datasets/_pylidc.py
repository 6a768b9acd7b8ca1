"""Import pylidc 0.2.3 on today's stack, and point it at a DICOM folder.

pylidc 0.2.3 (the last release) predates numpy 2 and setuptools 81:

- it imports ``pkg_resources`` only to find its database file, and setuptools
  81+ no longer ships ``pkg_resources``: a stand-in with ``resource_filename``
  is put in ``sys.modules`` for the import only (removed afterwards, so that no
  other package sees it);
- its ``Contour.to_matrix`` and ``Annotation.boolean_mask`` call ``np.int``
  (removed in numpy 1.24): those two modules get a numpy namespace with
  ``int``/``float`` restored; numpy itself is not touched;
- it reads the DICOM folder from ``~/.pylidcrc`` only (and writes a template
  there when the file is missing). :func:`dicom_root` replaces that lookup,
  ``pylidc.Scan._get_dicom_file_path_from_config_file``, for the duration of a
  ``with`` block, so that the user's home is neither read nor written.
"""

import importlib
import importlib.resources
import os
import sys
import types
from contextlib import contextmanager

import numpy as np

__all__ = ["dicom_root", "import_pylidc"]


class _NumpyWithAliases(types.ModuleType):
    """numpy, plus the aliases ``np.int``/``np.float`` that pylidc uses."""

    int = int
    float = float

    def __getattr__(self, name):
        return getattr(np, name)


def _resource_filename(package, name):
    return os.fspath(importlib.resources.files(package) / name)


def import_pylidc():
    """Import and return pylidc, patched as the module docstring says.

    Raises
    ------
    ImportError
        If pylidc (or SQLAlchemy, which it needs) is not installed.
    """
    if "pylidc" not in sys.modules:
        shim = None
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")
            shim.resource_filename = _resource_filename
            sys.modules["pkg_resources"] = shim
        try:
            importlib.import_module("pylidc")
        except ImportError as exc:
            raise ImportError(
                "Reading LIDC-IDRI DICOM needs pylidc and SQLAlchemy: "
                f"pip install pylidc sqlalchemy ({exc})."
            ) from exc
        finally:
            if shim is not None and sys.modules.get("pkg_resources") is shim:
                del sys.modules["pkg_resources"]
    for name in ("pylidc.Contour", "pylidc.Annotation"):
        module = sys.modules[name]
        if not isinstance(module.np, _NumpyWithAliases):
            module.np = _NumpyWithAliases("numpy")
    return sys.modules["pylidc"]


@contextmanager
def dicom_root(path):
    """Make pylidc look for DICOM files under ``path`` inside the block."""
    scan_module = sys.modules["pylidc.Scan"]
    original = scan_module._get_dicom_file_path_from_config_file
    scan_module._get_dicom_file_path_from_config_file = lambda: os.fspath(path)
    try:
        yield
    finally:
        scan_module._get_dicom_file_path_from_config_file = original
