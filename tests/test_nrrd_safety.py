"""Hostile NRRD files.

Each test writes the hostile file it needs into ``tmp_path``: detached headers
whose data file escapes the header's folder or is a FIFO, decompression bombs,
absurd declared sizes, bad spacings, complex images, and values float32 cannot
hold.
"""

import bz2
import os
import threading
import tracemalloc
import zlib

import nrrd
import numpy as np
import pytest

from skradnod.base._nrrd import MAX_PIXELS
from skradnod.io import NrrdLoader, read_nrrd, write_nrrd
from skradnod.utils import LazyImageBatch

PEAK_LIMIT = 50 * 2**20  # bytes a hostile file may make read_nrrd allocate


def _header(fields):
    lines = ["NRRD0004"] + [f"{key}: {value}" for key, value in fields.items()]
    return ("\n".join(lines) + "\n\n").encode()


def _fields(sizes="4 3", type_="uint8", encoding="raw", **extra):
    fields = {"type": type_, "dimension": len(sizes.split()), "sizes": sizes,
              "encoding": encoding}
    if type_ not in ("uint8", "int8"):
        fields["endian"] = "little"
    fields.update({key.replace("_", " "): value for key, value in extra.items()})
    return fields


def _detached(folder, data_file, **fields):
    """A detached header ``h.nhdr`` in ``folder`` naming ``data_file``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "h.nhdr"
    path.write_bytes(_header(_fields(**fields, data_file=data_file)))
    return path


def _read_within(path, seconds=10):
    """read_nrrd(path) in a thread; fail the test if it has not returned in time.

    The thread is a daemon: on a reader that blocks (a FIFO opened for reading
    waits for a writer) the test fails instead of hanging the run.
    """
    outcome = {}

    def target():
        try:
            outcome["value"] = read_nrrd(path)
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"read_nrrd({os.fspath(path)!r}) still running after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _peak_of(call):
    """Run ``call`` under tracemalloc; return (its exception or None, peak bytes).

    tracemalloc sees numpy's array buffers and the bytes/bytearray objects zlib
    and bz2 return: on the code before this fix a 1 MB gzip bomb peaked at
    2.09 GB by this measure (2.05 GB by the process's max RSS).
    """
    tracemalloc.start()
    try:
        call()
        error = None
    except ValueError as exc:
        error = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


# -- the data file of a detached header stays in the header's folder --


def test_detached_data_files_in_the_folder_are_read(tmp_path):
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.raw").write_bytes(image.tobytes())
    read, _ = _read_within(_detached(tmp_path, "sub/d.raw"))
    np.testing.assert_array_equal(read, image)
    # gzip, a line skip and a byte skip in the data file, a '..' that stays in
    (tmp_path / "d.raw.gz").write_bytes(
        b"one line\n" + zlib.compress(b"xx" + image.tobytes(), wbits=31)
    )
    path = _detached(tmp_path, "sub/../d.raw.gz", encoding="gzip",
                     line_skip=1, byte_skip=2)
    np.testing.assert_array_equal(_read_within(path)[0], image)


@pytest.fixture
def secret(tmp_path):
    """A 12-byte file outside the data folder ``tmp_path / 'data'``."""
    path = tmp_path / "secret.raw"
    path.write_bytes(b"hunter2hunte")
    return path


@pytest.mark.parametrize(
    "data_file, reason",
    [
        ("absolute", "absolute path"),
        ("../secret.raw", "outside the header's folder"),
        ("sub/../../secret.raw", "outside the header's folder"),
        ("link.raw", "outside the header's folder"),
    ],
)
def test_data_file_outside_the_folder_is_refused(tmp_path, secret, data_file, reason):
    # Before: each of these loaded the secret's bytes as a 4 x 3 image.
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "sub").mkdir()
    (folder / "link.raw").symlink_to(secret)
    if data_file == "absolute":
        data_file = os.fspath(secret)
    path = _detached(folder, data_file)
    with pytest.raises(ValueError, match=reason) as info:
        _read_within(path)
    assert os.fspath(path) in str(info.value) and data_file in str(info.value)


def test_symlink_to_a_device_is_refused(tmp_path):
    # Before: gzip "data" from /dev/urandom grew memory without bound.
    (tmp_path / "d.raw.gz").symlink_to("/dev/urandom")
    path = _detached(tmp_path, "d.raw.gz", encoding="gzip")
    with pytest.raises(ValueError, match=r"h\.nhdr.*d\.raw\.gz.*outside"):
        _read_within(path)


def test_fifo_and_folder_data_files_are_refused_without_blocking(tmp_path):
    # Before: opening the FIFO waited for a writer forever.
    os.mkfifo(tmp_path / "fifo.raw")
    path = _detached(tmp_path, "fifo.raw")
    with pytest.raises(ValueError, match=r"h\.nhdr.*fifo\.raw.*not a regular file"):
        _read_within(path)
    (tmp_path / "folder.raw").mkdir()
    path = _detached(tmp_path, "folder.raw")
    with pytest.raises(ValueError, match=r"folder\.raw.*not a regular file"):
        _read_within(path)


@pytest.mark.parametrize("data_file", ["LIST", "LIST 1", "slice%03d.raw 1 3 1"])
def test_multi_file_data_files_are_refused_clearly(tmp_path, data_file):
    path = _detached(tmp_path, data_file)
    with pytest.raises(ValueError, match="list of several data files"):
        _read_within(path)


# -- decompression and reading are bounded by the declared size --


def _bomb(path, encoding, unpacked):
    """16 x 16 int16 declared (512 bytes), ``unpacked`` bytes of zeros inside."""
    compressor = (
        zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        if encoding == "gzip" else bz2.BZ2Compressor(9)
    )
    chunk = bytes(1 << 20)
    with open(path, "wb") as fh:
        fh.write(_header(_fields("16 16", "int16", encoding)))
        for _ in range(unpacked >> 20):
            fh.write(compressor.compress(chunk))
        fh.write(compressor.flush())
    return path


@pytest.mark.parametrize("encoding", ["gzip", "bzip2"])
def test_decompression_bomb_is_refused_in_bounded_memory(tmp_path, encoding):
    # 256 MiB inside a file of 260 kB (gzip) or 200 bytes (bzip2); before, the
    # whole payload was inflated (peak over 500 MB) before the size check.
    path = _bomb(tmp_path / "bomb.nrrd", encoding, 256 << 20)
    assert path.stat().st_size < 300_000
    error, peak = _peak_of(lambda: read_nrrd(path))
    assert error is not None and "bomb.nrrd" in str(error)
    assert "more than the 512 bytes" in str(error)
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"


def test_raw_data_longer_than_declared_is_refused_unread(tmp_path):
    # A 1 GiB sparse file (no disk used) declaring 16 x 16: before, all of it
    # was read into memory.
    path = tmp_path / "long.nrrd"
    with open(path, "wb") as fh:
        fh.write(_header(_fields("16 16", "int16")))
        fh.truncate(1 << 30)
    error, peak = _peak_of(lambda: read_nrrd(path))
    assert error is not None and "long.nrrd" in str(error)
    assert "more raw data than the 512 bytes" in str(error)
    assert peak < PEAK_LIMIT, f"peak {peak / 2**20:.0f} MiB"
    # a single byte too many is refused too
    image = np.arange(12, dtype=np.uint8).tobytes()
    path.write_bytes(_header(_fields()) + image + b"\0")
    with pytest.raises(ValueError, match=r"long\.nrrd.*more raw data"):
        read_nrrd(path)
    path.write_bytes(_header(_fields()) + image[:-1])
    with pytest.raises(ValueError, match=r"long\.nrrd.*11 bytes.*fewer than the 12"):
        read_nrrd(path)


def test_an_absurd_declared_size_is_refused_before_the_data_are_opened(tmp_path):
    # The data file does not exist: the size alone must stop the read.
    path = _detached(tmp_path, "missing.raw", sizes="100000 100000")
    with pytest.raises(ValueError, match=r"h\.nhdr.*100000 x 100000.*MAX_PIXELS"):
        read_nrrd(path)
    side = int(np.sqrt(MAX_PIXELS))
    path = tmp_path / "big.nrrd"
    path.write_bytes(_header(_fields(f"{side} {side + 1}", encoding="gzip")))
    with pytest.raises(ValueError, match="MAX_PIXELS"):
        read_nrrd(path)


def test_header_lines_are_bounded(tmp_path):
    path = tmp_path / "line.nrrd"
    path.write_bytes(b"NRRD0004\ncontent: " + b"x" * (2 << 20))
    with pytest.raises(ValueError, match=r"line\.nrrd.*header has a line over"):
        read_nrrd(path)


def test_every_encoding_still_round_trips(tmp_path):
    image = np.arange(-6, 6, dtype=np.int16).reshape(3, 4)
    for encoding in ["raw", "gzip", "bzip2", "ascii"]:
        path = tmp_path / f"{encoding}.nrrd"
        nrrd.write(os.fspath(path), image, {"encoding": encoding}, index_order="C")
        read, header = read_nrrd(path)
        np.testing.assert_array_equal(read, image)
        assert read.dtype == np.int16 and header["encoding"] == encoding
    # byte skip -1: the data are the file's last bytes
    path = tmp_path / "tail.nrrd"
    path.write_bytes(
        _header(_fields(type_="int16", byte_skip=-1)) + b"junk" + image.tobytes()
    )
    np.testing.assert_array_equal(read_nrrd(path)[0], image)
    # ASCII text far longer than 12 values can be is refused
    path.write_bytes(_header(_fields(encoding="ascii")) + b"1 " * 200_000)
    with pytest.raises(ValueError, match=r"tail\.nrrd.*more ascii data"):
        read_nrrd(path)


# -- the weak points: spacing, complex images, float32 narrowing --


@pytest.mark.parametrize(
    "field, value",
    [
        ("spacings", "nan 0.7"),
        ("spacings", "0.7 0"),
        ("spacings", "-0.7 0.7"),
        ("spacings", "inf 0.7"),
        ("space directions", "(0,0) (0,0.7)"),
        ("space directions", "(nan,0) (0,0.7)"),
        ("space directions", "none (0,0.7)"),
    ],
)
def test_bad_spacing_is_refused_naming_the_file(tmp_path, field, value):
    path = tmp_path / "spacing.nrrd"
    extra = {field: value}
    if field == "space directions":
        extra["space dimension"] = 2
    fields = _fields()
    fields.update(extra)
    path.write_bytes(_header(fields) + bytes(12))
    with pytest.raises(ValueError, match=r"spacing\.nrrd.*spacing.*finite and posi"):
        read_nrrd(path)


def test_spacing_is_the_length_of_the_direction(tmp_path):
    # A coronal slice: its rows step along z. Before, only the x-y part of the
    # direction was measured, giving a row spacing of 0.
    path = tmp_path / "coronal.nrrd"
    fields = _fields(space="left-posterior-superior")
    fields["space directions"] = "(0.7,0,0) (0,0,2.5)"
    path.write_bytes(_header(fields) + bytes(12))
    assert read_nrrd(path)[1]["spacing"] == pytest.approx((2.5, 0.7))


@pytest.mark.parametrize(
    "sizes, kinds", [("2 8", "complex domain"), ("2 8 8", "complex domain domain")]
)
def test_complex_nrrd_is_refused(tmp_path, sizes, kinds):
    # Before: the 2D one read as an 8 x 2 "image" of real and imaginary parts.
    path = tmp_path / "complex.nrrd"
    n = int(np.prod([int(s) for s in sizes.split()]))
    path.write_bytes(_header(_fields(sizes, "float", kinds=kinds)) + bytes(4 * n))
    with pytest.raises(ValueError, match=r"complex\.nrrd.*complex image"):
        read_nrrd(path)


@pytest.mark.parametrize("as_list", [False, True])
def test_loader_refuses_complex_images(as_list):
    # Before: cast to float32 with only a ComplexWarning; 1+2j became 1.0.
    batch = np.full((2, 4, 4), 1 + 2j)
    with pytest.raises(ValueError, match="complex.*imaginary part"):
        NrrdLoader().fit_transform(list(batch) if as_list else batch)


@pytest.mark.parametrize(
    "image",
    [
        np.full((4, 4), 2**24 + 1, dtype=np.int64),
        np.full((4, 4), 2**60 + 1, dtype=np.int64),
        np.full((4, 4), 0.1, dtype=np.float64),
        np.full((4, 4), 1e300, dtype=np.float64),
    ],
    ids=["int64-2**24+1", "int64-2**60+1", "float64-0.1", "float64-1e300"],
)
def test_loader_never_rounds_a_pixel(tmp_path, image):
    # Before: every batch was cast to float32 (16777217 -> 16777216).
    batch = np.stack([np.zeros_like(image), image])
    with pytest.raises(ValueError, match=r"sample 1.*float32 would change"):
        NrrdLoader().fit_transform(batch)
    with pytest.raises(ValueError, match=r"sample 1.*float32 would change"):
        NrrdLoader().fit_transform([np.zeros_like(image)[:2], image])
    write_nrrd(tmp_path / "0.nrrd", np.zeros((4, 4), np.int16))
    write_nrrd(tmp_path / "1.nrrd", image)
    paths = [os.fspath(tmp_path / "0.nrrd"), os.fspath(tmp_path / "1.nrrd")]
    with pytest.raises(ValueError, match=r"sample 1 \('.*1\.nrrd'\).*would change"):
        NrrdLoader().fit_transform(paths)
    with pytest.raises(ValueError, match=r"1\.nrrd.*would change"):
        NrrdLoader().fit_transform(LazyImageBatch(paths))


def test_loader_casts_exact_values_to_float32(tmp_path):
    exact = [
        np.full((3, 3), 2**24, dtype=np.int64),
        np.full((3, 3), -1024.5, dtype=np.float64),
        np.full((3, 3), -1000, dtype=np.int16),
    ]
    for image in exact:
        out = NrrdLoader().fit_transform(image[np.newaxis])
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out[0], image)
    out = NrrdLoader().fit_transform([exact[0], exact[1][:2]])
    assert out[0].dtype == np.float32 and out[1][0, 0] == -1024.5
