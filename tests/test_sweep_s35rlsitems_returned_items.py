"""Sweep s35 "rlsitems": a researcher's reports of a loan one of whose samples went back.

On a secured PostgreSQL ledger row-level security shows a researcher a `sample` row only while
the sample is on their loan. Once one of Osaka's samples was returned to the vault, Osaka's
researcher's custody report, return report and statement of the loan left that item's
description blank: their content digest differed from staff's, so the researcher's
`verify-document` of the curator's report failed ("FAIL content … digest …", exit 1), and
compliance's of the researcher's own report too (on SQLite both pass). The reports now read the
items' descriptive columns through the ledger's function `sampleloans_loan_item_samples`, and
nothing more: the returned sample's current row stays hidden from the researcher.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlmodel import Session

from sampleloans import db
from sampleloans.ledger.envelope import Context
from sampleloans.services import reporting
from tests.pg_secured import COMPLIANCE, CURATOR, cli, secured_demo_database
from tests.pgcluster import PgServer

RESEARCHER = "terada@osaka-u.example"
PASSWORD = "s35-rlsitems-pw"
LOAN = "L-2025-Osaka"
RETURNED = "CE5C0000YJYX061"
DBA = "dba"


@pytest.fixture(scope="module")
def logins(
    pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The secured demo, one of Osaka's samples returned and accepted back into the vault; the
    login URL of the curator, the compliance officer and Osaka's researcher (and the DBA's)."""
    with secured_demo_database(pg_server) as name:
        with psycopg.connect(pg_server.url(name), autocommit=True) as connection:
            for email in (CURATOR, COMPLIANCE, RESEARCHER):
                connection.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(email), sql.Literal(PASSWORD)
                    )
                )
        urls = {
            email: PgServer(pg_server.host, pg_server.port, email, PASSWORD).url(name)
            for email in (CURATOR, COMPLIANCE, RESEARCHER)
        }
        back = ("loans", "return", LOAN, "--container", "box 1", "--seal", "S-1")
        returned = cli(urls[CURATOR], "--as", CURATOR, *back, "--sample", RETURNED)
        assert returned.exit_code == 0, returned.stdout + returned.stderr
        accepted = cli(
            urls[CURATOR], "--as", CURATOR, "loans", "accept-return", LOAN, "--seal-intact",
            "--condition", "pristine", "--weighed", f"{RETURNED}=10.4mg",
        )  # fmt: skip
        assert accepted.exit_code == 0, accepted.stdout + accepted.stderr
        key = tmp_path_factory.mktemp("keys") / "lender.key"  # the statements' checkpoint
        assert cli(urls[CURATOR], "keys", "generate", "--out", str(key)).exit_code == 0
        signed = cli(urls[CURATOR], "--as", CURATOR, "checkpoint", "--key", str(key))
        assert signed.exit_code == 0, signed.stdout + signed.stderr
        yield {**urls, DBA: pg_server.url(name)}


@pytest.mark.parametrize(
    "printed",
    [
        ("report", "custody", "--loan", LOAN),
        ("report", "return", "--loan", LOAN),
    ],
)
def test_each_login_verifies_the_others_document(
    logins: dict[str, str], tmp_path: Path, printed: tuple[str, ...]
) -> None:
    """The curator's document verifies with the researcher's login, the researcher's own with
    the compliance officer's (before: "FAIL content", exit 1, both ways)."""
    for maker, checker in ((CURATOR, RESEARCHER), (RESEARCHER, COMPLIANCE)):
        out = tmp_path / f"{maker.split('@')[0]}.pdf"
        made = cli(logins[maker], *printed, "--out", str(out))
        assert made.exit_code == 0, made.stdout + made.stderr
        checked = cli(logins[checker], "verify-document", str(out))
        assert checked.exit_code == 0, f"{maker} → {checker}: {checked.stdout}{checked.stderr}"


def test_each_login_verifies_the_others_statement(logins: dict[str, str], tmp_path: Path) -> None:
    """The PI's statement, printed by the curator and by the PI: each verifies with the
    other's login (before: "FAIL content", exit 1, both ways)."""
    for maker, checker in ((CURATOR, RESEARCHER), (RESEARCHER, COMPLIANCE)):
        folder = tmp_path / maker.split("@")[0]
        made = cli(logins[maker], "report", "statement", "--pi", RESEARCHER, "--out", str(folder))
        assert made.exit_code == 0, made.stdout + made.stderr
        (statement,) = folder.iterdir()
        checked = cli(logins[checker], "verify-document", str(statement))
        assert checked.exit_code == 0, f"{maker} → {checker}: {checked.stdout}{checked.stderr}"


def _custody_digest(url: str, email: str, now: datetime) -> tuple[str, str]:
    """The custody report of the loan as `email` builds it at `now`: its content digest, and
    the description of the returned sample's item."""
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            request = reporting.make_request("custody", loan=LOAN)
            report = reporting.build_report(
                session, Context(email, "tester", now), request, generated_at=now
            )
    finally:
        engine.dispose()
    body = report.body
    assert isinstance(body, reporting.CustodyBody)
    described = {item.code: item.description for item in body.items}
    return report.digest, described[RETURNED]


def test_the_researchers_custody_report_says_what_staffs_says(logins: dict[str, str]) -> None:
    """Service level: the same read model, so the same content digest (the request is the
    same: the audience is set by the command, not by `build_report`)."""
    now = datetime.now(UTC)  # the events were recorded at the server's clock
    staff_digest, staff_words = _custody_digest(logins[CURATOR], CURATOR, now)
    own_digest, own_words = _custody_digest(logins[RESEARCHER], RESEARCHER, now)
    assert staff_words.startswith("breccia")  # what the item is, as the curator reads it
    assert own_words == staff_words
    assert own_digest == staff_digest


def test_the_returned_samples_current_row_stays_hidden(logins: dict[str, str]) -> None:
    """The researcher still learns nothing of where the sample is now: `samples show` of it
    answers as of a sample that does not exist."""
    shown = cli(logins[RESEARCHER], "samples", "show", RETURNED)
    missing = cli(logins[RESEARCHER], "samples", "show", "CE5C9999NOSUCH01")
    assert shown.exit_code == missing.exit_code != 0
    assert shown.stderr.replace(RETURNED, "CODE") == missing.stderr.replace(
        "CE5C9999NOSUCH01", "CODE"
    )
    with psycopg.connect(logins[RESEARCHER]) as connection:
        rows = connection.execute("SELECT code FROM sample WHERE code = %s", (RETURNED,))
        assert rows.fetchall() == []


def test_db_upgrade_installs_the_function_on_a_ledger_secured_before(
    logins: dict[str, str],
) -> None:
    """A ledger secured at revision 0014 lacks the function (verify names it); the DBA's
    `db upgrade` (revision 0015) installs it and the researcher's report says staff's again.
    Last in the module: it leaves the ledger as it found it."""
    with psycopg.connect(logins[DBA], autocommit=True) as admin:
        admin.execute("DROP FUNCTION sampleloans_loan_item_samples(text)")
        admin.execute("UPDATE alembic_version SET version_num = '0014_clock_sessions_kept_records'")
    checked = cli(logins[COMPLIANCE], "verify")
    assert checked.exit_code == 1
    assert "function sampleloans_loan_item_samples(text) is missing" in checked.stdout
    upgraded = cli(logins[DBA], "--as", CURATOR, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stdout + upgraded.stderr
    assert f"to {db.SCHEMA_HEAD}" in upgraded.stdout
    assert cli(logins[COMPLIANCE], "verify").exit_code == 0
    now = datetime.now(UTC)
    assert _custody_digest(logins[RESEARCHER], RESEARCHER, now) == _custody_digest(
        logins[CURATOR], CURATOR, now
    )
