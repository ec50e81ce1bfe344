"""Issue 10, items 4, 14 (environment) and 18: files we write, files we must never write, and
the temporary files a killed command leaves behind.

- item 4: no command writes over the ledger (or its -wal/-shm/-journal) under any name, and
  `--force` replaces only a regular file;
- item 14: `--db` at an empty file or another application's SQLite file is refused without a
  single byte changed; a read-only mount, an immutable file and a full disk give one line and
  exit 3 (reads keep working where the medium allows);
- item 18: a SIGKILLed report, backup, restore, verify or init leaves a temp file that the next
  run removes; SIGTERM removes it at once; a live writer's temp file is never touched.
"""

import functools
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from sampleloans import crashpoints, db, fileio
from sampleloans.cli import app
from sampleloans.errors import InvalidInput, StorageError
from sampleloans.services import maintenance
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, ctx_for
from tests.warm_cli import Done, WarmCli

AS = ["--as", CURATOR]
GEN = ["--generated-at", "2025-04-01T09:00:00Z"]
REPORT = ["report", "custody", "--sample", "CE5C0300YJFM00307", *GEN]
WRITE = [
    "institutions", "add", "XYZ", "--name", "X Y Z Institute", "--country", "China",
    "--city", "Beijing", "--kind", "borrower",
]  # fmt: skip


# ---------------------------------------------------------------- helpers


def state_of(path: Path) -> tuple[str, int, int]:
    """A file's content digest, modification time (ns) and size: equal means untouched."""
    info = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mtime_ns, info.st_size


def folder_state(folder: Path) -> dict[str, tuple[str, int, int]]:
    """The state of every regular file in a folder (new -wal/-shm files show up too)."""
    return {p.name: state_of(p) for p in sorted(folder.iterdir()) if p.is_file()}


def one_error_line(stderr: str) -> str:
    """The single `Error: …` line of a refusal (and assert there is nothing else)."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmCli]:
    """Real CLI processes forked from one that has done the imports (tests/warm_cli.py): each
    run, and each crash point's kill, pays for the command, not ~1.3 s of imports."""
    server = WarmCli(tmp_path_factory.mktemp("warm"))
    yield server
    server.close()


class Cli(Protocol):
    """The `cli` fixture: cli(db_file, *args, crash_at=…, **env)."""

    def __call__(
        self, db_file: Path, *args: str, crash_at: str | None = ..., **env: str
    ) -> Done: ...


@pytest.fixture
def cli(warm: WarmCli) -> Cli:
    """Run the real CLI on `db_file` as the curator (optionally killing itself at a point)."""

    def call(db_file: Path, *args: str, crash_at: str | None = None, **env: str) -> Done:
        environment = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
        environment.update(
            SAMPLELOANS_DB=str(db_file),
            SAMPLELOANS_USER=CURATOR,
            SAMPLELOANS_NOW="2025-04-01T09:00:00Z",
            COLUMNS="120",
            **env,
        )
        if crash_at:
            environment[crashpoints.ENV_VAR] = crash_at
        return warm.run(list(args), Path.cwd(), environment)

    return call


def verified(path: Path) -> list[str]:
    """verify's problems on a ledger file."""
    engine = db.open_engine(db.url_for_path(path))
    try:
        return [p.message for p in verify(engine).problems]
    finally:
        engine.dispose()


@pytest.fixture
def ledger(engine: Engine, db_path: Path, cli_env: dict[str, str]) -> Path:
    """The test ledger, closed (checkpointed), with the CLI pointed at it."""
    engine.dispose()
    return db_path


def catalogue(path: Path, count: int) -> Path:
    """A sample catalogue CSV of `count` new 1 mg samples (an import that writes a lot)."""
    header = (
        "code,mission,origin,depth_top_cm,depth_bottom_cm,material_type,physical_form,"
        "purpose_class,mass,mass_source,storage_location,condition,record,source\n"
    )
    rows = [
        f"CE5Z0900YJFM{i:05d},CE-5,scoop,,,regolith,powder,research,1 mg,illustrative,"
        "NAOC N2 cabinet A,pristine,illustrative,test catalogue\n"
        for i in range(count)
    ]
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


# ------------------------------------------------- item 4: never over the ledger


def ledger_aliases(ledger: Path) -> Iterator[tuple[str, Path]]:
    """Every way to name the ledger or its SQLite files: itself, `..`, symlinks, hard links."""
    folder = ledger.parent
    (folder / "sub").mkdir(exist_ok=True)
    yield "itself", ledger
    yield "dot-dot", folder / "sub" / ".." / ledger.name
    (folder / "link.pdf").symlink_to(ledger)
    yield "symlink", folder / "link.pdf"
    os.link(ledger, folder / "hard.pdf")
    yield "hard link", folder / "hard.pdf"
    for suffix in fileio.SQLITE_SIDECARS:
        yield suffix, Path(f"{ledger}{suffix}")
    (folder / "wal-link.pdf").symlink_to(Path(f"{ledger}-wal"))  # dangling until a writer runs
    yield "symlink to -wal", folder / "wal-link.pdf"


def test_report_force_refuses_the_ledger_under_every_name(ledger: Path, runner: CliRunner) -> None:
    before = state_of(ledger)
    for name, alias in ledger_aliases(ledger):
        result = runner.invoke(app, [*AS, *REPORT, "--out", str(alias), "--force"])
        assert result.exit_code == 2, (name, result.stderr)
        assert "is the ledger database" in one_error_line(result.stderr), name
        assert state_of(ledger) == before, f"{name}: the ledger was changed"
    assert fileio.temp_names(ledger.parent) == []
    assert verified(ledger) == []


def test_backup_force_refuses_the_ledger_under_every_name(ledger: Path, runner: CliRunner) -> None:
    before = state_of(ledger)
    for name, alias in ledger_aliases(ledger):
        result = runner.invoke(app, [*AS, "backup", str(alias), "--force"])
        assert result.exit_code == 2, (name, result.stderr)
        assert "is the ledger database" in one_error_line(result.stderr), name
        assert state_of(ledger) == before, f"{name}: the ledger was changed"
    assert verified(ledger) == []


def test_service_refuses_a_hard_link_to_the_ledger(engine: Engine, db_path: Path) -> None:
    engine.dispose()
    alias = db_path.with_name("innocent.db")
    os.link(db_path, alias)
    with pytest.raises(InvalidInput, match="is the ledger database itself"):
        maintenance.backup(engine, ctx_for(COMPLIANCE), alias, force=True)
    with pytest.raises(InvalidInput, match="is the ledger database's -shm file"):
        fileio.write_atomic(Path(f"{db_path}-shm"), b"x", force=True, ledger=db_path)
    assert not Path(f"{db_path}-shm").exists()


@pytest.fixture
def special_files() -> Iterator[dict[str, Path]]:
    """A FIFO, a Unix socket, a directory and (where mknod is allowed) a character device."""
    folder = Path(tempfile.mkdtemp(prefix="i10-special-", dir="/tmp"))  # short: socket paths
    made = {"fifo": folder / "fifo", "socket": folder / "sock", "directory": folder / "dir"}
    os.mkfifo(made["fifo"])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(made["socket"]))
    made["directory"].mkdir()
    try:
        os.mknod(folder / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        made["device"] = folder / "null"
    except OSError as exc:
        print(f"no device node in this test (mknod refused: {exc.strerror})")
    try:
        yield made
    finally:
        server.close()
        shutil.rmtree(folder)


KINDS = {"fifo": stat.S_ISFIFO, "socket": stat.S_ISSOCK, "directory": stat.S_ISDIR}


@pytest.mark.parametrize("command", ["report", "backup"])
def test_force_replaces_only_a_regular_file(
    ledger: Path, runner: CliRunner, special_files: dict[str, Path], command: str
) -> None:
    for kind, path in special_files.items():
        args = [*REPORT, "--out", str(path)] if command == "report" else ["backup", str(path)]
        result = runner.invoke(app, [*AS, *args, "--force"])
        assert result.exit_code == 3, (kind, result.stderr)
        line = one_error_line(result.stderr)
        assert "not a regular file" in line or "is a directory" in line or "folder" in line, line
        is_kind = KINDS.get(kind, stat.S_ISCHR)
        assert is_kind(path.lstat().st_mode), f"{kind} was replaced by {command} --force"
        assert fileio.temp_names(path.parent) == []


def test_write_atomic_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match="not a regular file"):
        fileio.write_atomic(fifo, b"%PDF-", force=True)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


# ---------------------------------------------- item 14: files that are not our ledger


def foreign_files(folder: Path) -> dict[str, Path]:
    """An empty file, another application's SQLite files (rollback and WAL mode), a text file."""
    files = {"empty": folder / "empty.db", "text": folder / "notes.db"}
    files["empty"].touch()
    files["text"].write_text("not a database at all\n" * 50)
    for mode in ("delete", "wal"):
        path = folder / f"other-{mode}.db"
        with sqlite3.connect(path) as connection:
            connection.execute(f"PRAGMA journal_mode = {mode}")
            connection.execute("CREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT)")
            connection.execute("INSERT INTO thing (name) VALUES ('theirs')")
        connection.close()
        files[f"sqlite-{mode}"] = path
    return files


COMMANDS = {
    "read": ["status", "--institution", "OU"],
    "write": WRITE,
    "verify": ["verify"],
    "backup": ["backup", "BACKUP"],
    "report": [*REPORT, "--out", "OUT"],
    "restore": ["restore", "BACKUP_FILE", "--force"],
    "import": ["import", "CATALOGUE"],
}


def test_db_that_is_not_our_ledger_is_refused_and_never_written(
    ledger: Path, runner: CliRunner, tmp_path: Path
) -> None:
    work = tmp_path / "foreign"
    work.mkdir()
    files = foreign_files(work)
    good_backup = tmp_path / "good-backup.db"
    assert runner.invoke(app, [*AS, "backup", str(good_backup)]).exit_code == 0
    csv = catalogue(tmp_path / "cat.csv", 3)
    time.sleep(0.01)  # a write now would show in mtime
    before = folder_state(work)
    for kind, path in files.items():
        for name, args in COMMANDS.items():
            args = [
                {
                    "BACKUP": str(tmp_path / f"b-{kind}-{name}.db"),
                    "OUT": str(tmp_path / f"r-{kind}.pdf"),
                    "BACKUP_FILE": str(good_backup),
                    "CATALOGUE": str(csv),
                }.get(a, a)
                for a in args
            ]
            result = runner.invoke(app, ["--db", str(path), *AS, *args])
            assert result.exit_code == 3, (kind, name, result.stderr, result.stdout)
            line = one_error_line(result.stderr)
            assert str(path) in line, line
            assert folder_state(work) == before, f"{name} changed {kind} (or made -wal/-shm)"
    assert not list(tmp_path.glob("b-*")) and not list(tmp_path.glob("r-*"))


def test_check_ledger_file_says_what_the_file_is(tmp_path: Path, engine: Engine) -> None:
    files = foreign_files(tmp_path)
    expected = {
        "empty": "is an empty file, not a ledger",
        "text": "is not a ledger database",
        "sqlite-delete": "is a SQLite database of another application",
        "sqlite-wal": "is a SQLite database of another application",
    }
    for kind, path in files.items():
        before = state_of(path)
        with pytest.raises(StorageError, match=expected[kind]):
            db.open_engine(db.url_for_path(path))
        assert state_of(path) == before
    with pytest.raises(StorageError, match="not a regular file"):
        db.check_ledger_file(tmp_path)
    engine.dispose()
    db.check_ledger_file(tmp_path / "ledger.db")  # ours: no error


def test_a_foreign_database_in_use_by_its_application_is_left_alone(tmp_path: Path) -> None:
    theirs = tmp_path / "app.db"
    with closing(sqlite3.connect(theirs, isolation_level=None)) as app_connection:
        app_connection.execute("PRAGMA journal_mode = WAL")
        app_connection.execute("CREATE TABLE note (body TEXT)")
        app_connection.execute("INSERT INTO note VALUES ('in the -wal only')")
        data = ("app.db", "app.db-wal")  # (the -shm is shared memory every reader marks)
        before = {name: state_of(tmp_path / name) for name in data}
        with pytest.raises(StorageError, match="another application"):
            db.open_engine(db.url_for_path(theirs))
        assert {name: state_of(tmp_path / name) for name in data} == before
        assert app_connection.execute("SELECT body FROM note").fetchall() == [("in the -wal only",)]


# --------------------------------------- item 14: read-only, immutable, full disk


PRIVATE_MOUNT_DRIVER = textwrap.dedent(
    """
    import json, os, shutil, subprocess, sys
    spec = json.loads(sys.argv[1])
    mnt = spec["mount"]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + spec["size"], "tmpfs", mnt],
                   check=True)
    ledger = os.path.join(mnt, "ledger.db")
    shutil.copy(spec["ledger"], ledger)
    if spec["mode"] == "ro":
        subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
    else:  # leave only spec["free"] bytes
        with open(os.path.join(mnt, "filler"), "wb") as handle:
            free = shutil.disk_usage(mnt).free - spec["free"]
            handle.write(b"\\0" * max(free, 0))
    import hashlib
    def state():
        with open(ledger, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest(), os.stat(ledger).st_mtime_ns
    before = state()
    results = []
    for args in spec["commands"]:
        done = subprocess.run([sys.executable, "-m", "sampleloans", "--db", ledger, *args],
                              capture_output=True, text=True, env=spec["env"])
        results.append({"args": args, "rc": done.returncode, "stdout": done.stdout,
                        "stderr": done.stderr})
    print(json.dumps({"results": results, "unchanged": state() == before,
                      "files": sorted(os.listdir(mnt))}))
    """
)


def in_private_mount(
    ledger: Path, tmp_path: Path, mode: str, commands: list[list[str]], *, free: int = 0
) -> dict:
    """Run CLI commands on a copy of the ledger on a tmpfs mounted read-only (`ro`) or nearly
    full (`full`), inside a private mount namespace (nothing is mounted for anyone else)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a private tmpfs")
    mount = tmp_path / f"mnt-{mode}"
    mount.mkdir()
    env = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    env.update(SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW="2025-04-01T09:00:00Z", COLUMNS="120")
    spec = {
        "mount": str(mount), "ledger": str(ledger), "mode": mode, "free": free,
        "size": "4m" if mode == "ro" else "2m", "commands": commands, "env": env,
    }  # fmt: skip
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c",
         PRIVATE_MOUNT_DRIVER, json.dumps(spec)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ledger_on_a_read_only_mount_reads_and_refuses_writes(ledger: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    copy = tmp_path / "copy.db"
    outcome = in_private_mount(
        ledger,
        tmp_path,
        "ro",
        [
            ["samples", "list", "--json"],
            ["verify"],
            [*REPORT, "--out", str(out)],
            ["backup", str(copy)],
            WRITE,
            ["import", str(catalogue(tmp_path / "cat.csv", 5))],
        ],
    )
    read, check, report, backup, write, bulk = outcome["results"]
    assert read["rc"] == 0 and "CE5C0300YJFM00307" in read["stdout"], read["stderr"]
    assert check["rc"] == 0 and "verify: OK" in check["stdout"], check
    assert report["rc"] == 0 and out.read_bytes().startswith(b"%PDF-"), report["stderr"]
    assert backup["rc"] == 0 and verified(copy) == [], backup["stderr"]
    for refused in (write, bulk):
        assert refused["rc"] == 3, refused
        line = one_error_line(refused["stderr"])
        assert "cannot write the ledger" in line and "read-only file system" in line, line
    assert outcome["unchanged"]
    assert outcome["files"] == ["ledger.db"]


def test_import_on_a_full_disk_is_one_line_and_changes_nothing(
    ledger: Path, tmp_path: Path
) -> None:
    csv = catalogue(tmp_path / "cat.csv", 2000)
    outcome = in_private_mount(
        ledger, tmp_path, "full", [["import", str(csv)], ["verify"]], free=96 * 1024
    )
    bulk, check = outcome["results"]
    assert bulk["rc"] == 3, bulk
    assert "is full" in one_error_line(bulk["stderr"])
    assert outcome["unchanged"]
    assert check["rc"] == 0 and "verify: OK" in check["stdout"], check


def test_read_on_a_full_disk_is_one_line(ledger: Path, tmp_path: Path) -> None:
    outcome = in_private_mount(ledger, tmp_path, "full", [["samples", "list"]], free=0)
    (read,) = outcome["results"]
    if read["rc"] == 0:  # SQLite found room for its -shm after all: the read simply worked
        assert "CE5C0300YJFM00307" in read["stdout"]
    else:
        assert read["rc"] == 3, read
        assert "is full" in one_error_line(read["stderr"])
    assert outcome["unchanged"]


def limited_file_size(limit_bytes: int) -> None:
    """preexec_fn: writes past `limit_bytes` fail with EFBIG (Python ignores SIGXFSZ)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def test_file_size_limit_during_import_and_report_is_one_line(ledger: Path, tmp_path: Path) -> None:
    before = state_of(ledger)
    environment = {k: v for k, v in os.environ.items() if k != crashpoints.ENV_VAR}
    environment.update(SAMPLELOANS_DB=str(ledger), SAMPLELOANS_USER=CURATOR, COLUMNS="120")
    csv = catalogue(tmp_path / "cat.csv", 2000)
    out = tmp_path / "r.pdf"
    # an open reader keeps the 32 KiB -shm in place, so the small limit hits the PDF itself
    with closing(sqlite3.connect(ledger)) as reader:
        reader.execute("SELECT count(*) FROM ledger_event").fetchone()
        for args, limit_bytes in (
            (["import", str(csv)], 64 * 1024),
            ([*REPORT, "--out", str(out)], 8 * 1024),
        ):
            done = subprocess.run(
                [sys.executable, "-m", "sampleloans", *args],
                capture_output=True,
                text=True,
                env=environment,
                preexec_fn=functools.partial(limited_file_size, limit_bytes),
                timeout=300,
            )
            assert done.returncode == 3, (args, done.stderr)
            one_error_line(done.stderr)
    assert state_of(ledger) == before
    assert not out.exists() and fileio.temp_names(tmp_path) == []
    assert verified(ledger) == []


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Paths made immutable with chattr +i (even root cannot write them); undone afterwards."""
    made: list[Path] = []
    yield made
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def chattr_immutable(path: Path, made: list[Path]) -> None:
    """chattr +i, or skip with the reason where the file system or the user cannot."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr(1) is not installed")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {done.stderr.strip()}")
    made.append(path)


def test_immutable_ledger_reads_and_refuses_writes(
    cli: Cli, ledger: Path, tmp_path: Path, immutable: list[Path]
) -> None:
    chattr_immutable(ledger, immutable)
    before = state_of(ledger)
    read = cli(ledger, "samples", "list", "--json")
    assert read.returncode == 0 and "CE5C0300YJFM00307" in read.stdout, read.stderr
    for args in (WRITE, ["import", str(catalogue(tmp_path / "cat.csv", 5))]):
        write = cli(ledger, *args)
        assert write.returncode == 3, write.stderr
        line = one_error_line(write.stderr)
        assert "cannot write the ledger" in line and "read-only" in line, line
    assert state_of(ledger) == before
    check = cli(ledger, "verify")
    assert check.returncode == 0, check.stdout


def test_ledger_in_a_folder_sqlite_cannot_write_is_one_line(
    cli: Cli, ledger: Path, immutable: list[Path]
) -> None:
    chattr_immutable(ledger.parent, immutable)  # SQLite cannot create ledger.db-shm there
    before = state_of(ledger)
    for args in (["samples", "list"], ["verify"], WRITE):
        result = cli(ledger, *args)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert "cannot open the ledger" in one_error_line(result.stderr)
        assert "damaged" not in result.stdout  # verify must not call the environment tamper
    assert state_of(ledger) == before


def test_storage_error_maps_sqlite_environment_codes() -> None:
    def error(name: str) -> sqlite3.OperationalError:
        exc = sqlite3.OperationalError("x")
        exc.sqlite_errorname = name
        return exc

    path = Path("/srv/ledger.db")
    assert "locked by another writer" in str(db.storage_error(error("SQLITE_BUSY"), path))
    assert "cannot write the ledger" in str(
        db.storage_error(error("SQLITE_READONLY_DBMOVED"), path)
    )
    assert "is full" in str(db.storage_error(error("SQLITE_FULL"), path))
    assert "cannot open the ledger" in str(db.storage_error(error("SQLITE_CANTOPEN"), path))
    assert "damaged" in str(db.storage_error(error("SQLITE_CORRUPT"), path))
    assert db.storage_error(error("SQLITE_CORRUPT"), path, damage=False) is None
    assert db.storage_error(error("SQLITE_CONSTRAINT_UNIQUE"), path) is None
    assert db.storage_error(ValueError("x"), path) is None


# ------------------------------------------------ item 18: temp files of killed runs


def test_killed_report_leaves_a_temp_file_the_next_report_removes(
    cli: Cli, ledger: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "custody.pdf"
    out.parent.mkdir()
    killed = cli(ledger, *REPORT, "--out", str(out), crash_at="before_replace")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(fileio.temp_names(out.parent)) == 1 and not out.exists()
    again = cli(ledger, *REPORT, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["custody.pdf"]


def test_killed_backup_leaves_a_temp_file_the_next_backup_removes(
    cli: Cli, ledger: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    killed = cli(ledger, "backup", str(folder / "a.db"), crash_at="before_replace")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (left,) = fileio.temp_names(folder)
    assert stat.S_IMODE(left.stat().st_mode) == 0o600 and left.stat().st_size > 0  # a copy
    again = cli(ledger, "backup", str(folder / "b.db"))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["b.db"]


def test_killed_restore_leaves_a_copy_that_the_next_run_removes(
    cli: Cli, ledger: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "backup.db"
    assert cli(ledger, "backup", str(backup)).returncode == 0
    before = state_of(ledger)
    killed = cli(ledger, "restore", str(backup), "--force", crash_at="before_restore_load")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [p.name for p in fileio.temp_names(ledger.parent)], "the crash point left no copy"
    assert state_of(ledger) == before
    status = cli(ledger, "samples", "list")  # any command on this ledger cleans its folder
    assert status.returncode == 0, status.stderr
    assert fileio.temp_names(ledger.parent) == []
    restored = cli(ledger, "restore", str(backup), "--force")
    assert restored.returncode == 0, restored.stderr
    assert fileio.temp_names(ledger.parent) == []


def test_killed_restore_into_a_new_ledger_leaves_no_file_there(
    cli: Cli, ledger: Path, tmp_path: Path
) -> None:
    backup = tmp_path / "backup.db"
    assert cli(ledger, "backup", str(backup)).returncode == 0
    fresh = tmp_path / "fresh" / "ledger.db"
    fresh.parent.mkdir()
    killed = cli(fresh, "restore", str(backup), crash_at="before_restore_load")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not fresh.exists()  # not even an empty file that later commands would refuse
    restored = cli(fresh, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["ledger.db"]
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert verified(fresh) == []


def test_killed_verify_leaves_its_replay_the_next_verify_removes(
    cli: Cli, ledger: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    killed = cli(ledger, "verify", crash_at="after_replay", TMPDIR=str(scratch))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (left,) = fileio.temp_names(scratch)
    assert (left / "replay.db").stat().st_size > 0  # a whole replayed copy of the ledger
    again = cli(ledger, "verify", TMPDIR=str(scratch))
    assert again.returncode == 0, again.stdout
    assert list(scratch.iterdir()) == []


def test_killed_init_leaves_no_ledger_and_the_next_init_cleans_up(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "new" / "ledger.db"
    args = ["init", "--curator-email", "li@naoc.example", "--curator-name", "Li Na"]
    killed = cli(path, *args, crash_at="before_commit")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not path.exists() and fileio.temp_names(path.parent)
    again = cli(path, *args)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.db"]


HOLDER = textwrap.dedent(
    """
    import signal
    import sys
    from pathlib import Path
    from sampleloans import fileio
    # a shell that starts a job in the background makes it ignore SIGINT, and Python then keeps
    # it ignored: give this holder the terminal's default so the test is the same everywhere
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with fileio.private_temp_file(Path(sys.argv[1]), "held.pdf") as temp:
        print(temp.path, flush=True)
        sys.stdin.readline()
    """
)


def hold_temp_file(folder: Path) -> tuple[subprocess.Popen[str], Path]:
    """A live process holding one of our temp files in `folder`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    return holder, Path(holder.stdout.readline().strip())


def test_a_live_writers_temp_file_is_never_removed(cli: Cli, ledger: Path, tmp_path: Path) -> None:
    holder, held = hold_temp_file(tmp_path)
    try:
        old = time.time() - 2 * fileio.STALE_AFTER_S
        os.utime(held, (old, old))  # even an old one: its lock says its writer lives
        assert fileio.remove_stale_temps(tmp_path) == []
        report = cli(ledger, *REPORT, "--out", str(tmp_path / "r.pdf"))
        assert report.returncode == 0, report.stderr
        assert held.exists()
    finally:
        holder.kill()
        holder.wait()
    assert fileio.remove_stale_temps(tmp_path) == [held]
    assert not held.exists()


def test_unlocked_temp_files_go_only_when_their_process_is_gone(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid, live_pid = int(gone.stdout), os.getpid()
    dead = tmp_path / f".a.pdf.sampleloans-{dead_pid}-abcdefgh.tmp"
    dead_journal = Path(f"{dead}-journal")
    live = tmp_path / f".b.pdf.sampleloans-{live_pid}-abcdefgh.tmp"
    reused = tmp_path / f".c.pdf.sampleloans-{live_pid}-ijklmnop.tmp"
    mine = tmp_path / ".d.pdf.abcdefgh.tmp"  # not our pattern: a user's file
    for path in (dead, dead_journal, live, reused, mine):
        path.write_bytes(b"x")
    old = time.time() - 2 * fileio.STALE_AFTER_S
    os.utime(reused, (old, old))  # an old file of a pid that now names another process
    removed = fileio.remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([dead, dead_journal, reused])
    assert live.exists() and mine.exists()


def test_another_users_temp_file_is_left_alone(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user")
    theirs = tmp_path / ".a.pdf.sampleloans-999999999-abcdefgh.tmp"
    theirs.write_bytes(b"x")
    os.chown(theirs, 65534, 65534)
    assert fileio.remove_stale_temps(tmp_path) == []
    assert theirs.exists()


@pytest.mark.parametrize(
    ("sent", "code"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, None)]
)
def test_sigterm_and_sigint_remove_the_temp_file_at_once(
    tmp_path: Path, sent: signal.Signals, code: int | None
) -> None:
    holder, held = hold_temp_file(tmp_path)
    assert held.exists()
    holder.send_signal(sent)
    holder.wait(timeout=30)
    if code is not None:
        assert holder.returncode == code
    assert not held.exists()
    assert fileio.temp_names(tmp_path) == []


def test_report_force_never_replaces_another_database(
    ledger: Path, runner: CliRunner, tmp_path: Path
) -> None:
    """A backup or another ledger is a database too: `--force` replaces documents, not those."""
    copy = tmp_path / "old-backup.db"
    assert runner.invoke(app, [*AS, "backup", str(copy)]).exit_code == 0
    before = copy.read_bytes()
    result = runner.invoke(app, [*AS, *REPORT, "--out", str(copy), "--force"])
    assert result.exit_code == 2, result.stderr
    assert "is a SQLite database" in one_error_line(result.stderr)
    assert copy.read_bytes() == before
    assert fileio.temp_names(tmp_path) == []
