"""Write a file all at once or not at all."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="w", **kwargs):
    """Open a temporary file beside ``path`` and rename it over ``path`` on success.

    A reader never sees a half-written file, and when the write fails (a full
    disk, an interrupt) the previous file at ``path`` survives unchanged.

    Parameters
    ----------
    path : str or path-like
        The file to write.
    mode : {"w", "wb"}, default="w"
        Text or binary.
    **kwargs
        Passed to :func:`open` (e.g. ``encoding``, ``newline``).

    Yields
    ------
    file
        The open temporary file.

    Raises
    ------
    OSError
        Re-raised with ``path`` named when the write or the rename fails.
    """
    path = Path(path)
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    try:
        # Same folder, so os.replace is a rename on one file system.
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file 0600; give it the mode open() would have
        # (an existing file's own mode, else 0666 less the umask), so a
        # results.md or report.html is as readable as any file the user writes.
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror}") from exc
        raise


def _mode_for(path):
    """The permission bits ``open(path, "w")`` would leave ``path`` with."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)  # read the umask: setting it is the only way
        os.umask(umask)
        return 0o666 & ~umask
