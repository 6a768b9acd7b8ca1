"""Tests of skradnod.experiments on data sets whose results are known."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Bunch

from skradnod.experiments import (
    EXPERIMENTS,
    RATING_COLUMNS,
    Experiment,
    ExperimentUnavailable,
    format_tables,
    get_experiment,
    resolve_rows,
    run_experiments,
)
from skradnod.experiments._presets import PRESETS


def _rated_data(n=60, random_state=0, with_ratings=True, with_groups=True):
    """Malignancy equals the spiculation rating: the oracle can read it off."""
    rng = np.random.RandomState(random_state)
    y = np.array([1, 2, 3, 3, 3, 4, 5, 3, 2, 4] * (n // 10))
    frame = pd.DataFrame(index=pd.Index([f"s{i}" for i in range(n)], name="id"))
    if with_ratings:
        for column in RATING_COLUMNS:
            frame[column] = rng.randint(1, 6, n)
        frame["spiculation"] = y
        frame["diameter_mm"] = rng.uniform(3, 30, n)
    groups = np.arange(n) // 2 if with_groups else None
    return Bunch(frame=frame, target=y, groups=groups)


class _Explodes(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("planted failure in fit")


def test_registry_has_both_tables_with_their_rows_and_baselines():
    nodule = {s.name for s in EXPERIMENTS.values() if s.table == "nodule"}
    full = {s.name for s in EXPERIMENTS.values() if s.table == "full"}
    assert nodule == {
        "majority",
        "semantic_oracle",
        "basic_cnn",
        "features",
        "features_images",
    }
    assert full == {
        "majority",
        "semantic_oracle",
        "basic_cnn",
        "autoencoder",
        "center_regression",
        "located_cnn",
        "transfer_imagenet",
        "transfer_radimagenet",
    }
    # Only the two reference rows are baselines (computed once per task and
    # kept on resume even without their 5-class model): a model row flagged
    # as one would skip that pairing.
    flagged = {s.key for s in EXPERIMENTS.values() if s.baseline}
    assert flagged == {
        f"{table}/{name}" for table in ("nodule", "full")
        for name in ("majority", "semantic_oracle")
    }
    for spec in EXPERIMENTS.values():
        assert spec.key == f"{spec.table}/{spec.name}"
        assert spec.input in {
                "nodule", "nodule+spacing", "full", "frame", "ratings", "none"}


def test_resolve_rows_by_name_key_and_table():
    assert resolve_rows("basic_cnn") == ["nodule/basic_cnn", "full/basic_cnn"]
    assert resolve_rows(["full/autoencoder", "majority"]) == [
        "nodule/majority",
        "full/majority",
        "full/autoencoder",
    ]
    assert resolve_rows("nodule") == [k for k in EXPERIMENTS if k.startswith("nodule")]
    assert resolve_rows(None) == list(EXPERIMENTS)
    with pytest.raises(ValueError, match="Unknown experiment row 'resnet'"):
        resolve_rows(["basic_cnn", "resnet"])
    with pytest.raises(KeyError, match="nodule/nope"):
        get_experiment("nodule/nope")


def test_rows_scale_with_the_preset():
    quick, _ = get_experiment("nodule/basic_cnn").build(preset="quick")
    full, used = get_experiment("nodule/basic_cnn").build(preset="full")
    assert quick[0].steps[0][1].shape == (32, 32)
    assert quick[-1].max_epochs == 2 and quick[-1].module__width == 8
    assert full[0].steps[0][1].shape == (64, 64) and full[-1].max_epochs == 60
    assert used == {
        "preset": "full",
        "image_size": 64,
        "cnn_width": 16,
        "max_epochs": 60,
        "batch_size": 32,
        "image_chain": "method",
    }
    search = get_experiment("nodule/features").build(preset="quick")[0][-1]
    assert len(search.param_grid["clf"]) == 3  # SVM, forest, NN
    with pytest.raises(ValueError, match="Unknown preset 'huge'"):
        get_experiment("nodule/features").build(preset="huge")


def _step_names(chain):
    return [name for name, _ in chain.steps]


def test_image_chain_prepares_the_nodule_nets_crops_and_no_other_row():
    method = ["resize", "huwindow", "clahe", "bilateralfilter"]
    for preset, expected in (("demo", ["resize", "huwindow"]), ("full", method)):
        cnn, used = get_experiment("nodule/basic_cnn").build(preset=preset)
        assert _step_names(cnn[0]) == expected
        assert used["image_chain"] == PRESETS[preset]["image_chain"]
        fusion, _ = get_experiment("nodule/features_images").build(preset=preset)
        assert _step_names(fusion.transformers[0][1]) == expected
        located, _ = get_experiment("full/located_cnn").build(preset=preset)
        assert _step_names(located.classifier[0]) == expected
    # The method's full-slice CNN and the autoencoder keep the method's chain.
    assert _step_names(get_experiment("full/basic_cnn").build(preset="demo")[0][0]) == (
        method
    )
    autoencoder, _ = get_experiment("full/autoencoder").build(preset="demo")
    assert _step_names(autoencoder[0]) == method
    # A custom preset may ask for the method's chain; anything else is named.
    cnn, _ = get_experiment("nodule/basic_cnn").build(preset={"image_chain": "method"})
    assert _step_names(cnn[0]) == method
    message = "'image_chain' must be 'hu' or 'method'; got 'x'"
    with pytest.raises(ValueError, match=message):
        get_experiment("nodule/basic_cnn").build(preset={"image_chain": "x"})


def test_demo_gives_the_method_full_slice_rows_their_own_epoch_budget():
    full_cnn, used = get_experiment("full/basic_cnn").build(preset="demo")
    autoencoder, _ = get_experiment("full/autoencoder").build(preset="demo")
    located, located_used = get_experiment("full/located_cnn").build(preset="demo")
    assert full_cnn[-1].max_epochs == 10 and used["max_epochs"] == 10
    assert autoencoder[1].max_epochs == 10
    # The rows that learn keep the nodule rows' 30 epochs.
    nodule_cnn, _ = get_experiment("nodule/basic_cnn").build(preset="demo")
    assert nodule_cnn[-1].max_epochs == 30
    assert located.locator[-1].max_epochs == 30
    assert located.classifier[-1].max_epochs == 30
    assert located.locator[0].steps[0][1].shape == (128, 128)
    assert located_used["crop_size"] == 64
    # Other presets: one budget for all.
    assert get_experiment("full/basic_cnn").build(preset="full")[0][-1].max_epochs == 60


def _planted_frame(n=48, seed=0):
    """Slices with one bright nodule each; its radius is the class (1 or 5)."""
    rng = np.random.RandomState(seed)
    rr, cc = np.mgrid[:80, :80]
    full, nodule, y = [], [], []
    for i in range(n):
        label = (1, 5)[i % 2]
        r, c = rng.randint(12, 68, 2)
        image = rng.normal(-850, 15, (80, 80)).astype(np.float32)
        image[(rr - r) ** 2 + (cc - c) ** 2 <= (2 if label == 1 else 5) ** 2] = 40
        full.append(image)
        nodule.append(image[r - 10 : r + 10, c - 10 : c + 10].copy())
        y.append(label)
    frame = pd.DataFrame({"full": full, "nodule": nodule},
                         index=pd.Index([f"s{i}" for i in range(n)], name="id"))
    return Bunch(frame=frame, target=np.array(y), groups=np.arange(n) // 2)


def test_located_row_reports_its_centre_error(tmp_path):
    results = run_experiments(
        _planted_frame(), rows=["full/located_cnn"], task="5class", cv=2,
        out_dir=tmp_path, preset="quick", n_bootstrap=20, figures=False,
        verbose=False,
    )
    row = results.iloc[0]
    assert row["status"] == "ok", row["message"]
    assert 0 <= row["center_error_px_median"] <= row["center_error_px_q90"]
    assert "Centre error on held-out patients: median" in (
        tmp_path / "results.md"
    ).read_text()
    record = json.loads((tmp_path / "results.json").read_text())["rows"][0]
    assert record["center_error_px_median"] == pytest.approx(
        row["center_error_px_median"]
    )


def test_transfer_rows_need_a_weights_file(tmp_path):
    spec = get_experiment("full/transfer_radimagenet")
    with pytest.raises(ExperimentUnavailable, match="weights not available"):
        spec.build(preset="quick")
    with pytest.raises(ExperimentUnavailable, match="no file at"):
        spec.build(preset="quick", weights=tmp_path / "missing.pt")
    weights = tmp_path / "radimagenet_densenet121.pt"
    torch.save({}, weights)
    model, used = spec.build(preset="quick", weights=weights, backbone="densenet121")
    assert model[-1].backbone == "densenet121"
    assert model[-1].weights == str(weights)
    assert used["weights"] == weights.name and used["backbone"] == "densenet121"
    with pytest.raises(ValueError, match="takes no parameter.*'epochs'"):
        spec.build(preset="quick", weights=weights, epochs=3)


def test_baselines_reach_their_known_scores_and_reports_are_written(tmp_path):
    data = _rated_data()
    results = run_experiments(
        data,
        rows=["majority", "semantic_oracle"],
        task="both",
        cv=5,
        out_dir=tmp_path,
        n_bootstrap=100,
        verbose=False,
    )
    assert (results["status"] == "ok").all()
    assert len(results) == 8  # 2 tables x 2 baselines x 2 tasks
    by = results.set_index(["key", "task"])
    # class 3 is 40 % of the labels and malignant (4-5) 30 %
    assert by.loc[("nodule/majority", "5class"), "accuracy"] == pytest.approx(0.4)
    assert by.loc[("nodule/majority", "binary"), "accuracy"] == pytest.approx(0.7)
    assert by.loc[("nodule/semantic_oracle", "5class"), "accuracy"] >= 0.95
    # baselines are computed once and shown in both tables
    assert (
        by.loc[("full/semantic_oracle", "5class"), "accuracy"]
        == by.loc[("nodule/semantic_oracle", "5class"), "accuracy"]
    )
    for _, row in results.iterrows():
        assert row["accuracy_ci_low"] <= row["accuracy"] <= row["accuracy_ci_high"]

    text = (tmp_path / "results.md").read_text()
    assert "## Table 2 - full-slice models" in text
    assert "## Table 3 - nodule-crop models" in text
    acc = by.loc[("nodule/majority", "5class")]
    assert (
        f"| Majority class | {100 * acc['accuracy']:.1f} "
        f"[{100 * acc['accuracy_ci_low']:.1f}, {100 * acc['accuracy_ci_high']:.1f}]"
    ) in text
    assert "30 samples" not in text and "60 samples from 30 patients" in text

    payload = json.loads((tmp_path / "results.json").read_text())
    first = payload["rows"][0]
    assert first["report"]["metrics"]["accuracy"] == pytest.approx(first["accuracy"])
    assert first["report"]["grouped"] is True
    for rel in results["figures"].str.split(";").explode():
        assert (tmp_path / rel).stat().st_size > 1000


def test_failing_and_unavailable_rows_are_reported_and_others_still_run(
    tmp_path, monkeypatch
):
    planted = Experiment(
        "nodule",
        "explodes",
        "Explodes",
        "none",
        "A row whose fit fails.",
        lambda settings, **kw: (_Explodes(), {}),
    )
    monkeypatch.setitem(EXPERIMENTS, planted.key, planted)
    data = _rated_data(with_ratings=False)
    results = run_experiments(
        data,
        rows=[
            "nodule/explodes",
            "nodule/semantic_oracle",
            "nodule/majority",
            "transfer_imagenet",
        ],
        task="binary",
        cv=3,
        out_dir=tmp_path,
        n_bootstrap=0,
        verbose=False,
    )
    status = dict(zip(results["key"], results["status"]))
    assert status == {
        "nodule/majority": "ok",
        "nodule/semantic_oracle": "unavailable",
        "nodule/explodes": "failed",
        "full/transfer_imagenet": "unavailable",
    }
    message = dict(zip(results["key"], results["message"]))
    assert "planted failure in fit" in message["nodule/explodes"]
    assert "diameter_mm" in message["nodule/semantic_oracle"]
    log = tmp_path / "errors" / "nodule-explodes-binary.txt"
    assert "Traceback" in log.read_text()
    table = format_tables(results)
    assert "| Explodes | failed | - | - |" in table
    assert "| TL ImageNet | weights not available | - | - |" in table
    assert "planted failure in fit" in (tmp_path / "results.md").read_text()


def test_missing_optional_dependency_makes_the_row_unavailable(monkeypatch):
    def needs_missing(settings, **kw):
        import skradnod_missing_dependency  # noqa: F401

    planted = Experiment("full", "needs", "Needs", "none", "", needs_missing)
    monkeypatch.setitem(EXPERIMENTS, planted.key, planted)
    results = run_experiments(
        _rated_data(),
        rows="full/needs",
        task="5class",
        n_bootstrap=0,
        verbose=False,
    )
    assert results.loc[0, "status"] == "unavailable"
    assert "skradnod_missing_dependency is not installed" in results.loc[0, "message"]


def test_ungrouped_data_warns_once_and_bad_arguments_are_named():
    data = _rated_data(with_groups=False)
    with pytest.warns(UserWarning, match="no patient ids") as record:
        run_experiments(
            data, rows="majority", task="5class", n_bootstrap=0, verbose=False
        )
    assert len([w for w in record if "patient" in str(w.message)]) == 1
    with pytest.raises(ValueError, match="Unknown task 'ternary'"):
        run_experiments(data, rows="majority", task="ternary", verbose=False)
    with pytest.raises(ValueError, match="params names unknown row"):
        run_experiments(data, rows="majority", params={"resnet": {}}, verbose=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            run_experiments(data, rows="majority", device="cuda", verbose=False)


def test_binary_read_off_the_5class_models():
    data = _rated_data()
    results = run_experiments(
        data,
        rows=["majority", "semantic_oracle"],
        task="both",
        cv=5,
        n_bootstrap=50,
        verbose=False,
        binary_from_5class=True,
    )
    by = results.set_index(["key", "task"])
    # Baselines shown in both tables are read off the same 5-class model.
    for row in ("majority", "semantic_oracle"):
        assert (
            by.loc[(f"full/{row}", "binary"), "accuracy"]
            == by.loc[(f"nodule/{row}", "binary"), "accuracy"]
        )
    # The majority model predicts class 3: benign, right for the 70 % of 1-3.
    assert by.loc[("nodule/majority", "binary"), "accuracy"] == pytest.approx(0.7)
    # The oracle reads malignancy off spiculation: its collapsed 5-class
    # probabilities are as right for benign vs malignant as for the classes.
    assert by.loc[("nodule/semantic_oracle", "binary"), "accuracy"] >= 0.95
    assert "P(4) + P(5)" in by.loc[("nodule/semantic_oracle", "binary"), "used"]
    assert by.loc[("nodule/semantic_oracle", "binary"), "fit_time"] == pytest.approx(
        by.loc[("nodule/semantic_oracle", "5class"), "fit_time"]
    )


def test_results_json_joins_predictions_back_to_the_manifest_ids(tmp_path):
    data = _rated_data()
    # Ids as a manifest writes them: text with leading zeros, kept verbatim.
    data.frame.index = pd.Index([f"{i:04d}" for i in range(60)], name="id")
    run_experiments(
        data, rows=["nodule/semantic_oracle"], task="5class", cv=5,
        out_dir=tmp_path, n_bootstrap=10, figures=False, verbose=False,
    )
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["samples"]["id"] == [f"{i:04d}" for i in range(60)]
    assert payload["samples"]["patient_id"] == [str(g) for g in data.groups]
    samples = payload["rows"][0]["report"]["samples"]
    assert samples["y_true"] == data.target.tolist()
    proba = np.asarray(samples["proba"])
    assert proba.shape == (60, 5)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    classes = np.asarray(payload["rows"][0]["report"]["classes"])
    assert (classes[proba.argmax(axis=1)] == np.asarray(samples["y_pred"])).all()
