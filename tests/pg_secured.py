"""A secured demo ledger on the suite's PostgreSQL cluster, copied for each test that tampers
with it as the DBA: the setup shared by the tests of verify's defence checks (triggers, policies,
the functions they call)."""

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from typer.testing import CliRunner, Result

from sampleloans import migrate
from sampleloans.cli import app
from tests.pgcluster import PgServer, fresh_database

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
VERSIONS = Path(migrate.__file__).parent / "migrations" / "versions"


def revision_module(name: str) -> ModuleType:
    """A revision's module (its frozen SQL), loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, VERSIONS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cli(url: str, *args: str) -> Result:
    """One CLI command on `url` (nothing taken from the environment's ledger or person)."""
    env = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "400"}
    return CliRunner().invoke(app, ["--db", url, *args], env=env)


@contextmanager
def secured_demo_database(pg_server: PgServer) -> Iterator[str]:
    """The demo on PostgreSQL, secured; its database's name (a template tests copy)."""
    with fresh_database(pg_server) as url:
        assert cli(url, "demo").exit_code == 0
        assert cli(url, "--as", CURATOR, "db", "secure").exit_code == 0
        yield url.rsplit("/", 1)[1]


@contextmanager
def database_copy(pg_server: PgServer, template: str, suffix: str) -> Iterator[str]:
    """A copy of the database `template` named with `suffix`, dropped afterwards; its URL."""
    name = f"{template}_{suffix}"
    pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    # a template takes no other session: the in-process CLI's pooled one is let go first
    pg_server.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{template}' AND pid <> pg_backend_pid()"
    )
    pg_server.admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield pg_server.url(name)
    finally:
        pg_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def as_dba(url: str, *statements: str) -> None:
    """Run statements as the superuser (the owner's powers), committed."""
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


@contextmanager
def sessions_outlive_deactivation(url: str) -> Iterator[None]:
    """Deactivation leaves open sessions running, as in the moment between its revoking the
    login and its commit (or with an owner the DBA no longer lets end sessions): the owner is
    no member of pg_signal_backend meanwhile (a cluster-wide role: given back afterwards)."""
    as_dba(url, "REVOKE pg_signal_backend FROM sampleloans_owner")
    try:
        yield
    finally:
        as_dba(url, "GRANT pg_signal_backend TO sampleloans_owner")


@contextmanager
def secured_copy(pg_server: PgServer, template: str, suffix: str) -> Iterator[str]:
    """A copy of the secured database `template`, secured again (a database's own privileges,
    such as the staff groups' TEMPORARY, are not copied from its template); its URL."""
    with database_copy(pg_server, template, suffix) as url:
        assert cli(url, "--as", CURATOR, "db", "secure").exit_code == 0
        yield url


def own_login(pg_server: PgServer, url: str, email: str, password: str) -> str:
    """A person's own login (not the superuser) on the database at `url`, given `password`."""
    as_dba(url, f"ALTER ROLE \"{email}\" PASSWORD '{password}'")
    return PgServer(pg_server.host, pg_server.port, email, password).url(url.rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def secured_demo_template(pg_server: PgServer) -> Iterator[str]:
    """The demo on PostgreSQL, secured, once per module: the name of the database tests copy
    (`secured_copy`); a module uses it by importing it."""
    with secured_demo_database(pg_server) as name:
        yield name
