"""Issue 14, point 9, tried by hand: `restore --events` into an empty PostgreSQL database said
`Restored postgresql:/dba:***@…` (the URL went through a Path, which folds `//`). It now names
the database as every other message does, and the head is the export's."""

import re
from pathlib import Path

from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.pgcluster import PgServer, fresh_database

CURATOR = "li@naoc.example"
ENV = {"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z", "COLUMNS": "200", "NO_COLOR": "1"}


def test_restore_events_into_postgresql_names_the_database(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    """init on PostgreSQL, export, restore into a fresh database: the message names its URL
    (password hidden) and the export's head; verify there agrees."""
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["--db", pg_url, "init", "--curator-email", CURATOR, "--curator-name", "Li Na"],
        env=ENV,
    )
    assert made.exit_code == 0, made.stderr
    export = tmp_path / "events.jsonl"
    done = runner.invoke(
        app, ["--db", pg_url, "--as", CURATOR, "export", "--events", str(export)], env=ENV
    )
    assert done.exit_code == 0, done.stderr
    head = re.search(r"head (\d+:[0-9a-f]{64})", done.stdout)
    assert head is not None, done.stdout
    with fresh_database(pg_server) as target:
        restored = runner.invoke(
            app, ["--db", target, "--as", CURATOR, "restore", "--events", str(export)], env=ENV
        )
        assert restored.exit_code == 0, restored.stderr
        assert restored.stdout.startswith(f"Restored {db.display_url(target)} from {export}")
        assert head.group(1) in restored.stdout and pg_server.password not in restored.stdout
        check = runner.invoke(app, ["--db", target, "--as", CURATOR, "verify"], env=ENV)
        assert check.exit_code == 0 and head.group(1) in check.stdout, check.stdout
