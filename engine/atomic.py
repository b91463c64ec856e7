"""Writing a file so that readers see the old one or the new one, never half of it.

:func:`replacing` hands out a temporary sibling of the target (same folder, so the rename stays on one file
system); when the block ends normally the temporary file is flushed to disk (``fsync``) and renamed onto the
target (``os.replace``, atomic on POSIX and Windows); when it raises, the temporary file is removed and the
target is untouched. :func:`write_atomic` does that for bytes or text. Every file Crossfold rewrites in place
(checkpoints, weights, configs, calibrations, the packed store, catalogue backups and restores, job records)
goes through here. The render cache writes whole folders and the index store publishes in two steps; both keep
their own rename.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o644  # what a plain write gives under the usual umask (mkstemp's files are private: 0o600)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file beside ``path`` to write; renamed onto ``path`` (after an fsync) when the block succeeds,
    removed when it fails. The parent folder is created if needed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` (text is encoded with ``encoding``) to ``path`` through :func:`replacing`."""
    with replacing(path) as tmp:
        tmp.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
    return Path(path)
