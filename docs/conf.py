"""Sphinx configuration of the skradnod documentation."""

import os
import sys
from datetime import date
from importlib.metadata import version as _version

# The package is installed (editable) in the build environment; the path entry
# makes a plain checkout build too.
sys.path.insert(0, os.path.abspath(".."))

project = "skradnod"
author = "The skradnod developers"
copyright = f"{date.today().year}, {author}"
release = _version("skradnod")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples"]
root_doc = "index"
nitpicky = False

# autodoc / autosummary: one page per public name under generated/ (git-ignored).
autosummary_generate = True
autosummary_imported_members = False
# Inherited members are documented when they come from skradnod's own private
# bases (the image transformers' fit/transform, the nets' shared recipe), not
# when they come from scikit-learn, imbalanced-learn, skorch or torch, whose own
# documentation covers them.
_FOREIGN_BASES = [
    "object", "BaseEstimator", "TransformerMixin", "ClassifierMixin",
    "RegressorMixin", "OneToOneFeatureMixin", "ClassNamePrefixFeaturesOutMixin",
    "SelectorMixin", "BaseSampler", "SamplerMixin", "_SetOutputMixin",
    "_MetadataRequester", "ReprHTMLMixin", "_HTMLDocumentationLinkMixin",
    "NeuralNet", "NeuralNetClassifier", "NeuralNetRegressor", "Module",
    "Sequential", "Callback", "Sequence", "Reversible", "Collection", "Sized",
    "Iterable", "Container", "RuntimeError", "Exception", "BaseException",
    "Pipeline", "_BaseComposition",
]
autodoc_default_options = {
    "members": True,
    "inherited-members": ",".join(_FOREIGN_BASES),
}
autodoc_typehints = "none"
autoclass_content = "class"

# numpydoc renders the sections; member tables come from the autosummary templates,
# so numpydoc's own class-member lists would duplicate them.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

html_theme = "pydata_sphinx_theme"
html_title = f"skradnod {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False

# Plots and data are never produced while building: the docs show code, the
# benchmark pages include the results files the benchmark scripts wrote.


import re  # noqa: E402

_METADATA_REQUEST = re.compile(r"^set_\w+_request$")


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn generates set_fit_request & co. on every estimator class; they
    # are metadata-routing plumbing documented by scikit-learn itself.
    if _METADATA_REQUEST.match(name):
        return True
    return None


def _public_bases(app, name, obj, options, bases):
    # "Bases: _ImageTransformer" says nothing to a reader: show the public
    # classes behind a private base instead.
    public = []
    for base in bases:
        stack = [base]
        while stack:
            cls = stack.pop(0)
            if getattr(cls, "__name__", "").startswith("_"):
                stack[:0] = list(cls.__bases__)
            elif cls not in public and cls is not object:
                public.append(cls)
    bases[:] = public or [object]


def setup(app):
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-skip-member", _skip_member)
