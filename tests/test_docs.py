"""The documentation names only what exists, and its small snippets run."""

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.rst"))

# :class:`~skradnod.models.NoduleCNNClassifier`, :func:`skradnod.io.read_nrrd`, ...
_ROLE = re.compile(r":(?:class|func|meth|data|mod|attr):`[^`<]*?<?~?(skradnod[\w.]*)>?`")
# from skradnod.x import a, b   /   from skradnod.x import (a,\n b)
_IMPORT = re.compile(r"from (skradnod[\w.]*) import \(?([\w\s,]+?)\)?\s*$", re.M)
_AUTOSUMMARY = re.compile(
    r"\.\. currentmodule:: (skradnod[\w.]*)\n\n\.\. autosummary::\n(?:   :.*\n)*\n"
    r"((?:   \w+\n)+)"
)


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
        for module, block in _AUTOSUMMARY.findall(text):
            names.update(f"{module}.{name.strip()}" for name in block.split())
    return sorted(names)


def test_pages_found():
    assert {p.name for p in PAGES} >= {"index.rst", "api.rst", "user_guide.rst"}


@pytest.mark.parametrize("name", _documented_names())
def test_documented_name_exists(name):
    _resolve(name)


def test_api_reference_covers_every_public_name():
    api = (DOCS / "api.rst").read_text()
    documented = {
        f"{module}.{name.strip()}"
        for module, block in _AUTOSUMMARY.findall(api)
        for name in block.split()
    }
    documented |= {
        f"{module}.{name}"
        for module, names in re.findall(
            r"\.\. currentmodule:: (skradnod[\w.]*)\n((?:.|\n)*?)(?=\n\S[^\n]*\n=+\n|\Z)",
            api,
        )
        for name in re.findall(r"\.\. autodata:: (\w+)", names)
    }
    modules = sorted({name.rsplit(".", 1)[0] for name in documented})
    missing = [
        f"{module}.{name}"
        for module in modules
        for name in getattr(importlib.import_module(module), "__all__", ())
        if f"{module}.{name}" not in documented
    ]
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
