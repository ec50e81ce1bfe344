"""The throwaway PostgreSQL cluster of the test suite (issue 14)."""

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
    assert fsync == ("off",)
    assert version is not None and int(version[0]) // 10000 >= 15
