"""Sweep of issue 15 on PostgreSQL ("works on both engines"): a checkpoint kept on a PostgreSQL
ledger, full `verify` and `verify --since` with it, and the kept-checkpoint check that both now
run (a cut-back ledger or an edited checkpoint row is named), on a throwaway cluster."""

from pathlib import Path

import psycopg
import pytest
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


def test_reports_statements_and_a_bag_from_a_postgresql_ledger(
    pg_env: str,  # noqa: F811  (the fixture)
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    demo = runner.invoke(app, ["--db", pg_env, "demo"])  # the demo's loans, on PostgreSQL
    assert demo.exit_code == 0, demo.stdout + demo.stderr
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-06-15T09:00:00Z")
    key, note = tmp_path / "lender.key", tmp_path / "cp.txt"
    assert runner.invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    signed = runner.invoke(app, [*STAFF, "checkpoint", "--key", str(key), "--out", str(note)])
    assert signed.exit_code == 0, signed.stdout + signed.stderr
    out = tmp_path / "statements"
    out.mkdir()
    made = runner.invoke(app, [*STAFF, "report", "statement", "--institution", "OU",
                               "--out", str(out)])  # fmt: skip
    assert made.exit_code == 0, made.stdout + made.stderr
    pdfs = sorted(out.glob("*.pdf"))
    assert pdfs, made.stdout
    for pdf in pdfs:
        checked = runner.invoke(app, ["verify-document", str(pdf), "--public-key", f"{key}.pub"])
        assert checked.exit_code == 0, checked.stdout + checked.stderr
        against = runner.invoke(app, [*STAFF, "verify-document", str(pdf)])
        assert against.exit_code == 0, against.stdout + against.stderr
    bag = tmp_path / "bag"
    exported = runner.invoke(app, [*STAFF, "export", "--bag", str(bag)])
    assert exported.exit_code == 0, exported.stdout + exported.stderr
    checked = runner.invoke(app, ["verify-bag", str(bag), "--public-key", f"{key}.pub"])
    assert checked.exit_code == 0, checked.stdout + checked.stderr
