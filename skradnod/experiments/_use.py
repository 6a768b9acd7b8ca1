"""Using a row's model: fit it on all the data, predict new patients.

:func:`fit_model` is ``skradnod fit`` without the files; :func:`predict_table`
is ``skradnod predict`` without the CSV.
"""

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import (
    MetadataRequest,
    MetadataRouter,
    MethodMapping,
    process_routing,
)

from ..evaluation import to_binary
from ._card import model_card
from ._contract import check_input_contract, input_contract
from ._html import write_html_report
from ._presets import TASKS, _preset, _preset_name
from ._registry import get_experiment
from ._report import _draw
from ._runner import _context, row_input, run_row

__all__ = [
    "OutOfContractError",
    "fit_model",
    "fit_report_path",
    "predict_table",
    "probability_columns",
    "write_fit_report",
]


def _fit_routed(estimator, X, y, groups):
    """``estimator.fit(X, y)`` with ``groups`` routed as cross-validation routes them.

    The same metadata routing :func:`skradnod.evaluation.cross_validate_report`
    enables: the patient ids reach every step that requests them (the nets'
    early-stopping split, RFECV's and the model search's CV). A router that
    consumes ``groups`` itself stands where cross_validate's splitter does, so
    an estimator that requests none (the majority baseline) is fitted without
    them and one that leaves the request unset raises, as in cross-validation.
    """
    if groups is None:
        return estimator.fit(X, y)
    with config_context(enable_metadata_routing=True):
        own = MetadataRequest(owner="fit_model")
        own.fit.add_request(param="groups", alias=True)
        router = MetadataRouter(owner="fit_model").add_self_request(own).add(
            estimator=estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )
        routed = process_routing(router, "fit", groups=np.asarray(groups))
        return estimator.fit(X, y, **routed.estimator.fit)


def fit_model(
    key, data, *, preset="demo", task="5class", cv=None, device="auto",
    random_state=0, params=None, n_bootstrap=None, data_path=None, verbose=False,
):
    """Fit row ``key`` on all of ``data`` and describe it in a model card.

    Parameters
    ----------
    key : str
        The row (``"nodule/basic_cnn"``, see :data:`EXPERIMENTS`).
    data : Bunch
        A labelled data set (:func:`skradnod.io.load_nodule_dataset`).
    preset : str or dict, default="demo"
        The row's size (:data:`PRESETS`).
    task : {"5class", "binary"}, default="5class"
    cv : int, default=None
        With an int, first a patient-grouped cross-validation of the same row
        (:func:`run_row`, i.e. :func:`~skradnod.evaluation.
        cross_validate_report`) whose metrics and bootstrap intervals go into
        the card; it must succeed (else ValueError), so a card never lacks
        the estimate it was asked for.
    device : str, default="auto"
        The nets' device. ``"auto"`` (CUDA when available, else CPU) is kept
        in the fitted nets, so the model predicts on a machine without a GPU
        too; a model fitted with ``"cuda"`` needs one.
    random_state : int, default=0
    params : dict, default=None
        The row's own options (``backbone``, ``weights``).
    n_bootstrap : int, default=None
        Bootstrap resamples of the intervals (default: the preset's).
    data_path : str or path, default=None
        Where ``data`` was read from, for the card.
    verbose : bool, default=False
        Progress of the cross-validation.

    Returns
    -------
    result : Bunch
        ``estimator`` (fitted on all samples, patient groups routed to every
        inner split), ``card`` (:func:`model_card`; its ``input_contract`` is
        what :func:`predict_table` checks), ``used`` (the row's settings),
        ``report`` (the cross-validation's :class:`~skradnod.evaluation.Report`,
        or None), ``record`` (its results line, or None) and ``context`` (what
        the cross-validation used, as ``results.json`` records it, or None).

    Raises
    ------
    ValueError
        For an unknown task, data without labels, or a failed
        cross-validation (its message).
    ExperimentUnavailable
        If the row cannot run here (a missing dependency or weights file).
    """
    if task not in ("5class", "binary"):
        raise ValueError(f"Unknown task {task!r}; use '5class' or 'binary'.")
    if getattr(data, "target", None) is None:
        raise ValueError("fit_model needs labelled data (a malignancy column).")
    spec = get_experiment(key)
    settings = _preset(preset)
    record = report = context = None
    if cv is not None:
        n_boot = settings["n_bootstrap"] if n_bootstrap is None else n_bootstrap
        start = time.perf_counter()
        record, report = run_row(
            key, data, task=task, preset=preset, cv=cv, device=device,
            params=params, n_bootstrap=n_boot, random_state=random_state,
            verbose=verbose,
        )
        if record["status"] != "ok":
            raise ValueError(
                f"--cv {cv}: the cross-validation of {key} {record['status']}: "
                f"{record['message']}"
            )
        groups = getattr(data, "groups", None)
        context = _context(
            data, cv, groups, _preset_name(preset), device,
            time.perf_counter() - start, n_boot,
            None if groups is None else len(np.unique(groups)), random_state,
        )
    estimator, used = spec.build(
        preset=preset, task=task, device=device, random_state=random_state,
        **(params or {}),
    )
    y = np.asarray(data.target)
    y = y if task == "5class" else to_binary(y)
    contract = input_contract(data, key)
    _fit_routed(estimator, row_input(data, key), y, getattr(data, "groups", None))
    card = model_card(
        estimator, key=key, task=task, preset=_preset_name(preset), used=used,
        data=data, contract=contract, random_state=random_state, device=device,
        data_path=data_path, y=y,
        cv=None if report is None else (record, report),
    )
    return Bunch(estimator=estimator, card=card, used=used, report=report,
                 record=record, context=context)


def fit_report_path(model_path):
    """The report page beside a model file: ``stem.report.html``.

    Examples
    --------
    >>> from skradnod.experiments import fit_report_path
    >>> fit_report_path("out/nodule.skradnod").name
    'nodule.report.html'
    """
    model_path = Path(model_path)
    return model_path.parent / f"{model_path.stem}.report.html"


def write_fit_report(result, model_path):
    """Write the page of a ``fit_model(..., cv=K)`` result beside its model.

    The cross-validation's row (tables with 95 % intervals, confusion,
    confidence and calibration figures) and the model card, in the one
    self-contained page :func:`write_html_report` writes for a run.

    Parameters
    ----------
    result : Bunch
        What :func:`fit_model` returned, with a cross-validation.
    model_path : str or path
        The model file; the page is :func:`fit_report_path` of it.

    Returns
    -------
    path : Path
        The page written.

    Raises
    ------
    ValueError
        If ``result`` holds no cross-validation (``cv=None``).
    """
    if result.report is None:
        raise ValueError("write_fit_report needs a fit_model result with cv=K.")
    card = result.card["model"]
    spec = get_experiment(card["key"])
    target = fit_report_path(model_path)
    # The figures exist only while the page is written: it embeds them.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".report-") as tmp:
        folder = Path(tmp)
        (folder / "figures").mkdir()
        record = {**result.record, "table": spec.table, "key": spec.key,
                  "title": spec.title}
        record["figures"] = ";".join(_draw(
            result.report, folder, f"{spec.table}-{spec.name}-{card['task']}",
            f"{spec.title} ({TASKS[card['task']][0]}, {spec.table})",
        ))
        page = write_html_report(folder, [record], result.context,
                                 sections=[("Model card", result.card)])
        os.replace(page, target)
    return target


class OutOfContractError(ValueError):
    """Samples lie outside a model's input contract; ``reasons`` says why."""

    def __init__(self, message, reasons):
        super().__init__(message)
        self.reasons = reasons


def probability_columns(classes, task):
    """The CSV names of a model's probability columns, in ``classes`` order.

    Examples
    --------
    >>> from skradnod.experiments import probability_columns
    >>> probability_columns([1, 2, 3, 4, 5], "5class")
    ['P(1)', 'P(2)', 'P(3)', 'P(4)', 'P(5)']
    >>> probability_columns([0, 1], "binary")
    ['P(benign)', 'P(malignant)']
    """
    if task == "binary":
        names = {0: "P(benign)", 1: "P(malignant)"}
        return [names[int(c)] for c in classes]
    return [f"P({int(c)})" for c in classes]


def predict_table(model, card, data, *, allow_out_of_contract=False):
    """Predict ``data`` with a fitted model: one row per sample, in data order.

    Parameters
    ----------
    model : estimator
        The fitted model (:func:`skradnod.load_model` of a ``skradnod fit``
        file).
    card : dict
        Its model card (:func:`skradnod.persistence.read_model_metadata`):
        the row key, task and input contract.
    data : Bunch
        The data to predict (:func:`skradnod.io.load_nodule_dataset` with
        ``labels="optional"``).
    allow_out_of_contract : bool, default=False
        Predict samples outside the contract too, flagged in ``status``;
        by default they are refused.

    Returns
    -------
    table : DataFrame
        Columns ``id``, ``patient_id`` (when known), ``predicted`` (the class
        of highest probability: 1-5, or 0/1 for a binary model), one
        probability column per class of the model (``P(1)``...``P(5)``, or
        ``P(benign)``, ``P(malignant)``), for a 5-class model ``P(malignant)``
        = P(4) + P(5) (score 3 counts as benign, the binary task of
        :func:`~skradnod.evaluation.to_binary`), and ``status`` (``"ok"`` or
        ``"out_of_contract: <reasons>"``). The probabilities are
        ``model.predict_proba(X)`` as computed, not rounded.

    Raises
    ------
    OutOfContractError
        If a sample lies outside the contract and not
        ``allow_out_of_contract``: the first one's id and reasons, and how
        many there are (a ValueError).
    """
    key, task = card["model"]["key"], card["model"]["task"]
    reasons = check_input_contract(card["input_contract"], data)
    ids = [str(i) for i in data.frame.index]
    bad = [i for i, r in enumerate(reasons) if r]
    if bad and not allow_out_of_contract:
        first = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise OutOfContractError(
            f"row id={ids[first]!r}{more} lies outside the model's input "
            f"contract: {reasons[first]}; pass --allow-out-of-contract "
            "(allow_out_of_contract=True) to predict and flag it",
            reasons,
        )
    proba = np.asarray(model.predict_proba(row_input(data, key)), dtype=float)
    classes = np.asarray(model.classes_)
    table = pd.DataFrame({"id": ids})
    groups = getattr(data, "groups", None)
    if groups is not None:
        table["patient_id"] = [str(g) for g in groups]
    table["predicted"] = classes[proba.argmax(axis=1)]
    for j, column in enumerate(probability_columns(classes, task)):
        table[column] = proba[:, j]
    if task == "5class":
        # As binary_report reads a 5-class model: the columns to_binary calls 1.
        table["P(malignant)"] = proba[:, to_binary(classes) == 1].sum(axis=1)
    table["status"] = ["out_of_contract: " + r if r else "ok" for r in reasons]
    return table
