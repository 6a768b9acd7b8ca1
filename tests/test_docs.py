"""The documentation names only what exists, and its small snippets run."""

import importlib
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.rst"))

# :class:`~skradnod.models.NoduleCNNClassifier`, :func:`skradnod.io.read_nrrd`, ...
_ROLE = re.compile(
    r":(?:class|func|meth|data|mod|attr):`[^`<]*?<?~?(skradnod[\w.]*)>?`"
)
# from skradnod.x import a, b   /   from skradnod.x import (a,\n b)
_IMPORT = re.compile(r"from (skradnod[\w.]*) import \(?([\w\s,]+?)\)?\s*$", re.M)


def _api_entries(text):
    """``module.name`` of every autosummary entry and autodata directive."""
    entries, module, in_autosummary = [], None, False
    for line in text.splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
        data = re.match(r"\.\. autodata:: (\w+)", line)
        if data and module:
            entries.append(f"{module}.{data.group(1)}")
        if line.startswith(".. autosummary::"):
            in_autosummary = True
            continue
        if in_autosummary:
            name = re.fullmatch(r"   (\w+)", line)
            if name and module:
                entries.append(f"{module}.{name.group(1)}")
            elif line and not line.startswith("   :"):
                in_autosummary = False
    return entries


def _resolve(dotted):
    """Import the longest module prefix of ``dotted`` and get the rest."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _documented_names():
    names = set()
    for page in PAGES:
        text = page.read_text()
        names.update(_ROLE.findall(text))
        for module, imported in _IMPORT.findall(text):
            for name in re.split(r"[\s,]+", imported.strip()):
                if name:
                    names.add(f"{module}.{name}")
        names.update(_api_entries(text))
    return sorted(names)


def test_pages_found():
    assert {p.name for p in PAGES} >= {"index.rst", "api.rst", "user_guide.rst"}


@pytest.mark.parametrize("name", _documented_names())
def test_documented_name_exists(name):
    _resolve(name)


def _public_modules():
    import skradnod

    yield "skradnod"
    for info in pkgutil.walk_packages(skradnod.__path__, "skradnod."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            yield info.name


def test_api_reference_covers_every_public_name():
    # Every name in the __all__ of a public module is in docs/api.rst, under its
    # module or under a parent package that re-exports it.
    documented = set(_api_entries((DOCS / "api.rst").read_text()))
    missing = []
    for module in _public_modules():
        for name in getattr(importlib.import_module(module), "__all__", ()):
            prefixes = [module.rsplit(".", i)[0] for i in range(module.count("."))]
            if not any(f"{prefix}.{name}" in documented for prefix in prefixes):
                missing.append(f"{module}.{name}")
    assert not missing, f"public names missing from docs/api.rst: {missing}"


def test_data_page_snippets(tmp_path, monkeypatch):
    # The image-batch and NRRD snippets of docs/data.rst.
    from skradnod.io import read_nrrd, write_nrrd
    from skradnod.preprocessing import HUWindow, Resize

    crops = [np.full((45, 44), -700, np.int16), np.full((108, 124), 30, np.int16)]
    assert Resize((64, 64)).fit_transform(crops).shape == (2, 64, 64)
    assert HUWindow().fit_transform(crops).dtype == object

    monkeypatch.chdir(tmp_path)
    write_nrrd("crop.nrrd", crops[0], spacing=(0.7, 0.7))
    image, header = read_nrrd("crop.nrrd")
    assert header["spacing"] == (0.7, 0.7)
    assert (image == crops[0]).all()


def test_preprocessing_step_names():
    # docs/user_guide.rst, step 4.
    from skradnod.preprocessing import make_ct_preprocessor

    names = [name for name, _ in make_ct_preprocessor(size=64).steps]
    assert names == ["resize", "huwindow", "clahe", "bilateralfilter"]


def test_selector_step_names():
    # docs/user_guide.rst, step 8: the table of step names.
    from skradnod.feature_selection import make_radiomics_selector

    names = [name for name, _ in make_radiomics_selector().steps]
    table = (DOCS / "user_guide.rst").read_text()
    for name in names:
        assert f"``{name}``" in table
