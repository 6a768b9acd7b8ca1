"""A failed write leaves the previous file intact (issue 21, item 7)."""

import errno
import json

import pytest

from skradnod.experiments import _runner
from skradnod.utils._atomic import atomic_write


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
