"""benchmarks/bench_learning.py on data it never saw, in its quick configuration."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skradnod.io import write_nrrd

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_learning.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_learning", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folder(root, *, readers=True, patients=True):
    """12 tiny pairs, malignancy 1-5; optionally readers' ratings and patients."""
    (root / "full").mkdir(parents=True)
    (root / "nodule").mkdir()
    labels = [1, 2, 3, 3, 4, 5] * 2
    rows = []
    for i, label in enumerate(labels):
        write_nrrd(root / "full" / f"s{i}.nrrd", np.full((16, 16), i, np.int16))
        write_nrrd(root / "nodule" / f"s{i}.nrrd", np.full((8, 8), i, np.int16))
        row = {"id": f"s{i}", "full": f"full/s{i}.nrrd",
               "nodule": f"nodule/s{i}.nrrd", "malignancy": label}
        if patients:
            row["patient_id"] = f"p{i}"
        if readers:
            # each nodule read twice: the label and one point above (capped)
            row["malignancy_readers"] = f"{label};{min(label + 1, 5)}"
        rows.append(row)
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def _run(bench, tmp_path, *extra):
    out = tmp_path / "results"
    assert bench.main([*extra, "--folds", "2", "--rows", "majority",
                       "semantic_oracle", "--n-bootstrap", "10", "--n-jobs", "1",
                       "--results", str(out), "--name", "t"]) == 0
    return (out / "t.md").read_text(), json.loads((out / "t.json").read_text())


def test_any_data_folder_runs_and_the_table_names_it(bench, tmp_path):
    folder = _folder(tmp_path / "mine")
    text, record = _run(bench, tmp_path, "--data", str(folder))
    assert f"load_nodule_dataset('{folder}'): 12 samples of 12 patients" in text
    # no rating columns: the oracle cannot run, and says why
    assert "Rows skipped: semantic_oracle (the data has no column(s)" in text
    assert [r["row"] for r in record["results"]] == ["majority"]
    majority = record["results"][0]["metrics"]
    # always 3 (4 of 12): within one of 2, 3, 3, 4 -> 8 of 12; MAE (2+1+1+2)*2/12
    assert majority["accuracy"] == pytest.approx(4 / 12)
    assert majority["within_one"] == pytest.approx(8 / 12)
    assert majority["mae"] == pytest.approx(1.0)
    assert "| within ±1 | MAE | QWK |" in text
    # each reading against the other's: 1v2, 2v1, 2v3, ...: all within one,
    # exact only for the two nodules rated 5;5 (4 of the 24 readings)
    reference = record["radiologists"]
    assert reference["n_readings"] == 24
    assert reference["metrics"]["accuracy"] == pytest.approx(4 / 24)
    assert reference["metrics"]["within_one"] == 1.0
    assert "| radiologists (reference) |" in text


def test_without_readers_or_patients_the_table_says_so(bench, tmp_path):
    folder = _folder(tmp_path / "bare", readers=False, patients=False)
    text, record = _run(bench, tmp_path, "--data", str(folder))
    assert "no patient ids: folds not grouped by patient" in text
    assert "radiologists" not in text and record["radiologists"] is None


def test_data_excludes_the_cohort_options(bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--data", str(tmp_path), "--level", "nodule"])
    assert "--data reads its folder as it is" in capsys.readouterr().err


def test_peer_and_full_slice_rows_are_built(bench):
    located, kind = bench.build_row("full/located_cnn", "quick", 0, "cpu", None)
    assert kind == "frame" and type(located).__name__ == "LocatedNoduleClassifier"
    lightgbm = pytest.importorskip("lightgbm")
    gbm, kind = bench.build_row("radiomic_gbm", "quick", 0, "cpu", None)
    assert kind == "nodule+spacing" and gbm[0].spacing == "nodule_spacing"
    assert isinstance(gbm[-1], lightgbm.LGBMClassifier)
    assert gbm[-1].class_weight == "balanced" and gbm[-1].random_state == 0


def test_monai_peer_rows_train_on_routed_patients_and_repeat(bench):
    pytest.importorskip("monai")
    import sklearn

    peer, kind = bench.build_row("monai_densenet121", "quick", 0, "cpu", None)
    assert kind == "nodule" and peer.network == "densenet121" and peer.size == 32
    rng = np.random.default_rng(0)
    crops = [rng.normal(-500, 300, (20 + i % 5, 20)).astype(np.float32)
             for i in range(16)]
    y = np.array([1, 2, 4, 5] * 4)
    groups = np.repeat(np.arange(8), 2)
    peer.set_params(max_epochs=2, batch_size=8)
    with sklearn.config_context(enable_metadata_routing=True):
        from sklearn.utils.metadata_routing import get_routing_for_object

        assert get_routing_for_object(peer).consumes("fit", ["groups"]) == {"groups"}
    first = sklearn.base.clone(peer).fit(crops, y, groups=groups).predict_proba(crops)
    again = sklearn.base.clone(peer).fit(crops, y, groups=groups).predict_proba(crops)
    assert first.shape == (16, 4) and np.allclose(first.sum(1), 1)
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError, match="network must be one of"):
        sklearn.base.clone(peer).set_params(network="vit").fit(crops, y)


def test_variant_b_is_named_in_the_table(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("SKRADNOD_DATA", str(tmp_path / "home"))
    text, record = _run(bench, tmp_path, "--n", "12", "--variant", "b")
    assert "make_lidc_cohort(n_samples=12, level='annotation', random_state=0, " \
        "variant='b'): 12 samples" in text
    assert record["context"]["rendering"] == "b"
    assert "--variant b" in record["context"]["command"]


def test_data_excludes_the_variant(bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--data", str(tmp_path), "--variant", "b"])
    assert "--variant choose the built-in cohort" in capsys.readouterr().err


def test_preset_entries_of_a_variant_override_the_rows_preset(bench, tmp_path):
    folder = _folder(tmp_path / "mine")
    out = tmp_path / "results"
    assert bench.main(["--data", str(folder), "--folds", "2", "--preset", "quick",
                       "--rows", "majority", "--variants",
                       "basic_cnn:preset.max_epochs=1,preset.nodule_size=16",
                       "--n-bootstrap", "10", "--n-jobs", "1",
                       "--results", str(out), "--name", "t"]) == 0
    record = json.loads((out / "t.json").read_text())
    variant = record["results"][1]
    assert variant["row"] == "basic_cnn:preset.max_epochs=1,preset.nodule_size=16"
    assert variant["epochs"] == [1, 1]  # the quick preset's 2, overridden
    from skradnod.experiments._presets import PRESETS

    built, _ = bench.build_row("basic_cnn", {**PRESETS["quick"], "nodule_size": 16},
                               0, "cpu", None)
    assert built[0].steps[0][1].shape == (16, 16)


def _result(row, accuracy, balanced, auc=0.8, roc_auc=0.75, fit_s=(1.0,)):
    return {"row": row, "fit_s": list(fit_s), "metrics": {
        "accuracy": accuracy, "balanced_accuracy": balanced,
        "benign_auc": auc, "roc_auc": roc_auc}}


def test_goals_are_checked_for_the_rows_present(bench):
    results = [
        _result("majority", 0.38, 0.20),
        _result("radiomic_rf", 0.50, 0.52, auc=0.86),
        _result("basic_cnn", 0.495, 0.53, fit_s=(40.0, 40.0)),
        _result("features_images", 0.515, 0.51, auc=0.87),
        _result("full/located_cnn", 0.44, 0.35, roc_auc=0.69),
        _result(bench.OLD_DEFAULT, 0.49, 0.49, fit_s=(100.0, 110.0)),
    ]
    results[4]["center_error_px"] = {"median": 11.5}
    met = {g["goal"]: g["met"] for g in bench.check_goals(results)}
    assert met == {
        "NoduleCNN 5-class >= radiomic forest - 1 point": True,  # 0.495 >= 0.49
        "Fusion 5-class >= radiomic forest + 2 points": False,  # 0.515 < 0.52
        "Fusion binary AUC (3 benign) >= radiomic forest's": True,
        "basic_cnn balanced accuracy >= radiomic forest's": True,
        "features_images balanced accuracy >= radiomic forest's": False,
        "full/located_cnn 5-class >= majority + 5 points": True,  # 0.44 >= 0.43
        "full/located_cnn ROC AUC >= 0.70": False,
        "NoduleCNN fit <= 1/3 of the old default's, same run": False,  # 40 > 105 / 3
    }
    details = {g["goal"]: g["detail"] for g in bench.check_goals(results)}
    assert "median centre error 11.5 px" in details[
        "full/located_cnn 5-class >= majority + 5 points"]
    # Without the forest, only the goals that do not need it.
    assert [g["goal"] for g in bench.check_goals(results[4:5] + results[:1])] == [
        "full/located_cnn 5-class >= majority + 5 points",
        "full/located_cnn ROC AUC >= 0.70",
    ]


def test_the_late_fusion_row_has_its_own_goals(bench):
    results = [_result("radiomic_rf", 0.50, 0.52, auc=0.86),
               _result("vote_rf_cnn", 0.525, 0.53, auc=0.85)]
    met = {g["goal"]: g["met"] for g in bench.check_goals(results)}
    assert met == {
        "Late fusion (vote_rf_cnn) 5-class >= radiomic forest + 2 points": True,
        "Late fusion (vote_rf_cnn) binary AUC (3 benign) >= radiomic forest's": False,
    }


def test_the_late_fusion_row_averages_the_forest_and_the_cnn(bench):
    from sklearn.ensemble import VotingClassifier

    vote, kind = bench.build_row("vote_rf_cnn", "quick", 0, "cpu", None)
    assert kind == "nodule+spacing" and isinstance(vote, VotingClassifier)
    assert vote.voting == "soft" and vote.weights is None
    forest, crops_cnn = (estimator for _, estimator in vote.estimators)
    # both read the crops-and-spacing frame: the forest at each crop's
    # spacing, the CNN the crops alone
    assert forest[0].spacing == "nodule_spacing"
    crops, cnn = crops_cnn.named_steps["crops"], crops_cnn.named_steps["cnn"]
    frame = pd.DataFrame({"nodule": [np.zeros((2, 2))], "nodule_spacing": [None]})
    assert crops.transform(frame) is not None
    pd.testing.assert_series_equal(crops.transform(frame), frame["nodule"])
    # each member is built exactly as its own row
    def values(estimator):  # the plain parameter values (objects differ by id)
        plain = (int, float, str, bool, tuple, type(None))
        return {k: v for k, v in estimator.get_params().items()
                if isinstance(v, plain)}

    for member, row in ((forest, "radiomic_rf"), (cnn, "basic_cnn")):
        alone, _ = bench.build_row(row, "quick", 0, "cpu", None)
        assert [type(s) for _, s in member.steps] == [type(s) for _, s in alone.steps]
        assert values(member) == values(alone)
    assert values(cnn)["nodulecnnclassifier__max_epochs"] == 2  # the quick preset's


def test_add_joins_rows_to_the_earlier_table_of_the_same_folds(bench, tmp_path):
    folder = _folder(tmp_path / "mine")
    out = tmp_path / "results"
    common = ["--data", str(folder), "--folds", "2", "--n-bootstrap", "10",
              "--n-jobs", "1", "--results", str(out), "--name", "t"]
    assert bench.main([*common, "--rows", "majority"]) == 0
    alone = json.loads((out / "t.json").read_text())["results"][0]
    assert bench.main([*common, "--add", "--rows", "majority", "--variants",
                       'majority:strategy="stratified"']) == 0
    record = json.loads((out / "t.json").read_text())
    # the repeated row replaced in its place (with identical numbers: same
    # folds), one added after it
    assert [r["row"] for r in record["results"]] == [
        "majority", 'majority:strategy="stratified"']
    assert record["results"][0]["metrics"] == alone["metrics"]
    text = (out / "t.md").read_text()
    assert text.count("`python benchmarks/bench_learning.py") == 2
    assert "`, then `" in text
    # other folds (or data, seed, preset) are refused, naming what differs
    with pytest.raises(SystemExit, match="other split"):
        bench.main([*common[:2], "--folds", "3", *common[4:], "--add",
                    "--rows", "majority"])
    with pytest.raises(SystemExit, match="there is no earlier"):
        bench.main([*common[:-1], "u", "--add", "--rows", "majority"])
    # adding a row that is there already keeps the order
    assert bench.main([*common, "--add", "--rows", "majority"]) == 0
    assert [r["row"] for r in json.loads((out / "t.json").read_text())["results"]
            ] == ["majority", 'majority:strategy="stratified"']
