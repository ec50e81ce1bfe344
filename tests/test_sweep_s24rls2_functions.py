"""Sweep s24 "rls2" (attacker): on PostgreSQL `verify` compares the functions the defences call.

The policies were compared by their text only: the functions they call
(`sampleloans_loan_is_mine`, `sampleloans_login_institution`, `sampleloans_event_is_mine`,
`sampleloans_login_is_staff`, …) could be replaced under the same name (`… AS $$ SELECT true
$$`), giving a researcher every institution's rows, while `verify` said OK; the staff test was
only searched for the words "AND active". Now every function `db secure` installs must be
exactly the ledger's own: body, language, volatility, SECURITY DEFINER, settings and owner.

And one `REVOKE TEMPORARY ON DATABASE … FROM PUBLIC` turned off the comparison of the policies'
expressions for every curator's and compliance officer's login: `db secure` now grants the staff
groups TEMPORARY on the database themselves.
"""

from collections.abc import Iterator

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

PASSWORD = "s24-rls2-password"
DEFINER = "LANGUAGE sql STABLE SECURITY DEFINER SET search_path TO 'public', 'pg_temp'"


@pytest.fixture(scope="module")
def secured_demo(pg_server: PgServer) -> Iterator[str]:
    """The demo on PostgreSQL, secured (a template each test copies)."""
    with secured_demo_database(pg_server) as name:
        yield name


@pytest.fixture
def copy(pg_server: PgServer, secured_demo: str) -> Iterator[str]:
    """A copy of the secured demo this test may change as the DBA, secured again (a database's
    own privileges are not copied from its template)."""
    with database_copy(pg_server, secured_demo, "rls2") as url:
        assert cli(url, "--as", CURATOR, "db", "secure").exit_code == 0
        yield url


def _own_login(pg_server: PgServer, url: str, email: str) -> str:
    """A person's own login (not the superuser) on the database at `url`."""
    as_dba(url, f"ALTER ROLE \"{email}\" PASSWORD '{PASSWORD}'")
    return PgServer(pg_server.host, pg_server.port, email, PASSWORD).url(url.rsplit("/", 1)[1])


def _words(result: Result) -> str:
    return " ".join(result.stdout.split())


def test_the_untouched_secured_ledger_verifies(pg_server: PgServer, copy: str) -> None:
    result = cli(_own_login(pg_server, copy, CURATOR), "verify")
    assert result.exit_code == 0, result.stdout
    assert "verify: OK" in result.stdout
    assert "[defence]" not in result.stdout
    assert "not checked: the USING" not in result.stdout


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (
            "CREATE OR REPLACE FUNCTION public.sampleloans_loan_is_mine(loan_no text) "
            f"RETURNS boolean {DEFINER} AS $$ SELECT true $$",
            "function sampleloans_loan_is_mine(text) is not the ledger's own (its body was "
            "replaced): the policies and triggers that call it may let anything through",
        ),
        (
            "CREATE OR REPLACE FUNCTION public.sampleloans_login_is_staff() "
            f"RETURNS boolean {DEFINER} AS $$ SELECT true -- AND active\n $$",
            "function sampleloans_login_is_staff() is not the ledger's own (its body was replaced)",
        ),
        (
            "CREATE OR REPLACE FUNCTION public.sampleloans_login_institution() RETURNS text "
            f"{DEFINER} AS $$ SELECT institution FROM person WHERE email = session_user::text $$",
            "function sampleloans_login_institution() is not the ledger's own (its body was "
            "replaced)",
        ),
        (
            "CREATE OR REPLACE FUNCTION public.sampleloans_event_is_mine(event_seq bigint) "
            "RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER "
            "SET search_path TO 'public', 'pg_temp' AS $$ BEGIN RETURN true; END $$",
            "function sampleloans_event_is_mine(bigint) is not the ledger's own (its body was "
            "replaced, its language is plpgsql)",
        ),
        (
            "ALTER FUNCTION sampleloans_login_institution() SECURITY INVOKER",
            "function sampleloans_login_institution() is not the ledger's own (it runs as the "
            "caller, not its owner)",
        ),
        (
            "ALTER FUNCTION sampleloans_loan_is_mine(text) VOLATILE",
            "function sampleloans_loan_is_mine(text) is not the ledger's own (it is VOLATILE)",
        ),
        (
            "ALTER FUNCTION sampleloans_chain_head() SET search_path = pg_temp, public",
            "function sampleloans_chain_head() is not the ledger's own (its settings are "
            "search_path=pg_temp, public)",
        ),
        (
            "ALTER FUNCTION sampleloans_event_is_lab_work(text, text) SET work_mem = '64MB'",
            "function sampleloans_event_is_lab_work(text, text) is not the ledger's own (its "
            "settings are search_path=public, pg_temp, work_mem=64MB)",
        ),
        (
            "ALTER FUNCTION projection_write_needs_event() OWNER TO sampleloans_curator",
            "function projection_write_needs_event() is not the ledger's own (it is owned by "
            "sampleloans_curator)",
        ),
        (
            "ALTER FUNCTION ledger_event_next() SECURITY INVOKER",
            "function ledger_event_next() is not the ledger's own (it runs as the caller, not "
            "its owner)",
        ),
        (
            "ALTER FUNCTION ledger_refuse_change() RESET search_path",
            "function ledger_refuse_change() is not the ledger's own (its settings are none)",
        ),
        (
            "DROP FUNCTION sampleloans_event_hashes(bigint, bigint)",
            "function sampleloans_event_hashes(bigint, bigint) is missing",
        ),
    ],
)
def test_a_function_not_the_ledgers_own_is_a_finding(copy: str, change: str, finding: str) -> None:
    as_dba(copy, change)
    result = cli(copy, "--as", COMPLIANCE, "verify")
    assert result.exit_code == 1, result.stdout
    assert f"[defence] {finding}" in _words(result)
    assert "run 'db secure' again" in _words(result)


def test_db_secure_puts_the_function_back(copy: str) -> None:
    as_dba(
        copy,
        "CREATE OR REPLACE FUNCTION public.sampleloans_loan_is_mine(loan_no text) "
        f"RETURNS boolean {DEFINER} AS $$ SELECT true $$",
    )
    assert cli(copy, "--as", COMPLIANCE, "verify").exit_code == 1
    assert cli(copy, "--as", CURATOR, "db", "secure").exit_code == 0
    assert cli(copy, "--as", COMPLIANCE, "verify").exit_code == 0


@pytest.mark.parametrize("email", [CURATOR, COMPLIANCE])
def test_revoking_temporary_from_public_leaves_staff_comparing_the_policies(
    pg_server: PgServer, copy: str, email: str
) -> None:
    login = _own_login(pg_server, copy, email)
    as_dba(
        copy,
        f"REVOKE TEMPORARY ON DATABASE {copy.rsplit('/', 1)[1]} FROM PUBLIC",
        "ALTER POLICY researcher_own ON agreement USING "
        "(institution = sampleloans_login_institution() OR true)",
    )
    result = cli(login, "verify")
    assert result.exit_code == 1, result.stdout
    assert "[defence] policy researcher_own on agreement is not the ledger's own" in _words(result)
    assert "not checked: the USING" not in result.stdout


def test_db_secure_grants_temporary_to_the_staff_groups_again(
    pg_server: PgServer, copy: str
) -> None:
    database = copy.rsplit("/", 1)[1]
    login = _own_login(pg_server, copy, COMPLIANCE)
    as_dba(
        copy,
        f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC",
        f"REVOKE TEMPORARY ON DATABASE {database} FROM sampleloans_curator, sampleloans_compliance",
    )
    unchecked = cli(login, "verify")
    assert unchecked.exit_code == 0, unchecked.stdout
    assert (
        "the DBA's login checks them, and 'db secure' run again gives the curators and "
        "compliance officers back the TEMPORARY privilege it grants them"
    ) in _words(unchecked)
    assert "a curator's login" not in _words(unchecked)
    assert cli(copy, "--as", CURATOR, "db", "secure").exit_code == 0
    again = cli(login, "verify")
    assert again.exit_code == 0, again.stdout
    assert "row-level security policies the ledger's own" in again.stdout
    assert "not checked: the USING" not in again.stdout
