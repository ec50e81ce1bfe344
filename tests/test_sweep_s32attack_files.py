"""Sweep s32, an attacker and a clumsy user: the files beside the ledger, full disks, options.

Left by stop 31: a `-shm` owned by another account (root) left an empty `-wal` behind every
command another user ran (a refused write, even a read), which nobody but root could remove;
a `-shm` that is a folder was reported as "SQLite opened it read-only", and a `-wal` that is a
symbolic link as "cannot open the ledger … the folder must be writable" (and root's SQLite
would follow such a link to write its log); `demo --dir a/b/c` on a full disk removed `c` but
left the `a/b` it made, as `init --db a/b/ledger.db` left `a/b`; and refusals of `backup`,
`restore` and `init` named a folder but not the option typed (`cannot write in /proc`,
`database X already exists`, `X already holds a ledger`, `X fails verify`), and a full disk
under `demo` or `init` named the hidden temp file (`.ledger.db.sampleloans-PID-….tmp`), not the
file typed.
"""

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sampleloans import db, fileio
from sampleloans.errors import StorageError
from sampleloans.services import maintenance
from tests.conftest import ctx_for
from tests.i15_statement_helpers import CURATOR, env_for, invoke
from tests.test_sweep_files_outputs import unprivileged_prefix

COMPLIANCE = "compliance@naoc.example"
WRITE = ["institutions", "add", "XX", "--name", "X Lab", "--country", "FR", "--city", "Paris"]
WRITE_KIND = [*WRITE, "--kind", "borrower"]

AS_ACCOUNT = textwrap.dedent(
    """
    # load everything as root (the interpreter lives where another account may not read),
    # then become the account given and run the command line, or one service write
    import importlib, os, pkgutil, sys
    import sampleloans
    for module in pkgutil.walk_packages(sampleloans.__path__, "sampleloans."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    import sampleloans.__main__ as entry
    from sampleloans import db
    from sampleloans.errors import SampleLoansError
    from sampleloans.ledger.store import Context
    from sampleloans.services.reference import add_institution
    from datetime import UTC, datetime
    uid, gid, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if mode == "cli":
        sys.argv = ["sampleloans", *sys.argv[4:]]
        entry.main()
    else:
        ctx = Context(actor=sys.argv[5], os_user="tester", now=datetime(2026, 6, 15, tzinfo=UTC))
        try:
            engine = db.open_engine(db.url_for_path(sys.argv[4]))
            with db.transaction(engine) as session:
                add_institution(session, ctx, short_name="XX", name="X Lab", country="FR",
                                city="Paris", institution_kind="borrower")
        except SampleLoansError as exc:
            print(type(exc).__name__, exc)
            sys.exit(3)
    """
)


def _bytes_of(path: Path) -> str:
    """The file's digest, read as bytes: no SQLite connection (which would make or remove the
    -wal and -shm these tests look at)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _nobody() -> pwd.struct_passwd:
    """The unprivileged account the tests become, or a skip saying why not."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another account (here: not root)")
    try:
        account = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("needs the account 'nobody' to run as another user")
    # the wrapper drops to 'nobody' after loading the program, but modules imported later
    # (click's, on parsing) must still be readable: skip, with the reason, where the checkout
    # or its venv is in a folder only this account may read (a private temporary folder)
    unprivileged_prefix()
    return account


@pytest.fixture
def shared(ledger: Path) -> Iterator[Path]:
    """A copy of the demo ledger in a folder another account may enter, owned by 'nobody'."""
    account = _nobody()
    folder = Path(tempfile.mkdtemp(prefix="s32attack-"))
    try:
        folder.chmod(0o755)
        copy = folder / "ledger.db"
        shutil.copyfile(ledger, copy)
        for path in (folder, copy):
            os.chown(path, account.pw_uid, account.pw_gid)
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _as_nobody(mode: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    account = _nobody()
    return subprocess.run(
        [sys.executable, "-c", AS_ACCOUNT, str(account.pw_uid), str(account.pw_gid), mode, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def _root_owned_shm(ledger: Path) -> None:
    """An (empty) -shm owned by root beside the ledger, as a root run's leftover or a plant."""
    shm = Path(f"{ledger}-shm")
    shm.touch()
    shm.chmod(0o644)


def test_a_shm_of_another_account_leaves_no_wal_cli(shared: Path) -> None:
    _root_owned_shm(shared)
    before = _bytes_of(shared)
    env = env_for(shared)
    refused = _as_nobody("cli", "--as", CURATOR, *WRITE_KIND, env=env)
    assert refused.returncode == 3, refused.stderr
    line = refused.stderr.strip()
    assert "\n" not in line and "Traceback" not in refused.stderr
    assert f"{shared}-shm beside it, owned by root, is read-only for this account" in line
    assert sorted(os.listdir(shared.parent)) == ["ledger.db", "ledger.db-shm"]
    read = _as_nobody("cli", "--as", COMPLIANCE, "verify", env=env)
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith("verify: OK")
    assert sorted(os.listdir(shared.parent)) == ["ledger.db", "ledger.db-shm"]
    assert _bytes_of(shared) == before


def test_a_shm_of_another_account_leaves_no_wal_service(shared: Path) -> None:
    _root_owned_shm(shared)
    before = _bytes_of(shared)
    refused = _as_nobody("service", str(shared), CURATOR, env={})
    assert refused.returncode == 3, refused.stderr
    assert refused.stdout.startswith("StorageError cannot write the ledger"), refused.stdout
    assert "-shm beside it, owned by root," in refused.stdout
    assert sorted(os.listdir(shared.parent)) == ["ledger.db", "ledger.db-shm"]
    assert _bytes_of(shared) == before


def _plant(ledger: Path, sidecar: str, kind: str, outside: Path) -> None:
    """A -wal or -shm that is not a regular file: a folder, or a link to a file elsewhere."""
    path = Path(f"{ledger}{sidecar}")
    if kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(outside)


SIDECAR_CASES = [("-shm", "folder"), ("-wal", "folder"), ("-wal", "link"), ("-shm", "link")]


@pytest.mark.parametrize(("sidecar", "kind"), SIDECAR_CASES)
def test_a_sidecar_that_is_no_file_is_named_cli(
    ledger: Path, tmp_path: Path, sidecar: str, kind: str
) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    _plant(ledger, sidecar, kind, outside)
    before = _bytes_of(ledger)
    words = "a folder" if kind == "folder" else "a symbolic link"
    for args in (["--as", CURATOR, *WRITE_KIND], ["--as", COMPLIANCE, "verify"]):
        result = invoke(env_for(ledger), *args)
        assert result.exit_code == 3, (args, result.stderr)
        assert result.stderr == (
            f"Error: cannot use the ledger {ledger}: {ledger}{sidecar} beside it is {words}, "
            "not SQLite's own file; move it away (nothing was written)\n"
        )
    assert outside.read_text() == "keep me\n"
    assert _bytes_of(ledger) == before


@pytest.mark.parametrize(("sidecar", "kind"), SIDECAR_CASES)
def test_a_sidecar_that_is_no_file_is_named_service(
    ledger: Path, tmp_path: Path, sidecar: str, kind: str
) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    _plant(ledger, sidecar, kind, outside)
    with pytest.raises(StorageError, match=f"{sidecar} beside it is a (folder|symbolic link)"):
        db.open_engine(db.url_for_path(ledger))
    assert outside.read_text() == "keep me\n"


FULL_DISK_DRIVER = textwrap.dedent(
    """
    import json, os, subprocess, sys
    mount, env = sys.argv[1], json.loads(sys.argv[2])
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mount], check=True)
    results = []
    for args in (["demo", "--dir", f"{mount}/a/b/c"],
                 ["--db", f"{mount}/x/y/ledger.db", "init", "--curator-email",
                  "li@naoc.example", "--curator-name", "Li Na"]):
        done = subprocess.run([sys.executable, "-m", "sampleloans", *args],
                              capture_output=True, text=True, env=env)
        left = sorted(os.path.relpath(os.path.join(d, n), mount)
                      for d, dirs, files in os.walk(mount) for n in dirs + files)
        results.append({"rc": done.returncode, "stderr": done.stderr, "left": left})
    print(json.dumps(results))
    """
)


def test_a_full_disk_leaves_none_of_the_folders_made_cli(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a small private tmpfs")
    mount = tmp_path / "mnt"
    mount.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c",
         FULL_DISK_DRIVER, str(mount), json.dumps(env)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0 and "mount" in done.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    typed = [
        ("--dir", mount / "a" / "b" / "c" / "ledger.db"),
        ("--db", mount / "x" / "y" / "ledger.db"),
    ]
    for result, (option, target) in zip(json.loads(done.stdout), typed, strict=True):
        assert result["rc"] == 3, result
        assert result["stderr"] == (
            f"Error: {option}: the disk holding the new database {target} (or TMPDIR) is full, or "
            "a file size limit was reached; nothing was written; free some space and try again\n"
        ), result
        assert result["left"] == [], result


def test_a_failed_init_leaves_none_of_the_folders_made_service(tmp_path: Path) -> None:
    def full_disk(engine: Engine) -> None:
        raise StorageError(f"the disk holding {engine.url.database} is full")

    target = tmp_path / "a" / "b" / "ledger.db"
    with pytest.raises(StorageError) as refused:
        db.create_ledger_file(target, full_disk)
    assert str(refused.value) == f"--db: the disk holding {target} is full"  # not its temp file
    assert os.listdir(tmp_path) == []
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "keep.txt").write_text("theirs\n")
    with pytest.raises(StorageError, match="is full"):
        db.create_ledger_file(target, full_disk)
    assert sorted(os.listdir(tmp_path / "a")) == ["keep.txt"]


def test_folders_made_are_removed_deepest_first_only_while_empty(tmp_path: Path) -> None:
    made = fileio.missing_folders(tmp_path / "a" / "b" / "c")
    assert made == [tmp_path / "a" / "b" / "c", tmp_path / "a" / "b", tmp_path / "a"]
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "note").write_text("someone's\n")
    fileio.remove_empty_folders(made)
    assert sorted(os.listdir(tmp_path / "a")) == ["note"]


def test_refusals_name_the_option_typed_cli(ledger: Path, tmp_path: Path) -> None:
    env = env_for(ledger)
    cases = [
        (env, ["backup", "/proc/x.db"], 3, "Error: FILE: cannot write in /proc: "),
        (
            env_for(tmp_path / "nowhere" / "l.db"),
            ["restore", str(ledger)],
            3,
            f"Error: --db: cannot write in {tmp_path / 'nowhere'}: ",
        ),
        (
            env_for(Path("/dev/null")),
            ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"],
            3,
            "Error: --db: /dev/null is a device; give a new file name for the new ledger",
        ),
        (
            env_for(tmp_path),
            ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"],
            3,
            f"Error: --db: {tmp_path} is a folder; give a new file name for the new ledger",
        ),
        (
            env,
            ["restore", str(shutil.copy(ledger, tmp_path / "copy.db"))],
            3,
            f"Error: --db: {ledger} already holds a ledger; pass --force",
        ),
    ]
    before = _bytes_of(ledger)
    for case_env, args, code, start in cases:
        result = invoke(case_env, *args)
        assert result.exit_code == code, (args, result.stderr)
        assert result.stderr.startswith(start), (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
    assert _bytes_of(ledger) == before
    assert sorted(os.listdir(tmp_path)) == ["copy.db", "ledger.db"]


def test_refusals_name_the_option_typed_service(ledger: Path, tmp_path: Path) -> None:
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        with pytest.raises(StorageError, match=r"^FILE: cannot write in /proc: "):
            maintenance.backup(engine, ctx_for(CURATOR), Path("/proc/x.db"))
        copy = Path(shutil.copy(ledger, tmp_path / "copy.db"))
        with pytest.raises(StorageError, match=r"^--db: .* already holds a ledger"):
            maintenance.restore(engine, ctx_for(CURATOR), copy)
    finally:
        engine.dispose()
    with pytest.raises(StorageError, match=r"^--db: /dev/null is a device"):
        db.create_ledger_file(Path("/dev/null"), lambda _engine: None)
