"""Writing output files atomically: a temp file beside the target, fsync, `os.replace`.

An existing file is replaced only when asked; on any error the temp file is removed, so no
partial file is ever left. New files are readable only by their owner (0600).
"""

import os
import tempfile
from pathlib import Path

from sampleloans.errors import StorageError


def write_atomic(path: Path, data: bytes, *, force: bool = False, option: str = "--out") -> None:
    """Write `data` to `path` atomically with mode 0600; refuse to replace without `force`."""
    if path.is_dir():
        raise StorageError(f"{option}: {path} is a directory; give a file name")
    if path.exists() and not force:
        raise StorageError(f"{option}: {path} exists; pass --force to replace it")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise StorageError(f"{option}: directory {directory} does not exist")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise StorageError(f"{option}: cannot write in {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if force:
            os.replace(temp, path)
        else:
            try:  # a hard link never replaces: no clobbering a file created meanwhile
                os.link(temp, path)
            except FileExistsError:
                raise StorageError(f"{option}: {path} exists; pass --force to replace it") from None
            except OSError:  # a filesystem without hard links: check, then rename
                if path.exists():
                    raise StorageError(
                        f"{option}: {path} exists; pass --force to replace it"
                    ) from None
                os.replace(temp, path)
            Path(temp).unlink(missing_ok=True)
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"{option}: cannot write {path}: {exc.strerror}") from None
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
