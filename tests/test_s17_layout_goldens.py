"""Files printed in the layouts this stop replaced still verify byte-identical.

`tests/golden/report-layout5-*.pdf` (page layout 5, before full-width tables ended at the right
margin) and `tests/golden/statement-layout3-*.pdf` (statement layout 3, before each loan's Held
named the part on its way back and a loan with nothing left said so) were printed by main at
f096c7b, before layout 6 and statement layout 4; see tests/golden/README.md.
"""

import io
import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import REPORT_LAYOUT
from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import COMPLIANCE, GOLDEN, fingerprint

AFTER = "2026-06-01T00:00:00Z"  # the layout-5 and layout-3 goldens say 2026-05-01
STATEMENT_LEDGER = GOLDEN / "ledger-statement-layout3.db"
PUBLIC_KEY = GOLDEN / "statement-layout3-naoc.key.pub"
NOTHING_LEFT = "nothing left to send back"


def cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Invoke the CLI in `env`; check the exit code; everything printed."""
    result = CliRunner().invoke(app, list(args), env=env)
    output = result.stdout + result.stderr
    assert result.exit_code == code, (args, output)
    return output


def words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


def keywords(pdf: Path) -> dict[str, object]:
    """The metadata a PDF carries in its Keywords (layout "v", head, digest, …)."""
    info = PdfReader(io.BytesIO(pdf.read_bytes())).metadata
    assert info is not None, "the PDF carries no metadata"
    loaded: dict[str, object] = json.loads(str(info["/Keywords"]))
    return loaded


@pytest.fixture
def report_ledger(tmp_path: Path) -> dict[str, str]:
    """A copy of release 0.1's golden ledger, read after the layout-5 reports were printed."""
    shutil.copy(GOLDEN / "ledger-0.1.db", tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": AFTER}


@pytest.fixture
def statement_ledger(tmp_path: Path) -> dict[str, str]:
    """A copy of the ledger the layout-3 statements were built on (it keeps their checkpoint)."""
    shutil.copy(STATEMENT_LEDGER, tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": AFTER}


@pytest.mark.parametrize("kind", ("custody", "return", "overdue", "inventory"))
def test_a_layout_5_report_still_verifies_byte_for_byte(
    report_ledger: dict[str, str], kind: str
) -> None:
    """Each kind printed in page layout 5 re-renders to the same bytes; nothing is written."""
    golden = GOLDEN / f"report-layout5-{kind}.pdf"
    assert keywords(golden)["v"] == 5 < REPORT_LAYOUT
    before = fingerprint(Path(report_ledger["SAMPLELOANS_DB"]))
    output = cli(report_ledger, "--as", COMPLIANCE, "verify-document", str(golden))
    assert "byte-identical to a fresh rendering" in output
    assert fingerprint(Path(report_ledger["SAMPLELOANS_DB"])) == before


@pytest.mark.parametrize("pi", ("muenker", "suparco"))
def test_a_layout_3_statement_still_verifies_byte_for_byte(
    statement_ledger: dict[str, str], pi: str
) -> None:
    """A statement printed in layout 3 (a loan with a sample on its way back; a loan all
    consumed) re-renders to the same bytes against the ledger, and its proofs check with the
    lender's public key alone."""
    golden = GOLDEN / f"statement-layout3-{pi}.pdf"
    assert keywords(golden)["v"] == 3 < METADATA_VERSION
    output = cli(statement_ledger, "--as", COMPLIANCE, "verify-document", str(golden))
    assert "byte-identical to a fresh rendering" in output
    alone = cli({}, "verify-document", str(golden), "--public-key", str(PUBLIC_KEY))
    assert "every event listed is in the ledger the lender signed" in alone


def test_the_same_statement_in_layout_4_says_what_layout_3_did_not(
    statement_ledger: dict[str, str], tmp_path: Path
) -> None:
    """On the same checkpoint and date, layout 4 adds the words and keeps the content digest:
    the change is in the page, not in what the digest covers."""
    out = tmp_path / "st"
    out.mkdir()
    make = ["report", "statement", "--pi", "pi@suparco.example", "--out", str(out)]
    cli(statement_ledger, "--as", COMPLIANCE, *make, "--generated-at", "2026-05-01T00:00:00Z")
    (fresh,) = out.glob("*.pdf")
    old = GOLDEN / "statement-layout3-suparco.pdf"
    assert keywords(fresh)["v"] == METADATA_VERSION >= 4  # layout 5 kept these words
    assert NOTHING_LEFT not in words(old)
    assert f"0 µg: {NOTHING_LEFT}" in words(fresh)
    for same in ("head", "checkpoint"):
        assert keywords(fresh)[same] == keywords(old)[same], same
    # layout 4 changed the page alone; layout 7 says "non-destructive" of the ICP-MS analysis
    # (WORDED_VERSION), words its digest covers
    assert keywords(fresh)["digest"] != keywords(old)["digest"]
    assert "(ICP-MS, non-destructive)" in words(fresh)
    output = cli(statement_ledger, "--as", COMPLIANCE, "verify-document", str(fresh))
    assert "byte-identical to a fresh rendering" in output
