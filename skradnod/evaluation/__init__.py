"""Evaluation: patient-grouped cross-validated reports and their figures (step 11)."""

from ._bootstrap import bootstrap_indices
from ._calibration_display import (
    TopLabelCalibrationDisplay,
    calibration_curve_top_label,
)
from ._confidence_display import ConfidenceDisplay
from ._confusion_display import ConfusionMatrixDisplay
from ._metrics import METRICS, expected_calibration_error, roc_auc_ovr, to_binary
from ._ordinal import LITERATURE_METRICS, within_one_accuracy
from ._plots import (
    plot_calibration,
    plot_confidence,
    plot_confusion_matrix,
    plot_latent_tsne,
)
from ._readers import (
    READER_METRICS,
    ReaderAgreement,
    fleiss_kappa,
    parse_malignancy_readers,
    reader_agreement,
)
from ._report import Report
from ._tsne_display import LatentTSNEDisplay
from ._validation import (
    binary_report,
    cross_validate_report,
    report_from_predictions,
)

__all__ = [
    "LITERATURE_METRICS",
    "METRICS",
    "READER_METRICS",
    "ReaderAgreement",
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
    "fleiss_kappa",
    "parse_malignancy_readers",
    "plot_calibration",
    "plot_confidence",
    "plot_confusion_matrix",
    "plot_latent_tsne",
    "reader_agreement",
    "roc_auc_ovr",
    "to_binary",
    "within_one_accuracy",
]
