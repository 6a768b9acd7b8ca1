"""A failed write leaves the previous file intact."""

import errno
import json
import os

import pytest

from skradnod.base._atomic import atomic_write
from skradnod.experiments import _runner


def test_atomic_write_keeps_old_file_on_enospc(tmp_path):
    target = tmp_path / "results.json"
    target.write_text('{"good": 1}')
    with (
        pytest.raises(OSError, match="results.json") as info,
        atomic_write(target) as fh,
    ):
        fh.write('{"trunc')
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b'{"good": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_atomic_write_leaves_the_mode_open_would(tmp_path):
    # mkstemp's 0600 must not reach the file: a shared results folder stays
    # readable, and a file the user made read-only for others stays so.
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "new.md") as fh:
            fh.write("x")
        assert (tmp_path / "new.md").stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.md"
        kept.write_text("old")
        kept.chmod(0o640)
        with atomic_write(kept) as fh:
            fh.write("new")
        assert kept.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_results_json_survives_full_disk(tmp_path, monkeypatch):
    import os

    import pandas as pd

    target = tmp_path / "results.json"
    target.write_text('{"good": 1}')

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    # The disk fills while the new results are flushed: the old file must stay.
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="results.json"):
        _runner._write_json(target, pd.DataFrame(), [], {}, {})
    assert json.loads(target.read_text()) == {"good": 1}


def test_results_are_written_before_figures(tmp_path, monkeypatch, capsys):
    """A disk that fills while drawing loses no finished row; the CLI says so."""
    import numpy as np

    from skradnod.cli import main
    from skradnod.io import write_nrrd

    rows = ["id,full,nodule,malignancy,patient_id"]
    for i in range(12):
        write_nrrd(tmp_path / f"f{i}.nrrd", np.full((512, 512), i, np.int16))
        write_nrrd(tmp_path / f"n{i}.nrrd", np.full((20, 20), i, np.int16))
        rows.append(f"{i},f{i}.nrrd,n{i}.nrrd,{1 + i % 5},p{i // 2}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    drawn = []

    def full_disk(report, out, stem, title):
        drawn.append(stem)
        raise OSError(errno.ENOSPC, f"cannot write {out}/figures/{stem}.png: "
                      "No space left on device")

    monkeypatch.setattr(_runner, "_draw", full_disk)
    out = tmp_path / "res"
    status = main(["reproduce", str(tmp_path), "--rows", "majority", "--task",
                   "5class", "--preset", "quick", "--cv", "2", "--out", str(out),
                   "--quiet"])
    assert status == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert drawn  # the failure came from the figures ...
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["key"] for r in rows] == ["nodule/majority"]  # ... after the row
    assert "Majority" in (out / "results.md").read_text()


def test_reproduce_exits_1_when_every_row_failed(tmp_path, monkeypatch, capsys):
    """A run that measured nothing is not a success (it exited 0 before)."""
    from skradnod.cli import main
    from skradnod.datasets import make_lidc_cohort
    from skradnod.models import NoduleCNNClassifier

    make_lidc_cohort(tmp_path / "cohort", n_samples=20, lazy=True)

    def broken(self, *args, **kwargs):
        raise RuntimeError("planted failure")

    monkeypatch.setattr(NoduleCNNClassifier, "fit", broken)
    out = tmp_path / "res"
    argv = ["reproduce", str(tmp_path / "cohort"), "--task", "binary",
            "--preset", "quick", "--cv", "2", "--out", str(out), "--quiet",
            "--lazy", "--rows"]
    assert main([*argv, "nodule/basic_cnn"]) == 1
    assert "every row failed" in capsys.readouterr().err
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["failed"]
    # One row that worked is a (partial) success, as before (--overwrite: the
    # folder holds the first run, which is refused otherwise).
    assert main(["--overwrite" if a == "--quiet" else a for a in argv[:-1]]
                + ["--quiet", "--rows", "nodule/majority,nodule/basic_cnn"]) == 0
