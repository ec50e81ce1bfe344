"""Writing output files safely, and the private temporary files every copy goes through.

Output files are written atomically: a temp file beside the target, fsync, `os.replace` (or a
hard link, which never clobbers). An existing file is replaced only when asked, and only if it
is a regular file that is not the ledger database (or its -wal/-shm/-journal) under any name:
a symlink, a `..` path or a hard link to the ledger is refused. New files are 0600.

Every temporary file or folder we make is named `…sampleloans-PID-XXXXXXXX…` and holds an
exclusive `flock` for its whole life, so a later run can tell a dead writer's leftover (lock
free, process gone) from a live writer's file (never touched) and remove it: a SIGKILL cannot
be caught, so stale files are cleaned on the next run; SIGTERM and SIGINT clean up at once.
"""

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any, TextIO, cast

from sampleloans import crashpoints, interrupts
from sampleloans.errors import InvalidInput, StorageError

TEMP_TAG = "sampleloans"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
STALE_AFTER_S = 3600
"""A lock-free temp file whose PID is alive is still removed after this long (the PID was
reused by an unrelated process); a live writer always holds its lock, whatever its age."""

_TEMP_FILE = re.compile(
    rf"^\..+\.{TEMP_TAG}-(?P<pid>\d+)-[a-z0-9_]{{8}}\.(?:bag-)?tmp"
    r"(?P<sidecar>-wal|-shm|-journal)?$"
)
BUILD_DIR_SUFFIX = ".bag-tmp"
TEMP_DIR_PURPOSES = ("replay",)
_TEMP_DIR = re.compile(
    rf"^{TEMP_TAG}-(?:{'|'.join(TEMP_DIR_PURPOSES)})-(?P<pid>\d+)-[a-z0-9_]{{8}}$"
)


def ledger_files(ledger: Path) -> list[Path]:
    """The ledger database and the SQLite files beside it that belong to it."""
    return [ledger, *(Path(f"{ledger}{suffix}") for suffix in SQLITE_SIDECARS)]


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: same resolved path, or same device and inode."""
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        return False
    try:
        first, second = a.stat(), b.stat()
    except OSError:  # either does not exist (or cannot be read): not provably the same
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def _label(option: str | None, path: Path) -> str:
    """`--out: PATH` or just `PATH` when the path is a positional argument."""
    return f"{option}: {path}" if option else str(path)


def refuse_ledger(path: Path, ledger: Path | None, option: str | None = None) -> None:
    """Refuse `path` when it is the ledger or one of its SQLite files under any name (exit 2)."""
    if ledger is None:
        return
    for protected in ledger_files(ledger):
        if _same_file(path, protected):
            what = "" if protected == ledger else f"'s {protected.name[len(ledger.name) :]} file"
            raise InvalidInput(
                f"{_label(option, path)} is the ledger database{what or ' itself'} "
                f"({protected}); give another file name"
            )


def refuse_sidecar(path: Path, option: str | None = None) -> None:
    """Refuse `path` when it is the -wal, -shm or -journal of a SQLite database beside it (a
    ledger this command was not given, a backup): SQLite would take a file written there as
    that database's own, delete it at its next write, or lose what it holds (exit 2)."""
    suffix = next((s for s in SQLITE_SIDECARS if path.name.endswith(s)), None)
    if suffix is None or path.name == suffix:
        return
    database = path.with_name(path.name[: -len(suffix)])
    try:
        with database.open("rb") as handle:
            is_database = handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:  # no such file, a folder, unreadable: nothing SQLite would pair it with
        return
    if is_database:
        raise InvalidInput(
            f"{_label(option, path)} is the {suffix} file of the SQLite database {database} "
            "(a ledger or a backup), which SQLite writes and deletes itself; give another "
            "file name"
        )


def refuse_stale_sidecars(path: Path, option: str | None = None) -> None:
    """Refuse a new SQLite database at `path` while a -wal or -journal is beside that name
    (left by a database once there, or put there): SQLite would replay it into the new file at
    its first open, pages of another database and all (exit 3, nothing written)."""
    for suffix in ("-wal", "-journal"):
        stale = Path(f"{path}{suffix}")
        if os.path.lexists(stale):
            raise StorageError(
                f"{_label(option, path)}: {stale.name} is beside it, left by another database "
                "(or put there): SQLite would take its pages into the new one; move it away first"
            )


def refuse_unnamable_sidecars(path: Path, option: str | None = None) -> None:
    """Refuse (exit 3) a SQLite database whose name is too long for the -journal and -wal
    SQLite keeps beside it: a name of 248 to 255 bytes is a legal file name, but SQLite could
    never write it (and looking for them raised a traceback on every command)."""
    longest = name_max(path.parent)
    size = len(path.name.encode("utf-8", "surrogateescape"))
    if size + len("-journal") <= longest or size > longest:  # too long itself: looking says so
        return
    raise StorageError(
        f"{_label(option, path)}: its name is {size} bytes, too long for the NAME-journal and "
        f"NAME-wal SQLite keeps beside a database (this file system names at most {longest} "
        f"bytes): give the database a name of at most {longest - len('-journal')} bytes"
    )


def refuse_new_database(path: Path, option: str | None = None) -> None:
    """Refuse a path for a new SQLite database that is another database's -wal, -shm or
    -journal, beside a -wal or -journal already there, or too long a name for them."""
    refuse_sidecar(path, option)
    refuse_unnamable_sidecars(path, option)
    refuse_stale_sidecars(path, option)


def key_exposure(path: Path, option: str) -> str | None:
    """Why a private key file is exposed (group or others may read or write it), else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise StorageError(f"{option}: cannot read {path}: {exc.strerror}") from None
    if not mode & 0o077:
        return None
    return (
        f"{option}: {path} is accessible by group or others (mode {mode:04o}); a private key "
        f"must be readable by its owner only: run 'chmod 600 {path}'"
    )


def refuse_exposed_key(path: Path, option: str) -> None:
    """Refuse (exit 3, like ssh) a private key file that group or others may read or write,
    for the keys this program writes at 0600 itself (a checkpoint key, a lender root's key)."""
    exposure = key_exposure(path, option)
    if exposure is not None:
        raise StorageError(exposure)


def inspected_mode(path: Path, option: str | None, *, follow: bool = True) -> int | None:
    """The mode of what is at `path` (of a symbolic link itself unless `follow`), None when
    nothing is there. A path the system will not look up (a name longer than it allows, a
    folder on the way that may not be searched) is one line, exit 3: pathlib's `exists()` and
    `is_dir()` raise for those instead of answering."""
    try:
        return (path.stat() if follow else path.lstat()).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if follow and exc.errno == errno.ELOOP:  # a loop of links leads nowhere: nothing there
            return None
        raise StorageError(f"{_label(option, path)}: cannot inspect it: {exc.strerror}") from None


@contextlib.contextmanager
def named_as_typed(built: Path, target: Path, option: str) -> Iterator[None]:
    """An environment error about a file built aside (a full disk while `demo` or `init`
    writes its temp copy) names the file the user asked for, led by the option they typed:
    `--dir: … DIR/ledger.db`, never the hidden `.ledger.db.sampleloans-PID-….tmp`."""
    try:
        yield
    except StorageError as exc:
        said = str(exc)
        if type(exc) is not StorageError or str(built) not in said:
            raise  # a message of its own kind, or about another file: as it is
        raise StorageError(f"{option}: {said.replace(str(built), str(target))}") from None


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, deepest first: what
    `mkdir(parents=True)` makes, and so what a failed command removes again."""
    missing: list[Path] = []
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            break
        missing.append(candidate)
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove the folders a failed command made (deepest first), each only if it is empty:
    one that holds anything, the command's output or another's file, stays."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): its parents are not empty either


def kind_of_file(mode: int) -> str:
    """What a file that is not a regular one is, in words, from its `st_mode` (of `lstat`)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a regular file"


def refuse_non_regular(path: Path, option: str | None = None) -> None:
    """Refuse an existing `path` that is not a regular file: only those may be replaced."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        # a new file (or a dangling symlink: linking refuses it, --force replaces it), or one
        # in a "folder" that is a file: `refuse_missing_folder` names that
        return
    except OSError as exc:
        raise StorageError(f"{_label(option, path)}: cannot inspect it: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise StorageError(f"{_label(option, path)} is a directory; give a file name")
    if not stat.S_ISREG(mode):
        raise StorageError(
            f"{_label(option, path)} is not a regular file (a device, FIFO or socket); only a "
            "regular file may be replaced: give a file name"
        )


def refuse_special_input(path: Path, option: str) -> None:
    """Refuse reading an input that is neither a regular file nor a folder (exit 2): a FIFO
    blocks until someone writes to it and a device such as /dev/zero never ends. A missing
    or unreadable path is left to the reader's own message."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InvalidInput(
            f"{option}: {path} is not a regular file (a device, FIFO or socket); give the "
            "file itself"
        )


# Why an input file the user named cannot be opened, when the fix is theirs: name the right
# file (exit 2, like any other value typed wrong). Anything else the system says at open, and a
# read that fails once the file is open (a failing disk, a vanished mount), is the
# environment's (exit 3). One rule for every option and argument that takes an input file.
_NAMED_WRONG = {
    errno.ENOENT: "does not exist",
    errno.ENOTDIR: "does not exist (a folder on its path is a file)",
    errno.EISDIR: "is a folder, not a file",
    errno.EACCES: "cannot be read (permission denied)",
    errno.EPERM: "cannot be read (operation not permitted)",
    errno.ELOOP: "is a loop of symbolic links",
    errno.ENAMETOOLONG: "is a name too long for the system",
}


def input_error(
    path: Path, option: str, exc: OSError, give: str = ""
) -> InvalidInput | StorageError:
    """The one answer for an input file `option` names that cannot be opened or read."""
    why = _NAMED_WRONG.get(exc.errno or 0)
    if why is None:
        return StorageError(f"{option}: cannot read {path}: {exc.strerror}")
    return InvalidInput(f"{option}: {path} {why}" + (f"; {give}" if give else ""))


def open_input(path: Path, option: str, *, give: str = "", **how: object) -> IO[Any]:
    """Open an input file the user named (`option`, as typed: `--key`, `FILE`), refusing a
    device or FIFO, one missing or a folder (exit 2); `how` are `open`'s keyword arguments."""
    refuse_special_input(path, option)
    try:
        return path.open(**how)  # type: ignore[call-overload]  # open's overloads by mode
    except OSError as exc:
        raise input_error(path, option, exc, give) from None


def open_text_input(path: Path, option: str, *, give: str = "", **how: object) -> TextIO:
    """`open_input` in text mode (`how`: encoding, errors, newline)."""
    return cast(TextIO, open_input(path, option, give=give, mode="r", **how))


def read_input_bytes(path: Path, option: str, *, give: str = "", limit: int | None = None) -> bytes:
    """An input file's bytes (at most `limit` + 1 of them when given): `open_input`'s rule,
    and a read that fails midway is the environment's (exit 3)."""
    with open_input(path, option, give=give, mode="rb") as handle:
        try:
            return bytes(handle.read(-1 if limit is None else limit + 1))
        except OSError as exc:
            raise StorageError(f"{option}: cannot read {path}: {exc.strerror}") from None


def check_input(path: Path, option: str, *, give: str = "") -> None:
    """Refuse, by `open_input`'s rule, an input file that cannot be opened, before any work."""
    open_input(path, option, give=give, mode="rb").close()


SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""


PRIVATE_KEY_MARKS = (b"PRIVATE+KEY+", b"PRIVATE KEY-----")
"""What a private key file holds near its start: a signed-note key (`keys generate`) or a PEM
key (`keys lender-root`, an institution's own). Losing one cannot be undone, unlike a document."""


def refuse_database(path: Path, option: str | None = None, *, keys_too: bool = True) -> None:
    """Refuse replacing a SQLite database (another ledger, a backup) or, unless `keys_too` is
    false (a new key pair replacing the old, asked for with --force), a private key file with
    a document (exit 2), `--force` or not."""
    try:
        with path.open("rb") as handle:
            start = handle.read(4096)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return  # nothing to replace (a missing or non-folder parent: `check_output` says so)
    except OSError as exc:
        raise StorageError(f"{_label(option, path)}: cannot inspect it: {exc.strerror}") from None
    if start.startswith(SQLITE_HEADER):
        raise InvalidInput(
            f"{_label(option, path)} is a SQLite database (a ledger or a backup); a document "
            "never replaces one: give another file name"
        )
    if keys_too and any(mark in start for mark in PRIVATE_KEY_MARKS):
        raise InvalidInput(
            f"{_label(option, path)} is a private key file; a document never replaces one: "
            "give another file name"
        )


Inputs = Sequence[tuple[str, Path]]
"""The files a command reads, each with what it is ("the private key --key", …)."""


def refuse_inputs(path: Path, inputs: Inputs, option: str | None = None) -> None:
    """Refuse an output that is one of the command's own input files under any name (a
    symlink, `./`, a hard link): replacing it would destroy what the command read (exit 2)."""
    for what, source in inputs:
        if _same_file(path, source):
            raise InvalidInput(
                f"{_label(option, path)} is {what} ({source}); the command reads it: give "
                "another file name"
            )


def refuse_write_protected(path: Path, option: str | None = None) -> None:
    """Refuse replacing an existing file this account may not write (mode 0444, say): its
    owner protected it, and --force replaces only a file one may write (exit 3)."""
    if os.path.exists(path) and not os.access(path, os.W_OK):
        mode = stat.S_IMODE(path.stat().st_mode)
        raise StorageError(
            f"{_label(option, path)} is write-protected (mode {mode:04o}); --force replaces "
            "only a file you may write: make it writable (chmod u+w) or give another name"
        )


def refuse_missing_folder(path: Path, option: str | None, *, new_folder: bool = False) -> None:
    """Refuse (exit 3, one line) an output `path` whose folder is missing or not a folder. A
    file is never written into a folder made for it, nor a new output folder made inside
    missing ones (a typo in the path would be created silently): the user makes the folder."""
    directory = path.parent  # Path("x").parent is already Path(".")
    mode = inspected_mode(directory, option)
    if mode is not None and stat.S_ISDIR(mode):
        return
    verb = "create" if new_folder else "write"
    why = (
        f"{directory} is not a folder"
        if mode is not None
        else f"folder {directory} does not exist; create it first"
    )
    raise StorageError(f"{_label(option, path)}: cannot {verb} it: {why}")


def check_output(
    path: Path,
    *,
    force: bool,
    ledger: Path | None = None,
    option: str = "--out",
    inputs: Inputs = (),
    is_key: bool = False,
) -> None:
    """Refuse an output path that is the ledger or one of the command's `inputs`, not a
    regular file, a database (or, unless the output `is_key`, a private key), write-protected,
    in a missing folder, or existing without `force`."""
    refuse_ledger(path, ledger, option)
    refuse_sidecar(path, option)
    refuse_inputs(path, inputs, option)
    refuse_non_regular(path, option)
    refuse_database(path, option, keys_too=not is_key)
    # lexists: a symbolic link to nowhere is there too (the hard link that puts the file in
    # place refuses it, once `checkpoint --out` has kept its checkpoint)
    if os.path.lexists(path) and not force:
        raise StorageError(f"{option}: {path} exists; pass --force to replace it")
    refuse_write_protected(path, option)
    refuse_missing_folder(path, option)


def check_output_after_commit(path: Path, *, force: bool, option: str, **checks: Any) -> None:
    """`check_output`, and a private temp file made (and removed) in its folder: for an output
    written only once a commit is made (a checkpoint's --out, its key's record), a folder this
    account may not write (its mode, a read-only mount) must refuse the command before, not
    leave a commit kept whose file could not be written."""
    check_output(path, force=force, option=option, **checks)
    with private_temp_file(path.parent, path.name, option):
        pass


def check_output_folder(folder: Path, option: str = "--out") -> None:
    """Refuse an output folder that is something else, or that cannot be made because the
    folder it would go in does not exist (checked before any work; made with its files by
    `write_folder_atomic`)."""
    if inspected_mode(folder, option, follow=False) is not None:  # a dangling link too
        mode = inspected_mode(folder, option)
        if mode is None or not stat.S_ISDIR(mode):
            raise StorageError(f"{option}: {folder} is not a folder")
    else:  # a new folder named as a database's -wal, -shm or -journal would break it
        refuse_sidecar(folder, option)
        refuse_missing_folder(folder, option, new_folder=True)


def write_atomic(
    path: Path,
    data: bytes,
    *,
    force: bool = False,
    option: str = "--out",
    ledger: Path | None = None,
    inputs: Inputs = (),
) -> None:
    """Write `data` to `path` atomically with mode 0600; refuse to replace without `force`,
    and never replace the ledger, an input of the command, a write-protected file or anything
    that is not a regular file."""
    check_output(path, force=force, ledger=ledger, option=option, inputs=inputs)
    directory = path.parent  # Path("x").parent is already Path(".")
    try:
        with private_temp_file(directory, path.name, option) as temp:
            _write_all(temp.fd, data)
            # changed meanwhile?
            check_output(path, force=force, ledger=ledger, option=option, inputs=inputs)
            crashpoints.reached("before_replace")
            move_into_place(temp.path, path, force=force, option=option)
            placed(f"{path} was written whole")
    except OSError as exc:
        raise StorageError(f"{option}: cannot write {path}: {exc.strerror}") from None
    fsync_directory(directory)


def placed(what: str) -> None:
    """Note that the run's output is in place, whole (`what` says which), for the line a
    Ctrl-C from now on prints: no rerun is needed (`interrupts.note_finished`)."""
    interrupts.note_finished(what)
    crashpoints.reached("after_replace")


def write_files_atomic(
    files: Sequence[tuple[Path, bytes]],
    *,
    force: bool = False,
    option: str = "--out",
    ledger: Path | None = None,
    inputs: Inputs = (),
    is_key: bool = False,
) -> None:
    """Write a few files (a key pair, `is_key`) as one output: every target is checked first,
    each is written in full and flushed to a private temp file beside it, and only then are all
    moved into place, one right after the other. A kill while they are being written leaves none of
    them (a kill between two files used to leave the first alone, and the rerun refused it as
    existing); one that appeared meanwhile undoes the moves made."""
    checks: dict[str, Any] = {
        "force": force,
        "ledger": ledger,
        "option": option,
        "inputs": inputs,
        "is_key": is_key,
    }
    for path, _ in files:
        check_output(path, **checks)
    try:
        with contextlib.ExitStack() as temps:
            moves = []
            for path, data in files:
                temp = temps.enter_context(private_temp_file(path.parent, path.name, option))
                _write_all(temp.fd, data)
                moves.append((temp.path, path))
            _move_all(moves, checks)
            placed(", ".join(str(path) for path, _ in files) + " were written whole")
    except OSError as exc:
        raise StorageError(f"{option}: cannot write {files[0][0]}: {exc.strerror}") from None
    for folder in sorted({path.parent for path, _ in files}):
        fsync_directory(folder)


def write_folder_atomic(
    folder: Path,
    files: Sequence[tuple[str, bytes]],
    *,
    force: bool = False,
    option: str = "--out",
    ledger: Path | None = None,
    inputs: Inputs = (),
) -> None:
    """Write the named files into `folder` as one output, all built first in a private 0700
    folder (files 0600). A missing `folder` is that private one renamed into place, so it
    appears whole or not at all; into an existing one the files are moved one right after the
    other once all are written (as `write_files_atomic`)."""
    check_output_folder(folder, option)
    exists = folder.is_dir()
    targets = [folder / name for name, _ in files]
    if exists:  # every target refused before any work
        for path in targets:
            check_output(path, force=force, ledger=ledger, option=option, inputs=inputs)
    place = folder if exists else folder.parent  # the build folder is on the target's disk
    with private_build_dir(place, folder.name, option) as build:
        try:
            for name, data in files:
                _write_new(build / name, data)
            if exists:
                moves = [(build / name, folder / name) for name, _ in files]
                checks = {"force": force, "ledger": ledger, "option": option, "inputs": inputs}
                _move_all(moves, checks)
            else:
                if os.path.lexists(folder):
                    raise StorageError(f"{option}: {folder} appeared meanwhile; nothing written")
                crashpoints.reached("before_replace")
                os.rename(build, folder)
            placed(f"{folder} was written whole")
        except OSError as exc:
            raise StorageError(f"{option}: cannot write {folder}: {exc.strerror}") from None
    fsync_directory(place)


def _move_all(moves: Sequence[tuple[Path, Path]], checks: dict[str, Any]) -> None:
    """Move each finished file (temp, target) into place once all are written, the targets
    checked again first (`check_output`'s `checks`); a target that appeared meanwhile undoes
    the new files placed."""
    force, option = bool(checks["force"]), str(checks["option"])
    for _, path in moves:  # changed meanwhile?
        check_output(path, **checks)
    crashpoints.reached("before_replace")
    placed: list[Path] = []
    try:
        for temp, path in moves:
            move_into_place(temp, path, force=force, option=option)
            placed.append(path)
    except BaseException:  # a Ctrl-C between two moves too: never a part of the output
        if not force:  # new files are ours alone; a replaced file cannot be given back
            for path in placed:
                with contextlib.suppress(OSError):
                    path.unlink()
        raise


def _write_new(path: Path, data: bytes) -> None:
    """A new 0600 file holding `data`, flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte to `fd` and flush it to disk."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def move_into_place(temp: Path, path: Path, *, force: bool, option: str | None = None) -> None:
    """Rename the finished temp file to `path`; without `force`, never over an existing file."""
    if force:
        os.replace(temp, path)
        return
    try:  # a hard link never replaces: no clobbering a file created meanwhile
        os.link(temp, path)
    except FileExistsError:
        raise StorageError(f"{_label(option, path)} exists; pass --force to replace it") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            raise
        if os.path.lexists(path):  # a filesystem without hard links: check, then rename
            raise StorageError(
                f"{_label(option, path)} exists; pass --force to replace it"
            ) from None
        os.replace(temp, path)


def fsync_file(path: Path) -> None:
    """Flush a file's contents to disk (OSError on a full or failing disk: the caller says so)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Flush a folder's entries to disk (best effort: some filesystems refuse it)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class TempFile:
    """A private temporary file: its path and an open descriptor holding its lock."""

    path: Path
    fd: int


NAME_MAX_BYTES = 255
"""The longest file name (in bytes) Linux file systems take, when the folder does not say."""
_TEMP_NAME_EXTRA = len(f"..{TEMP_TAG}-{2**22}-xxxxxxxx{BUILD_DIR_SUFFIX}-journal")
"""What a temp name adds to its stem, at most: the tag, a PID, mkstemp's 8 letters, the
suffix, and the longest SQLite file kept beside a temp database."""


def name_max(folder: Path) -> int:
    """The longest file name `folder`'s file system takes, in bytes."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):  # a folder not there (yet), or no answer: the usual limit
        return NAME_MAX_BYTES


def _temp_stem(folder: Path, stem: str) -> str:
    """`stem` cut (at a character's boundary) so that a temp name made of it, and SQLite's
    -journal beside it, fits the file system: a target named with 230 bytes is a legal name,
    and its temp file must not be the one refused as too long."""
    room = name_max(folder) - _TEMP_NAME_EXTRA
    encoded = stem.encode("utf-8", "surrogateescape")
    if len(encoded) <= room:
        return stem
    return encoded[: max(room, 1)].decode("utf-8", "ignore") or "x"


@contextlib.contextmanager
def private_temp_file(folder: Path, stem: str, option: str | None = None) -> Iterator[TempFile]:
    """A new empty 0600 file `.STEM.sampleloans-PID-XXXXXXXX.tmp` in `folder`, locked while
    we live and removed (with any SQLite -wal/-shm/-journal) when the block ends or on
    SIGTERM; stale ones of dead processes in `folder` are removed first."""
    remove_stale_temps(folder)
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{_temp_stem(folder, stem)}.{TEMP_TAG}-{os.getpid()}-",
            suffix=".tmp",
            dir=folder,
        )
    except OSError as exc:
        prefix = f"{option}: " if option else ""
        raise StorageError(f"{prefix}cannot write in {folder}: {exc.strerror}") from None
    path = Path(name)
    try:
        _lock(fd)
        with _cleanup_on_termination():
            yield TempFile(path, fd)
    finally:
        os.close(fd)
        for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_SIDECARS)):
            candidate.unlink(missing_ok=True)


@contextlib.contextmanager
def private_build_dir(folder: Path, stem: str, option: str | None = None) -> Iterator[Path]:
    """A new 0700 folder `.STEM.sampleloans-PID-XXXXXXXX.bag-tmp` in `folder` to build a
    folder output in (then renamed into place), locked while we live and removed when the block
    ends or on SIGTERM; stale ones of dead processes (a SIGKILL) in `folder` are removed first."""
    remove_stale_temps(folder)
    try:
        path = Path(
            tempfile.mkdtemp(
                prefix=f".{_temp_stem(folder, stem)}.{TEMP_TAG}-{os.getpid()}-",
                suffix=BUILD_DIR_SUFFIX,
                dir=folder,
            )
        )
    except OSError as exc:
        prefix = f"{option}: " if option else ""
        raise StorageError(f"{prefix}cannot write in {folder}: {exc.strerror}") from None
    fd = os.open(path, os.O_RDONLY)
    try:
        _lock(fd)
        with _cleanup_on_termination():
            yield path
    finally:
        os.close(fd)
        if path.is_dir() and not path.is_symlink():  # gone once renamed into place
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def private_temp_dir(purpose: str) -> Iterator[Path]:
    """A new 0700 folder `sampleloans-PURPOSE-PID-XXXXXXXX` in TMPDIR, locked while we live
    and removed when the block ends or on SIGTERM; stale ones of dead processes go first."""
    if purpose not in TEMP_DIR_PURPOSES:
        raise ValueError(f"unknown temp folder purpose {purpose!r}")
    parent = Path(tempfile.gettempdir())
    remove_stale_temps(parent)
    try:
        path = Path(tempfile.mkdtemp(prefix=f"{TEMP_TAG}-{purpose}-{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise StorageError(f"cannot write in {parent} (TMPDIR): {exc.strerror}") from None
    fd = os.open(path, os.O_RDONLY)
    try:
        _lock(fd)
        with _cleanup_on_termination():
            yield path
    finally:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def exclusive_lock(path: Path, option: str | None = None) -> Iterator[None]:
    """Hold an exclusive `flock` on an existing file while the block runs, waiting for any
    other holder (other processes doing a read-modify-write of what the file guards)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise StorageError(f"{_label(option, path)}: cannot open it: {exc.strerror}") from None
    try:
        with contextlib.suppress(OSError):  # no flock here (some network filesystems)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int) -> None:
    """Take the exclusive lock that marks a temp file as a live writer's (if supported)."""
    with contextlib.suppress(OSError):  # no flock here (some network filesystems): PID only
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove our temp files and folders in `folder` left by dead processes; return them.

    A candidate is ours (name pattern, owned by this user), its lock is free, and its process
    is gone or it is older than STALE_AFTER_S. A live writer's file is never removed.
    """
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    removed = []
    for name in names:
        match = _TEMP_FILE.match(name) or _TEMP_DIR.match(name)
        if match is None:
            continue
        path = folder / name
        main = path if match.groupdict().get("sidecar") is None else _main_of(path)
        if _is_stale(main, path, int(match["pid"])):
            _remove_path(path)
            removed.append(path)
    return removed


def _main_of(sidecar: Path) -> Path:
    """The temp file a SQLite -wal/-shm/-journal belongs to."""
    for suffix in SQLITE_SIDECARS:
        if sidecar.name.endswith(suffix):
            return sidecar.with_name(sidecar.name[: -len(suffix)])
    return sidecar


def _is_stale(main: Path, path: Path, pid: int) -> bool:
    """Whether `path` (or the temp file `main` it belongs to) is a dead writer's leftover."""
    try:
        info = path.lstat()
    except OSError:
        return False
    if info.st_uid != os.geteuid() or stat.S_ISLNK(info.st_mode):
        return False
    if _lock_is_held(main):
        return False
    old = time.time() - info.st_mtime > STALE_AFTER_S
    return old or not _process_alive(pid)


def _lock_is_held(path: Path) -> bool:
    """Whether a live process holds the lock of a temp file or folder (False if it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False  # the main file is gone: only the PID and the age decide
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False  # no flock on this filesystem: only the PID and the age decide
    finally:
        os.close(fd)  # also releases the lock we may have taken
    return False


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_path(path: Path) -> None:
    """Remove a stale temp file or folder; one that vanished meanwhile (or that a read-only
    folder keeps) is left to a later run."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


class Terminated(SystemExit):
    """Raised in the main thread on SIGTERM/SIGHUP so that `finally` blocks remove temp files."""


def _not_an_interrupt(record: logging.LogRecord) -> bool:
    """False for a record that logs an interrupt (SIGTERM's `Terminated`, Ctrl-C) with its
    traceback, or an error raised while one was on its way out: SQLAlchemy's pool logs one
    caught while it resets a connection, then raises it again, and a reset that fails because
    the interrupt cut a statement short (the connection is then discarded); the command
    reports the interrupt (exit 130 or 143) in one line, without a traceback."""
    exc = record.exc_info[1] if record.exc_info else None
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if not isinstance(exc, Exception):
            return False
        seen.add(id(exc))
        exc = exc.__context__
    return True


def quiet_reraised_interrupts() -> None:
    """Keep the tracebacks of interrupts that a library logs and raises again off stderr: a
    filter on `logging.lastResort`, the handler that prints log records when the program
    configures none (this CLI configures none)."""
    if logging.lastResort is not None:
        logging.lastResort.addFilter(_not_an_interrupt)


@contextlib.contextmanager
def _cleanup_on_termination() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into an exception while a temp file exists (SIGINT already
    raises KeyboardInterrupt), so the cleanup runs; other handlers are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed: dict[int, Callable[[int, FrameType | None], None] | int | None] = {}
    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) == signal.SIG_DFL:
            installed[number] = signal.signal(number, _raise_terminated)
    previous_hook = sys.unraisablehook
    if installed:
        sys.unraisablehook = _redeliver_terminated(previous_hook)
    try:
        yield
    finally:
        for signum, previous in installed.items():
            signal.signal(signum, previous)
        sys.unraisablehook = previous_hook


def _raise_terminated(number: int, _frame: FrameType | None) -> None:
    """Signal handler: unwind (running every cleanup) and exit as the signal would, 128+N."""
    raise Terminated(128 + number)


def _redeliver_terminated(
    previous: Callable[["sys.UnraisableHookArgs"], object],
) -> Callable[["sys.UnraisableHookArgs"], None]:
    """An unraisable-exception hook that raises `Terminated` again when it was raised where
    Python drops exceptions (a weakref callback such as importlib's module locks, a `__del__`):
    there it was printed as "Exception ignored" and the command went on."""

    def hook(unraisable: "sys.UnraisableHookArgs") -> None:
        """Raise a dropped termination again; report anything else as before."""
        if isinstance(unraisable.exc_value, Terminated):
            _terminate_soon(unraisable.exc_value)
            return
        previous(unraisable)

    return hook


def _terminate_soon(terminated: Terminated) -> None:
    """Raise `terminated` again a millisecond from now, from a SIGALRM handler: by then the
    context that dropped it has returned (raised at once, it would be dropped again, in this
    hook), so it unwinds the command, running every cleanup."""

    def raise_again(_number: int, _frame: FrameType | None) -> None:
        """SIGALRM handler: the termination, raised where it unwinds."""
        raise terminated

    signal.signal(signal.SIGALRM, raise_again)
    signal.setitimer(signal.ITIMER_REAL, 0.001)


def temp_names(folder: Path) -> Sequence[Path]:
    """Our temp files and folders present in `folder` (live or stale), sorted."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [folder / n for n in names if _TEMP_FILE.match(n) or _TEMP_DIR.match(n)]


OPEN_ADVICE = "give the ledger file itself, or a new file name for a new ledger"
"""What a command that opens or creates a ledger asks for when its --db is a broken link."""


def dangling_link_problem(path: Path, advice: str = OPEN_ADVICE) -> str | None:
    """Why `path` names no file although something is there (a symbolic link to nothing, or a
    loop of them), ending with `advice`; None when it is not such a link. `os.path` asks,
    not `Path`: its `is_symlink` raises on a name too long for the system (a traceback on
    every command), where this answers None and the caller names that error."""
    if os.path.islink(path) and not os.path.exists(path):
        try:
            os.stat(path)
        except OSError as exc:  # a loop of links leads nowhere either, though each one exists
            if exc.errno == errno.ELOOP:
                return (
                    f"--db: {path} is a loop of symbolic links (to {os.readlink(path)}, which "
                    f"leads back); {advice}"
                )
        return (
            f"--db: {path} is a symbolic link to {os.readlink(path)}, which does not exist; "
            f"{advice}"
        )
    return None
