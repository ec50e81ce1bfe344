"""The throwaway PostgreSQL cluster of the test suite (issue 14)."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.pgcluster import PgServer


def test_cluster_requires_a_password(pg_server: PgServer) -> None:
    """scram-sha-256: the superuser with a wrong password is refused."""
    wrong = PgServer(pg_server.host, pg_server.port, pg_server.user, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong.url(), connect_timeout=5).close()


def test_each_test_gets_an_empty_database(pg_url: str) -> None:
    """The per-test database has no tables and the server is PostgreSQL 15."""
    with psycopg.connect(pg_url) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        version = connection.execute("SHOW server_version_num").fetchone()
        fsync = connection.execute("SHOW fsync").fetchone()
    assert tables == (0,)
    if not os.environ.get("SAMPLELOANS_TEST_PG"):  # our throwaway cluster: its data is thrown away
        assert fsync == ("off",)
    assert version is not None and int(version[0]) // 10000 >= 15


@pytest.mark.parametrize("ci", ["", "true"])
def test_no_server_skips_with_the_reason_or_fails_under_ci(ci: str) -> None:
    """Without server binaries the PostgreSQL tests skip and say why; under CI=true they fail."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SAMPLELOANS_PG_BIN": "/nonexistent", "CI": ci}
    env.pop("SAMPLELOANS_TEST_PG", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-n", "0", "-p", "no:cacheprovider",
         "tests/test_i14_pgcluster.py::test_each_test_gets_an_empty_database"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    reason = "no initdb/pg_ctl in /nonexistent and no SAMPLELOANS_TEST_PG"
    if ci:
        assert done.returncode == 1, done.stdout
        assert f"PostgreSQL tests must run under CI=true: {reason}" in done.stdout
    else:
        assert done.returncode == 0, done.stdout
        assert f"PostgreSQL tests skipped: {reason}" in done.stdout
