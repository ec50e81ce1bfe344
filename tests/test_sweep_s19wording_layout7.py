"""Sweep s19-wording: report layout 7 and statement layout 7 say what happened in plain words.

A compliance officer handing the reports on, and a borrower reading them, saw: "up to 1
extension(s)" and "has used 0 of 1" in the overdue notice; "Extensions: up to 1 of 6 months"
under every agreement; a non-destructive analysis described without saying so (a destructive
one says "destructive"); a shipment "by hand carried"; "59.500 mg remains accountable by the
borrower"; the statement describing a sample without its origin ("regolith powder, CE-5" where
every report says "regolith powder, CE-5 scoop"); and the heading of each right-aligned column
(masses, days late) left-aligned, at the far side of the column from its figures.

Those words are covered by the content digest, so they changed with a new layout, read from
the constants (`REPORT_LAYOUT`, `WORDED_LAYOUT`, `METADATA_VERSION`, `WORDED_VERSION`); the
files the layout before printed are kept under tests/golden/ (`report-layout6-*.pdf`,
`statement-layout6-suparco.pdf`, see its README) and still verify byte for byte.
"""

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sampleloans.readmodels.report import (
    REPORT_LAYOUT,
    WORDED_LAYOUT,
    OverdueBody,
    Party,
    Report,
    ReportRequest,
    Reworded,
    canonical_content,
    reworded,
    words_in,
)
from sampleloans.readmodels.statement import WORDED_VERSION
from sampleloans.reports import tables
from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import COMPLIANCE, GOLDEN, fingerprint
from tests.test_s17_layout_goldens import cli, keywords, words

AFTER = "2026-06-01T00:00:00Z"  # the layout-6 goldens say 2026-05-01
PRINTED = "2026-05-01T00:00:00Z"
BEFORE = WORDED_LAYOUT - 1  # the layout of the goldens
REPORTS = ("custody", "custody-ou", "return", "overdue", "inventory")


@pytest.fixture
def ledger(tmp_path: Path) -> dict[str, str]:
    """A copy of release 0.1's golden ledger (the demo), read after the goldens were printed."""
    shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": AFTER}


@pytest.fixture
def statement_ledger(tmp_path: Path) -> dict[str, str]:
    """A copy of the ledger the statement goldens were built on (it keeps their checkpoint)."""
    shutil.copy(GOLDEN / "ledger-statement-layout3.db", tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": AFTER}


def report(env: dict[str, str], tmp_path: Path, kind: str, *scope: str) -> Path:
    """Print a report now (dated as the goldens were) and return its file."""
    out = tmp_path / f"{kind}.pdf"
    cli(
        env,
        "--as",
        COMPLIANCE,
        "report",
        kind,
        *scope,
        "--out",
        str(out),
        "--generated-at",
        PRINTED,
    )
    assert keywords(out)["v"] == REPORT_LAYOUT >= WORDED_LAYOUT
    return out


def verified(env: dict[str, str], pdf: Path) -> None:
    """`verify-document` finds the file byte-identical to its re-rendering; nothing written."""
    before = fingerprint(Path(env["SAMPLELOANS_DB"]))
    output = cli(env, "--as", COMPLIANCE, "verify-document", str(pdf))
    assert "byte-identical to a fresh rendering" in output
    assert fingerprint(Path(env["SAMPLELOANS_DB"])) == before


@pytest.mark.parametrize("name", REPORTS)
def test_a_layout_6_report_still_verifies_byte_for_byte(ledger: dict[str, str], name: str) -> None:
    golden = GOLDEN / f"report-layout{BEFORE}-{name}.pdf"
    assert keywords(golden)["v"] == BEFORE < REPORT_LAYOUT
    verified(ledger, golden)


def test_a_layout_6_statement_still_verifies_byte_for_byte(
    statement_ledger: dict[str, str],
) -> None:
    golden = GOLDEN / f"statement-layout{WORDED_VERSION - 1}-suparco.pdf"
    assert keywords(golden)["v"] == WORDED_VERSION - 1 < METADATA_VERSION
    verified(statement_ledger, golden)
    alone = cli(
        {},
        "verify-document",
        str(golden),
        "--public-key",
        str(GOLDEN / "statement-layout3-naoc.key.pub"),
    )
    assert "every event listed is in the ledger the lender signed" in alone


def test_the_overdue_notice_counts_extensions_in_words(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    old = words(GOLDEN / f"report-layout{BEFORE}-overdue.pdf")
    assert "up to 1 extension(s)" in old and "has used 0 of 1 —" not in old
    now = words(report(ledger, tmp_path, "overdue", "--institution", "SUPARCO"))
    assert "up to 1 extension of at most 6 months, requested in writing" in now
    assert "L-2025-SUPARCO has used 0 of 1 extension" in now
    assert "(s)" not in now
    verified(ledger, tmp_path / "overdue.pdf")


def test_the_custody_report_says_an_analysis_was_non_destructive(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    """OU's SEM-EDS analysis: the chain's Condition and the event's description say so; the
    agreement's Extensions and the shipment read as English."""
    old = words(GOLDEN / f"report-layout{BEFORE}-custody-ou.pdf")
    assert "non-destructive" not in old and "by hand carried" in old
    now = words(report(ledger, tmp_path, "custody", "--loan", "L-2025-OU"))
    assert "consumed on loan L-2025-OU (SEM-EDS mount preparation, non-destructive)" in now
    # the chain's Condition cell too, wrapped in its narrow column after the hyphen
    assert now.replace("non- destructive", "non-destructive").count("non-destructive") == 2
    assert "Extensions up to 1 extension of at most 6 months" in now
    assert "by hand: CE5C0200YJFM00112" in now and "hand carried" not in now
    verified(ledger, tmp_path / "custody.pdf")


def test_a_destructive_analysis_still_says_destructive(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    now = words(report(ledger, tmp_path, "custody", "--loan", "L-2025-UoC"))
    assert "(Hf-W chronometry, MC-ICP-MS, destructive)" in now
    assert "non-destructive" not in now


def test_custody_history_says_non_destructive_too(ledger: dict[str, str]) -> None:
    """The CLI's history line (no digest: no layout) uses the same words."""
    output = cli(
        {**ledger, "COLUMNS": "250"},
        "--as",
        COMPLIANCE,
        "custody",
        "history",
        "--loan",
        "L-2025-OU",
    )
    assert "(SEM-EDS mount preparation, non-destructive)" in " ".join(output.split())


def test_the_return_report_says_who_remains_accountable(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    old = words(GOLDEN / f"report-layout{BEFORE}-return.pdf")
    assert "59.500 mg remains accountable by the borrower." in old
    now = words(report(ledger, tmp_path, "return", "--loan", "L-2025-OU"))
    assert "The borrower remains accountable for 59.500 mg." in now
    assert "accountable by" not in now
    verified(ledger, tmp_path / "return.pdf")


def test_the_return_report_of_a_loan_not_issued_is_no_close_out(
    ledger: dict[str, str], tmp_path: Path
) -> None:
    """L-2025-Brown is approved, nothing issued: layout 6 called it closed out."""
    now = words(report(ledger, tmp_path, "return", "--loan", "L-2025-Brown"))
    assert "Nothing has been issued on this loan yet: there is nothing to account for." in now
    assert "close-out" not in now
    verified(ledger, tmp_path / "return.pdf")


def test_the_statement_says_non_destructive_and_describes_samples_as_reports_do(
    statement_ledger: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "st"
    out.mkdir()
    make = ["report", "statement", "--pi", "pi@suparco.example", "--out", str(out)]
    cli(statement_ledger, "--as", COMPLIANCE, *make, "--generated-at", PRINTED)
    (fresh,) = out.glob("*.pdf")
    assert keywords(fresh)["v"] == METADATA_VERSION >= WORDED_VERSION
    old = words(GOLDEN / f"statement-layout{WORDED_VERSION - 1}-suparco.pdf")
    assert "non-destructive" not in old and "regolith powder, CE-5 consumed" in old
    now = words(fresh)
    assert "L-2025-SUPARCO (ICP-MS, non-destructive)" in now
    assert "regolith powder, CE-5 drill consumed" in now  # as the reports describe it
    verified(statement_ledger, fresh)


def test_a_right_aligned_columns_heading_is_right_aligned() -> None:
    """From layout 7 the heading of a right-aligned column stands over its figures."""
    for aligned, expected in ((True, "RIGHT"), (False, "LEFT")):
        with tables.right_headings(aligned):
            (table,) = tables.data_tables(
                ("Loan", "Held"), [("L-1", "1.000 mg")], (0.5, 0.5), align_right=(1,)
            )
        styles = table._cellStyles  # reportlab keeps them there
        assert [s.alignment for s in styles[0]] == ["LEFT", expected]
        assert [s.alignment for s in styles[1]] == ["LEFT", "RIGHT"]


def test_a_reworded_text_is_digested_in_the_words_of_each_layout() -> None:
    """The content digest of a layout before WORDED_LAYOUT covers the earlier words, so a file
    it printed keeps its digest; a text whose words did not change stays a plain string."""
    text = reworded("up to 1 extension", "1 extension(s)", WORDED_LAYOUT)
    assert isinstance(text, Reworded)
    assert reworded("same", "same", WORDED_LAYOUT) == "same"
    assert words_in(text, BEFORE) == "1 extension(s)"
    assert words_in(text, WORDED_LAYOUT) == "up to 1 extension"
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    body = OverdueBody(
        institution=Party("Institution", "OU", ""),
        addressees=(),
        respond_by=moment,
        clauses=(Party("Agreement AG-1", text, ""),),
        lines=(),
        actions=(),
    )
    made = Report(ReportRequest("overdue", institution="OU"), "t", "s", moment, 1, "0" * 64, body)
    for layout, said in ((BEFORE, "1 extension(s)"), (WORDED_LAYOUT, "up to 1 extension")):
        content = canonical_content(replace(made, layout=layout))
        assert f'"name":"{said}"' in content
