"""Data-set writers never leave a partial file behind.

``write_nrrd`` (so ``write_pair``, ``make-cohort`` and ``make-pairs``),
``write_manifest`` (so ``make-manifest``) write to a temporary file renamed
into place: a write that fails half-way leaves the previous file, or none.
"""

import errno

import numpy as np
import pandas as pd
import pytest

from skradnod.base import _nrrd
from skradnod.datasets._base import write_manifest, write_pair
from skradnod.io import read_nrrd, write_nrrd


def _fail_after_partial(real):
    """A writer that puts out the first bytes of the real output, then fails."""

    def write(file, *args, **kwargs):
        import io

        buffer = io.BytesIO()
        real(buffer, *args, **kwargs)
        partial = buffer.getvalue()[:60]
        if isinstance(file, str):
            with open(file, "wb") as fh:
                fh.write(partial)
        else:
            file.write(partial)
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


def test_failed_nrrd_write_leaves_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(_nrrd.nrrd, "write", _fail_after_partial(_nrrd.nrrd.write))
    target = tmp_path / "a.nrrd"
    with pytest.raises(OSError, match=r"a\.nrrd") as info:
        write_nrrd(target, np.zeros((8, 8), np.int16))
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_failed_nrrd_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "a.nrrd"
    write_nrrd(target, np.full((8, 8), 7, np.int16), spacing=0.7)
    before = target.read_bytes()
    monkeypatch.setattr(_nrrd.nrrd, "write", _fail_after_partial(_nrrd.nrrd.write))
    with pytest.raises(OSError, match="No space left"):
        write_nrrd(target, np.zeros((8, 8), np.int16))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.nrrd"]
    image, header = read_nrrd(target)
    assert (image == 7).all() and header["spacing"] == (0.7, 0.7)


def test_failed_pair_leaves_only_complete_files(tmp_path, monkeypatch):
    real = _nrrd.nrrd.write
    calls = []

    def second_fails(file, *args, **kwargs):
        calls.append(file)
        if len(calls) == 2:
            return _fail_after_partial(real)(file, *args, **kwargs)
        return real(file, *args, **kwargs)

    monkeypatch.setattr(_nrrd.nrrd, "write", second_fails)
    with pytest.raises(OSError, match=r"nodule.*s1\.nrrd"):
        write_pair(tmp_path, "s1", np.zeros((16, 16), np.int16),
                   np.ones((4, 4), np.int16), 0.7)
    assert not (tmp_path / "nodule" / "s1.nrrd").exists()
    assert list((tmp_path / "nodule").iterdir()) == []
    # The full slice written before the failure is complete and reads back.
    image, _ = read_nrrd(tmp_path / "full" / "s1.nrrd")
    assert image.shape == (16, 16)


def test_failed_manifest_write_keeps_the_previous_manifest(tmp_path, monkeypatch):
    good = pd.DataFrame({"id": ["a"], "full": ["f.nrrd"], "nodule": ["n.nrrd"]})
    write_manifest(good, tmp_path)
    before = (tmp_path / "manifest.csv").read_bytes()
    real = pd.DataFrame.to_csv

    def partial_then_full_disk(self, path_or_buf=None, *args, **kwargs):
        text = real(self, None, *args, **kwargs)
        if hasattr(path_or_buf, "write"):
            path_or_buf.write(text[:5])
        else:
            with open(path_or_buf, "w") as fh:
                fh.write(text[:5])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", partial_then_full_disk)
    with pytest.raises(OSError, match=r"manifest\.csv"):
        write_manifest(pd.concat([good, good.assign(id="b")]), tmp_path)
    assert (tmp_path / "manifest.csv").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.csv"]
