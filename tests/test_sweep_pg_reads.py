"""Issue 14, points 1 and 4: read commands on PostgreSQL, tried as each user of a secured demo
ledger, that did not behave as on SQLite.

- `balance` (the collection-wide one) stopped with a TypeError traceback on PostgreSQL, and
  `balance --json` gave its masses as strings: PostgreSQL's sum of a bigint is numeric.
- `checkpoint list`, `checkpoint prove` and `backup` asked for `--as` on a secured ledger, where
  the login is the acting person, and did not refuse an `--as` naming someone else (a
  researcher's login listed the checkpoints as the curator)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.pgcluster import PgServer
from tests.test_sweep_pg_attacks import (
    CURATOR,
    ENV,
    LEDGER_ID,
    PASSWORD,
    RESEARCHER,
    secured_database,
)


@pytest.fixture(scope="module")
def secured(pg_server: PgServer) -> Iterator[str]:
    """A secured demo ledger this module only reads."""
    with secured_database(pg_server, "reads") as name:
        yield name


def _as_login(server: PgServer, database: str, email: str, *args: str) -> tuple[int, str, str]:
    """A command with `email`'s own login (no --as unless given in args)."""
    url = PgServer(server.host, server.port, email, PASSWORD).url(database)
    result = CliRunner().invoke(app, ["--db", url, *args], env=ENV)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same demo (same ledger id) on SQLite."""
    folder = tmp_path_factory.mktemp("sqlite-demo")
    ledger = folder / "demo.db"
    done = CliRunner().invoke(app, ["--db", str(ledger), "demo", "--ledger-id", LEDGER_ID], env=ENV)
    assert done.exit_code == 0, done.stderr
    return ledger


def _masses(data: object) -> list[object]:
    """Every `*_ug` value anywhere in a JSON document."""
    if isinstance(data, list):
        return [mass for item in data for mass in _masses(item)]
    if isinstance(data, dict):
        own = [value for key, value in data.items() if key.endswith("_ug")]
        return own + [mass for value in data.values() for mass in _masses(value)]
    return []


@pytest.mark.parametrize("output", ["--json", "--csv", "--table"])
def test_collection_balance_is_the_same_on_both_engines(
    pg_server: PgServer, secured: str, sqlite_demo: Path, output: str
) -> None:
    """`balance` of the whole collection, as the curator's login on PostgreSQL and with --as on
    SQLite: exit 0, no traceback, the same output (JSON masses are integers)."""
    flags = [] if output == "--table" else [output]
    code, out, err = _as_login(pg_server, secured, CURATOR, "balance", *flags)
    assert code == 0 and "Traceback" not in err, err
    on_sqlite = CliRunner().invoke(
        app, ["--db", str(sqlite_demo), "--as", CURATOR, "balance", *flags], env=ENV
    )
    assert on_sqlite.exit_code == 0, on_sqlite.stderr
    assert out == on_sqlite.stdout
    if output == "--json":
        masses = _masses(json.loads(out))
        assert masses and all(type(mass) is int for mass in masses), masses


def test_checkpoint_list_takes_the_login(pg_server: PgServer, secured: str) -> None:
    """No --as needed with the curator's login; a researcher's login is refused as a
    researcher (exit 4), and with --as naming the curator refused as not the login (exit 4)."""
    code, out, err = _as_login(pg_server, secured, CURATOR, "checkpoint", "list", "--json")
    assert (code, json.loads(out)) == (0, []), err
    code, _out, err = _as_login(pg_server, secured, RESEARCHER, "checkpoint", "list")
    assert code == 4 and f"{RESEARCHER} is a researcher" in err, err
    code, out, err = _as_login(
        pg_server, secured, RESEARCHER, "--as", CURATOR, "checkpoint", "list"
    )
    assert code == 4 and "is not the login of this connection" in err, err
    assert out == ""


def test_checkpoint_prove_takes_the_login(
    pg_server: PgServer, secured: str, tmp_path: Path
) -> None:
    """`checkpoint prove` with a login and no --as reaches its own checks (a missing file,
    exit 2), not "no acting person"; --as someone else is refused (exit 4)."""
    args = ["checkpoint", "prove", "a.txt", "b.txt", "--out", str(tmp_path / "p.json")]
    code, _out, err = _as_login(pg_server, secured, CURATOR, *args)
    assert "no acting person" not in err and code != 4, err
    code, _out, err = _as_login(pg_server, secured, RESEARCHER, "--as", CURATOR, *args)
    assert code == 4 and "is not the login of this connection" in err, err
    assert not (tmp_path / "p.json").exists()


def test_backup_names_the_export_without_as(
    pg_server: PgServer, secured: str, tmp_path: Path
) -> None:
    """`backup` with a login and no --as: the PostgreSQL refusal naming `export --events`
    (exit 3), nothing written; --as someone else: exit 4."""
    target = tmp_path / "copy.db"
    code, _out, err = _as_login(pg_server, secured, CURATOR, "backup", str(target))
    assert code == 3 and "export --events" in err, err
    code, _out, err = _as_login(pg_server, secured, RESEARCHER, "--as", CURATOR, "backup", "x")
    assert code == 4 and "is not the login of this connection" in err, err
    assert not target.exists()
