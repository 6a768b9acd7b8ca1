"""Evaluation: patient-grouped cross-validated reports and their figures (step 11)."""

from ._bootstrap import bootstrap_indices
from ._metrics import METRICS, expected_calibration_error, roc_auc_ovr, to_binary
from ._plots import (
    calibration_curve_top_label,
    plot_calibration,
    plot_confidence,
    plot_confusion_matrix,
    plot_latent_tsne,
)
from ._report import Report
from ._validation import (
    binary_report,
    cross_validate_report,
    report_from_predictions,
)

__all__ = [
    "METRICS",
    "Report",
    "bootstrap_indices",
    "calibration_curve_top_label",
    "binary_report",
    "cross_validate_report",
    "report_from_predictions",
    "expected_calibration_error",
    "plot_calibration",
    "plot_confidence",
    "plot_confusion_matrix",
    "plot_latent_tsne",
    "roc_auc_ovr",
    "to_binary",
]
