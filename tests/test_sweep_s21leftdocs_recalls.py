"""Sweep s21-leftdocs: a compliance officer and a researcher reading the PDF reports of a loan
the lender recalled, through the command line.

They saw: no report said a loan was recalled, nor why, nor the due date the recall set (the
custody report had a bare "Recall" row, the return report and the PI's statement nothing of the
reason); and the custody report printed for a researcher showed the OS account that recorded
each event on the lender's machines. Report and statement layout 9 list each recall, and a
researcher's custody report (metadata "for": "borrower") leaves the OS account out; the
layout-8 goldens of a recalled loan (tests/golden/README.md) still re-render byte for byte.
"""

import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import REPORT_LAYOUT
from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import COMPLIANCE, CURATOR, GOLDEN
from tests.test_s17_layout_goldens import keywords, words

if TYPE_CHECKING:
    from tests.pgcluster import PgServer

OU_PI = "anand@open.example"
OU = "L-2025-OU"
NOW = "2026-05-01T00:00:00Z"
LATER = "2026-05-02T00:00:00Z"
REASON = "needed back for the consortium re-analysis"
RECALL_ROW = f"108 {OU} 2026-05-01 00:00 UTC 2026-05-03 08:00 UTC {REASON}"
GOLDENS = (
    "report-layout8-custody-recall.pdf",
    "report-layout8-return-recall.pdf",
    "report-layout8-inventory-recall.pdf",
    "report-layout8-overdue-recall.pdf",  # generated 2026-05-04, past the recall's due date
    "statement-layout8-recall.pdf",
)


def run(env: dict[str, str], *args: str, who: str = COMPLIANCE, code: int = 0) -> str:
    """Invoke the CLI as `who` in `env`; check the exit code; what it printed (both streams)."""
    result = CliRunner().invoke(app, ["--as", who, *args], env={**env, "COLUMNS": "160"})
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result.stdout + result.stderr


@pytest.fixture
def recalled(tmp_path: Path) -> dict[str, str]:
    """A copy of the golden ledger whose OU loan was recalled (event 108, with a checkpoint)."""
    shutil.copy(GOLDEN / "ledger-recall-layout8.db", tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": LATER}


@pytest.mark.parametrize("name", GOLDENS)
@pytest.mark.parametrize("who", [COMPLIANCE, OU_PI])
def test_layout_8_files_of_a_recalled_loan_still_verify(
    recalled: dict[str, str], name: str, who: str
) -> None:
    """Printed before recalls were listed (and, by a researcher, with the OS account): each
    still re-renders byte for byte, for whoever checks it."""
    golden = GOLDEN / name
    assert keywords(golden)["v"] == 8
    assert "for" not in keywords(golden)
    assert "Recalls (" not in words(golden)
    later = {**recalled, "SAMPLELOANS_NOW": "2026-05-05T00:00:00Z"}
    checked = run(later, "verify-document", str(golden), who=who)
    assert "verified against the ledger" in checked


@pytest.mark.parametrize(
    "kind, scope", [("custody", "--loan"), ("return", "--loan"), ("inventory", "--loan")]
)
def test_the_report_of_a_recalled_loan_says_when_why_and_the_new_due_date(
    recalled: dict[str, str], tmp_path: Path, kind: str, scope: str
) -> None:
    """Layout 9: a "Recalls" section with the recall's seq, loan, time, due date and reason."""
    out = tmp_path / f"{kind}.pdf"
    run(recalled, "report", kind, scope, OU, "--generated-at", LATER, "--out", str(out))
    assert keywords(out)["v"] == REPORT_LAYOUT >= 9
    text = words(out)
    assert "Recalls (1)" in text
    assert "Seq Loan Recalled on Due back by Reason" in text
    assert RECALL_ROW in text
    assert "byte-identical" in run(recalled, "verify-document", str(out))


def test_the_overdue_notice_of_a_recalled_loan_names_the_recall(
    recalled: dict[str, str], tmp_path: Path
) -> None:
    """Past the due date the recall set, the notice to OU says the loan was recalled, and why."""
    late = {**recalled, "SAMPLELOANS_NOW": "2026-05-04T08:00:00Z"}
    out = tmp_path / "overdue.pdf"
    run(late, "report", "overdue", "--institution", "OU", "--out", str(out))
    text = words(out)
    assert f"{OU} Mahesh Anand AG-2025-OU return of samples 2026-05-03 08:00 UTC 1" in text
    assert RECALL_ROW in text
    assert "byte-identical" in run(late, "verify-document", str(out))


def test_a_report_without_a_recall_has_no_recalls_section(
    recalled: dict[str, str], tmp_path: Path
) -> None:
    """Another loan (UoC's, never recalled) prints no empty section."""
    out = tmp_path / "custody.pdf"
    run(recalled, "report", "custody", "--loan", "L-2025-UoC", "--out", str(out))
    assert "Recalls (" not in words(out)


def test_a_custody_report_as_of_before_the_recall_does_not_list_it(
    recalled: dict[str, str], tmp_path: Path
) -> None:
    """As of a moment before the recall, the report shows the ledger as it stood then."""
    before, after = tmp_path / "before.pdf", tmp_path / "after.pdf"
    for out, moment in ((before, "2026-04-30T00:00:00Z"), (after, LATER)):
        args = ("--loan", OU, "--as-of", moment, "--out", str(out))
        run(recalled, "report", "custody", *args)
        assert "byte-identical" in run(recalled, "verify-document", str(out))
    assert "Recalls (" not in words(before)
    assert RECALL_ROW in words(after)


def _os_account(env: dict[str, str], seq: int) -> str:
    """The OS account the ledger recorded with event `seq`."""
    with sqlite3.connect(env["SAMPLELOANS_DB"]) as connection:
        (account,) = connection.execute("SELECT os_user FROM ledger_event WHERE seq = ?", (seq,))
    return str(account[0])


def test_a_researchers_custody_report_leaves_out_the_os_account(
    recalled: dict[str, str], tmp_path: Path
) -> None:
    """The lender's copy names the OS account of each event; the researcher's does not (its
    metadata says whom it is for), and each verifies for the other reader."""
    account = _os_account(recalled, 108)
    staff, borrower = tmp_path / "staff.pdf", tmp_path / "borrower.pdf"
    for out, who in ((staff, COMPLIANCE), (borrower, OU_PI)):
        run(recalled, "report", "custody", "--loan", OU, "--out", str(out), who=who)
    assert "Seq Recorded by OS account What the ledger records" in words(staff)
    assert f"108 {CURATOR} {account} loan {OU} recalled" in words(staff)
    assert "for" not in keywords(staff)
    assert keywords(borrower)["for"] == "borrower"
    text = words(borrower)
    assert "OS account" not in text
    assert "Seq Recorded by What the ledger records" in text
    assert f"108 {CURATOR} loan {OU} recalled" in text
    for out in (staff, borrower):
        for who in (COMPLIANCE, OU_PI):
            assert "byte-identical" in run(recalled, "verify-document", str(out), who=who)


def test_a_researchers_copy_claiming_another_audience_is_caught(
    recalled: dict[str, str], tmp_path: Path
) -> None:
    """Metadata "for" a reader no report is written for: the document was altered (exit 1)."""
    out = tmp_path / "borrower.pdf"
    run(recalled, "report", "custody", "--loan", OU, "--out", str(out), who=OU_PI)
    data = out.read_bytes()
    claim = b'"for":"borrower"'
    assert claim in data
    out.write_bytes(data.replace(claim, b'"for":"somebody"'))
    said = run(recalled, "verify-document", str(out), code=1)
    assert "altered" in said


def _checkpoint(env: dict[str, str], key: Path, out: Path) -> None:
    """Sign a checkpoint of the ledger as it is now, kept in the ledger and written to `out`."""
    run(env, "checkpoint", "--key", str(key), "--out", str(out), who=CURATOR)


def test_a_statement_lists_the_recalls_its_checkpoint_covers_only(tmp_path: Path) -> None:
    """Statement layout 9 lists the recall with its reason; one built on a checkpoint from before
    the recall shows the loan as it stood then: no recall, the due date before it."""
    shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db")
    env = {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": NOW}
    run(env, "db", "upgrade", who=CURATOR)
    key = tmp_path / "naoc.key"
    CliRunner().invoke(app, ["keys", "generate", "--out", str(key), "--name", "naoc"], env=env)
    _checkpoint(env, key, tmp_path / "before.txt")
    recall = ("--due", "2026-05-03T08:00:00Z", "--reason", REASON)
    run(env, "loans", "recall", OU, *recall, who=CURATOR)
    _checkpoint(env, key, tmp_path / "after.txt")
    texts = {}
    for name in ("before", "after"):
        folder = tmp_path / f"st-{name}"
        args = ("--pi", OU_PI, "--checkpoint", str(tmp_path / f"{name}.txt"), "--out", str(folder))
        run(env, "report", "statement", *args, who=OU_PI)
        (pdf,) = folder.iterdir()
        assert keywords(pdf)["v"] == METADATA_VERSION >= 9
        assert "byte-identical" in run(env, "verify-document", str(pdf), who=OU_PI)
        texts[name] = words(pdf)
    assert "Recalls (" not in texts["before"]
    assert "2026-05-05 08:00 UTC" in texts["before"]  # due as issued, before the recall
    assert "Recalls (1)" in texts["after"]
    assert f"2026-05-01 00:00 UTC 2026-05-03 08:00 UTC {REASON}" in texts["after"]


def test_a_researchers_own_login_on_postgresql_sees_the_recall_not_the_os_account(
    pg_server: "PgServer", demo_url: str, tmp_path: Path
) -> None:
    """On a secured PostgreSQL ledger, with row-level security: Osaka's researcher's reports of
    their recalled loan list the recall and leave out the OS account; the compliance officer's
    login verifies each."""
    from tests.test_sweep_s17pg_reports import ENV, RESEARCHER, _logins

    def pg_run(url: str, *args: str) -> tuple[int, str, str]:
        """The CLI on `url` (a secured ledger records the server's clock)."""
        result = CliRunner().invoke(app, ["--db", url, *args], env=ENV)
        return result.exit_code, result.stdout, result.stderr

    urls = _logins(pg_server, demo_url)
    # entered after the fact (--at): the loan fell due on 2026-04-25, long before today
    recall = ("--due", "2026-04-24T08:00:00Z", "--reason", REASON, "--at", "2026-04-21T00:00:00Z")
    done = pg_run(urls[CURATOR], "--as", CURATOR, "loans", "recall", "L-2025-Osaka", *recall)
    assert done[0] == 0, done
    for kind in ("custody", "return", "inventory"):
        out = tmp_path / f"{kind}.pdf"
        made = pg_run(urls[RESEARCHER], "report", kind, "--loan", "L-2025-Osaka", "--out", str(out))
        assert made[0] == 0, made
        text = words(out)
        assert "Recalls (1)" in text and REASON in text
        assert "OS account" not in text
        assert keywords(out)["for"] == "borrower"
        checked = pg_run(urls[COMPLIANCE], "verify-document", str(out))
        assert (checked[0], checked[2]) == (0, ""), checked
