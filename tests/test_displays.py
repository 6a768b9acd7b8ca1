"""The display objects of skradnod.evaluation draw numbers computed by hand."""

import re
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn import metrics
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from skradnod.evaluation import (
    ConfidenceDisplay,
    ConfusionMatrixDisplay,
    LatentTSNEDisplay,
    TopLabelCalibrationDisplay,
    calibration_curve_top_label,
    expected_calibration_error,
    report_from_predictions,
)
from skradnod.inspection import FeatureImportanceDisplay, GradCAMDisplay

# Three classes, ten samples. Predicted class = argmax of each row; the
# confidence of each row is its largest entry.
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
PROBA = np.array(
    [
        [0.95, 0.03, 0.02],  # 0 -> 0 right, 0.95
        [0.85, 0.10, 0.05],  # 0 -> 0 right, 0.85
        [0.55, 0.40, 0.05],  # 0 -> 0 right, 0.55
        [0.20, 0.70, 0.10],  # 0 -> 1 wrong, 0.70
        [0.10, 0.60, 0.30],  # 1 -> 1 right, 0.60
        [0.05, 0.90, 0.05],  # 1 -> 1 right, 0.90
        [0.45, 0.35, 0.20],  # 1 -> 0 wrong, 0.45
        [0.30, 0.30, 0.40],  # 2 -> 2 right, 0.40
        [0.10, 0.15, 0.75],  # 2 -> 2 right, 0.75
        [0.80, 0.10, 0.10],  # 2 -> 0 wrong, 0.80
    ]
)
Y_PRED = PROBA.argmax(axis=1)


def _report(**kwargs):
    return report_from_predictions(
        Y_TRUE,
        Y_PRED,
        PROBA,
        np.arange(10) % 2,
        classes=np.array([0, 1, 2]),
        class_names=["low", "mid", "high"],
        n_bootstrap=0,
        estimator="Lookup",
        **kwargs,
    )


class _FixedProba:
    """A fitted "classifier" that returns PROBA (and a given predict)."""

    classes_ = np.array([0, 1, 2])

    def __init__(self, pred=Y_PRED):
        self.pred = pred

    def predict(self, X):
        return self.pred

    def predict_proba(self, X):
        return PROBA


@pytest.fixture
def no_pyplot_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a display left a figure in pyplot"


def test_confidence_boxes_hold_the_hand_counted_samples(no_pyplot_figures):
    disp = ConfidenceDisplay.from_report(_report())
    assert isinstance(disp.figure_, Figure) and disp.ax_.figure is disp.figure_
    # class 0: right 0.95, 0.85, 0.55 / wrong 0.70; class 1: right 0.60, 0.90 /
    # wrong 0.45; class 2: right 0.40, 0.75 / wrong 0.80
    counts = [[3, 1], [2, 1], [2, 1]]
    medians = [[0.85, 0.70], [0.75, 0.45], [0.575, 0.80]]
    for k in range(3):
        for column in range(2):
            text = disp.text_[k, column].get_text()
            assert text == f"n={counts[k][column]}"
            median = disp.boxes_[k, column]["medians"][0].get_ydata()
            assert median == pytest.approx([medians[k][column]] * 2)
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == [
        "low",
        "mid",
        "high",
    ]
    assert disp.ax_.get_title() == (
        "Lookup\nconfidence of correct vs incorrect predictions"
    )


def test_confidence_empty_pair_has_no_box():
    # every class-1 sample right: no "incorrect" box for it
    y_pred = Y_PRED.copy()
    y_pred[6] = 1
    disp = ConfidenceDisplay.from_predictions(Y_TRUE, PROBA, y_pred=y_pred)
    assert disp.boxes_[1, 1] is None and disp.text_[1, 1] is None
    assert len(disp.ax_.texts) == 5


def test_confidence_from_estimator_equals_from_predictions():
    # predict disagrees with the argmax on sample 0: correctness follows predict
    pred = Y_PRED.copy()
    pred[0] = 2
    est = ConfidenceDisplay.from_estimator(_FixedProba(pred), None, Y_TRUE)
    manual = ConfidenceDisplay.from_predictions(
        Y_TRUE, PROBA, y_pred=pred, labels=[0, 1, 2], name="_FixedProba"
    )
    for attr in ("confidence", "correct", "y_true", "labels", "display_labels"):
        np.testing.assert_array_equal(getattr(est, attr), getattr(manual, attr))
    assert est.estimator_name == manual.estimator_name == "_FixedProba"
    assert not est.correct[0]


def test_confidence_without_probabilities_raises():
    report = _report()
    report.proba = None
    with pytest.raises(ValueError, match="report of Lookup .*no predict_proba"):
        ConfidenceDisplay.from_report(report)


def test_calibration_without_probabilities_names_the_caller():
    report = _report()
    report.proba = None
    for show, caller in [
        (TopLabelCalibrationDisplay.from_report, "TopLabelCalibrationDisplay"),
        (calibration_curve_top_label, "calibration_curve_top_label"),
    ]:
        with pytest.raises(
            ValueError, match=f"{caller} needs probabilities; the report of Lookup"
        ):
            show(report)


def test_calibration_bins_match_hand_computation(no_pyplot_figures):
    # n_bins=4, bins (0, .25], (.25, .5], (.5, .75], (.75, 1]:
    #   (.25, .5]: 0.45 wrong, 0.40 right           -> n 2, acc 1/2, conf 0.425
    #   (.5, .75]: 0.55 right, 0.70 wrong, 0.60 right, 0.75 right
    #                                               -> n 4, acc 3/4, conf 0.65
    #   (.75, 1]:  0.95, 0.85, 0.90 right, 0.80 wrong -> n 4, acc 3/4, conf 0.875
    disp = TopLabelCalibrationDisplay.from_predictions(
        Y_TRUE, PROBA, n_bins=4, name="Lookup"
    )
    assert disp.count.tolist() == [0, 2, 4, 4]
    np.testing.assert_allclose(disp.accuracy[1:], [0.5, 0.75, 0.75])
    np.testing.assert_allclose(disp.mean_confidence[1:], [0.425, 0.65, 0.875])
    assert np.isnan(disp.accuracy[0])
    # ECE = (2 |.5 - .425| + 4 |.75 - .65| + 4 |.75 - .875|) / 10 = 0.105
    assert disp.ece == pytest.approx(0.105)
    assert disp.ece == pytest.approx(
        expected_calibration_error(Y_TRUE, PROBA, n_bins=4)
    )
    # one bar per filled bin, from its lower edge, as high as its accuracy
    assert [b.get_x() for b in disp.bars_] == pytest.approx([0.25, 0.5, 0.75])
    assert [b.get_height() for b in disp.bars_] == pytest.approx([0.5, 0.75, 0.75])
    np.testing.assert_allclose(disp.line_.get_xdata(), [0.425, 0.65, 0.875])
    assert disp.ax_.get_title() == "Lookup\nexpected calibration error (ECE) = 0.105"


def test_calibration_from_report_shows_the_reports_ece():
    report = _report(n_bins=4)
    disp = TopLabelCalibrationDisplay.from_report(report)
    assert disp.ece == report.metrics["ece"]
    assert f"{report.metrics['ece']:.3f}" in disp.ax_.get_title()
    table = calibration_curve_top_label(report)
    np.testing.assert_array_equal(table["count"], disp.count)
    np.testing.assert_array_equal(table["accuracy"], disp.accuracy)
    disp = TopLabelCalibrationDisplay.from_report(report, ref_line=False)
    assert disp.ref_line_ is None


def test_calibration_from_estimator_equals_from_predictions():
    est = TopLabelCalibrationDisplay.from_estimator(_FixedProba(), None, Y_TRUE)
    manual = TopLabelCalibrationDisplay.from_predictions(Y_TRUE, PROBA)
    for attr in ("accuracy", "mean_confidence", "count", "bin_edges"):
        np.testing.assert_array_equal(getattr(est, attr), getattr(manual, attr))
    assert est.estimator_name == "_FixedProba"


def test_calibration_needs_one_column_per_label():
    with pytest.raises(ValueError, match=r"3 columns but there are 2 labels"):
        TopLabelCalibrationDisplay.from_predictions(Y_TRUE, PROBA, labels=[0, 1])
    with pytest.raises(ValueError, match="PCA has none"):
        TopLabelCalibrationDisplay.from_estimator(PCA(), None, Y_TRUE)


def test_confusion_matrix_from_report_is_sklearns_with_report_labels(
    no_pyplot_figures,
):
    disp = ConfusionMatrixDisplay.from_report(_report())
    assert isinstance(disp, metrics.ConfusionMatrixDisplay)
    expected = metrics.confusion_matrix(Y_TRUE, Y_PRED)
    np.testing.assert_array_equal(disp.confusion_matrix, expected)
    cells = [[int(t.get_text()) for t in row] for row in disp.text_]
    assert cells == expected.tolist()
    assert [t.get_text() for t in disp.ax_.get_yticklabels()] == [
        "low",
        "mid",
        "high",
    ]
    assert disp.ax_.get_title() == "Lookup\naccuracy 70.0% (n=10)"
    rates = ConfusionMatrixDisplay.from_report(_report(), normalize="true")
    np.testing.assert_allclose(rates.confusion_matrix[0], [0.75, 0.25, 0.0])
    assert rates.text_[0, 0].get_text() == "0.75"


def test_confusion_matrix_sklearn_paths_stay_out_of_pyplot(no_pyplot_figures):
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    clf = LogisticRegression().fit(X, y)
    disp = ConfusionMatrixDisplay.from_estimator(clf, X, y)
    assert isinstance(disp, ConfusionMatrixDisplay)
    np.testing.assert_array_equal(disp.confusion_matrix, [[2, 0], [0, 2]])
    assert disp.ax_.get_xlabel() == "Predicted label"  # scikit-learn's default


@pytest.mark.parametrize(
    "draw",
    [
        lambda ax: ConfusionMatrixDisplay.from_report(_report(), ax=ax),
        lambda ax: ConfidenceDisplay.from_report(_report(), ax=ax),
        lambda ax: TopLabelCalibrationDisplay.from_report(_report(), ax=ax),
        lambda ax: LatentTSNEDisplay.from_embedding(PROBA, Y_TRUE, ax=ax),
        lambda ax: GradCAMDisplay(
            np.eye(4), np.ones((4, 4)), predicted=2, proba=0.8
        ).plot(ax=ax),
        lambda ax: FeatureImportanceDisplay(
            [0.3, 0.1], [0.05, 0.02], ["original_glcm", "original_shape2D"]
        ).plot(ax=ax),
    ],
)
def test_displays_draw_on_the_given_axes(draw):
    fig = Figure()
    left, right = fig.subplots(1, 2)
    disp = draw(right)
    assert disp.ax_ is right and disp.figure_ is fig
    assert len(right.get_children()) > len(left.get_children())
    # plot() draws the stored values again, elsewhere
    other = Figure().add_subplot()
    assert disp.plot(ax=other).ax_ is other


def test_latent_tsne_from_estimator_equals_from_embedding(no_pyplot_figures):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (12, 5)), rng.normal(7, 1, (12, 5))])
    y = np.array([1] * 12 + [4] * 12)
    pca = PCA(n_components=3).fit(X)
    est = LatentTSNEDisplay.from_estimator(
        pca, X, y, display_labels={1: "benign", 4: "malignant"}
    )
    manual = LatentTSNEDisplay.from_embedding(
        pca.transform(X), y, display_labels=["benign", "malignant"]
    )
    np.testing.assert_array_equal(est.embedding, manual.embedding)
    assert est.n_latent == 3
    assert est.ax_.get_title() == "t-SNE of the latent space (3 dimensions)"
    assert [len(s.get_offsets()) for s in est.scatters_] == [12, 12]
    with pytest.raises(ValueError, match="has no transform"):
        LatentTSNEDisplay.from_estimator(LogisticRegression(), X, y)
    with pytest.raises(ValueError, match=r"display_labels has 1 names \(\['a'\]\)"):
        LatentTSNEDisplay.from_embedding(X, y, display_labels=["a"])


def test_user_guide_display_example_runs(tmp_path, monkeypatch):
    # docs/user_guide.rst, step 11: the display example, on a small cohort.
    from skradnod.datasets import make_lidc_cohort

    text = (Path(__file__).parent.parent / "docs" / "user_guide.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", text)
    (snippet,) = [b for b in blocks if "TopLabelCalibrationDisplay.from_report" in b]
    data = make_lidc_cohort(n_samples=60, random_state=0)
    monkeypatch.chdir(tmp_path)
    namespace = {"data": data}
    exec(textwrap.dedent(snippet), namespace)
    assert namespace["calibration"].ece == namespace["report"].metrics["ece"]
    assert (tmp_path / "report_figures.png").stat().st_size > 1000
