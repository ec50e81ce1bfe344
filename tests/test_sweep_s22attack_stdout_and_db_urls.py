"""Sweep s22, an attacker and the world's accidents, against standard output and `--db`.

- Standard output that cannot be written — a full disk under `sampleloans … > FILE`, or
  `> /dev/full` — ended every command in an OSError traceback from deep inside rich, csv or
  json, exit 1 (a refusal's code). Now it is one line, exit 3 (a full disk, README "Exit
  codes"), and after a committed write the line says the write was committed: a script that
  reran on exit 3 (a lock timeout's code too) would otherwise record it twice.
- `--db mysql://host/db` (or `sqlite:///x.db`, `POSTGRESQL://…`) was read as a file path:
  reads said "no database at mysql:/host/db", and `init` created the folders `mysql:/host/`
  in the working folder and a ledger `db` inside, exit 0. Now a URL of any scheme but
  PostgreSQL's is refused, exit 2, one line, nothing created.
"""

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from sampleloans import db
from sampleloans.errors import InvalidInput
from tests.conftest import CURATOR, fingerprint
from tests.warm_cli import Done, WarmCli

NOW = "2026-05-01T10:00:00Z"
FULL = Path("/dev/full")
INCOMPLETE = (
    "Error: cannot write standard output: No space left on device; the output is incomplete"
)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmCli]:
    """Real `python -m sampleloans` processes forked from one that has done the imports
    (tests/warm_cli.py): each pays for the command, not ~1.3 s of imports."""
    server = WarmCli(tmp_path_factory.mktemp("warm"))
    yield server
    server.close()


class Cli(Protocol):
    """The `cli` fixture: cli(ledger, *args, stdout_to=…, cwd=…, env=…)."""

    def __call__(
        self,
        ledger: Path | None,
        *args: str,
        stdout_to: Path | None = ...,
        cwd: Path | None = ...,
        env: dict[str, str] | None = ...,
    ) -> Done: ...


@pytest.fixture
def cli(warm: WarmCli) -> Cli:
    """The real console entry point (which installs the standard-output guard), in a process
    of its own; with `stdout_to`, its standard output goes to that file."""

    def call(
        ledger: Path | None,
        *args: str,
        stdout_to: Path | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Done:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
        environment.update(SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW, COLUMNS="120")
        if ledger is not None:
            environment["SAMPLELOANS_DB"] = str(ledger)
        environment.update(env or {})
        return warm.run(list(args), cwd or Path.cwd(), environment, stdout_to=stdout_to)

    return call


def full_device() -> Path:
    """/dev/full (every write fails with ENOSPC), or a skip saying why not."""
    if not FULL.exists():
        pytest.skip("this system has no /dev/full to stand for a full disk")
    return FULL


def events(ledger: Path) -> int:
    """How many events the ledger holds (read with raw sqlite3)."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


@pytest.mark.parametrize(
    "args",
    [
        ["samples", "list"],
        ["samples", "list", "--csv"],
        ["samples", "list", "--jsonl"],
        ["loans", "list", "--json"],
        ["overdue"],
        ["custody", "history", "--loan", "L-2025-OU"],
        ["verify"],
        ["verify", "--json"],
        ["--help"],
        ["--version"],
        ["loans", "--help"],
    ],
    ids=" ".join,
)
def test_a_read_whose_output_cannot_be_written_is_one_line_exit_3(
    cli: Cli, ledger: Path, args: list[str]
) -> None:
    """Before: an OSError traceback (rich, csv, json, Click's help), exit 1."""
    before = fingerprint(ledger)
    done = cli(ledger, *args, stdout_to=full_device())
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [INCOMPLETE], done.stderr
    assert fingerprint(ledger) == before


def test_a_committed_write_whose_confirmation_cannot_be_printed_says_it_was_committed(
    cli: Cli,
    ledger: Path,
) -> None:
    """The move is recorded; the line says so, so that nobody moves it twice."""
    count = events(ledger)
    move = ["samples", "move", "CE5C0000YJBP005", "--location", "Shelf 9"]
    done = cli(ledger, *move, stdout_to=full_device())
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        "Error: cannot write standard output: No space left on device; it committed: what it "
        "recorded is kept, whatever was printed: check the ledger ('custody history', "
        "'checkpoint list') before running it again"
    ]
    assert events(ledger) == count + 1
    check = cli(ledger, "verify")
    assert check.returncode == 0 and "verify: OK" in check.stdout, check.stdout


def test_a_refused_write_with_a_full_output_is_still_its_refusal(cli: Cli, ledger: Path) -> None:
    """Nothing is printed on stdout by a refusal: its own line and code, nothing recorded."""
    before = fingerprint(ledger)
    move = ["samples", "move", "CE5C0000YJBP005", "--location", "   "]
    done = cli(ledger, *move, stdout_to=full_device())
    assert done.returncode == 2, done.stderr
    assert "standard output" not in done.stderr and "Traceback" not in done.stderr
    assert fingerprint(ledger) == before


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("mysql://host/db", "mysql"),
        ("http://host/db", "http"),
        ("sqlite:///ledger.db", "sqlite"),
        ("POSTGRESQL://me@host/db", "POSTGRESQL"),
        ("postgresql+pg8000://me@host/db", "postgresql+pg8000"),
    ],
)
@pytest.mark.parametrize(
    "args",
    [
        ["samples", "list"],
        ["init", "--curator-email", "li@naoc.example", "--curator-name", "Li Chen"],
        ["demo"],
    ],
    ids=lambda args: args[0],
)
def test_a_db_url_of_another_database_is_refused_and_creates_nothing(
    cli: Cli, tmp_path: Path, url: str, scheme: str, args: list[str]
) -> None:
    """Before: 'no database at mysql:/host/db' (exit 3), and `init` made `mysql:/host/db`."""
    done = cli(None, "--db", url, *args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"Error: --db: {url!r} is a URL ({scheme}://), which sampleloans")
    assert list(tmp_path.iterdir()) == []


def test_a_db_url_from_the_environment_is_refused_alike(cli: Cli, tmp_path: Path) -> None:
    env_url = "mysql://host/db"
    done = cli(None, "samples", "list", cwd=tmp_path, env={"SAMPLELOANS_DB": env_url})
    assert done.returncode == 2, done.stderr
    assert "(check --db / SAMPLELOANS_DB)" in done.stderr


def test_a_path_that_only_looks_like_a_url_is_still_a_path(cli: Cli, tmp_path: Path) -> None:
    """`./mysql://x` names a file under a folder `mysql:`: a path, read as one."""
    done = cli(None, "--db", "./mysql://x", "samples", "list", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "no database at" in done.stderr


def test_the_rule_for_db_values() -> None:
    """Service level: PostgreSQL URLs and paths pass; any other scheme is invalid input."""
    for fine in ("postgresql://me@host/db", "postgres://host/db", "ledger.db", "/a/b:c"):
        db.refuse_foreign_url(fine)
    with pytest.raises(InvalidInput, match=r"URL \(ftp://\)"):
        db.refuse_foreign_url("ftp://host/ledger.db")
