"""Sweep s39 (several sites): `restore --bag` into a PostgreSQL database that holds a ledger.

A bag restores into an empty PostgreSQL database only. Refused into one that holds a ledger, with
or without `--force`, the line named the other command: "restore --events into PostgreSQL fills
an empty database …", "… restore --events fills only an empty database", though the user typed
`restore --bag`. It now names `restore --bag`; `restore --events` keeps its own name. Nothing is
written either way (exit 3)."""

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
ENV = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "400"}


def _run(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["--db", url, *args], env=ENV)


def _events(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM ledger_event").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("force", [False, True])
def test_a_refused_bag_restore_names_restore_bag(
    demo_url: str, tmp_path: Path, force: bool
) -> None:
    bag, events = tmp_path / "bag", tmp_path / "events.jsonl"
    made = _run(demo_url, "--as", COMPLIANCE, "export", "--bag", str(bag))
    assert made.exit_code == 0, made.stderr
    assert _run(demo_url, "--as", COMPLIANCE, "export", "--events", str(events)).exit_code == 0
    before = _events(demo_url)
    extra = ["--force"] if force else []
    refused = _run(demo_url, "--as", CURATOR, "restore", "--bag", str(bag), *extra)
    assert refused.exit_code == 3, refused.output
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "restore --bag" in refused.stderr and "restore --events" not in refused.stderr
    expected = (
        "restore --bag into PostgreSQL fills an empty database and never replaces a ledger"
        if force
        else "already holds a ledger; restore --bag fills only an empty database: create one "
        "(createdb) and restore into it; nothing was written"
    )
    assert expected in refused.stderr, refused.stderr
    assert _events(demo_url) == before
    # the events export keeps its own name
    other = _run(demo_url, "--as", CURATOR, "restore", "--events", str(events), *extra)
    assert other.exit_code == 3, other.output
    assert "restore --events" in other.stderr and "restore --bag" not in other.stderr
