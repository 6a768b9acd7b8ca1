"""Model files that do not run code when loaded.

:func:`save_model` writes a fitted estimator (a pipeline of skradnod
transformers, scikit-learn or imbalanced-learn steps and skradnod nets) to one
zip file holding

* ``skradnod-model.json``: a header (format name and version);
* ``estimator.skops``: the estimator tree written by :mod:`skops.io`, with
  each skorch net replaced by a plain record (its class name, its
  parameters and its fitted attributes);
* ``weights.safetensors``: the nets' torch state dicts, in safetensors;
* ``metadata.json`` (optional): plain JSON the caller gave ``save_model``
  (``skradnod fit`` stores the model card with the input contract there),
  read back by :func:`read_model_metadata` without loading the model.

:func:`load_model` reads back only that file. skops rebuilds objects from a
list of trusted types (:data:`TRUSTED_TYPES` plus the estimator classes of
skradnod) and refuses any other type, naming it and the file; safetensors
holds tensors only. No pickle is read at any point, so a planted file cannot
run code while loading (a pickle, or :func:`joblib.load`, can; see
:ref:`security`).

Why nets are not left to skops: skorch's ``__getstate__`` writes the module,
optimizer and criterion with :func:`torch.save`, which is pickle again.
"""

import json
import os
import zipfile

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from skorch import NeuralNet

__all__ = ["TRUSTED_TYPES", "load_model", "read_model_metadata", "save_model"]

_FORMAT = "skradnod-model"
_VERSION = 1
_HEADER = "skradnod-model.json"
_TREE = "estimator.skops"
_WEIGHTS = "weights.safetensors"
_METADATA = "metadata.json"
_NET_KEY = "__skradnod_net__"

# Types skops does not trust by default that a skradnod model holds. Each is
# rebuilt by skops from plain state, none runs code from the file:
# - sklearn.tree._tree.Tree: the node arrays of RandomForest's trees, rebuilt
#   by skops's dedicated, validated loader (TreeNode);
# - torch/skorch classes given as *classes* in net parameters (optimizer,
#   criterion, iterator, dataset); loading a class reference only imports it.
TRUSTED_TYPES = (
    "sklearn.tree._tree.Tree",
    "torch.optim.adamw.AdamW",
    "torch.optim.adam.Adam",
    "torch.optim.sgd.SGD",
    "torch.nn.modules.loss.CrossEntropyLoss",
    "torch.nn.modules.loss.MSELoss",
    "torch.utils.data.dataloader.DataLoader",
    "skorch.dataset.Dataset",
    "builtins.slice",
    "numpy.dtype",
    "collections.OrderedDict",
    "imblearn.pipeline.Pipeline",
    "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
    "imblearn.over_sampling._random_over_sampler.RandomOverSampler",
    # A fitted GridSearchCV keeps its scorer (the features row's model search
    # scores balanced accuracy): a scikit-learn scorer object and a reference
    # to scikit-learn's metric function, which loading only imports.
    "sklearn.metrics._scorer._Scorer",
    "sklearn.metrics._classification.balanced_accuracy_score",
    # The autoencoder row's inner reconstruction net takes its schedule as
    # callback instances (skorch's, rebuilt from their plain state), one of
    # which names the scheduler class and keeps print as its message sink.
    "skorch.callbacks.lr_scheduler.LRScheduler",
    "skorch.callbacks.training.EarlyStopping",
    "torch.optim.lr_scheduler.ReduceLROnPlateau",
    "builtins.print",
)


def _is_skradnod_class(name):
    """Whether ``name`` is a class defined by skradnod.

    The class is looked up by importing its skradnod module (skradnod's own
    code, not the file's) and must be a class defined there (not a name
    re-exported from elsewhere, such as ``skradnod.x.os``).
    """
    module_name, _, attr = name.rpartition(".")
    if module_name.split(".")[0] != "skradnod" or not attr:
        return False
    import importlib

    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    # Any class skradnod defines (estimators, nets, torch modules, collate and
    # dataset helpers): rebuilding one runs only skradnod's own code.
    return isinstance(cls, type) and cls.__module__.split(".")[0] == "skradnod"


def _net_classes():
    """The skorch net classes a file may name, by qualified name."""
    from . import compose, models
    from .models import _autoencoder

    classes = [getattr(models, name) for name in models.__all__]
    classes += [compose.FusionClassifier, _autoencoder._ReconstructionNet]
    return {
        f"{cls.__module__}.{cls.__qualname__}": cls
        for cls in classes
        if isinstance(cls, type) and issubclass(cls, NeuralNet)
    }


# ---------------------------------------------------------------------- #
# saving
# ---------------------------------------------------------------------- #
def _net_record(net, weights):
    """A plain record of a fitted skorch net; its tensors go to ``weights``."""
    name = f"{type(net).__module__}.{type(net).__qualname__}"
    if name not in _net_classes():
        raise TypeError(
            f"save_model: {name} is a skorch net that is not one of skradnod's; "
            "only skradnod's nets can be saved."
        )
    index = len({key.split("/")[0] for key in weights})
    fitted = {}
    modules = list(net._modules) + list(net._criteria) + list(net._optimizers)
    # skorch's own bookkeeping is rebuilt by initialize() on load.
    skipped = {f"{m}_" for m in modules} | {
        "callbacks_", "initialized_", "virtual_params_", "init_context_",
        "prefixes_", "cuda_dependent_attributes_",
    }
    for key, value in vars(net).items():
        if not key.endswith("_") or key.startswith("_") or key in skipped:
            continue
        if key == "history_":
            value = [dict(row, batches=list(row.get("batches", []))) for row in value]
        fitted[key] = value
    for module in list(net._modules) + list(net._criteria):
        for key, tensor in getattr(net, module + "_").state_dict().items():
            weights[f"{index}/{module}/{key}"] = tensor.detach().cpu().contiguous()
    params = clone(net).get_params(deep=False)
    return {
        _NET_KEY: name,
        "index": index,
        "params": {k: _strip(v, weights) for k, v in params.items()},
        "fitted": {k: _strip(v, weights) for k, v in fitted.items()},
    }


def _strip(obj, weights):
    """``obj`` with each skorch net replaced by its record (copies, never edits)."""
    if isinstance(obj, NeuralNet):
        if not getattr(obj, "initialized_", False):
            return _unfitted_net_record(obj, weights)
        return _net_record(obj, weights)
    if isinstance(obj, list):
        return [_strip(item, weights) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_strip(item, weights) for item in obj)
    if isinstance(obj, dict):
        return {key: _strip(value, weights) for key, value in obj.items()}
    if isinstance(obj, BaseEstimator):
        state = vars(obj)
        stripped = {key: _strip(value, weights) for key, value in state.items()}
        if all(stripped[key] is state[key] for key in state):
            return obj
        copy = object.__new__(type(obj))
        copy.__dict__.update(stripped)
        return copy
    return obj


def _unfitted_net_record(net, weights):
    """Record of a net that was never initialised (a template parameter)."""
    name = f"{type(net).__module__}.{type(net).__qualname__}"
    if name not in _net_classes():
        raise TypeError(f"save_model: {name} is not one of skradnod's nets.")
    params = net.get_params(deep=False)
    return {
        _NET_KEY: name,
        "index": None,
        "params": {k: _strip(v, weights) for k, v in params.items()},
        "fitted": {},
    }


def save_model(estimator, path, *, metadata=None):
    """Write a fitted estimator to ``path`` in a format that runs no code on load.

    Parameters
    ----------
    estimator : estimator
        A fitted skradnod net, or a scikit-learn / imbalanced-learn pipeline
        or estimator whose steps are skradnod, scikit-learn or imbalanced-learn
        estimators.
    path : str or os.PathLike
        The file to write (conventionally ``*.skradnod``). It is written to a
        temporary file beside it and renamed, so a failed write leaves any
        earlier file intact.
    metadata : dict, default=None
        JSON-serialisable data stored beside the model (``metadata.json`` in
        the file), e.g. a model card; :func:`read_model_metadata` reads it
        back without loading the model.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    TypeError
        If ``metadata`` is not a dict or not JSON-serialisable.

    See Also
    --------
    load_model : Read such a file back.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skradnod import save_model, load_model
    >>> X, y = np.arange(8.0).reshape(4, 2), np.array([0, 0, 1, 1])
    >>> model = LogisticRegression().fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skradnod")
    >>> _ = save_model(model, path)
    >>> (load_model(path).predict(X) == model.predict(X)).all()
    np.True_
    """
    import safetensors.torch
    import skops.io

    path = os.fspath(path)
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(
            f"save_model: metadata must be a dict; got {type(metadata).__name__}."
        )
    # Before anything is written: allow_nan=False keeps the file strict JSON.
    try:
        metadata_text = None if metadata is None else json.dumps(
            metadata, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_model: metadata is not plain JSON ({exc}).") from None
    weights = {}
    tree = _strip(estimator, weights)
    tree_bytes = skops.io.dumps(tree)
    header = {"format": _FORMAT, "version": _VERSION}
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_HEADER, json.dumps(header))
            archive.writestr(_TREE, tree_bytes)
            archive.writestr(_WEIGHTS, safetensors.torch.save(weights))
            if metadata_text is not None:
                archive.writestr(_METADATA, metadata_text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ---------------------------------------------------------------------- #
# loading
# ---------------------------------------------------------------------- #
def _read_archive(path):
    """Header-checked members of a skradnod model file."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{path} is not a skradnod model file (not a zip archive); "
            "write one with skradnod.save_model. A joblib or pickle file is "
            "never loaded by load_model, because loading it runs code."
        ) from None
    with archive:
        names = set(archive.namelist())
        if not {_HEADER, _TREE, _WEIGHTS} <= names:
            raise ValueError(
                f"{path} is not a skradnod model file: it lacks "
                f"{sorted({_HEADER, _TREE, _WEIGHTS} - names)}."
            )
        try:
            header = json.loads(archive.read(_HEADER))
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a skradnod model file (bad header).")
        if header.get("version") != _VERSION:
            raise ValueError(
                f"{path} has model format version {header.get('version')!r}; "
                f"this skradnod reads version {_VERSION}."
            )
        return archive.read(_TREE), archive.read(_WEIGHTS)


def read_model_metadata(path):
    """The metadata :func:`save_model` stored in a model file, or None.

    Only the file's header and ``metadata.json`` are read; the model is not
    loaded (nothing is rebuilt, no code runs).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_model`.

    Returns
    -------
    metadata : dict or None
        As given to ``save_model(..., metadata=...)``; None when none was.

    Raises
    ------
    ValueError
        If ``path`` is not a skradnod model file, or its metadata is not a
        JSON object.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sklearn.dummy import DummyClassifier
    >>> from skradnod.persistence import read_model_metadata, save_model
    >>> model = DummyClassifier().fit(np.zeros((2, 1)), [0, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skradnod")
    >>> _ = save_model(model, path, metadata={"task": "binary"})
    >>> read_model_metadata(path)
    {'task': 'binary'}
    """
    path = os.fspath(path)
    _read_archive(path)  # the header checks
    with zipfile.ZipFile(path) as archive:
        if _METADATA not in archive.namelist():
            return None
        try:
            metadata = json.loads(archive.read(_METADATA))
        except ValueError:
            metadata = None
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: its {_METADATA} is not a JSON object.")
    return metadata


def _check_types(tree_bytes, path, trusted):
    """Raise naming every type in the file outside the allowlist."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=tree_bytes)
    allowed = set(TRUSTED_TYPES) | set(trusted)
    refused = [
        name
        for name in untrusted
        if name not in allowed and not _is_skradnod_class(name)
    ]
    if refused:
        raise TypeError(
            f"{path} holds type(s) that load_model does not trust: {refused}. "
            "Nothing was loaded. Pass trusted=[...] only for types you have "
            "checked are safe to rebuild."
        )
    return list(untrusted)


def _rebuild(obj, weights, path):
    """``obj`` with each net record replaced by the fitted net it describes."""
    if isinstance(obj, dict) and _NET_KEY in obj:
        return _rebuild_net(obj, weights, path)
    if isinstance(obj, list):
        return [_rebuild(item, weights, path) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_rebuild(item, weights, path) for item in obj)
    if isinstance(obj, dict):
        return {key: _rebuild(value, weights, path) for key, value in obj.items()}
    if isinstance(obj, BaseEstimator):
        for key, value in vars(obj).items():
            rebuilt = _rebuild(value, weights, path)
            if rebuilt is not value:
                setattr(obj, key, rebuilt)
    return obj


def _rebuild_net(record, weights, path):
    """A fitted net from its record and state dicts (strict)."""
    from skorch.history import History

    cls = _net_classes().get(record[_NET_KEY])
    if cls is None:
        raise TypeError(
            f"{path} names net class {record[_NET_KEY]!r}, not one of skradnod's."
        )
    params = {k: _rebuild(v, weights, path) for k, v in record["params"].items()}
    net = cls(**params)
    if record["index"] is None:
        return net
    for key, value in record["fitted"].items():
        value = _rebuild(value, weights, path)
        if key == "history_":
            value = History(value)
        setattr(net, key, value)
    prefix = f"{record['index']}/"
    # A pretrained TransferClassifier would read its weights file again in
    # initialize; the weights come from this file instead.
    restore = {}
    if "weights" in params and params["weights"] is not None:
        restore["weights"] = params["weights"]
        net.weights = None
    net.initialize()
    for key, value in restore.items():
        setattr(net, key, value)
    # initialize() starts an empty history; the fitted one comes back.
    if "history_" in record["fitted"]:
        net.history_ = History(_rebuild(record["fitted"]["history_"], weights, path))
    used = set()
    for module in list(net._modules) + list(net._criteria):
        start = f"{prefix}{module}/"
        state = {
            key[len(start):]: tensor
            for key, tensor in weights.items()
            if key.startswith(start)
        }
        used.update(start + key for key in state)
        try:
            getattr(net, module + "_").load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise ValueError(
                f"{path}: the weights of {record[_NET_KEY]}'s {module} do not "
                f"match its parameters: {error}"
            ) from None
    extra = sorted(key for key in weights if key.startswith(prefix) and key not in used)
    if extra:
        raise ValueError(
            f"{path}: tensors {extra[:5]} do not match any module of "
            f"{record[_NET_KEY]}."
        )
    return net


def load_model(path, *, trusted=()):
    """Read a model written by :func:`save_model`; no code in the file runs.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save_model`. Only this file is read.
    trusted : sequence of str, default=()
        Further fully qualified type names to rebuild, beyond
        :data:`TRUSTED_TYPES` and skradnod's own estimator classes. Only
        name types you have checked.

    Returns
    -------
    estimator : estimator
        The fitted estimator, predicting exactly as the one saved.

    Raises
    ------
    ValueError
        If ``path`` is not a skradnod model file (a joblib or pickle file, a
        file of another version), or its weights do not fit its nets.
    TypeError
        If the file holds a type outside the allowlist (named in the error);
        nothing is loaded then.

    See Also
    --------
    save_model : Write such a file.
    """
    import safetensors.torch
    import skops.io

    path = os.fspath(path)
    tree_bytes, weight_bytes = _read_archive(path)
    types = _check_types(tree_bytes, path, trusted)
    try:
        weights = safetensors.torch.load(weight_bytes)
    except Exception as error:  # safetensors raises its own SafetensorError
        raise ValueError(f"{path}: unreadable weights ({error}).") from None
    # Rebuilding the nets initialises them, which draws random numbers; the
    # caller's global RNG is left as it was.
    with torch.random.fork_rng(devices=[]):
        # The legacy global NumPy state is what fitting code may draw from.
        state = np.random.get_state()  # noqa: NPY002
        try:
            tree = skops.io.loads(tree_bytes, trusted=types)
            return _rebuild(tree, weights, path)
        finally:
            np.random.set_state(state)  # noqa: NPY002

