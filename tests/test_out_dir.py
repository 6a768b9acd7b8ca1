"""``--out`` is checked before any work: writable, and not another run's folder.

An unwritable ``--out`` or ``make-manifest`` folder once gave a raw traceback,
and two runs into one ``--out`` mixed their figures.
"""

import os

import pytest
from _synthetic import write_tiny_manifest

from skradnod.cli import main

_data = write_tiny_manifest


def _reproduce(data, out, *extra):
    return main(["reproduce", str(data), "--rows", "majority", "--task",
                 "5class", "--preset", "quick", "--cv", "2", "--out", str(out),
                 "--quiet", *extra])


@pytest.fixture
def no_run(monkeypatch):
    """run_experiments replaced by a probe: what --out holds when it starts."""
    import skradnod.experiments

    seen = []

    def probe(data, *, out_dir, **kwargs):
        seen.append(sorted(os.listdir(out_dir)))
        raise KeyboardInterrupt  # stop here: main exits 130

    monkeypatch.setattr(skradnod.experiments, "run_experiments", probe)
    return seen


def test_out_under_a_file_is_one_line(tmp_path, capsys, no_run):
    data = _data(tmp_path / "data")
    (tmp_path / "some_file").write_text("x")
    assert _reproduce(data, tmp_path / "some_file" / "sub") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "some_file" in err and "is a file" in err
    assert no_run == []


def test_out_that_cannot_be_created_is_one_line(tmp_path, capsys, no_run):
    if not os.path.isdir("/proc/self"):
        pytest.skip("needs Linux /proc, where mkdir fails even for root")
    data = _data(tmp_path)
    assert _reproduce(data, "/proc/self/skradnod-out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--out /proc/self/skradnod-out: cannot write there" in err
    assert no_run == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="chmod does not stop root")
def test_read_only_out_and_manifest_folder_are_one_line(tmp_path, capsys, no_run):
    data = _data(tmp_path / "data")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert _reproduce(data, locked / "out") == 2
        err = capsys.readouterr().err
        assert "cannot write there" in err and os.fspath(locked) in err
        assert _reproduce(data, locked) == 2
        assert os.fspath(locked) in capsys.readouterr().err
        (data / "manifest.csv").unlink()
        data.chmod(0o500)
        assert main(["make-manifest", str(data)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "manifest.csv" in err
    finally:
        locked.chmod(0o700)
        data.chmod(0o700)


def test_out_holding_an_earlier_run_is_refused(tmp_path, capsys, no_run):
    data = _data(tmp_path / "data")
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "old-row.png").write_bytes(b"old")
    (out / "results.json").write_text("{}")
    assert _reproduce(data, out) == 2
    err = capsys.readouterr().err
    assert f"--out {out} holds an earlier run (results.json, figures/)" in err
    assert "--overwrite" in err
    assert (out / "figures" / "old-row.png").exists()
    assert no_run == []


def test_overwrite_clears_the_old_run_but_keeps_the_cache(tmp_path, no_run):
    data = _data(tmp_path / "data")
    out = tmp_path / "out"
    for name in ("figures", "errors", "cache"):
        (out / name).mkdir(parents=True)
        (out / name / "old").write_text("old")
    (out / "results.md").write_text("old")
    assert _reproduce(data, out, "--overwrite") == 130
    assert no_run == [["cache"]]
    assert (out / "cache" / "old").exists()


def test_empty_or_cache_only_out_is_accepted(tmp_path, no_run):
    data = _data(tmp_path / "data")
    out = tmp_path / "out"
    (out / "cache").mkdir(parents=True)
    (out / "figures").mkdir()  # a run stopped before drawing anything
    assert _reproduce(data, out) == 130
    assert no_run == [["cache", "figures"]]
