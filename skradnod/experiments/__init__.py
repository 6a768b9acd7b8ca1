"""The method's two result tables as named, declarative experiments.

Each row of the thesis's Table 2 (full slices) and Table 3 (nodule crops) is an
:class:`Experiment`: a factory returning a fresh, unfitted estimator (usually a
pipeline), the input it reads, and a description. :func:`run_experiments` runs
the rows with :func:`skradnod.evaluation.cross_validate_report` (patient-grouped
folds) and writes ``results.md`` (laid out like the thesis's tables, with 95 %
intervals), ``results.json``, the figures and ``report.html`` (all of it in
one self-contained page, :func:`write_html_report`).

Every table also holds two baselines: ``majority`` (always the most frequent
class) and, when the data has the radiologists' rating columns (the built-in
cohort does), ``semantic_oracle``, a random forest on the readers' eight other
ratings and the nodule diameter. The oracle says how much of the radiologists'
own information an image model recovers; it is not a model one could deploy,
since it reads the radiologists' answers.

:func:`fit_model` fits one row on all the data (patient groups routed to every
inner split) and describes it in a :func:`model_card` with its
:func:`input_contract`; :func:`predict_table` predicts new, unlabelled data
with it, refusing or flagging samples outside the contract
(:func:`check_input_contract`). ``skradnod fit`` and ``skradnod predict`` are
these with files.

The estimators are imported inside the factories, so a missing optional
dependency (torchvision for transfer learning) makes only its own row
unavailable.
"""

from ._card import (
    card_markdown,
    card_paths,
    changed_params,
    model_card,
    write_model_card,
)
from ._contract import check_input_contract, input_contract
from ._html import write_html_report
from ._presets import PRESETS, TABLES, TASKS  # noqa: F401
from ._registry import EXPERIMENTS, get_experiment, resolve_rows
from ._report import format_tables
from ._runner import RATING_COLUMNS, row_input, run_experiments, run_row
from ._spec import Experiment, ExperimentUnavailable
from ._use import (
    OutOfContractError,
    fit_model,
    fit_report_path,
    predict_table,
    probability_columns,
    write_fit_report,
)

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "ExperimentUnavailable",
    "PRESETS",
    "RATING_COLUMNS",
    "OutOfContractError",
    "card_markdown",
    "card_paths",
    "changed_params",
    "check_input_contract",
    "fit_model",
    "fit_report_path",
    "format_tables",
    "input_contract",
    "model_card",
    "predict_table",
    "probability_columns",
    "row_input",
    "write_model_card",
    "write_fit_report",
    "get_experiment",
    "resolve_rows",
    "run_experiments",
    "run_row",
    "write_html_report",
]
