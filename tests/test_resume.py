"""A rerun with ``resume`` keeps the rows an earlier run finished."""

import json

import numpy as np
import pandas as pd
import pytest
from _synthetic import write_tiny_manifest
from sklearn.utils import Bunch

import skradnod.experiments._runner as runner
from skradnod.cli import main
from skradnod.experiments import RATING_COLUMNS, run_experiments


def _rated(n=60, seed=0):
    rng = np.random.RandomState(seed)
    y = np.array([1, 2, 3, 3, 3, 4, 5, 3, 2, 4] * (n // 10))
    frame = pd.DataFrame(index=pd.Index([f"s{i}" for i in range(n)], name="id"))
    for column in RATING_COLUMNS:
        frame[column] = rng.randint(1, 6, n)
    frame["spiculation"] = y
    frame["diameter_mm"] = rng.uniform(3, 30, n)
    return Bunch(frame=frame, target=y, groups=np.arange(n) // 2)


@pytest.fixture
def fitted_rows(monkeypatch):
    """The (key, task) of every row run_row actually fits."""
    calls = []
    real = runner.run_row

    def counting(key, data, *, task, **kwargs):
        calls.append((key, task))
        return real(key, data, task=task, **kwargs)

    monkeypatch.setattr(runner, "run_row", counting)
    return calls


def _run(out, rows, **kwargs):
    return run_experiments(_rated(), rows=rows, task="5class", cv=3, out_dir=out,
                           n_bootstrap=20, figures=False, verbose=False, **kwargs)


def test_resume_keeps_finished_rows_and_runs_the_rest(tmp_path, fitted_rows):
    first = _run(tmp_path, ["nodule/majority"])
    assert fitted_rows == [("nodule/majority", "5class")]
    fitted_rows.clear()
    again = _run(tmp_path, ["nodule/majority", "nodule/semantic_oracle"],
                 resume=True)
    # Only the row the first run did not have is fitted.
    assert fitted_rows == [("nodule/semantic_oracle", "5class")]
    by = again.set_index("key")
    assert by.loc["nodule/majority", "accuracy"] == first.loc[0, "accuracy"]
    assert by.loc["nodule/semantic_oracle", "accuracy"] > 0.9
    payload = json.loads((tmp_path / "results.json").read_text())
    assert [r["key"] for r in payload["rows"]] == [
        "nodule/majority", "nodule/semantic_oracle"]
    assert payload["rows"][0]["report"]["metrics"]["accuracy"] == pytest.approx(
        first.loc[0, "accuracy"])
    assert "Semantic-rating oracle" in (tmp_path / "results.md").read_text()


def test_resume_refuses_an_earlier_run_with_other_settings(tmp_path, fitted_rows):
    _run(tmp_path, ["nodule/majority"])
    with pytest.raises(ValueError, match="resume: .*used other random_state"):
        _run(tmp_path, ["nodule/majority"], resume=True, random_state=1)
    with pytest.raises(ValueError, match="resume: .*used other cv"):
        run_experiments(_rated(), rows=["nodule/majority"], task="5class", cv=4,
                        out_dir=tmp_path, n_bootstrap=20, figures=False,
                        verbose=False, resume=True)
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        run_experiments(_rated(), rows=["nodule/majority"], resume=True,
                        verbose=False)


def test_resume_without_an_earlier_run_runs_everything(tmp_path, fitted_rows):
    _run(tmp_path, ["nodule/majority"], resume=True)
    assert fitted_rows == [("nodule/majority", "5class")]


_data = write_tiny_manifest


def test_cli_resume_reruns_only_what_is_left_and_names_a_mismatch(tmp_path, capsys):
    data = _data(tmp_path)
    out = tmp_path / "out"

    def reproduce(*extra):
        return main(["reproduce", str(data), "--rows", "majority", "--task",
                     "5class", "--preset", "quick", "--cv", "2", "--out",
                     str(out), "--quiet", *extra])

    assert reproduce() == 0
    assert reproduce() == 2  # an earlier run, neither flag: refused
    assert "--resume to keep its finished rows" in capsys.readouterr().err
    assert reproduce("--resume") == 0
    assert reproduce("--resume", "--seed", "3") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume: the earlier run" in err
    assert reproduce("--resume", "--overwrite") == 2  # they exclude each other
    assert "not allowed with argument" in capsys.readouterr().err


def test_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    real = runner.run_row
    calls = []

    def interrupted(key, data, *, task, **kwargs):
        calls.append(key)
        if key == "nodule/semantic_oracle":
            raise KeyboardInterrupt  # Ctrl-C while the second row trains
        return real(key, data, task=task, **kwargs)

    monkeypatch.setattr(runner, "run_row", interrupted)
    rows = ["nodule/majority", "nodule/semantic_oracle"]
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, rows)
    kept = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["key"] for r in kept] == ["nodule/majority"]
    monkeypatch.setattr(runner, "run_row", real)
    calls.clear()
    resumed = _run(tmp_path, rows, resume=True)
    assert list(resumed["key"]) == rows and (resumed["status"] == "ok").all()
