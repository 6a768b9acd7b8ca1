"""Evaluation: patient-grouped cross-validated reports and their figures (step 11)."""

from ._bootstrap import bootstrap_indices
from ._calibration_display import (
    TopLabelCalibrationDisplay,
    calibration_curve_top_label,
)
from ._confidence_display import ConfidenceDisplay
from ._confusion_display import ConfusionMatrixDisplay
from ._metrics import METRICS, expected_calibration_error, roc_auc_ovr, to_binary
from ._plots import (
    plot_calibration,
    plot_confidence,
    plot_confusion_matrix,
    plot_latent_tsne,
)
from ._report import Report
from ._tsne_display import LatentTSNEDisplay
from ._validation import (
    binary_report,
    cross_validate_report,
    report_from_predictions,
)

__all__ = [
    "METRICS",
    "ConfidenceDisplay",
    "ConfusionMatrixDisplay",
    "LatentTSNEDisplay",
    "Report",
    "TopLabelCalibrationDisplay",
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
