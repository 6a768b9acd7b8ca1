"""Tests of the ``skradnod`` command line on the built-in cohort."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from skradnod.cli import DEMO_SIZES, main


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    """A small cohort written by ``skradnod make-cohort``."""
    out = tmp_path_factory.mktemp("cohort")
    assert main(["make-cohort", str(out), "--n-samples", "30"]) == 0
    return out


def _majority_share(y):
    return np.bincount(y).max() / len(y)


def test_make_cohort_writes_a_manifest_folder(cohort_dir, capsys):
    manifest = pd.read_csv(cohort_dir / "manifest.csv")
    assert len(manifest) == 30
    assert {"id", "full", "nodule", "malignancy", "patient_id"} <= set(manifest)
    assert all((cohort_dir / p).is_file() for p in manifest["full"])


def test_reproduce_with_patient_ids_groups_folds(cohort_dir, tmp_path, capsys):
    out = tmp_path / "res"
    status = main(
        [
            "reproduce",
            str(cohort_dir),
            "--rows",
            "majority,semantic_oracle",
            "--task",
            "binary",
            "--preset",
            "quick",
            "--cv",
            "3",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0
    manifest = pd.read_csv(cohort_dir / "manifest.csv")
    n_patients = manifest["patient_id"].nunique()
    assert f"30 pairs from {n_patients} patients; folds grouped" in captured.out
    payload = json.loads((out / "results.json").read_text())
    by_key = {r["key"]: r for r in payload["rows"]}
    binary = (manifest["malignancy"] >= 4).astype(int).to_numpy()
    majority = by_key["nodule/majority"]
    assert majority["accuracy"] == pytest.approx(_majority_share(binary))
    assert majority["report"]["grouped"] is True
    # every fold holds whole patients
    folds = {}
    for pid, fold in zip(manifest["patient_id"], _folds(majority)):
        folds.setdefault(pid, set()).add(fold)
    assert all(len(f) == 1 for f in folds.values())
    # the printed table shows the numbers of the run
    assert f"| Majority class | {100 * majority['accuracy']:.1f} [" in captured.out
    assert (out / "results.md").is_file()


def _folds(row):
    """The fold each sample was predicted in (results.json keeps per-sample data)."""
    return row["report"]["samples"]["fold"]


def test_reproduce_without_patient_ids_warns_and_runs(cohort_dir, tmp_path, capsys):
    manifest = pd.read_csv(cohort_dir / "manifest.csv")
    manifest = manifest.drop(columns="patient_id")
    manifest["full"] = [str(cohort_dir / p) for p in manifest["full"]]
    manifest["nodule"] = [str(cohort_dir / p) for p in manifest["nodule"]]
    data = tmp_path / "nopid"
    data.mkdir()
    manifest.to_csv(data / "manifest.csv", index=False)
    out = tmp_path / "res"
    status = main(
        [
            "reproduce",
            str(data),
            "--rows",
            "nodule/majority",
            "--task",
            "5class",
            "--cv",
            "3",
            "--out",
            str(out),
            "--quiet",
            # The manifest names the cohort's files by absolute path, outside
            # its own folder: allowed only on request.
            "--allow-outside",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0
    warning = [line for line in captured.err.splitlines() if "patient_id" in line]
    assert len(warning) == 1 and "not grouped by patient" in warning[0]
    payload = json.loads((out / "results.json").read_text())
    row = payload["rows"][0]
    assert row["report"]["grouped"] is False
    assert row["accuracy"] == pytest.approx(
        _majority_share(manifest["malignancy"].to_numpy())
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reproduce", "{tmp}"], "no known layout"),
        (["reproduce", "{cohort}", "--rows", "resnet"], "Unknown experiment row"),
        (
            ["reproduce", "{cohort}", "--radimagenet-weights", "{tmp}/w.pt"],
            "no such file",
        ),
        (["make-cohort", "{tmp}/c", "--n-samples", "0"], "must be positive"),
        # These gave raw tracebacks or a run where every
        # row "failed".
        (["make-cohort", "{tmp}/file.txt"], "is a file, not a folder"),
        (["reproduce", "{cohort}", "--out", "{tmp}/file.txt"], "is a file"),
        (["demo", "--quick", "--out", "{tmp}/file.txt/sub"], "is a file"),
        (
            ["reproduce", "{cohort}", "--cv", "100", "--out", "{tmp}/o"],
            "too few for 100 folds",
        ),
        (["reproduce", "{tmp}/holes", "--out", "{tmp}/o"], "patient_id is empty"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(
    argv, message, cohort_dir, tmp_path, capsys
):
    (tmp_path / "file.txt").write_text("not a folder")
    # the cohort's manifest with one patient_id cell emptied
    manifest = pd.read_csv(cohort_dir / "manifest.csv")
    for column in ("full", "nodule"):
        manifest[column] = [str(cohort_dir / p) for p in manifest[column]]
    manifest.loc[4, "patient_id"] = None
    (tmp_path / "holes").mkdir()
    manifest.to_csv(tmp_path / "holes" / "manifest.csv", index=False)
    argv = [a.format(tmp=tmp_path, cohort=cohort_dir) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_a_user_error(capsys):
    assert main(["demo", "--quick", "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA GPU" in err[0]


def test_help_on_every_command(capsys):
    for command in ([], ["demo"], ["reproduce"], ["make-cohort"]):
        assert main([*command, "--help"]) == 0
        assert "usage: skradnod" in capsys.readouterr().out
    assert main(["frobnicate"]) == 2


def test_demo_quick_prints_the_tables_of_a_real_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKRADNOD_DATA", str(tmp_path / "data"))
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    config = DEMO_SIZES["quick"]
    assert f"{config['n_samples']} readings" in printed
    assert "skradnod demo --full" in printed  # how to run the full size
    payload = json.loads((out / "results.json").read_text())
    rows = {(r["key"], r["task"]): r for r in payload["rows"]}
    assert {key for key, _ in rows} == {
        "nodule/majority",
        "nodule/semantic_oracle",
        "nodule/basic_cnn",
        "nodule/features",
        "full/majority",
        "full/semantic_oracle",
    }
    assert all(r["status"] == "ok" for r in rows.values()), [
        r["message"] for r in rows.values() if r["status"] != "ok"
    ]
    y = np.asarray(rows["nodule/majority", "5class"]["report"]["samples"]["y_true"])
    assert rows["nodule/majority", "5class"]["accuracy"] == pytest.approx(
        _majority_share(y)
    )
    # every number printed is one of the run's
    for r in rows.values():
        assert f"{100 * r['accuracy']:.1f} [{100 * r['accuracy_ci_low']:.1f}" in printed
    assert "## Table 3 - nodule-crop models" in printed
    # The oracle reads the readers' answers: real signal, no chance mark; the
    # majority baseline is at chance by construction and is marked like any row.
    for task in ("5class", "binary"):
        assert rows["nodule/semantic_oracle", task]["no_better_than_chance"] is False
        assert rows["nodule/majority", task]["no_better_than_chance"] is True
    oracle = [x for x in printed.splitlines() if x.startswith("| Semantic")]
    assert len(oracle) == 2 and not any("(chance)" in x for x in oracle)
    assert "(chance): no better than chance" in printed
    assert (out / "figures" / "nodule-basic_cnn-5class-confidence.png").is_file()


def test_nodule_level_cohort_and_reproduce(tmp_path, capsys):
    data = tmp_path / "nodules"
    argv = ["make-cohort", str(data), "--n-samples", "24", "--level", "nodule",
            "--min-readers", "3", "--label", "mode"]
    assert main(argv) == 0
    manifest = pd.read_csv(data / "manifest.csv")
    assert len(manifest) == 24 and (manifest["n_readers"] >= 3).all()
    for readers, label in zip(manifest["malignancy_readers"], manifest["malignancy"]):
        values, counts = np.unique(readers.split(";"), return_counts=True)
        assert str(label) in values[counts == counts.max()]
    assert manifest["nodule_id"].is_unique
    out = tmp_path / "res"
    status = main(["reproduce", str(data), "--rows", "majority,semantic_oracle",
                   "--task", "binary", "--preset", "quick", "--cv", "3",
                   "--out", str(out), "--quiet"])
    assert status == 0
    payload = json.loads((out / "results.json").read_text())
    majority = {r["key"]: r for r in payload["rows"]}["nodule/majority"]
    binary = (manifest["malignancy"] >= 4).astype(int).to_numpy()
    assert majority["accuracy"] == pytest.approx(_majority_share(binary))
    assert main(["make-cohort", str(tmp_path / "x"), "--min-readers", "3"]) == 2
    assert "apply to level='nodule'" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["file", "under-a-file"])
def test_skradnod_data_that_is_no_folder_is_one_line_naming_it(
    tmp_path, monkeypatch, capsys, kind
):
    # main printed "[Errno 17] File exists: ..." without saying where the path
    # came from.
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    home = afile if kind == "file" else afile / "sub"
    monkeypatch.setenv("SKRADNOD_DATA", str(home))
    assert main(["demo", "--quick", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skradnod demo: error: SKRADNOD_DATA={str(home)!r}")
    assert err.count("\n") == 1
    assert "not a folder" in err if kind == "file" else "cannot create" in err
    assert not (tmp_path / "out" / "results.json").exists()
