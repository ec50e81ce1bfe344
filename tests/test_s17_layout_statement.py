"""Statement layout 4: the statement, `status` and the inventory report agree on every figure.

On the demo round, with one of UoC's samples shipped back (on its way back), all of Osaka's, and
SUPARCO's only
sample consumed to the last microgram, every loan on a statement shows `status`'s mass held in
its own "Held" cell, the part on its way back named; the loan with nothing left says so and owes
its settlement report now, as `status` says; the inventory report's "Total held" is the same.
Before (statement layout 3) the Held cell was the bare total and the statement owed only the
return of a loan with nothing to return.
"""

import email
import email.policy
import json
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.reports import statement
from sampleloans.reports.layout import full_width
from sampleloans.reports.tables import CELL_PADDING, measurer
from sampleloans.units import format_mass
from tests.conftest import demo_env

CURATOR = "curator@naoc.example"
COMPLIANCE = "compliance@naoc.example"
NOW = "2026-11-30T12:00:00Z"
RETURNING = ("L-2025-UoC", "CE5C0000YJYX052")  # 30.200 mg of 830.200 mg shipped back
ALL_BACK = "L-2025-Osaka"  # every sample shipped back: 112.400 mg, none in the PI's hands
CONSUMED = ("L-2025-SUPARCO", "CE5Z0200YJFM00103", "pi@suparco.example")  # its only sample
INSTITUTIONS = ("Brown", "IPGP", "OU", "Osaka", "SBU", "SUPARCO", "UoC")
NOTHING_LEFT = "nothing left to send back"
SETTLEMENT = "report the results and publications the agreement asks for"


def cli(env: dict[str, str], *args: str) -> Any:
    """Invoke the CLI; it must succeed."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space (a wrapped cell reads as one line)."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


@pytest.fixture(scope="module")
def round_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo round, a sample on its way back, a loan all on its way back, a loan all
    consumed, a signed checkpoint."""
    env = {**demo_env(tmp_path_factory, CURATOR, NOW), "COLUMNS": "200"}
    folder = Path(env["SAMPLELOANS_DB"]).parent
    loan, sample = RETURNING
    cli(env, "loans", "return", loan, "--container", "N2 box 7", "--seal", "S-0043",
        "--sample", sample)  # fmt: skip
    cli(env, "loans", "return", ALL_BACK, "--container", "box 9", "--seal", "S-0044")
    loan, sample, pi = CONSUMED
    cli(env, "--as", pi, "loans", "consume", loan, "--sample", sample, "--technique", "ICP-MS",
        "--mass", "100 mg", "--non-destructive")  # fmt: skip
    cli(env, "keys", "generate", "--out", str(folder / "naoc.key"), "--name", "naoc")
    cli(env, "checkpoint", "--key", str(folder / "naoc.key"))
    return env


@pytest.fixture(scope="module")
def standings(round_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`status --json` of every loan, by number, as each institution's curator sees it."""
    rows: dict[str, dict[str, Any]] = {}
    for institution in INSTITUTIONS:
        shown = cli(round_env, "status", "--institution", institution, "--json").stdout
        rows |= {row["number"]: row for row in json.loads(shown)["loans"]}
    return rows


@pytest.fixture(scope="module")
def statement_texts(round_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every PI's statement, through the CLI as the compliance officer, as one text."""
    out = tmp_path_factory.mktemp("statement_texts")
    for institution in INSTITUTIONS:
        cli(round_env, "--as", COMPLIANCE, "report", "statement", "--institution", institution,
            "--out", str(out), "--force")  # fmt: skip
    pdfs = sorted(out.glob("*.pdf"))
    assert len(pdfs) >= 6
    for pdf in pdfs:  # each verifies against the ledger, in the current layout
        verified = cli(round_env, "--as", COMPLIANCE, "verify-document", str(pdf)).stdout
        assert "byte-identical to a fresh rendering" in verified
    return " | ".join(words(pdf) for pdf in pdfs)


def test_status_says_what_the_documents_must_agree_with(
    round_env: dict[str, str], standings: dict[str, dict[str, Any]]
) -> None:
    """The two loans of the round as `status` gives them."""
    uoc, suparco = standings[RETURNING[0]], standings[CONSUMED[0]]
    assert (uoc["held_ug"], uoc["returning_ug"]) == (830_200, 30_200)
    assert (suparco["status"], suparco["held_ug"]) == ("received", 0)
    osaka = standings[ALL_BACK]
    assert (osaka["status"], osaka["held_ug"], osaka["returning_ug"]) == (
        "return-in-transit",
        112_400,
        112_400,
    )
    assert f"{NOTHING_LEFT}; settlement report: {SETTLEMENT}" in suparco["obligations"]
    shown = " ".join(cli(round_env, "status", "--loan", RETURNING[0]).stdout.split())
    assert "held 830.200 mg (30.200 mg of it on its way back);" in shown


def test_every_loan_on_a_statement_shows_status_mass_held(
    round_env: dict[str, str], standings: dict[str, dict[str, Any]], statement_texts: str
) -> None:
    """Each loan's row ends with `status`'s held line: the total, the part on its way back
    named, or that nothing is left to send back."""
    checked = 0
    for number, row in sorted(standings.items()):
        if f"{number} AG-" not in statement_texts:
            continue  # closed: on no statement
        shown = " ".join(cli(round_env, "status", "--loan", number).stdout.split())
        held = shown.split(" held ", 1)[1].split(";", 1)[0]  # status's own words
        nothing_left = any(NOTHING_LEFT in owed for owed in row["obligations"])
        cell = f"{held}: {NOTHING_LEFT}" if nothing_left else held
        loan_row = statement_texts.split(f"{number} AG-", 1)[1].split(" | ", 1)[0]
        assert cell in loan_row.split("What you hold", 1)[0], (number, cell, loan_row[:200])
        assert format_mass(row["held_ug"]) in cell
        checked += 1
    assert checked >= 6


def test_the_loan_with_nothing_left_owes_its_settlement_report_now(statement_texts: str) -> None:
    """As `status` says: the return date still stands, and the settlement report is owed now;
    no other loan (an approved one holds nothing either) says nothing is left."""
    suparco = statement_texts.split(f"{CONSUMED[0]} AG-", 1)[1].split(" | ", 1)[0]
    assert f"0 µg: {NOTHING_LEFT}" in suparco
    assert f"settlement report — (now) now: {NOTHING_LEFT}; {SETTLEMENT}" in suparco
    assert f"{CONSUMED[0]} return " in suparco
    assert statement_texts.count(f"0 µg: {NOTHING_LEFT}") == 1


def test_the_inventory_report_agrees_with_status_and_the_statement(
    round_env: dict[str, str],
    standings: dict[str, dict[str, Any]],
    statement_texts: str,
    tmp_path: Path,
) -> None:
    """For each loan out, the inventory report's Total held is `status`'s total, naming the
    part on its way back, or that nothing is left, as `status` and the statement do."""
    for number, row in sorted(standings.items()):
        if row["status"] not in ("received", "return-in-transit"):
            continue
        out = tmp_path / f"inventory-{number}.pdf"
        cli(round_env, "--as", COMPLIANCE, "report", "inventory", "--loan", number,
            "--out", str(out))  # fmt: skip
        total, returning = format_mass(row["held_ug"]), row["returning_ug"]
        note = f"{format_mass(returning)} of it on its way back " if returning else ""
        if any(NOTHING_LEFT in owed for owed in row["obligations"]):
            note = f"{NOTHING_LEFT} "  # nothing in the PI's hands: said, and no "(none)" alone
        assert f"Total held {note}{total}" in words(out), number
        if returning:
            assert f"{total} ({format_mass(returning)} of it on its way back)" in statement_texts


@pytest.mark.parametrize(
    ("column", "widest"),
    [
        (0, "L-2025-SUPARCO"),
        (1, "AG-2025-SUPARCO"),
        (2, "return in transit"),
        (3, "2026-04-25 08:00 UTC"),
        (4, "Extensions"),
        (5, "2026-04-25 08:00 UTC"),
        (6, "(999.999 mg of it on its way back)"),
        (6, f"0 µg: {NOTHING_LEFT}"),
    ],
)
def test_each_loan_column_of_layout_4_holds_its_widest_line_whole(column: int, widest: str) -> None:
    """The loans table of layout 4 gives Held room for `status`'s words on one line each (a
    mass is never cut from its unit) and still holds the demo's codes, dates and states whole."""
    width = full_width() * statement.HELD_LOAN_WIDTHS[column] - 2 * CELL_PADDING
    assert measurer()(widest) <= width
    assert sum(statement.HELD_LOAN_WIDTHS) == pytest.approx(1.0)


def test_the_statement_e_mail_lists_what_the_attached_statement_does(
    round_env: dict[str, str], tmp_path: Path
) -> None:
    """`notify --outbox`: the e-mail to SUPARCO's PI lists the settlement report owed now, as
    the statement attached to it does (before: only the return and the inventory)."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    cli(round_env, "notify", "--institution", "SUPARCO", "--outbox", str(outbox))
    (mail,) = [p for p in outbox.glob("*.eml") if p.name.startswith("statement-")]
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    text = " ".join(message.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]  # the statement mail always has a plain part
    assert f"loan {CONSUMED[0]}: settlement report, now: {NOTHING_LEFT}; {SETTLEMENT}" in text
