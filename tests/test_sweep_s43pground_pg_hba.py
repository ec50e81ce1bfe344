"""The README's pg_hba.conf lines for people at other sites (README "Several sites"), on a
cluster of their own (a reload changes who may connect, which the suite's shared one keeps):
every person of the ledger gets in by group, a login of no group is refused, exit 3."""

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.pgcluster import LocalCluster, PgServer, find_binaries

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
RESEARCHER = "moynier@ipgp.example"


def readme_hba_lines() -> list[str]:
    """The pg_hba.conf lines of the "Several sites" section, aimed at this machine: TLS off
    (the throwaway cluster has no certificate) and the addresses the loopback one."""
    section = README[README.index("## Several sites (PostgreSQL)") :].split("\n## ")[0]
    block = re.search(r"```text\n(# pg_hba\.conf.*?)```", section, flags=re.S)
    assert block is not None, "the section gives no pg_hba.conf lines"
    lines = [line for line in block.group(1).splitlines() if not line.startswith("#")]
    return [re.sub(r"\S+/\d+", "127.0.0.1/32", line.replace("hostssl", "host")) for line in lines]


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[tuple[LocalCluster, PgServer]]:
    """A cluster of this module's own; stopped and removed afterwards."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip("no initdb/pg_ctl on this machine: the pg_hba.conf lines are not run")
    cluster = LocalCluster(binaries)
    try:
        yield cluster, cluster.start()
    finally:
        cluster.stop()


def cli(url: str, *args: str) -> Result:
    """One CLI command on `url` (nothing taken from the environment)."""
    env = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "400"}
    return CliRunner().invoke(app, ["--db", url, *args], env=env)


def login_url(server: PgServer, user: str, password: str, database: str) -> str:
    """A person's URL (the @ of an e-mail as %40)."""
    name = user.replace("@", "%40")
    return f"postgresql://{name}:{password}@{server.host}:{server.port}/{database}"


def test_the_readme_hba_lines_let_in_the_ledgers_people_only(
    own_cluster: tuple[LocalCluster, PgServer],
) -> None:
    """Before: the section said nothing of pg_hba.conf (a DBA following it let nobody of
    another site in, or everybody). After: its lines admit each group's members (named by
    no line: by their group) and refuse a login of no group with one line, exit 3."""
    cluster, server = own_cluster
    server.admin("CREATE DATABASE ledger")
    server.admin("CREATE ROLE dba SUPERUSER LOGIN PASSWORD 'SECRET'")
    server.admin("CREATE ROLE stranger LOGIN PASSWORD 'x'")
    dba = f"postgresql://dba:SECRET@{server.host}:{server.port}/ledger"
    assert cli(dba, "demo").exit_code == 0
    assert cli(dba, "--as", "curator@naoc.example", "db", "secure").exit_code == 0
    server.admin(f"ALTER ROLE \"{RESEARCHER}\" PASSWORD 'PASS2'")
    hba = cluster.data / "pg_hba.conf"
    hba.write_text("local all all scram-sha-256\n" + "\n".join(readme_hba_lines()) + "\n")
    server.admin("SELECT pg_reload_conf()")
    with psycopg.connect(dba) as connection:
        errors = connection.execute("SELECT error FROM pg_hba_file_rules").fetchall()
    assert errors and all(error is None for (error,) in errors), errors
    listed = cli(login_url(server, RESEARCHER, "PASS2", "ledger"), "loans", "list")
    assert listed.exit_code == 0, listed.output
    assert "L-2025-IPGP" in listed.output
    refused = cli(login_url(server, "stranger", "x", "ledger"), "loans", "list")
    assert refused.exit_code == 3, refused.output
    assert "no pg_hba.conf entry" in refused.output and "Traceback" not in refused.output
    other = cli(login_url(server, RESEARCHER, "PASS2", "postgres"), "loans", "list")
    assert other.exit_code == 3 and "no pg_hba.conf entry" in other.output, other.output


@pytest.mark.parametrize(
    ("query", "quoted"),
    [
        ("sslmode=requir", 'invalid sslmode value: "requir"'),
        ("sslmod=require", 'invalid connection option "sslmod"'),
        ("target_session_attrs=zz", 'invalid target_session_attrs value: "zz"'),
    ],
)
def test_a_url_option_libpq_refuses_is_bad_input(
    own_cluster: tuple[LocalCluster, PgServer], query: str, quoted: str
) -> None:
    """Before: a typo in the URL's options (`?sslmode=requir`) was an environment error,
    exit 3, as an unreachable server. After: one Error: line naming --db and libpq's words,
    exit 2, the password hidden."""
    _, server = own_cluster
    url = f"postgresql://someone:Hidden1@{server.host}:{server.port}/postgres?{query}"
    result = cli(url, "loans", "list")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --db"), result.output
    assert quoted in lines[0] and "Hidden1" not in lines[0], lines[0]
