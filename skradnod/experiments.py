"""The method's two result tables as named, declarative experiments.

Each row of the thesis's Table 2 (full slices) and Table 3 (nodule crops) is an
:class:`Experiment`: a factory returning a fresh, unfitted estimator (usually a
pipeline), the input it reads, and a description. :func:`run_experiments` runs
the rows with :func:`skradnod.evaluation.cross_validate_report` (patient-grouped
folds) and writes ``results.md`` (laid out like the thesis's tables, with 95 %
intervals), ``results.json`` and the figures.

Every table also holds two baselines: ``majority`` (always the most frequent
class) and, when the data has the radiologists' rating columns (the built-in
cohort does), ``semantic_oracle``, a random forest on the readers' eight other
ratings and the nodule diameter. The oracle says how much of the radiologists'
own information an image model recovers; it is not a model one could deploy,
since it reads the radiologists' answers.

The estimators are imported inside the factories, so a missing optional
dependency (torchvision for transfer learning) makes only its own row
unavailable.
"""

import json
import os
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from .datasets._lidc import RATINGS
from .evaluation import (
    METRICS,
    cross_validate_report,
    plot_calibration,
    plot_confidence,
    plot_confusion_matrix,
    to_binary,
)

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "ExperimentUnavailable",
    "PRESETS",
    "RATING_COLUMNS",
    "format_tables",
    "get_experiment",
    "resolve_rows",
    "run_experiments",
]

RATING_COLUMNS = RATINGS
"""The readers' eight ratings besides malignancy (LIDC-IDRI), read by the oracle."""

TABLES = {
    "full": "Table 2 - full-slice models",
    "nodule": "Table 3 - nodule-crop models",
}

TASKS = {
    "5class": ("5-class", None),
    "binary": ("Binary (1-3 vs 4-5)", ["benign", "malignant"]),
}

PRESETS = {
    "quick": {
        "rfecv_cv": 2,
        "rfecv_trees": 10,
        "cnn_width": 8,
        "nodule_size": 32,
        "full_size": 64,
        "max_epochs": 2,
        "batch_size": 32,
        "full_batch_size": 16,
        "n_estimators": 25,
        "selector_preset": "fast",
        "rfecv_step": 0.5,
        "radiomics_image_types": ("Original",),
        "inner_cv": 2,
        "latent_dim": 16,
        "n_bootstrap": 200,
    },
    "demo": {
        "rfecv_cv": 3,
        "rfecv_trees": 30,
        "cnn_width": 16,
        "nodule_size": 64,
        "full_size": 64,
        "max_epochs": 12,
        # Batches of 16, not the method's 64: a demo fold trains on ~110 crops,
        # and 64 would give two optimiser steps per epoch.
        "batch_size": 16,
        "full_batch_size": 16,
        "n_estimators": 100,
        "selector_preset": "fast",
        "rfecv_step": 0.2,
        "radiomics_image_types": ("Original",),
        "inner_cv": 3,
        "latent_dim": 32,
        "n_bootstrap": 1000,
    },
    "full": {
        "rfecv_cv": 3,
        "rfecv_trees": 100,
        "cnn_width": 32,
        "nodule_size": 64,
        "full_size": 512,
        "max_epochs": 60,
        "batch_size": 64,
        "full_batch_size": 16,
        "n_estimators": 300,
        "selector_preset": "thesis",
        "rfecv_step": 1,
        "radiomics_image_types": ("Original", "Wavelet"),
        "inner_cv": 3,
        "latent_dim": 64,
        "n_bootstrap": 1000,
    },
}
"""Sizes of the rows: ``quick`` (seconds per row, for tests), ``demo`` (the
``skradnod demo`` default, minutes on a laptop CPU), ``full`` (the method's
settings: 64x64 crops, 512x512 slices, 60 epochs with early stopping, RFECV
removing one feature per round on Original + Wavelet features; for a GPU)."""


class ExperimentUnavailable(RuntimeError):
    """A row cannot run here (missing dependency, weights file or data column)."""


@dataclass(frozen=True)
class Experiment:
    """One row of a result table.

    Parameters
    ----------
    table : {"nodule", "full"}
        The table it belongs to (Table 3 and Table 2 of the method).
    name : str
        Row name, unique within its table.
    title : str
        Display name in ``results.md``.
    input : {"nodule", "full", "frame", "ratings", "none"}
        What the estimator reads: the nodule crops, the full slices, the data
        frame (columns ``full`` and ``nodule``), the rating columns, or nothing
        (the majority baseline).
    description : str
        One sentence for the report.
    factory : callable
        ``factory(settings, *, task, device, random_state, **params)`` returning
        ``(estimator, used)``: a fresh unfitted estimator and a dict of the sizes
        it used. ``settings`` is a :data:`PRESETS` entry; ``params`` are the
        row's own options (``backbone``, ``weights``).
    baseline : bool, default=False
        Baselines are computed once and shown in every table.

    Examples
    --------
    >>> from skradnod.experiments import get_experiment
    >>> spec = get_experiment("nodule/majority")
    >>> estimator, used = spec.build(preset="quick")
    >>> type(estimator).__name__, spec.input
    ('DummyClassifier', 'none')
    """

    table: str
    name: str
    title: str
    input: str
    description: str
    factory: object = field(repr=False)
    baseline: bool = False

    @property
    def key(self):
        """``"table/name"``, the row's id."""
        return f"{self.table}/{self.name}"

    def build(
        self, *, preset="demo", task="5class", device="cpu", random_state=0, **params
    ):
        """Return a fresh ``(estimator, used)`` pair for ``preset`` and ``task``.

        Raises
        ------
        ExperimentUnavailable
            If a dependency or file the row needs is missing.
        """
        settings = _preset(preset)
        try:
            estimator, used = self.factory(
                settings,
                task=task,
                device=device,
                random_state=random_state,
                **params,
            )
        except ImportError as exc:
            name = getattr(exc, "name", None) or ""
            ours = name == "skradnod" or name.startswith("skradnod.")
            if isinstance(exc, ModuleNotFoundError) and not ours:
                reason = f"{name} is not installed ({exc})"
            else:
                reason = f"a part of skradnod it needs is missing ({exc})"
            raise ExperimentUnavailable(reason) from exc
        return estimator, {"preset": preset, **used}


def _preset(preset):
    if isinstance(preset, dict):
        return {**PRESETS["demo"], **preset}
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[preset]


def _check_params(row, params, allowed):
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"Row {row!r} takes no parameter(s) {unknown}; it takes "
            f"{sorted(allowed) or 'none'}."
        )


# --------------------------------------------------------------------------
# Factories. Each imports what it needs inside, so a missing piece fails only
# its own row.
# --------------------------------------------------------------------------


def _majority(settings, *, task, device, random_state, **params):
    from sklearn.dummy import DummyClassifier

    _check_params("majority", params, ())
    return DummyClassifier(strategy="most_frequent"), {}


def _semantic_oracle(settings, *, task, device, random_state, **params):
    from sklearn.ensemble import RandomForestClassifier

    _check_params("semantic_oracle", params, ())
    n = settings["n_estimators"]
    model = RandomForestClassifier(
        n_estimators=n, class_weight="balanced", random_state=random_state
    )
    return model, {"features": "8 ratings + diameter_mm", "n_estimators": n}


def _nn_options(settings, device, random_state, *, full=False):
    return {
        "max_epochs": settings["max_epochs"],
        "batch_size": settings["full_batch_size" if full else "batch_size"],
        "device": device,
        "random_state": random_state,
    }


def _nodule_cnn(settings, *, task, device, random_state, **params):
    from sklearn.pipeline import make_pipeline

    from .models import NoduleCNNClassifier
    from .preprocessing import make_ct_preprocessor

    _check_params("basic_cnn", params, ())
    size = settings["nodule_size"]
    options = _nn_options(settings, device, random_state)
    width = settings["cnn_width"]
    model = make_pipeline(
        make_ct_preprocessor(size=size),
        NoduleCNNClassifier(module__width=width, **options),
    )
    return model, {"image_size": size, "cnn_width": width, **_shown(options)}


def _full_cnn(settings, *, task, device, random_state, **params):
    from sklearn.pipeline import make_pipeline

    from .models import NoduleCNNClassifier
    from .preprocessing import make_ct_preprocessor

    _check_params("basic_cnn", params, ())
    size = settings["full_size"]
    options = _nn_options(settings, device, random_state, full=True)
    width = settings["cnn_width"]
    model = make_pipeline(
        make_ct_preprocessor(size=size),
        NoduleCNNClassifier(module__width=width, **options),
    )
    return model, {"image_size": size, "cnn_width": width, **_shown(options)}


def _shown(options):
    return {k: v for k, v in options.items() if k not in ("device", "random_state")}


def _radiomics(settings, random_state, memory=None):
    from .radiomics import RadiomicsExtractor

    image_types = tuple(settings["radiomics_image_types"])
    return RadiomicsExtractor(image_types=image_types, memory=memory), {
        "radiomics_image_types": "+".join(image_types)
    }


def _selector_with_classifier(settings, random_state, classifier):
    from .feature_selection import make_radiomics_selector

    return make_radiomics_selector(
        **_selector_options(settings, random_state), classifier=classifier
    )


def _selector_options(settings, random_state):
    from sklearn.ensemble import RandomForestClassifier

    return {
        "preset": settings["selector_preset"],
        "step": settings["rfecv_step"],
        "cv": settings["rfecv_cv"],
        "estimator": RandomForestClassifier(
            n_estimators=settings["rfecv_trees"], random_state=random_state
        ),
        "random_state": random_state,
    }


def _selector_used(settings):
    return {
        "selector": settings["selector_preset"],
        "rfecv_step": settings["rfecv_step"],
        "rfecv_cv": settings["rfecv_cv"],
        "rfecv_trees": settings["rfecv_trees"],
    }


def _features(settings, *, task, device, random_state, memory=None, **params):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    _check_params("features", params, ())
    extractor, used = _radiomics(settings, random_state, memory)
    n_trees = settings["n_estimators"]
    candidates = [
        # SVC(probability=True) is deprecated in scikit-learn 1.9 in favour of this
        CalibratedClassifierCV(
            SVC(class_weight="balanced", random_state=random_state), ensemble=False
        ),
        RandomForestClassifier(
            n_estimators=n_trees, class_weight="balanced", random_state=random_state
        ),
    ]
    try:
        from .models import FeatureNetClassifier

        candidates.append(
            FeatureNetClassifier(**_nn_options(settings, device, random_state))
        )
        nn_name = "FeatureNetClassifier"
    except ImportError:
        from sklearn.neural_network import MLPClassifier

        candidates.append(
            MLPClassifier(
                hidden_layer_sizes=(64, 32),
                max_iter=max(200, 10 * settings["max_epochs"]),
                early_stopping=True,
                random_state=random_state,
            )
        )
        nn_name = "MLPClassifier (skradnod.models.FeatureNetClassifier missing)"
    selector = _selector_with_classifier(settings, random_state, candidates[0])
    # The thesis picked the best of SVM / RF / NN on the features; an inner,
    # stratified CV on each outer training fold does the same without looking
    # at the outer test fold. Extraction sits outside the search: it depends on
    # the image alone, so the search refits only selection and classifier.
    search = GridSearchCV(
        selector,
        {"clf": candidates},
        cv=StratifiedKFold(
            settings["inner_cv"], shuffle=True, random_state=random_state
        ),
        scoring="balanced_accuracy",
        error_score="raise",
    )
    model = make_pipeline(extractor, search)
    return model, {
        **used,
        **_selector_used(settings),
        "candidates": f"SVC | RandomForest({n_trees}) | {nn_name}",
        "inner_cv": settings["inner_cv"],
        "max_epochs": settings["max_epochs"],
    }


def _features_images(settings, *, task, device, random_state, memory=None, **params):
    from imblearn.pipeline import make_pipeline

    from .compose import FusionClassifier
    from .nn import FusionNet
    from .preprocessing import make_ct_preprocessor

    _check_params("features_images", params, ())
    extractor, used = _radiomics(settings, random_state, memory)
    from .feature_selection import make_radiomics_selector

    selector = make_radiomics_selector(**_selector_options(settings, random_state))
    size = settings["nodule_size"]
    # FusionNet's image branch is half as wide as the basic CNN by default
    width = max(2, settings["cnn_width"] // 2)
    options = _nn_options(settings, device, random_state)
    model = FusionClassifier(
        transformers=[
            ("image", make_ct_preprocessor(size=size), "nodule"),
            ("features", make_pipeline(extractor, selector), "nodule"),
        ],
        module=FusionNet,
        module__image_width=width,
        **options,
    )
    return model, {
        "image_size": size,
        "image_width": width,
        **used,
        **_selector_used(settings),
        **_shown(options),
    }


def _autoencoder(settings, *, task, device, random_state, **params):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .models import AutoencoderEmbedding
    from .preprocessing import make_ct_preprocessor

    _check_params("autoencoder", params, ())
    size = settings["full_size"]
    options = _nn_options(settings, device, random_state, full=True)
    latent = settings["latent_dim"]
    model = make_pipeline(
        make_ct_preprocessor(size=size),
        AutoencoderEmbedding(latent_dim=latent, **options),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=1000),
    )
    return model, {
        "image_size": size,
        "latent_dim": latent,
        "classifier": "LogisticRegression on the latent space",
        **_shown(options),
    }


def _center_regression(
    settings,
    *,
    task,
    device,
    random_state,
    backbone="nodule_cnn",
    weights=None,
    **params,
):
    from .models import CenterRegressionClassifier
    from .preprocessing import make_ct_preprocessor

    _check_params("center_regression", params, ("backbone", "weights"))
    if weights is not None and not Path(weights).is_file():
        raise ExperimentUnavailable(
            f"weights not available: no file at {os.fspath(weights)!r}"
        )
    size = settings["full_size"]
    options = _nn_options(settings, device, random_state, full=True)
    model = CenterRegressionClassifier(
        backbone=backbone,
        weights=None if weights is None else os.fspath(weights),
        preprocessor=make_ct_preprocessor(size=size),
        **options,
    )
    return model, {
        "backbone": backbone,
        "weights": "none (random init)" if weights is None else Path(weights).name,
        "image_size": size,
        **_shown(options),
    }


def _transfer(source):
    def factory(
        settings,
        *,
        task,
        device,
        random_state,
        backbone="resnet50",
        weights=None,
        **params,
    ):
        _check_params(f"transfer_{source}", params, ("backbone", "weights"))
        # torchvision/timm would download ImageNet weights; skradnod never
        # downloads, so both rows read a local state-dict file.
        if weights is None:
            raise ExperimentUnavailable(
                f"{_WEIGHT_NAMES[source]} weights not available: skradnod never "
                "downloads weights; pass a state-dict file (CLI: "
                f"--{source}-weights FILE)"
            )
        if not Path(weights).is_file():
            raise ExperimentUnavailable(
                f"{_WEIGHT_NAMES[source]} weights not available: no file at "
                f"{os.fspath(weights)!r}"
            )
        from sklearn.pipeline import make_pipeline

        from .models import TransferClassifier
        from .preprocessing import make_ct_preprocessor

        size = settings["full_size"]
        options = _nn_options(settings, device, random_state, full=True)
        model = make_pipeline(
            make_ct_preprocessor(size=size),
            TransferClassifier(
                backbone=backbone, weights=os.fspath(weights), **options
            ),
        )
        return model, {
            "backbone": backbone,
            "weights": Path(weights).name,
            "image_size": size,
            **_shown(options),
        }

    return factory


_WEIGHT_NAMES = {"imagenet": "ImageNet", "radimagenet": "RadImageNet"}


def _registry():
    rows = []
    for table in ("nodule", "full"):
        rows += [
            Experiment(
                table,
                "majority",
                "Majority class",
                "none",
                "Baseline: always predicts the most frequent training class.",
                _majority,
                baseline=True,
            ),
            Experiment(
                table,
                "semantic_oracle",
                "Semantic-rating oracle",
                "ratings",
                "Baseline: random forest on the radiologists' eight other ratings "
                "and the contour diameter (reads their answers; an upper "
                "reference, not a usable model).",
                _semantic_oracle,
                baseline=True,
            ),
        ]
    rows += [
        Experiment(
            "nodule",
            "basic_cnn",
            "Basic CNN",
            "nodule",
            "CT preprocessing (crops resized) + residual CNN with squeeze-and-"
            "excitation (NoduleCNNClassifier).",
            _nodule_cnn,
        ),
        Experiment(
            "nodule",
            "features",
            "Features",
            "nodule",
            "pyradiomics features + the method's selection chain + the best of "
            "SVM / random forest / NN chosen by inner CV.",
            _features,
        ),
        Experiment(
            "nodule",
            "features_images",
            "Features + images",
            "frame",
            "FusionClassifier: image branch (preprocessed crop) and radiomics "
            "branch (selected features) joined in FusionNet.",
            _features_images,
        ),
        Experiment(
            "full",
            "basic_cnn",
            "Basic CNN",
            "full",
            "CT preprocessing (slices resized) + the residual SE CNN.",
            _full_cnn,
        ),
        Experiment(
            "full",
            "autoencoder",
            "Autoencoders",
            "full",
            "Convolutional autoencoder latent space + logistic regression.",
            _autoencoder,
        ),
        Experiment(
            "full",
            "center_regression",
            "Center regression",
            "frame",
            "Multi-task net: malignancy head + nodule-centre regression head "
            "(centres from template matching), dynamic loss weighting.",
            _center_regression,
        ),
        Experiment(
            "full",
            "transfer_imagenet",
            "TL ImageNet",
            "full",
            "Transfer learning from ImageNet weights (a local file).",
            _transfer("imagenet"),
        ),
        Experiment(
            "full",
            "transfer_radimagenet",
            "TL RadImageNet",
            "full",
            "Transfer learning from RadImageNet weights (a local file).",
            _transfer("radimagenet"),
        ),
    ]
    return {row.key: row for row in rows}


EXPERIMENTS = _registry()
"""All rows, by key ``"table/name"`` (e.g. ``"nodule/features"``)."""


def get_experiment(key):
    """Return the :class:`Experiment` registered under ``"table/name"``.

    Raises
    ------
    KeyError
        For an unknown key, listing the known ones.
    """
    try:
        return EXPERIMENTS[key]
    except KeyError:
        raise KeyError(
            f"Unknown experiment row {key!r}; known rows: {', '.join(EXPERIMENTS)}."
        ) from None


def resolve_rows(rows=None):
    """Expand row selectors into registered keys, in registry order.

    Parameters
    ----------
    rows : str, list of str or None, default=None
        Each entry is a key (``"nodule/basic_cnn"``), a row name matching every
        table that has it (``"basic_cnn"``), a table (``"nodule"``, ``"full"``)
        or ``"all"``. None means all rows.

    Returns
    -------
    keys : list of str

    Raises
    ------
    ValueError
        If an entry matches no row; the message names it and the known rows.

    Examples
    --------
    >>> from skradnod.experiments import resolve_rows
    >>> resolve_rows(["basic_cnn"])
    ['nodule/basic_cnn', 'full/basic_cnn']
    """
    if rows is None:
        return list(EXPERIMENTS)
    if isinstance(rows, str):
        rows = [rows]
    selected = set()
    for entry in rows:
        matches = [
            key
            for key, spec in EXPERIMENTS.items()
            if entry in (key, spec.name, spec.table, "all")
        ]
        if not matches:
            names = sorted({spec.name for spec in EXPERIMENTS.values()})
            raise ValueError(
                f"Unknown experiment row {entry!r}; choose from rows "
                f"{', '.join(names)}, keys such as 'nodule/basic_cnn', tables "
                "'nodule'/'full', or 'all'."
            )
        selected.update(matches)
    return [key for key in EXPERIMENTS if key in selected]


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


def _as_dataset(data):
    if isinstance(data, (str, os.PathLike)):
        from .io import load_nodule_dataset

        return load_nodule_dataset(data)
    if isinstance(data, Bunch) or all(
        hasattr(data, name) for name in ("frame", "target")
    ):
        return data
    raise TypeError(
        "run_experiments needs a data set Bunch (load_nodule_dataset, "
        f"make_lidc_cohort) or a manifest folder; got {type(data).__name__}."
    )


def _row_input(data, kind):
    frame = data.frame
    if kind == "none":
        return np.zeros((len(frame), 1))
    if kind == "ratings":
        columns = [*RATING_COLUMNS, "diameter_mm"]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ExperimentUnavailable(
                f"the data has no rating column(s) {missing} (only the built-in "
                "cohort and LIDC-style manifests carry the readers' ratings)"
            )
        return frame[columns].to_numpy(dtype=float)
    if kind == "frame":
        return frame
    if kind in ("nodule", "full"):
        images = getattr(data, kind, None)
        return frame[kind].to_numpy() if images is None else images
    raise ValueError(f"Unknown experiment input {kind!r}.")


def _resolve_device(device):
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was asked for, but torch sees no CUDA GPU "
                "here; use device='cpu' or 'auto'."
            )
    elif device not in ("cpu", "mps"):
        raise ValueError(
            f"Unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        )
    return device


def _tasks(task):
    if task == "both":
        return ["5class", "binary"]
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; use '5class', 'binary' or 'both'.")
    return [task]


def _cell(result, metric):
    value = result.get(metric)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    low, high = result.get(f"{metric}_ci_low"), result.get(f"{metric}_ci_high")
    if low is None or np.isnan(low):
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _status_cell(result):
    if result["status"] == "unavailable":
        reason = result["message"]
        return (
            "weights not available"
            if "weights not available" in reason
            else ("unavailable")
        )
    return result["status"]


def format_tables(results, *, header=True):
    """Lay results out like the thesis's Tables 2 and 3, as Markdown.

    Parameters
    ----------
    results : DataFrame
        As returned by :func:`run_experiments`.
    header : bool, default=True
        Include each table's heading.

    Returns
    -------
    text : str
        One Markdown table per table present: rows = models, columns = accuracy,
        weighted precision and recall (percent, [95 % CI]) per task.
    """
    lines = []
    tasks = [t for t in TASKS if t in set(results["task"])]
    for table, heading in TABLES.items():
        part = results[results["table"] == table]
        if part.empty:
            continue
        if header:
            lines += [f"## {heading}", ""]
        columns = ["Model"]
        for task in tasks:
            label = TASKS[task][0]
            columns += [f"{label} accuracy", "precision", "recall"]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join(["---"] * len(columns)) + "|")
        for name in dict.fromkeys(part["row"]):
            rows = part[part["row"] == name]
            cells = [rows["title"].iloc[0]]
            for task in tasks:
                match = rows[rows["task"] == task]
                if match.empty:
                    cells += ["-"] * 3
                    continue
                result = match.iloc[0].to_dict()
                if result["status"] != "ok":
                    cells += [_status_cell(result), "-", "-"]
                else:
                    cells += [
                        _cell(result, m) for m in ("accuracy", "precision", "recall")
                    ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _other_metrics_table(results):
    ok = results[results["status"] == "ok"]
    if ok.empty:
        return ""
    lines = [
        "| Table | Model | Task | Balanced accuracy | Macro F1 | ROC AUC | ECE "
        "| Fit time per fold (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for _, r in ok.iterrows():
        r = r.to_dict()
        lines.append(
            f"| {r['table']} | {r['title']} | {TASKS[r['task']][0]} | "
            f"{_cell(r, 'balanced_accuracy')} | {_cell(r, 'f1_macro')} | "
            f"{_cell(r, 'roc_auc')} | {_cell(r, 'ece')} | {r['fit_time']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _write_markdown(path, results, context):
    lines = [
        "# skradnod results",
        "",
        f"Data: {context['data']}. Cross-validation: {context['cv']}. "
        f"Preset: `{context['preset']}`. Device: {context['device']}. "
        f"Wall time: {context['wall_time']:.0f} s.",
        "",
        "Numbers are percent, pooled over the out-of-fold predictions, with "
        f"bootstrap 95 % intervals ({context['bootstrap']}). Precision and recall "
        "are support-weighted, as in the method's tables.",
        "",
        format_tables(results),
        "## Other metrics",
        "",
        "Balanced accuracy, macro F1, one-vs-rest ROC AUC and the expected "
        "calibration error (ECE, lower is better), percent with 95 % intervals.",
        "",
        _other_metrics_table(results),
    ]
    not_run = results[results["status"] != "ok"]
    if not not_run.empty:
        lines += ["## Rows without a number", ""]
        for (key, status, message), part in not_run.groupby(
            ["key", "status", "message"], sort=False
        ):
            tasks = ", ".join(part["task"])
            lines.append(f"- `{key}` ({tasks}): **{status}** - {message}")
        lines.append("")
    lines += ["## What each row used", ""]
    for _, r in results.drop_duplicates("key").iterrows():
        lines.append(
            f"- `{r['key']}`: {r['description']} Settings: {r['used'] or 'not built'}."
        )
    lines.append("")
    figures = [f for f in results["figures"] if f]
    if figures:
        lines += ["## Figures", ""]
        for _, r in results[results["figures"] != ""].iterrows():
            links = ", ".join(
                f"[{Path(f).stem.rsplit('-', 1)[-1]}]({f})"
                for f in r["figures"].split(";")
            )
            lines.append(f"- `{r['key']}` ({r['task']}): {links}")
        lines.append("")
    Path(path).write_text("\n".join(lines))


def run_experiments(
    data,
    rows=None,
    *,
    task="both",
    cv=5,
    device="auto",
    out_dir=None,
    preset="demo",
    params=None,
    n_bootstrap=None,
    random_state=0,
    n_jobs=None,
    figures=True,
    verbose=True,
):
    """Run experiment rows with patient-grouped CV and write the report.

    Parameters
    ----------
    data : Bunch or path
        A data set from :func:`skradnod.io.load_nodule_dataset` or
        :func:`skradnod.datasets.make_lidc_cohort` (``frame``, ``target``,
        ``groups``, and ``nodule``/``full``), or a manifest folder to load.
    rows : str or list of str, default=None
        Rows to run (see :func:`resolve_rows`); None runs all.
    task : {"5class", "binary", "both"}, default="both"
        Malignancy 1-5, benign (1-3) vs malignant (4-5), or both.
    cv : int or splitter, default=5
        Outer folds; patient-grouped when ``data.groups`` exists.
    device : str, default="auto"
        Torch device of the nets (``"auto"``: CUDA if available).
    out_dir : str or path, default=None
        Where ``results.md``, ``results.json``, ``figures/`` and ``errors/``
        (tracebacks of failed rows) go. None writes nothing.
    preset : {"quick", "demo", "full"} or dict, default="demo"
        Size of the rows (:data:`PRESETS`); a dict overrides entries of
        ``"demo"``.
    params : dict, default=None
        Per-row options by row name or key, e.g. ``{"transfer_radimagenet":
        {"weights": "radimagenet_resnet50.pt", "backbone": "resnet50"}}``.
    n_bootstrap : int, default=None
        Bootstrap resamples of the intervals (default: the preset's).
    random_state : int, default=0
        Seed of folds, bootstrap and models.
    n_jobs : int, default=None
        Folds fitted in parallel processes (joblib). On a CPU, ``n_jobs=2`` with
        one torch thread per process uses two cores better than one process
        with two torch threads for the package's small nets.
    figures : bool, default=True
        Draw confusion-matrix, confidence and calibration figures per row/task
        (when ``out_dir`` is given).
    verbose : bool, default=True
        Print progress per row and fold.

    Returns
    -------
    results : DataFrame
        One line per (row, task): ``table``, ``row``, ``key``, ``title``,
        ``task``, ``status`` (``"ok"``, ``"failed"``, ``"unavailable"``),
        ``message``, each metric of :data:`~skradnod.evaluation.METRICS` with
        ``<metric>_ci_low`` / ``<metric>_ci_high``, ``fit_time`` (mean seconds
        per fold), ``wall_time``, ``n_samples``, ``used`` (the settings),
        ``description`` and ``figures``. A failing row is reported, not raised;
        the others still run.

    Raises
    ------
    ValueError
        For an unknown row, task, preset or device, or ``device="cuda"`` without
        a GPU.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.utils import Bunch
    >>> from skradnod.experiments import run_experiments
    >>> y = np.array([1, 3, 3, 3, 5] * 8)
    >>> data = Bunch(frame=pd.DataFrame(index=range(40)), target=y,
    ...              groups=np.arange(40))
    >>> results = run_experiments(data, rows="nodule/majority", task="5class",
    ...                           verbose=False, n_bootstrap=0)
    >>> float(results.loc[0, "accuracy"])  # always predicts 3
    0.6
    """
    start = time.perf_counter()
    data = _as_dataset(data)
    keys = resolve_rows(rows)
    tasks = _tasks(task)
    settings = _preset(preset)
    preset_name = preset if isinstance(preset, str) else "custom"
    device = _resolve_device(device)
    n_bootstrap = settings["n_bootstrap"] if n_bootstrap is None else n_bootstrap
    params = dict(params or {})
    known = {spec.name for spec in EXPERIMENTS.values()} | set(EXPERIMENTS)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(f"params names unknown row(s) {unknown}.")
    groups = getattr(data, "groups", None)
    y5 = np.asarray(data.target)
    targets = {"5class": y5, "binary": to_binary(y5) if "binary" in tasks else None}
    out = None
    if out_dir is not None:
        out = Path(out_dir)
        (out / "figures").mkdir(parents=True, exist_ok=True)
    memory = None
    if out is not None:
        # Radiomic features depend on the image alone; cache them across folds,
        # tasks and rows.
        memory = os.fspath(out / "cache")

    n_patients = len(np.unique(groups)) if groups is not None else None
    if groups is None:
        warnings.warn(
            "The data has no patient ids (manifest column patient_id), so folds "
            "are not grouped by patient; scores are optimistic when a patient "
            "has several samples.",
            UserWarning,
            stacklevel=2,
        )
    say = tqdm.write if verbose else (lambda *_: None)
    say(
        f"Running {len(keys)} row(s) x {len(tasks)} task(s) on {len(y5)} samples"
        + (f" from {n_patients} patients" if n_patients else "")
        + f", {cv}-fold CV, preset {preset_name!r}, device {device}."
    )

    shared = {}
    records = []
    jobs = [(key, t) for key in keys for t in tasks]
    for i, (key, task_name) in enumerate(jobs, 1):
        spec = EXPERIMENTS[key]
        record = {
            "table": spec.table,
            "row": spec.name,
            "key": key,
            "title": spec.title,
            "task": task_name,
            "status": "ok",
            "message": "",
            "description": spec.description,
            "used": "",
            "n_samples": len(y5),
            "fit_time": np.nan,
            "wall_time": np.nan,
            "figures": "",
        }
        for metric in METRICS:
            record.update(
                {
                    metric: np.nan,
                    f"{metric}_ci_low": np.nan,
                    f"{metric}_ci_high": np.nan,
                }
            )
        say(f"[{i}/{len(jobs)}] {key} ({task_name}) ...")
        row_start = time.perf_counter()
        report = None
        try:
            row_params = {**params.get(spec.name, {}), **params.get(key, {})}
            if spec.name in ("features", "features_images"):
                row_params["memory"] = memory
            estimator, used = spec.build(
                preset=preset,
                task=task_name,
                device=device,
                random_state=random_state,
                **row_params,
            )
            used.pop("memory", None)
            if isinstance(preset, dict):
                used["preset"] = preset_name
            record["used"] = ", ".join(f"{k}={v}" for k, v in used.items())
            cache_key = (spec.name, task_name) if spec.baseline else None
            if cache_key in shared:
                report = shared[cache_key]
            else:
                X = _row_input(data, spec.input)
                with warnings.catch_warnings():
                    # run_experiments already warned once about missing groups
                    warnings.filterwarnings("ignore", message=".*not grouped by")
                    report = cross_validate_report(
                        estimator,
                        X,
                        targets[task_name],
                        groups=groups,
                        cv=cv,
                        n_bootstrap=n_bootstrap,
                        random_state=random_state,
                        class_names=TASKS[task_name][1],
                        n_jobs=n_jobs,
                        verbose=verbose,
                    )
                if cache_key is not None:
                    shared[cache_key] = report
        except ExperimentUnavailable as exc:
            record.update(status="unavailable", message=str(exc))
            if not record["used"]:
                record["used"] = ", ".join(
                    f"{k}={v}" for k, v in row_params.items() if k != "memory"
                )
        except ImportError as exc:
            # an optional dependency imported only when the model is built or
            # fitted (torchvision, timm for transfer backbones)
            name = getattr(exc, "name", None)
            record.update(
                status="unavailable",
                message=(f"{name} is not installed: " if name else "") + str(exc),
            )
        except Exception as exc:  # a failing row must not stop the others
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            record.update(status="failed", message=message)
            if out is not None:
                log = out / "errors" / f"{key.replace('/', '-')}-{task_name}.txt"
                log.parent.mkdir(exist_ok=True)
                log.write_text(traceback.format_exc())
                record["message"] += f" (traceback: {log})"
        record["wall_time"] = time.perf_counter() - row_start
        if report is not None:
            record["fit_time"] = float(np.mean(report.fit_time))
            for metric in METRICS:
                low, high = report.ci[metric]
                record.update(
                    {
                        metric: report.metrics[metric],
                        f"{metric}_ci_low": low,
                        f"{metric}_ci_high": high,
                    }
                )
            if out is not None and figures:
                record["figures"] = ";".join(
                    _draw(
                        report,
                        out,
                        f"{spec.table}-{spec.name}-{task_name}",
                        f"{spec.title} ({TASKS[task_name][0]}, {spec.table})",
                    )
                )
            record["report"] = report.to_dict(samples=True)
            say(
                f"    accuracy {report.metrics['accuracy']:.3f} "
                f"[{report.ci['accuracy'][0]:.3f}, {report.ci['accuracy'][1]:.3f}]"
                f", {record['wall_time']:.1f} s"
            )
        else:
            say(f"    {record['status']}: {record['message']}")
        records.append(record)

    reports = [r.pop("report", None) for r in records]
    results = pd.DataFrame.from_records(records)
    wall = time.perf_counter() - start
    if out is not None:
        cv_text = (
            f"{cv}-fold "
            + (
                "StratifiedGroupKFold by patient"
                if groups is not None
                else "StratifiedKFold (no patient ids: not grouped)"
            )
            if isinstance(cv, int)
            else repr(cv)
        )
        context = {
            "data": f"{len(y5)} samples"
            + (f" from {n_patients} patients" if n_patients else ""),
            "cv": cv_text,
            "preset": preset_name,
            "device": device,
            "wall_time": wall,
            "bootstrap": (
                f"{n_bootstrap} resamples"
                + (" of patients" if groups is not None else "")
            ),
        }
        _write_markdown(out / "results.md", results, context)
        payload = {
            "context": {
                **context,
                "settings": {
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in settings.items()
                },
            },
            "rows": [
                {**_json_record(rec), "report": rep}
                for rec, rep in zip(results.to_dict(orient="records"), reports)
            ],
        }
        (out / "results.json").write_text(json.dumps(payload, indent=1))
    say(f"Done in {wall:.0f} s.")
    return results


def _json_record(record):
    out = {}
    for k, v in record.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        out[k] = v
    return out


def _draw(report, out, stem, title):
    paths = []
    folder = out / "figures"
    paths.append(folder / f"{stem}-confusion.png")
    plot_confusion_matrix(report, title=title, path=paths[-1])
    if report.proba is not None:
        paths.append(folder / f"{stem}-confidence.png")
        plot_confidence(report, title=title, path=paths[-1])
        paths.append(folder / f"{stem}-calibration.png")
        plot_calibration(report, title=title, path=paths[-1])
    return [os.fspath(p.relative_to(out)) for p in paths]
