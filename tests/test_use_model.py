"""``skradnod fit`` -> model card -> ``skradnod predict`` on data the tests write."""

import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from _synthetic import SPACING, make_pair
from _synthetic import write_pairs_dataset as _write_dataset

from skradnod.cli import main
from skradnod.io import load_nodule_dataset, write_nrrd

N_PAIRS = 40
TIMES = {}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("use")
    labelled = _write_dataset(base / "labelled")
    unlabelled = _write_dataset(base / "unlabelled", labelled=False)
    return base, labelled, unlabelled


def _fit(argv, key):
    start = time.perf_counter()
    status = main(["fit", *argv, "--device", "cpu", "--quiet"])
    TIMES[f"fit {key}"] = time.perf_counter() - start
    assert status == 0
    return status


@pytest.fixture(scope="module")
def features_model(folders):
    base, labelled, _ = folders
    model = base / "models" / "features.skradnod"
    _fit([str(labelled), "--model", "nodule/features", "--preset", "quick",
          "--task", "binary", "--cv", "2", "--out", str(model)], "nodule/features")
    return model


@pytest.fixture(scope="module")
def cnn_model(folders):
    base, labelled, _ = folders
    model = base / "models" / "cnn.skradnod"
    _fit([str(labelled), "--model", "nodule/basic_cnn", "--preset", "quick",
          "--out", str(model)], "nodule/basic_cnn")
    return model


def _predict(model, data, out, *extra):
    start = time.perf_counter()
    status = main(["predict", str(model), str(data), "--out", str(out), *extra])
    TIMES[f"predict {model.stem}"] = time.perf_counter() - start
    return status


def _read(csv):
    # pandas 3 parses floats exactly (float_precision="round_trip" in pandas 2).
    return pd.read_csv(csv, dtype={"id": str, "patient_id": str})


def test_fit_writes_the_model_and_its_card(features_model, folders):
    from sklearn import __version__ as sklearn_version

    from skradnod.persistence import read_model_metadata

    md = features_model.with_name("features.card.md")
    card = json.loads(features_model.with_name("features.card.json").read_text())
    # The card travels inside the model file too (predict reads it there).
    assert read_model_metadata(features_model) == card
    assert card["model"]["key"] == "nodule/features"
    assert card["model"]["task"] == "binary" and card["model"]["classes"] == [0, 1]
    data = card["training_data"]
    assert (data["n_samples"], data["n_patients"]) == (40, 20)
    assert data["class_counts"] == {"0": 24, "1": 16}
    assert data["class_counts_5class"] == {str(k): 8 for k in range(1, 6)}
    assert data["layout"] == "manifest.csv"
    assert data["spacing_mm"] == {"nodule": [list(SPACING), list(SPACING)]}
    crops = card["input_contract"]["images"]["nodule"]
    assert card["input_contract"]["input"] == "nodule+spacing"
    assert (crops["shape_min"], crops["shape_max"]) == ([16, 16], [24, 24])
    assert crops["spacing_min"] == crops["spacing_max"] == list(SPACING)
    loaded = load_nodule_dataset(folders[1])
    assert crops["value_min"] == min(float(c.min()) for c in loaded.nodule)
    assert crops["value_max"] == max(float(c.max()) for c in loaded.nodule)
    # Non-default parameters: the preset's forest size, nothing left at its default.
    params = card["parameters"]
    assert params["gridsearchcv__estimator__rfecv__estimator__n_estimators"] == "10"
    assert "gridsearchcv__estimator__rfecv__estimator__max_depth" not in params
    cv = card["cross_validation"]
    assert "StratifiedGroupKFold(n_splits=2" in cv["cv"] and cv["grouped"] is True
    low, high = cv["ci95"]["accuracy"]
    assert low <= cv["metrics"]["accuracy"] <= high
    assert card["versions"]["scikit-learn"] == sklearn_version
    text = md.read_text()
    assert "## Intended use and limitations" in text
    assert "not a medical device" in text and "For research use only" in text
    assert "| nodule crop | 16 x 16 to 24 x 24 |" in text
    assert "- Pixel spacing of the nodule images: 0.7 x 0.7 to 0.7 x 0.7 mm" in text
    # --cv also writes the one page to look at: the row's tables and figures
    # with the card, self-contained.
    page = features_model.with_name("features.report.html").read_text()
    assert "Model card" in page and "not a medical device" in page
    assert "Features (radiomics)" in page or "nodule/features" in page
    assert page.count('src="data:image/png;base64,') == 3
    assert f"{cv['metrics']['accuracy'] * 100:.1f}" in page


def test_predict_unlabelled_folder_equals_predict_proba(
    features_model, folders, tmp_path
):
    from skradnod import load_model
    from skradnod.experiments import row_input

    base, labelled, unlabelled = folders
    assert _predict(features_model, unlabelled, tmp_path / "u.csv") == 0
    table = _read(tmp_path / "u.csv")
    assert list(table.columns) == [
        "id", "predicted", "P(benign)", "P(malignant)", "status"
    ]
    data = load_nodule_dataset(unlabelled, labels="optional")
    model = load_model(features_model)
    X = row_input(data, "nodule/features")
    proba = model.predict_proba(X)
    assert table["id"].tolist() == [str(i) for i in data.ids]
    # To the last digit, not approximately.
    assert np.array_equal(table[["P(benign)", "P(malignant)"]].to_numpy(), proba)
    assert np.array_equal(table["predicted"].to_numpy(), model.predict(X))
    assert (table["status"] == "ok").all()
    # The labelled manifest's rows come back in manifest order and join by id.
    assert _predict(features_model, labelled, tmp_path / "l.csv") == 0
    by_manifest = _read(tmp_path / "l.csv")
    manifest = pd.read_csv(labelled / "manifest.csv", dtype=str)
    assert by_manifest["id"].tolist() == manifest["id"].tolist()
    assert by_manifest["patient_id"].tolist() == manifest["patient_id"].tolist()
    joined = manifest.merge(by_manifest, on="id").merge(
        table, on="id", suffixes=("", "_u")
    )
    assert len(joined) == N_PAIRS
    assert (joined["P(malignant)"] == joined["P(malignant)_u"]).all()


def test_a_fit_without_cv_writes_no_report_and_removes_a_stale_one(cnn_model):
    # cnn_model was fitted without --cv: no page describes it.
    assert not cnn_model.with_name("cnn.report.html").exists()


def test_five_class_net_columns_and_p_malignant(cnn_model, folders, tmp_path):
    from skradnod import load_model

    _, _, unlabelled = folders
    assert _predict(cnn_model, unlabelled, tmp_path / "p.csv") == 0
    table = _read(tmp_path / "p.csv")
    columns = [f"P({k})" for k in range(1, 6)]
    assert list(table.columns) == [
        "id", "predicted", *columns, "P(malignant)", "status"
    ]
    data = load_nodule_dataset(unlabelled, labels="optional")
    proba = load_model(cnn_model).predict_proba(data.nodule).astype(float)
    assert np.array_equal(table[columns].to_numpy(), proba)
    # Score 3 counts as benign: P(malignant) = P(4) + P(5), as binary_report.
    assert np.array_equal(table["P(malignant)"].to_numpy(), proba[:, 3:].sum(axis=1))
    assert set(table["predicted"]) <= {1, 2, 3, 4, 5}


def _hostile_folder(root):
    """Four unlabelled pairs: one fine, one of each way out of the contract."""
    rng = np.random.default_rng(1)
    _, full, crop = make_pair(3, rng)
    write_nrrd(root / "ok_full.nrrd", full, spacing=SPACING)
    write_nrrd(root / "ok_nodule.nrrd", crop, spacing=SPACING)
    write_nrrd(root / "big_full.nrrd", full, spacing=SPACING)
    write_nrrd(root / "big_nodule.nrrd", np.tile(crop, (3, 3)), spacing=SPACING)
    write_nrrd(root / "hot_full.nrrd", full, spacing=SPACING)
    write_nrrd(root / "hot_nodule.nrrd", (crop.astype(np.int32) * 20),
               spacing=SPACING)
    write_nrrd(root / "fine_full.nrrd", full, spacing=(0.3, 0.3))
    write_nrrd(root / "fine_nodule.nrrd", crop, spacing=(0.3, 0.3))
    return root


def test_out_of_contract_is_refused_then_flagged(cnn_model, tmp_path, capsys):
    data = _hostile_folder(tmp_path / "hostile")
    out = tmp_path / "h.csv"
    assert _predict(cnn_model, data, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "row id='big'" in err[0] and "(and 2 more)" in err[0]
    assert "nodule crop size 57x57 outside the training sizes 16x16 to 24x24" in err[0]
    assert not out.exists()
    assert _predict(cnn_model, data, out, "--allow-out-of-contract") == 0
    status = _read(out).set_index("id")["status"]
    assert status["ok"] == "ok"
    assert status["big"].startswith("out_of_contract: nodule crop size 57x57")
    assert status["hot"].startswith("out_of_contract: nodule crop values")
    assert status["fine"] == (
        "out_of_contract: nodule crop spacing 0.3x0.3 mm outside the training "
        "0.7x0.7 to 0.7x0.7 mm"
    )


def test_fit_refuses_to_replace_a_model_and_odd_names(folders, tmp_path, capsys):
    _, labelled, _ = folders
    model = tmp_path / "m.skradnod"
    argv = [str(labelled), "--model", "nodule/majority", "--preset", "quick",
            "--out", str(model)]
    _fit(argv, "nodule/majority")
    first = model.stat().st_mtime_ns
    assert main(["fit", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exist" in err[0] and "--overwrite" in err[0]
    assert model.stat().st_mtime_ns == first
    assert main(["fit", *argv, "--overwrite", "-q"]) == 0
    for bad, message in [
        (["--out", str(tmp_path / "m.joblib")], "ends in .skradnod"),
        (["--model", "nodule/nope"], "Unknown experiment row"),
        (["--cv", "1"], "--cv must be at least 2"),
    ]:
        options = {"--model": "nodule/majority", "--out": str(tmp_path / "n.skradnod"),
                   bad[0]: bad[1]}
        args = [str(labelled), *[x for kv in options.items() for x in kv]]
        assert main(["fit", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    # Unlabelled data cannot be fitted: the labelled reader's error.
    assert main(["fit", str(folders[2]), "--model", "nodule/majority", "--out",
                 str(tmp_path / "u.skradnod")]) == 2
    assert "no class folders 1-5 and no labels.csv" in capsys.readouterr().err


def test_predict_refuses_a_model_without_a_card(tmp_path, folders, cnn_model, capsys):
    from sklearn.dummy import DummyClassifier

    from skradnod import save_model

    model = tmp_path / "bare.skradnod"
    save_model(DummyClassifier().fit(np.zeros((2, 1)), [1, 5]), model)
    assert _predict(model, folders[2], tmp_path / "x.csv") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "carries no skradnod model card" in err[0]
    (tmp_path / "x.csv").write_text("earlier")
    assert main(["predict", str(cnn_model), str(folders[2]), "--out",
                 str(tmp_path / "x.csv")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "x.csv").read_text() == "earlier"


def _double(X):
    return 2 * X


def test_a_model_that_would_not_load_is_not_written(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    from skradnod.cli._common import UserError
    from skradnod.cli._model import _save_verified

    X, y = np.arange(8.0).reshape(4, 2), np.array([0, 0, 1, 1])
    # A function skops does not trust: load_model refuses the file.
    model = make_pipeline(FunctionTransformer(_double), DecisionTreeClassifier())
    model.fit(X, y)
    path = tmp_path / "m.skradnod"
    with pytest.raises(UserError, match="cannot be kept as a safe skradnod model") as e:
        _save_verified(model, path, {"format": "x"}, "nodule/x")
    assert "_double" in str(e.value) and str(path) in str(e.value)
    assert ".tmp-" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_fit_model_routes_patient_groups_to_the_inner_split(folders):
    from skradnod.experiments import fit_model
    from skradnod.model_selection import UngroupedSplitWarning

    data = load_nodule_dataset(folders[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UngroupedSplitWarning)
        fit_model("nodule/basic_cnn", data, preset="quick")
    data.groups = None
    with pytest.warns(UngroupedSplitWarning):
        fit_model("nodule/basic_cnn", data, preset="quick")


def test_changed_params_lists_only_what_differs():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skradnod.experiments import changed_params

    model = make_pipeline(StandardScaler(with_mean=False), LogisticRegression(C=0.5))
    assert changed_params(model) == {
        "steps[standardscaler]": "StandardScaler",
        "standardscaler__with_mean": "False",
        "steps[logisticregression]": "LogisticRegression",
        "logisticregression__C": "0.5",
    }


def test_the_autoencoder_row_is_kept_and_predicts_identically(folders, tmp_path):
    # Its inner net takes skorch callback instances as parameters; before they
    # were trusted, load_model refused the file, so fit refused the row.
    from skradnod import load_model, save_model
    from skradnod.experiments import fit_model

    data = load_nodule_dataset(folders[1])
    result = fit_model("full/autoencoder", data, preset="quick", device="cpu")
    path = save_model(result.estimator, tmp_path / "ae.skradnod")
    assert np.array_equal(load_model(path).predict_proba(data.full),
                          result.estimator.predict_proba(data.full))


def test_a_failed_cv_writes_nothing(folders, tmp_path, monkeypatch, capsys):
    from skradnod.experiments import _use

    def failing_run_row(key, data, **kwargs):
        return {"status": "failed", "message": "ValueError: too few samples"}, None

    monkeypatch.setattr(_use, "run_row", failing_run_row)
    model = tmp_path / "m.skradnod"
    assert main(["fit", str(folders[1]), "--model", "nodule/majority", "--cv", "2",
                 "--out", str(model), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--cv 2: the cross-validation of nodule/majority failed" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_a_full_slice_of_another_size_is_outside_a_full_row_contract():
    from sklearn.utils import Bunch

    from skradnod.experiments import check_input_contract, input_contract

    train = Bunch(full=np.zeros((3, 512, 512), np.int16) - 1000)
    train.full[0, 0, 0] = 400
    contract = input_contract(train, "full/basic_cnn")
    assert list(contract["images"]) == ["full"]  # a full row reads no crop
    new = Bunch(
        frame=pd.DataFrame(index=["a", "b", "c"]),
        full=[np.zeros((512, 512)) - 900, np.zeros((256, 256)) - 900,
              np.zeros((512, 512)) + 3000],
    )
    assert check_input_contract(contract, new) == [
        "",
        "full slice size 256x256 outside the training sizes 512x512",
        "full slice values [3000, 3000] outside the accepted [-2400, 1800] "
        "(training [-1000, 400])",
    ]


def test_explain_writes_a_gradcam_per_unlabelled_pair(cnn_model, folders, tmp_path,
                                                     capsys):
    _, _, unlabelled = folders
    out = tmp_path / "why"
    assert _predict(cnn_model, unlabelled, tmp_path / "p.csv") == 0
    predicted = _read(tmp_path / "p.csv").set_index("id")
    ids = ["007", "012", "030"]
    start = time.perf_counter()
    status = main(["explain", str(cnn_model), str(unlabelled), "--out", str(out),
                   "--ids", *ids])
    TIMES["explain cnn (3 ids)"] = time.perf_counter() - start
    assert status == 0, capsys.readouterr().err
    index = pd.read_csv(out / "explanations.csv", dtype={"id": str})
    assert index["id"].tolist() == ids
    assert index["file"].tolist() == [f"gradcam_{i}.png" for i in ids]
    for _, row in index.iterrows():
        assert (out / row["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # The explained class and its probability are the model's prediction.
        assert row["predicted"] == predicted.loc[row["id"], "predicted"]
        best = predicted.loc[row["id"], [f"P({k})" for k in range(1, 6)]].max()
        assert row["probability"] == pytest.approx(best, rel=1e-6)
    # Once written, a second explain into the same folder needs --overwrite.
    assert main(["explain", str(cnn_model), str(unlabelled), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_explain_names_unknown_ids_and_a_radiomic_model_needs_labels(
    cnn_model, features_model, folders, tmp_path, capsys
):
    _, labelled, unlabelled = folders
    assert main(["explain", str(cnn_model), str(unlabelled), "--out",
                 str(tmp_path / "a"), "--ids", "007", "nope"]) == 2
    assert "--ids: 'nope' not in the data's id column" in capsys.readouterr().err
    assert main(["explain", str(features_model), str(unlabelled), "--out",
                 str(tmp_path / "b")]) == 2
    assert "needs labels" in capsys.readouterr().err
    out = tmp_path / "c"
    start = time.perf_counter()
    assert main(["explain", str(features_model), str(labelled), "--out",
                 str(out)]) == 0
    TIMES["explain features (40 pairs)"] = time.perf_counter() - start
    index = pd.read_csv(out / "explanations.csv", dtype={"id": str})
    assert len(index) == N_PAIRS and set(index["file"]) == {"feature_importance.png"}
    table = pd.read_csv(out / "feature_importance.csv")
    assert len(table) > 0 and (out / "feature_importance.png").stat().st_size > 1000
