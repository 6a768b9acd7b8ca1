"""Model cards: what a model trained by ``skradnod fit`` is, and what it is not.

A card is a plain dict (JSON) built by :func:`model_card` and written as
Markdown and JSON by :func:`write_model_card`; ``skradnod fit`` also stores it
inside the model file (:func:`skradnod.persistence.read_model_metadata`), where
``skradnod predict`` reads the input contract.
"""

import inspect
import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ..base import resolve_device
from ..base._atomic import atomic_write
from ._registry import get_experiment

__all__ = [
    "card_markdown", "card_paths", "changed_params", "model_card", "write_model_card"
]

CARD_FORMAT = "skradnod-model-card"
CARD_VERSION = 1

# The distributions whose versions decide what a model computes.
_PACKAGES = (
    "skradnod", "scikit-learn", "imbalanced-learn", "torch", "skorch", "numpy",
    "scipy", "pandas", "pyradiomics-bhklab", "scikit-image", "skops",
    "safetensors",
)

INTENDED_USE = (
    "For research use only. This model is not a medical device: it has not "
    "been cleared or approved by any regulator, it is not validated for "
    "clinical use, and it must not be used to diagnose, treat or triage "
    "patients. It estimates the malignancy rating (1-5) that LIDC-IDRI-style "
    "radiologists gave a lung nodule, or benign (1-3) versus malignant (4-5), "
    "from a 2D CT slice and a crop around the nodule; a rating is a reader's "
    "opinion, not a pathological diagnosis. It learned from the training data "
    "named on this card only: its numbers hold for data like it (scanner, "
    "protocol, population, preprocessing, the reader's rating convention) and "
    "are unknown elsewhere. The cross-validated estimate, when given, is over "
    "held-out patients of the same data set, not an external validation. "
    "Inputs outside the input contract are refused by 'skradnod predict' "
    "unless forced, and predictions on them are flagged."
)


def card_paths(model_path):
    """The card files beside a model file: ``(stem.card.md, stem.card.json)``.

    Examples
    --------
    >>> from skradnod.experiments import card_paths
    >>> [p.name for p in card_paths("out/nodule.skradnod")]
    ['nodule.card.md', 'nodule.card.json']
    """
    model_path = Path(model_path)
    stem = model_path.parent / model_path.stem
    return Path(f"{stem}.card.md"), Path(f"{stem}.card.json")


def _versions():
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _short(value, limit=160):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_estimator(value):
    return hasattr(value, "get_params") and not isinstance(value, type)


def _defaults(cls):
    try:
        return cls().get_params(deep=False)
    except Exception:  # a class that needs arguments (Pipeline(steps))
        return {
            name: p.default
            for name, p in inspect.signature(cls.__init__).parameters.items()
        }


def changed_params(estimator, prefix=""):
    """Every parameter set away from its ``__init__`` default, nested ones too.

    Written by hand because scikit-learn's own walk (the ``print_changed_only``
    repr) is private, reads only the class's own signature (a skorch net's
    subclass passes most of its parameters on in ``**kwargs``) and gives one
    long string; this gives one entry per parameter path. The defaults are
    those of a default-constructed instance of the same class (the class's
    own defaults, also the ones it passes to its parent), else, for a class
    that needs arguments (``Pipeline``), its ``__init__`` signature's. A
    parameter differs when its ``repr`` differs from the default's
    (scikit-learn's rule); one without a default (a skorch
    ``module__width``) is set by definition. An estimator-valued parameter
    or step gives its class name and its own changed parameters.

    Parameters
    ----------
    estimator : estimator
    prefix : str, default=""
        Prepended to each path (``"step__"``).

    Returns
    -------
    changed : dict of str to str
        ``{"path__param": repr(value)}`` (reprs cut at 160 characters).
    """
    out = {}
    defaults = _defaults(type(estimator))
    for name, value in estimator.get_params(deep=False).items():
        path = prefix + name
        if _is_estimator(value):
            out[path] = type(value).__name__
            out.update(changed_params(value, path + "__"))
            continue
        if name in ("steps", "transformers") and isinstance(value, list):
            for item in value:
                if len(item) >= 2 and _is_estimator(item[1]):
                    out[f"{path}[{item[0]}]"] = type(item[1]).__name__
                    out.update(changed_params(item[1], f"{prefix}{item[0]}__"))
            continue
        default = defaults.get(name, inspect.Parameter.empty)
        if default is inspect.Parameter.empty or repr(value) != repr(default):
            out[path] = _short(value)
    return out


def _class_counts(y):
    values, counts = np.unique(np.asarray(y), return_counts=True)
    return {str(int(v)): int(c) for v, c in zip(values, counts)}


def _training_data(data, task, y, data_path):
    groups = getattr(data, "groups", None)
    return {
        "source": None if data_path is None else str(data_path),
        "layout": getattr(data, "layout", None),
        "n_samples": int(len(y)),
        "n_patients": None if groups is None else int(len(set(groups))),
        "class_counts": _class_counts(y),
        "class_counts_5class": _class_counts(data.target),
        "task": task,
    }


def _cross_validation(record, report):
    if report is None:
        return None
    return {
        **report.to_dict(),
        "no_better_than_chance": record.get("no_better_than_chance"),
        "wall_time_s": record.get("wall_time"),
    }


def model_card(
    estimator, *, key, task, preset, used, data, contract, random_state=0,
    device="cpu", data_path=None, y=None, cv=None,
):
    """The model card of a model that row ``key`` trained on ``data``.

    Parameters
    ----------
    estimator : estimator
        The fitted model.
    key, task, preset : str
        The row, ``"5class"`` or ``"binary"``, the preset's name.
    used : dict
        The settings the row's factory reports (:meth:`Experiment.build`).
    data : Bunch
        The training data (:func:`skradnod.io.load_nodule_dataset`).
    contract : dict
        :func:`input_contract` of the row on ``data``.
    random_state : int, default=0
    device : str, default="cpu"
        The device parameter the nets keep (``"auto"``: CUDA when available);
        the card also gives ``trained_on``, the device it resolved to.
    data_path : str or path, default=None
        Where the data was read from.
    y : array-like, default=None
        The labels the model was fitted on (the binary ones for
        ``task="binary"``); default ``data.target``.
    cv : tuple of (dict, Report), default=None
        :func:`run_row`'s ``(record, report)`` of the patient-grouped
        cross-validation, when one was run.

    Returns
    -------
    card : dict
        Plain JSON: ``format``, ``model`` (key, title, description, task,
        classes, preset, random_state, device, trained_on, estimator),
        ``training_data`` (source, layout, n_samples, n_patients,
        class_counts, class_counts_5class, task, spacing_mm),
        ``input_contract``, ``settings`` (``used``), ``parameters`` (every
        non-default parameter, :func:`changed_params`), ``cross_validation``
        (the report's summary with bootstrap intervals, or None),
        ``versions`` and ``intended_use``.
    """
    spec = get_experiment(key)
    y = data.target if y is None else y
    classes = getattr(estimator, "classes_", None)
    record, report = cv if cv is not None else ({}, None)
    card = {
        "format": CARD_FORMAT,
        "version": CARD_VERSION,
        "model": {
            "key": key,
            "title": spec.title,
            "description": spec.description,
            "task": task,
            "classes": None if classes is None else [int(c) for c in classes],
            "preset": preset,
            "random_state": random_state,
            "device": device,
            "trained_on": resolve_device(device),
            "estimator": type(estimator).__name__,
        },
        "training_data": {
            **_training_data(data, task, y, data_path),
            # The declared pixel spacing of the images the row read, in mm.
            "spacing_mm": {
                column: None if rules["spacing_min"] is None
                else [rules["spacing_min"], rules["spacing_max"]]
                for column, rules in contract["images"].items()
            },
        },
        "input_contract": contract,
        "settings": {k: _plain(v) for k, v in used.items()},
        "parameters": changed_params(estimator),
        "cross_validation": _cross_validation(record, report),
        "versions": _versions(),
        "intended_use": INTENDED_USE,
    }
    return json.loads(json.dumps(card, default=_plain))


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _pair(values, unit=""):
    return "-" if values is None else " x ".join(f"{v:g}" for v in values) + unit


def _contract_lines(contract):
    lines = [f"The model reads: **{contract['input']}** (the row's input).", ""]
    names = {"full": "full slice", "nodule": "nodule crop"}
    if contract["images"]:
        lines += [
            "| Image | Size (rows x cols) | Values seen | Spacing (mm) |",
            "|---|---|---|---|",
        ]
        for column, rules in contract["images"].items():
            size = _pair(rules["shape_min"])
            if rules["shape_max"] != rules["shape_min"]:
                size += f" to {_pair(rules['shape_max'])}"
            spacing = "not declared in the files"
            if rules["spacing_min"] is not None:
                spacing = (f"{_pair(rules['spacing_min'])} to "
                           f"{_pair(rules['spacing_max'])} "
                           f"({rules['n_spacing_declared']} files declare it)")
            lines.append(
                f"| {names[column]} | {size} | [{rules['value_min']:.6g}, "
                f"{rules['value_max']:.6g}] | {spacing} |"
            )
        lines += [
            "",
            "`skradnod predict` refuses (or, with --allow-out-of-contract, "
            "flags) an image whose size lies outside these ranges, whose values "
            "lie more than one training range width outside the values seen, "
            "or whose declared spacing lies outside the training spacing.",
        ]
    if contract.get("columns"):
        lines.append(f"Rating columns read: {', '.join(contract['columns'])}.")
    return lines


def _cv_lines(cv):
    if cv is None:
        return ["Not run (`skradnod fit --cv K` runs a patient-grouped "
                "cross-validation before the final fit)."]
    lines = [
        f"{cv['cv']}, {cv['n_samples']} samples, bootstrap 95 % intervals "
        f"({cv['n_bootstrap']} resamples{' of patients' if cv['grouped'] else ''}"
        "). The final model is fitted on all the data; these numbers estimate "
        "how models fitted this way do on patients they have not seen.",
        "",
        "| Metric | Value | 95 % interval |",
        "|---|---|---|",
    ]
    for metric, value in cv["metrics"].items():
        low, high = cv["ci95"].get(metric, (None, None))
        if value is None:
            continue
        interval = "-" if low is None else f"[{low:.3f}, {high:.3f}]"
        lines.append(f"| {metric} | {value:.3f} | {interval} |")
    if cv.get("no_better_than_chance"):
        lines += ["", "**No better than chance**: the ROC AUC's interval "
                  "reaches 0.5."]
    return lines


def card_markdown(card):
    """The Markdown text of a model card (:func:`model_card`)."""
    model, data = card["model"], card["training_data"]
    patients = data["n_patients"]
    counts = ", ".join(f"{k}: {v}" for k, v in data["class_counts"].items())
    lines = [
        f"# Model card: {model['title']} ({model['key']}, {model['task']})",
        "",
        "## Intended use and limitations",
        "",
        card["intended_use"],
        "",
        "## Model",
        "",
        f"- Row: `{model['key']}` - {model['description']}",
        f"- Task: {model['task']}; classes {model['classes']}",
        f"- Preset: {model['preset']}; random_state {model['random_state']}; "
        f"device {model['device']} (trained on {model['trained_on']})",
        f"- Estimator: {model['estimator']}",
        "",
        "## Training data",
        "",
        f"- Source: {data['source']} (layout {data['layout']})",
        f"- {data['n_samples']} samples"
        + (f" from {patients} patients" if patients is not None
           else " (no patient ids)"),
        f"- Class counts ({data['task']}): {counts}",
        *[f"- Pixel spacing of the {column} images: "
          + ("not declared in the files" if spacing is None else
             f"{_pair(spacing[0])} to {_pair(spacing[1], ' mm')}")
          for column, spacing in data["spacing_mm"].items()],
        "",
        "## Input contract",
        "",
        *_contract_lines(card["input_contract"]),
        "",
        "## Settings",
        "",
        *[f"- {k}: {v}" for k, v in card["settings"].items()],
        "",
        "## Parameters set away from their defaults",
        "",
        *[f"- `{k}`: `{v}`" for k, v in card["parameters"].items()],
        "",
        "## Cross-validated estimate",
        "",
        *_cv_lines(card["cross_validation"]),
        "",
        "## Software",
        "",
        *[f"- {k}: {v}" for k, v in card["versions"].items()],
        "",
    ]
    return "\n".join(lines)


def write_model_card(card, model_path):
    """Write ``card`` as Markdown and JSON beside ``model_path``.

    Parameters
    ----------
    card : dict
        From :func:`model_card`.
    model_path : str or path
        The model file; the cards are :func:`card_paths` of it.

    Returns
    -------
    paths : tuple of Path
        ``(markdown, json)``, each written atomically.
    """
    md_path, json_path = card_paths(model_path)
    with atomic_write(json_path) as fh:
        fh.write(json.dumps(card, indent=1, allow_nan=False))
    with atomic_write(md_path) as fh:
        fh.write(card_markdown(card))
    return md_path, json_path
