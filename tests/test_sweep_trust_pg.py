"""Sweep of issue 15 on PostgreSQL ("works on both engines"): a checkpoint kept on a PostgreSQL
ledger, full `verify` and `verify --since` with it, and the kept-checkpoint check that both now
run (a cut-back ledger or an edited checkpoint row is named), on a throwaway cluster."""

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR
from tests.test_i14_postgres import pg_env, pg_ledger  # noqa: F401  (fixtures)

STAFF = ["--as", CURATOR]


def test_checkpoints_on_postgresql_anchor_both_verifies(
    pg_ledger: str,  # noqa: F811  (the fixture)
    runner: CliRunner,
    tmp_path: Path,
) -> None:
    key, note = tmp_path / "lender.key", tmp_path / "cp.txt"
    made = runner.invoke(app, ["keys", "generate", "--out", str(key)])
    assert made.exit_code == 0, made.stderr
    signed = runner.invoke(app, [*STAFF, "checkpoint", "--key", str(key), "--out", str(note)])
    assert signed.exit_code == 0, signed.stdout + signed.stderr
    moved = runner.invoke(
        app, [*STAFF, "samples", "move", "CE5C0400YJFM00505", "--location", "Cabinet B-2"]
    )
    assert moved.exit_code == 0, moved.stderr
    full = runner.invoke(app, [*STAFF, "verify"])
    assert full.exit_code == 0, full.stdout
    since = runner.invoke(app, [*STAFF, "verify", "--since", str(note)])
    assert since.exit_code == 0, since.stdout
    assert "every checkpoint kept in the ledger still has its head event" in since.stdout
    offline = runner.invoke(
        app, [*STAFF, "verify", "--checkpoint", str(note), "--public-key", f"{key}.pub"]
    )
    assert offline.exit_code == 0, offline.stdout
    with psycopg.connect(pg_ledger, autocommit=True) as connection:  # the superuser, tampering
        connection.execute("ALTER TABLE checkpoint DISABLE TRIGGER USER")
        connection.execute("UPDATE checkpoint SET note = replace(note, 'time 2', 'time 3')")
        connection.execute("ALTER TABLE checkpoint ENABLE TRIGGER USER")
    edited = runner.invoke(app, [*STAFF, "verify"])
    assert edited.exit_code == 1
    assert "kept checkpoint 1: its signature does not verify" in edited.stdout
