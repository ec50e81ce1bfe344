"""Sweep s31, a clumsy user: names the system takes, that the files beside them overflow.

A file name may have 255 bytes. Every output goes through a temp file named after it
(`.NAME.sampleloans-PID-XXXXXXXX.tmp`), and a SQLite database has its `-journal` and `-wal`
beside it, so a legal name of 220 to 255 bytes broke them: `backup`, `export --events`,
`report --out`, `export --bag`, `init`, `keys generate` said `cannot write in .: File name too
long` (a name the user could not see), or printed a traceback after writing the file whole;
a ledger named with 248 to 255 bytes was created by `init` and then refused by every command
with a traceback; `demo --db` of a name too long or in a folder that may not be searched
printed a traceback; a PI with a long (legal, at most 254 characters) e-mail address made
`report statement --out` and `notify --outbox` fail for everyone; and `checkpoint --out` to a
symbolic link to nowhere kept its checkpoint before finding that it could not write there.
"""

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sampleloans import db, fileio
from sampleloans.errors import StorageError
from sampleloans.services import maintenance
from sampleloans.services.statement import file_name
from tests.conftest import ctx_for, fingerprint
from tests.i15_statement_helpers import CURATOR, env_for, invoke
from tests.test_sweep_s18kill_faults import limited_file_size


@pytest.fixture
def here(ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding a copy of the demo ledger; the commands run in it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _ok(ledger: Path, *args: str) -> None:
    result = invoke(env_for(ledger), *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.stderr


def _names(folder: Path) -> list[str]:
    """What is in `folder`, but the ledger's own -wal and -shm (which SQLite makes and removes)."""
    return sorted(n for n in os.listdir(folder) if not n.endswith(("-wal", "-shm")))


def _hidden(folder: Path) -> list[str]:
    """Temp files or folders left in `folder`."""
    return [name for name in os.listdir(folder) if name.startswith(".")]


@pytest.mark.parametrize("size", [230, 247])
def test_outputs_with_a_long_legal_name_are_written(here: Path, ledger: Path, size: int) -> None:
    name = "n" * size
    _ok(ledger, "backup", name)
    _ok(ledger, "export", "--events", f"{name[:-2]}.e")
    _ok(ledger, "report", "custody", "--loan", "L-2025-OU", "--out", f"{name[:-2]}.r")
    _ok(ledger, "export", "--bag", f"{name[:-2]}.b")
    _ok(ledger, "keys", "generate", "--out", "k" * (size - 8), "--name", "lender")
    _ok(here / ("d" * size), "init", "--curator-email", CURATOR, "--curator-name", "Li Na")
    assert (here / name).stat().st_size > 0 and (here / f"{name[:-2]}.b").is_dir()
    assert (here / ("k" * (size - 8) + ".pub")).exists()
    _ok(here / ("d" * size), "verify")
    assert _hidden(here) == []


def test_service_level_temp_files_fit_the_file_system(ledger: Path, tmp_path: Path) -> None:
    fileio.write_atomic(tmp_path / ("w" * 250), b"whole\n")
    assert (tmp_path / ("w" * 250)).read_bytes() == b"whole\n"
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        maintenance.backup(engine, ctx_for(CURATOR), tmp_path / ("b" * 240))
    finally:
        engine.dispose()
    assert (tmp_path / ("b" * 240)).stat().st_size > 0
    assert _hidden(tmp_path) == []


@pytest.mark.parametrize("size", [248, 255])
@pytest.mark.parametrize(
    "command",
    [
        ["backup", "{}"],
        ["--db", "{}", "init", "--curator-email", CURATOR, "--curator-name", "Li Na"],
        ["--db", "{}", "demo"],
        ["--db", "{}", "restore", "backup.db"],
    ],
)
def test_a_new_database_whose_journal_the_system_cannot_name_is_refused(
    here: Path, ledger: Path, size: int, command: list[str]
) -> None:
    _ok(ledger, "backup", "backup.db")
    before, files = fingerprint(ledger), _names(here)
    name = "d" * size
    result = invoke(env_for(ledger), *[part.replace("{}", name) for part in command])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"its name is {size} bytes" in lines[0], lines
    assert "at most 247 bytes" in lines[0]
    assert _names(here) == files and fingerprint(ledger) == before


def test_a_ledger_named_too_long_for_its_journal_is_one_line(here: Path, ledger: Path) -> None:
    named = here / ("l" * 250)
    os.link(ledger, named)
    for args in (
        ["loans", "list"],
        ["verify"],
        ["samples", "move", "CE5C0000YJBP005", "--location", "Z"],
    ):
        result = invoke(env_for(named), *args)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.exit_code == 3, result.stderr
        assert result.stderr.startswith("Error: --db: ") and result.stderr.count("\n") == 1
        assert "its name is 250 bytes" in result.stderr
    with pytest.raises(StorageError, match="its name is 250 bytes"):
        db.check_ledger_file(named)


@pytest.mark.parametrize("where", ["x" * 300, "x" * 300 + "/ledger.db"])
def test_demo_into_a_name_too_long_is_one_line(here: Path, where: str) -> None:
    result = invoke({"COLUMNS": "120"}, "--db", where, "demo")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 3, result.stderr
    assert result.stderr.startswith("Error: --db: ") and result.stderr.count("\n") == 1
    assert "too long" in result.stderr
    assert _names(here) == ["ledger.db"]


def test_a_checkpoint_out_to_a_link_to_nowhere_keeps_nothing(here: Path, ledger: Path) -> None:
    _ok(ledger, "keys", "generate", "--out", "key", "--name", "lender")
    (here / "cp.txt").symlink_to("nowhere/cp.txt")
    before = fingerprint(ledger)
    result = invoke(env_for(ledger), "checkpoint", "--key", "key", "--out", "cp.txt")
    assert result.exit_code == 3, result.stderr
    assert result.stderr == "Error: --out: cp.txt exists; pass --force to replace it\n"
    assert fingerprint(ledger) == before  # no checkpoint kept
    with pytest.raises(StorageError, match="exists; pass --force"):
        fileio.check_output(here / "cp.txt", force=False)


LONG_PI = "a" * 64 + "@" + ".".join(["b" * 60] * 2) + "." + "c" * 50 + ".example"


def test_a_statement_file_name_fits_for_the_longest_address() -> None:
    for email in (LONG_PI, "x" * 64 + "@" + "y" * 185 + ".org"):
        name = file_name(email)
        assert len(name.encode()) <= 255 and name.startswith("statement-") and name.endswith(".pdf")
    assert file_name(LONG_PI) != file_name(LONG_PI.replace("a@", "b@"))
    assert file_name("anand@open.example") == "statement-anand-at-open.example.pdf"


def test_a_pi_with_a_long_address_gets_a_statement_and_a_message(here: Path, ledger: Path) -> None:
    assert len(LONG_PI) == 245
    _ok(ledger, "people", "add", LONG_PI, "--name", "Long Mail", "--institution", "OU",
        "--role", "researcher")  # fmt: skip
    _ok(ledger, "loans", "request", "L-LONG", "--agreement", "AG-2025-OU", "--pi", LONG_PI,
        "--sample", "CE5C0000YJBP005", "--period", "1 month")  # fmt: skip
    _ok(ledger, "keys", "generate", "--out", "key", "--name", "lender")
    _ok(ledger, "checkpoint", "--key", "key")
    _ok(ledger, "report", "statement", "--pi", LONG_PI, "--out", "st")
    assert [p.name for p in (here / "st").iterdir()] == [file_name(LONG_PI)]
    _ok(ledger, "notify", "--outbox", "ob")
    names = os.listdir(here / "ob")
    assert any(n.startswith("statement-aaaa") for n in names)
    assert all(len(n.encode()) <= 255 for n in names)


def _demo_with_file_size_limit(where: Path, limit_bytes: int) -> "subprocess.CompletedProcess[str]":
    """The real `demo --dir WHERE`, writes past `limit_bytes` failing as on a full disk."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(COLUMNS="120", TMPDIR=str(where.parent))
    return subprocess.run(
        [sys.executable, "-m", "sampleloans", "demo", "--dir", str(where)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=functools.partial(limited_file_size, limit_bytes),
    )


def test_a_demo_the_disk_cannot_take_leaves_no_folder_of_its_own(tmp_path: Path) -> None:
    """A full disk (a file size limit here): one line, exit 3, and the folder `demo --dir`
    made for it is gone; an empty folder the user made before stays."""
    made = _demo_with_file_size_limit(tmp_path / "new", 64 * 1024)
    assert made.returncode == 3, made.stderr
    assert made.stderr.startswith("Error: ") and made.stderr.count("\n") == 1, made.stderr
    assert not (tmp_path / "new").exists()
    (tmp_path / "mine").mkdir()
    kept = _demo_with_file_size_limit(tmp_path / "mine", 64 * 1024)
    assert kept.returncode == 3, kept.stderr
    assert (tmp_path / "mine").is_dir() and list((tmp_path / "mine").iterdir()) == []
