"""Sweep s24 "users" (1): a statement groups the thousands of grams, as every command does.

A researcher's statement printed a 1500 g sample as "1500.000 g" where `status`, `loans show`,
`balance` and the custody and return reports (layout 11) print "1,500.000 g". Statement layout
11 groups them, in its tables and in the words of its events (which its digest covers); a
statement printed in layout 10 (`tests/golden/statement-layout10-big-mass.pdf`, made by main at
e8a6bd5) still verifies byte for byte, in its own words. CSV stays data: whole micrograms.

Report layout 12: layout 11 printed a finding about a mass of 1,000 g or more (a weighing off
the mass expected) as program text, "Reworded(text='…', earlier='…', since=11)", in the custody
and return reports; and the two reports worded a weighing two ways (the return report without
the difference): one function (`parts.weighing_words`) words it, with the difference, and a
layout-11 file (`tests/golden/report-layout11-*-weighing.pdf`) still verifies byte for byte.
"""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import FINDING_WORDS_LAYOUT, REPORT_LAYOUT
from sampleloans.readmodels.statement import GROUPED_MASS_VERSION
from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import CURATOR, GOLDEN, OU_PI, fingerprint
from tests.pdf_reading import layout_of, words

NOW = "2026-05-02T00:00:00Z"
BIG = "CE5C0000YJYX091"  # 1500 g, lent on L-1; 2 mg of it consumed


def run(db: Path, *args: str, code: int = 0, actor: str = OU_PI) -> str:
    """The CLI as `actor` (OU's PI) on `db` at NOW; the exit code checked; stdout."""
    env = {"SAMPLELOANS_DB": str(db), "SAMPLELOANS_NOW": NOW, "COLUMNS": "160"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A copy of the ledger lending OU's PI a 1500 g sample, under a signed checkpoint."""
    golden = GOLDEN / "ledger-statement-big-mass-layout10.db"
    return Path(shutil.copy(golden, tmp_path / "ledger.db"))


def test_a_statement_groups_the_grams_as_status_does(ledger: Path, tmp_path: Path) -> None:
    folder = tmp_path / "st"
    run(ledger, "report", "statement", "--pi", OU_PI, "--out", str(folder))
    (pdf,) = folder.iterdir()
    data = pdf.read_bytes()
    assert layout_of(data) == METADATA_VERSION >= GROUPED_MASS_VERSION
    text = words(data)
    # the table of what the PI holds, the loan's Held, and an event's words (digested)
    assert f"{BIG} L-1 regolith bulk soil, CE-5 scoop held 1,500.000 g 1,499.998 g" in text
    assert f"issued from the vault: {BIG} 1,500.000 g" in text
    assert f"weighed {BIG} 1,500.000 g" in text
    assert "1500.000 g" not in text and "1499.998 g" not in text
    shown = run(ledger, "loans", "show", "L-1")
    assert "1,500.000 g │ 1,499.998 g" in shown
    checked = run(ledger, "verify-document", str(pdf))
    assert "byte-identical to a fresh rendering" in checked


def test_a_layout_10_statement_still_verifies_in_its_own_words(ledger: Path) -> None:
    golden = GOLDEN / "statement-layout10-big-mass.pdf"
    data = golden.read_bytes()
    assert layout_of(data) == GROUPED_MASS_VERSION - 1
    assert f"weighed {BIG} 1500.000 g" in words(data)
    before = fingerprint(ledger)
    checked = run(ledger, "verify-document", str(golden))
    assert "content digest c1f87b0afdd02227 matches the ledger" in checked
    assert "byte-identical to a fresh rendering" in checked
    assert fingerprint(ledger) == before


def test_csv_stays_whole_micrograms(ledger: Path) -> None:
    """CSV is data for a spreadsheet: whole micrograms, no separator to misread."""
    listed = run(ledger, "loans", "list", "--csv")
    assert "L-1,OU,anand@open.example,received,1,1500000000,1499998000,0," in listed


WEIGHED = "CE5C0000YJYX091: expected 1,500.000 g, weighed 1,499.990 g (−10.000 mg)"


@pytest.fixture
def weighed(tmp_path: Path) -> Path:
    """A copy of the ledger whose PI weighed the 1500 g sample 10 mg light on receipt."""
    return Path(shutil.copy(GOLDEN / "ledger-weighing-layout11.db", tmp_path / "w.db"))


@pytest.mark.parametrize("kind", ["custody", "return"])
def test_both_reports_word_a_weighing_alike_in_words(
    weighed: Path, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}.pdf"
    run(weighed, "report", kind, "--loan", "L-1", "--out", str(out), actor=CURATOR)
    data = out.read_bytes()
    assert layout_of(data) == REPORT_LAYOUT >= FINDING_WORDS_LAYOUT
    text = words(data)
    assert f"weighing {WEIGHED}" in text
    assert "Reworded" not in text
    assert "byte-identical" in run(weighed, "verify-document", str(out), actor=CURATOR)


@pytest.mark.parametrize("kind", ["custody", "return"])
def test_a_layout_11_report_with_a_weighing_still_verifies(weighed: Path, kind: str) -> None:
    golden = GOLDEN / f"report-layout11-{kind}-weighing.pdf"
    data = golden.read_bytes()
    assert layout_of(data) == FINDING_WORDS_LAYOUT - 1
    assert "Reworded(text=" in words(data)  # as layout 11 printed it
    before = fingerprint(weighed)
    checked = run(weighed, "verify-document", str(golden), actor=CURATOR)
    assert "byte-identical to a fresh rendering" in checked
    assert fingerprint(weighed) == before
