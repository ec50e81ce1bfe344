"""Sweep s20 (several sites): a write the server refuses is one `Error:` line.

A write's rows go to PostgreSQL in one pipeline; when the server refused one of them (the DBA
writing under a person's name, a researcher's login past its policy), psycopg also logged, often
but not always (it depends on when the refusal arrives), "error ignored terminating
<psycopg.Pipeline …>: pipeline aborted" on stderr before the command's own line.
"""

import logging

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from tests.pgcluster import PgServer

TRIES = 8
"""The echo came in about one run of three of `sampleloans` in a process of its own; in-process it
is rarer (the db-level test below sees it every time)."""


def test_a_refused_write_is_one_line_every_time(demo_url: str) -> None:
    """The DBA's login (a superuser, not the curator) on a ledger whose actor trigger is on:
    the same write refused `TRIES` times, each exit 3 and exactly one line on stderr."""
    runner = CliRunner()
    secured = runner.invoke(
        app, ["--db", demo_url, "--as", "curator@naoc.example", "db", "secure"],
        env={"SAMPLELOANS_NOW": "2025-04-01T09:00:00Z"},
    )  # fmt: skip
    assert secured.exit_code == 0, secured.stderr
    args = ["--db", demo_url, "--as", "curator@naoc.example", "institutions", "add", "XYZ"]
    args += ["--name", "X", "--country", "JP", "--kind", "borrower", "--city", "Tokyo"]
    for _ in range(TRIES):
        result = runner.invoke(app, args, env={"SAMPLELOANS_NOW": "2026-06-01T00:00:00Z"})
        assert result.exit_code == 3, (result.stdout, result.stderr)
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith("Error: the server refused this login")


def test_the_pipeline_echo_is_dropped_deterministically(
    pg_server: PgServer, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """db level: a statement refused inside `db.pipelined`, the block then left by the error:
    the error is raised once, psycopg's echo of it reaches no handler."""
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    caplog.set_level(logging.WARNING, logger="psycopg")
    with engine.connect() as connection:
        with pytest.raises(RuntimeError), db.pipelined(connection):
            connection.exec_driver_sql("SELECT 1/0")
            raise RuntimeError("left the block before reading the answer")
        connection.rollback()
        with pytest.raises(DBAPIError, match="division by zero"), db.pipelined(connection):
            connection.exec_driver_sql("SELECT 1/0")
    engine.dispose()
    assert [r.getMessage() for r in caplog.records if "terminating" in r.getMessage()] == []
