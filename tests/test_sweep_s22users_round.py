"""Sweep s22 "a curator and a researcher, through the CLI": what they expected and did not get.

- The return report's chart drew the samples bottom up (reportlab's order), the reverse of the
  accounting table just above it: report layout 10 draws them top down, in the table's order;
  a layout-9 file (`tests/golden/report-layout9-return.pdf`, main at 47ed1f0) still verifies.
- `status` told the PI of a settled loan that their open obligation was "close the loan", which
  only a curator may do: it says "awaiting closure by the curator", as it says "awaiting
  approval" and "awaiting issue" of the lender's other steps.
- The titles of the small lists counted without a thousands separator ("People (1200)") where
  the streamed lists say "showing 1–50 of 150,000".
- `notify`'s mail to a PI whose loan was only approved said "Total held: 0 µg, on 1 open loan",
  where the statement it carries says nothing was issued yet; the overdue mail to an
  institution's one late PI greeted "the principal investigators".
"""

import re
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.services import catalog
from tests.conftest import COMPLIANCE, CURATOR, GOLDEN, OU_PI, fingerprint

CODE = re.compile(r"CE5C\w+")
TABLE_ORDER = ["CE5C0200YJFM00112", "CE5C0300YJFM00307", "CE5C0500YJFM00415"]


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Invoke the CLI in `env`; check the exit code; everything printed."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "120", **env})
    output = result.stdout + result.stderr
    assert result.exit_code == code, (args, output)
    return output


def chart_codes(pdf: Path) -> list[str]:
    """The sample codes of the return report's last page (its chart), top down as printed."""
    last = PdfReader(pdf).pages[-1]
    return CODE.findall(last.extract_text(extraction_mode="layout"))


@pytest.fixture
def golden(tmp_path: Path) -> dict[str, str]:
    """A copy of release 0.1's golden ledger, read after the layout-9 return report."""
    ledger = Path(shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db"))
    return {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": "2026-06-01T00:00:00Z"}


def test_the_return_chart_lists_the_samples_in_the_order_of_its_table(
    golden: dict[str, str], tmp_path: Path
) -> None:
    """Layout 10: top down as in the accounting table; layout 9 drew them bottom up, and its
    file still re-renders byte for byte."""
    out = tmp_path / "return.pdf"
    cli(golden, "--as", COMPLIANCE, "report", "return", "--loan", "L-2025-OU", "--out", str(out))
    assert chart_codes(out) == TABLE_ORDER
    old = GOLDEN / "report-layout9-return.pdf"
    assert chart_codes(old) == TABLE_ORDER[::-1]
    before = fingerprint(Path(golden["SAMPLELOANS_DB"]))
    checked = cli(golden, "--as", COMPLIANCE, "verify-document", str(old))
    assert "byte-identical to a fresh rendering" in checked
    assert fingerprint(Path(golden["SAMPLELOANS_DB"])) == before


def test_a_settled_loan_awaits_the_curator_not_the_pi(ledger: Path) -> None:
    """SUPARCO's loan comes back whole and is settled: its PI reads that the curator closes it
    (a researcher may not), in `status` and `status --json`."""
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": "2026-04-28T10:00:00Z"}
    curator = ("--as", CURATOR)
    cli(env, *curator, "loans", "return", "L-2025-SUPARCO", "--container", "N2 box", "--seal",
        "S-R9")  # fmt: skip
    cli(env, *curator, "loans", "accept-return", "L-2025-SUPARCO", "--seal-intact",
        "--condition", "unchanged", "--weighed", "CE5Z0200YJFM00103=100mg")  # fmt: skip
    cli(env, *curator, "loans", "settle", "L-2025-SUPARCO", "--obligations", "report filed")
    pi = ("--as", "pi@suparco.example")
    shown = cli(env, *pi, "status", "--loan", "L-2025-SUPARCO")
    assert "obligations: awaiting closure by the curator" in shown
    assert "close the loan" not in shown
    assert '"awaiting closure by the curator"' in cli(env, *pi, "status", "--json")
    cli(env, *pi, "loans", "close", "L-2025-SUPARCO", code=4)


@pytest.mark.parametrize(
    ("command", "service", "title"),
    [
        (("people", "list"), "list_people", "People (1,200)"),
        (("institutions", "list"), "list_institutions", "Institutions (1,200)"),
    ],
)
def test_a_list_title_counts_with_a_thousands_separator(
    monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...], service: str, title: str
) -> None:
    """1,200 rows (the service stubbed: the title is the command's)."""
    person = catalog.PersonView("a@b.example", "A", "OU", "researcher", True)
    rows: list[object] = [person] * 1200
    if service == "list_institutions":
        rows = [catalog.InstitutionView("OU", "x", "x", "x", "borrower", 0, 0, 0)] * 1200
    monkeypatch.setattr(catalog, service, lambda *_a, **_k: rows)
    monkeypatch.setattr("sampleloans.commands.common.reading", _no_ledger)
    assert title in cli({}, "--as", OU_PI, *command)


def _no_ledger(_ctx: object) -> object:
    """`reading` without a ledger: the stubbed service needs none."""
    from contextlib import nullcontext

    return nullcontext((None, None))


def test_the_mails_greet_one_pi_and_say_nothing_was_issued_yet(
    ledger: Path, tmp_path: Path
) -> None:
    """The SBU PI's loan is only approved: the mail said "Total held: 0 µg, on 1 open loan"
    where the statement it carries says nothing was issued yet. Osaka's overdue notice, to its
    one late PI, began "To the principal investigators of …"."""
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": "2026-04-28T10:00:00Z"}
    key = tmp_path / "cp.key"
    cli(env, "--as", CURATOR, "keys", "generate", "--out", str(key), "--name", "naoc")
    cli(env, "--as", CURATOR, "checkpoint", "--key", str(key))
    outbox = tmp_path / "outbox"
    cli(env, "--as", CURATOR, "notify", "--outbox", str(outbox))
    sbu = (outbox / "statement-glotch_stonybrook.example.eml").read_text(encoding="utf-8")
    assert "Nothing has been issued to you yet: 1 open loan, awaiting approval or issue." in sbu
    assert "Total held" not in sbu
    osaka = (outbox / "overdue-Osaka-terada_osaka-u.example.eml").read_text(encoding="utf-8")
    assert "To the principal investigator of Osaka University" in osaka
