"""The package layout of docs/layout.rst: old import paths, the light worker."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_old_import_paths_name_the_same_objects():
    import skradnod.base
    import skradnod.compose
    import skradnod.stacking
    import skradnod.utils

    assert skradnod.stacking.OutOfFoldProba is skradnod.compose.OutOfFoldProba
    for name in ("LazyImageBatch", "check_image", "check_image_batch", "is_path",
                 "resolve_device", "stack_images"):
        assert getattr(skradnod.utils, name) is getattr(skradnod.base, name)
    from skradnod.evaluation import parse_malignancy_readers
    from skradnod.io._readers import parse_malignancy_readers as in_io

    assert parse_malignancy_readers is in_io


def test_the_radiomics_worker_imports_neither_sklearn_nor_scipy():
    # joblib's worker processes import only the worker: the package imports
    # the extractor (scikit-learn, SciPy) on first use, not on import.
    code = ("import sys, skradnod.radiomics._worker; "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    from skradnod.radiomics import RadiomicsExtractor
    from skradnod.radiomics._extractor import RadiomicsExtractor as defined

    assert RadiomicsExtractor is defined
    assert "RadiomicsExtractor" in dir(skradnod_radiomics())


def skradnod_radiomics():
    import skradnod.radiomics

    return skradnod.radiomics


def test_the_layers_contract_lists_every_package():
    # Every public package or module of skradnod is in the import-linter
    # layers of pyproject.toml, except the two that only re-export.
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    layers = config["importlinter"]["contracts"][0]["layers"]
    listed = {m.strip() for layer in layers for m in layer.split("|")}
    present = {f"skradnod.{p.stem if p.is_file() else p.name}"
               for p in (ROOT / "skradnod").iterdir()
               if not p.name.startswith(("_", "."))
               and (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert present - listed == {"skradnod.utils", "skradnod.stacking"}
    assert listed <= present
