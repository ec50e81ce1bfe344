"""Sweep s24 "rls" (attacker): on PostgreSQL `verify` compares the row-level-security policies.

Issue 14 point 8: `verify` checked the triggers and that row-level security was on, but not the
policies themselves. The owner (a DBA) could loosen a read policy (`ALTER POLICY researcher_own
ON loan USING (true)`), add an open one for the researchers or PUBLIC, or drop one: a
researcher's login then saw every institution's loans and `verify` said OK. Now every policy on
every row-level-security table must be exactly the set `db secure` installs (command, roles,
permissive, USING and WITH CHECK as PostgreSQL prints them, compared with scratch copies made
in a transaction rolled back): anything else is a finding (exit 1).
"""

import json
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import Result

from tests.pg_secured import (
    COMPLIANCE,
    CURATOR,
    as_dba,
    cli,
    database_copy,
    secured_demo_database,
)
from tests.pgcluster import PgServer


@pytest.fixture(scope="module")
def secured_demo(pg_server: PgServer) -> Iterator[str]:
    """The demo on PostgreSQL, secured (a template each test copies)."""
    with secured_demo_database(pg_server) as name:
        yield name


@pytest.fixture
def copy(pg_server: PgServer, secured_demo: str) -> Iterator[str]:
    """A copy of the secured demo this test may change as the DBA."""
    with database_copy(pg_server, secured_demo, "rls") as url:
        yield url


def _verify(url: str, *options: str) -> Result:
    return cli(url, "--as", COMPLIANCE, "verify", *options)


def test_the_untouched_copy_verifies_with_its_policies(copy: str) -> None:
    result = _verify(copy)
    assert result.exit_code == 0, result.stdout
    assert (
        "PostgreSQL triggers in place, row-level security policies the ledger's own"
        in result.stdout
    )
    assert "not checked: the USING" not in result.stdout


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (
            "ALTER POLICY researcher_own ON loan USING (true)",
            "[defence] policy researcher_own on loan is not the ledger's own (it reads: FOR ALL "
            "TO sampleloans_researcher USING (true)): the logins it names may read or change "
            "rows of loan the ledger's policies hide",
        ),
        (
            "CREATE POLICY x ON loan FOR SELECT TO sampleloans_researcher USING (true)",
            "[defence] policy x on loan is not one the ledger installs (FOR SELECT TO "
            "sampleloans_researcher USING (true))",
        ),
        (
            "CREATE POLICY everyone ON shipment USING (true)",
            "[defence] policy everyone on shipment is not one the ledger installs (FOR ALL TO "
            "PUBLIC USING (true))",
        ),
        (
            "DROP POLICY researcher_read ON ledger_event",
            "[defence] policy researcher_read on ledger_event is missing",
        ),
        (
            "ALTER POLICY staff_all ON note TO sampleloans_curator, sampleloans_compliance, "
            "sampleloans_researcher",
            "[defence] policy staff_all on note is not the ledger's own (it reads: FOR ALL TO "
            "sampleloans_compliance, sampleloans_curator, sampleloans_researcher",
        ),
        (
            "ALTER POLICY researcher_own ON agreement USING (institution = "
            "sampleloans_login_institution() OR true)",
            "[defence] policy researcher_own on agreement is not the ledger's own",
        ),
        (
            "DROP POLICY researcher_own ON person\n"
            "CREATE POLICY researcher_own ON person AS RESTRICTIVE TO sampleloans_researcher "
            "USING (institution = sampleloans_login_institution() "
            "OR role IN ('curator', 'compliance_officer'))",
            "[defence] policy researcher_own on person is not the ledger's own (it reads: AS "
            "RESTRICTIVE FOR ALL",
        ),
    ],
)
def test_a_policy_not_the_ledgers_own_is_a_finding(copy: str, change: str, finding: str) -> None:
    as_dba(copy, *change.split("\n"))  # one statement a line
    result = _verify(copy)
    assert result.exit_code == 1, result.stdout
    assert finding in result.stdout


def test_db_secure_puts_the_loosened_policy_back(pg_server: PgServer, copy: str) -> None:
    as_dba(copy, "ALTER POLICY researcher_own ON loan USING (true)")
    assert _verify(copy).exit_code == 1
    assert cli(copy, "--as", CURATOR, "db", "secure").exit_code == 0
    assert _verify(copy).exit_code == 0


def test_the_json_verdict_names_the_policy(copy: str) -> None:
    as_dba(copy, "CREATE POLICY x ON loan FOR SELECT TO sampleloans_researcher USING (true)")
    result = _verify(copy, "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert {"area": "defence", "message": problems[-1]["message"]} in problems
    assert any(p["message"].startswith("policy x on loan ") for p in problems)


def test_verify_leaves_no_scratch_table_behind(copy: str) -> None:
    assert _verify(copy).exit_code == 0
    with psycopg.connect(copy) as connection:
        left = connection.execute(
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'sampleloans_policy_%'"
        ).fetchone()
    assert left == (0,)


PASSWORD = "s24-rls-password"


def _compliance_login(pg_server: PgServer, url: str) -> str:
    """The compliance officer's own login (not the superuser) on the database at `url`."""
    as_dba(url, f"ALTER ROLE \"{COMPLIANCE}\" PASSWORD '{PASSWORD}'")
    return PgServer(pg_server.host, pg_server.port, COMPLIANCE, PASSWORD).url(url.rsplit("/", 1)[1])


def test_the_compliance_officers_own_login_checks_the_policies(
    pg_server: PgServer, copy: str
) -> None:
    login = _compliance_login(pg_server, copy)
    clean = cli(login, "verify")
    assert clean.exit_code == 0, clean.stdout
    assert "row-level security policies the ledger's own" in clean.stdout
    as_dba(copy, "ALTER POLICY researcher_own ON loan USING (true)")
    loosened = cli(login, "verify")
    assert loosened.exit_code == 1
    assert "policy researcher_own on loan is not the ledger's own" in loosened.stdout


def test_a_login_without_temporary_tables_says_the_expressions_were_not_checked(
    pg_server: PgServer, copy: str
) -> None:
    login = _compliance_login(pg_server, copy)
    as_dba(copy, f"REVOKE TEMPORARY ON DATABASE {copy.rsplit('/', 1)[1]} FROM PUBLIC")
    result = cli(login, "verify")
    assert result.exit_code == 0, result.stdout
    assert "row-level security policies the ledger's own" not in result.stdout
    assert (
        "not checked: the USING and WITH CHECK expressions of the row-level-security policies "
        "(their names, commands and roles were): this login may not create the temporary "
        "tables they are compared on (permission denied"
    ) in " ".join(result.stdout.split())
    data = json.loads(cli(login, "verify", "--json").stdout)
    assert data["not_checked"][0].startswith("not checked: the USING and WITH CHECK")
    # what needs no scratch table is still compared: an added policy is found
    as_dba(copy, "CREATE POLICY x ON loan FOR SELECT TO sampleloans_researcher USING (true)")
    added = cli(login, "verify")
    assert added.exit_code == 1
    assert "policy x on loan is not one the ledger installs (FOR SELECT TO " in added.stdout
    assert "not checked: the USING and WITH CHECK expressions" in added.stdout  # said here too


def test_an_older_revision_says_its_policies_were_not_checked(copy: str) -> None:
    # else the DBA could set the version back and loosen a policy unseen
    as_dba(
        copy,
        "UPDATE alembic_version SET version_num = '0012_subject_of_lab_event'",
        "ALTER POLICY researcher_own ON loan USING (true)",
    )
    result = _verify(copy)
    assert "not checked: the row-level-security policies against the ledger's own" in " ".join(
        result.stdout.split()
    )
