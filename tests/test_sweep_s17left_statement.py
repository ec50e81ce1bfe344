"""Sweep s17-left: the statement (layout 5) says that a loan issued but not yet shipped, or
shipped and not yet received, is not yet held by the PI, in `status`'s words (before: "What you
hold" and "Total held" listed it as held). Statements printed in layout 4 still verify
byte-identical (`tests/golden/statement-layout4-*.pdf`, see tests/golden/README.md)."""

import io
import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.reports.statement import METADATA_VERSION
from tests.conftest import COMPLIANCE, GOLDEN, fingerprint

AFTER = "2026-05-01T00:00:00Z"  # when the layout-4 goldens were printed
PUBLIC_KEY = GOLDEN / "statement-layout4-naoc.key.pub"
PIS = {"brown": "pi@brown.example", "sbu": "glotch@stonybrook.example"}
WORDS = {"brown": "issued, not yet shipped", "sbu": "shipped, not yet received"}
MASSES = {"brown": "200.000 mg", "sbu": "500.000 mg"}


def cli(env: dict[str, str], *args: str) -> str:
    """Invoke the CLI in `env`; it must succeed; everything printed."""
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "150"})
    output = result.stdout + result.stderr
    assert result.exit_code == 0, (args, output)
    return output


def words(pdf: Path) -> str:
    """A PDF's text, every run of whitespace one space."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())


def keywords(pdf: Path) -> dict[str, object]:
    """The metadata a PDF carries in its Keywords."""
    info = PdfReader(io.BytesIO(pdf.read_bytes())).metadata
    assert info is not None
    loaded: dict[str, object] = json.loads(str(info["/Keywords"]))
    return loaded


@pytest.fixture
def ledger(tmp_path: Path) -> dict[str, str]:
    """A copy of the ledger the layout-4 statements were built on."""
    shutil.copy(GOLDEN / "ledger-statement-layout4.db", tmp_path / "ledger.db")
    return {"SAMPLELOANS_DB": str(tmp_path / "ledger.db"), "SAMPLELOANS_NOW": AFTER}


@pytest.mark.parametrize("who", sorted(PIS))
def test_a_layout_4_statement_still_verifies_byte_for_byte(
    ledger: dict[str, str], who: str
) -> None:
    golden = GOLDEN / f"statement-layout4-{who}.pdf"
    assert keywords(golden)["v"] == 4 < METADATA_VERSION
    before = fingerprint(Path(ledger["SAMPLELOANS_DB"]))
    output = cli(ledger, "--as", COMPLIANCE, "verify-document", str(golden))
    assert "byte-identical to a fresh rendering" in output
    assert fingerprint(Path(ledger["SAMPLELOANS_DB"])) == before
    alone = cli({}, "verify-document", str(golden), "--public-key", str(PUBLIC_KEY))
    assert "every event listed is in the ledger the lender signed" in alone


@pytest.mark.parametrize("who", sorted(PIS))
def test_the_statement_says_the_loan_is_not_yet_held_as_status_does(
    ledger: dict[str, str], tmp_path: Path, who: str
) -> None:
    out = tmp_path / "st"
    out.mkdir()
    make = ["report", "statement", "--pi", PIS[who], "--out", str(out), "--generated-at", AFTER]
    cli(ledger, "--as", COMPLIANCE, *make)
    (fresh,) = out.glob("*.pdf")
    old = GOLDEN / f"statement-layout4-{who}.pdf"
    assert keywords(fresh)["v"] == METADATA_VERSION >= 5  # layout 6 kept these words
    text = words(fresh)
    assert f"{MASSES[who]} ({WORDS[who]})" in text
    assert "Samples lent to you" in text and "Total lent" in text
    assert "What you hold" not in text and "Total held" not in text
    assert WORDS[who] not in words(old) and "What you hold" in words(old)
    for same in ("head", "checkpoint"):
        assert keywords(fresh)[same] == keywords(old)[same], same
    # layout 5 changed the page alone; layout 7's words (WORDED_VERSION) are digested
    assert keywords(fresh)["digest"] != keywords(old)["digest"]
    output = cli(ledger, "--as", COMPLIANCE, "verify-document", str(fresh))
    assert "byte-identical to a fresh rendering" in output
    # `status` gives the PI the same words
    status = cli(ledger, "--as", PIS[who], "status")
    assert f"{MASSES[who]} {WORDS[who]}" in status
