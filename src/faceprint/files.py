"""File helpers shared by the weights cache, the gallery's index and the evaluation cache."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 digest of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def files_fingerprint(paths: Iterable[str | os.PathLike[str]]) -> str:
    """A sha256 naming a set of files as they are now: each one's resolved path, size and
    modification time (not its bytes, so a large photo folder costs one ``stat`` a file)."""
    digest = hashlib.sha256()
    for path in sorted(str(Path(p).resolve()) for p in paths):
        stat = os.stat(path)
        digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(dst: str | os.PathLike[str], suffix: str = ".part") -> Iterator[Path]:
    """Yield a temporary path next to ``dst`` that replaces ``dst`` if the block succeeds.

    On any error (or interruption) the temporary file is removed and ``dst`` is untouched, so
    readers never see a partial file. ``suffix`` keeps writers that choose a format by file
    extension (numpy's ``savez``) writing the format ``dst`` names.
    """
    dst = Path(dst)
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
