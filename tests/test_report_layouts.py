"""Reports printed by an earlier release still verify: `verify-document` re-renders a file in
the page layout its metadata names ("v"), so an archived report stays byte-identical.

The golden reports were printed by release 0.1 (layout 1, before signed checkpoints) from the
golden ledger; see tests/golden/README.md.
"""

import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.readmodels.report import REPORT_LAYOUT, REPORT_LAYOUTS
from tests.conftest import COMPLIANCE, CURATOR, GOLDEN, fingerprint

KINDS = ("custody", "return", "overdue", "inventory")


def verify_document(path: Path) -> tuple[int, str]:
    """`verify-document PATH` as the compliance officer: exit code and everything printed."""
    result = CliRunner().invoke(app, ["--as", COMPLIANCE, "verify-document", str(path)])
    return result.exit_code, result.stdout + result.stderr


def keywords(data: bytes) -> dict[str, object]:
    """The report metadata a PDF carries in its Keywords."""
    info = PdfReader(io.BytesIO(data)).metadata
    assert info is not None, "the PDF carries no metadata"
    loaded: dict[str, object] = json.loads(str(info["/Keywords"]))
    return loaded


@pytest.mark.parametrize("kind", KINDS)
def test_a_release_0_1_report_still_verifies_byte_for_byte(golden_ledger: Path, kind: str) -> None:
    """Each kind of report release 0.1 printed is still found byte-identical, and nothing is
    written to the ledger."""
    before = fingerprint(golden_ledger)
    code, output = verify_document(GOLDEN / f"report-0.1-{kind}.pdf")
    assert code == 0, output
    assert "byte-identical to a fresh rendering" in output
    assert "before signed checkpoints (layout 1)" in output
    assert fingerprint(golden_ledger) == before


def test_it_still_verifies_after_the_ledger_is_upgraded(golden_ledger: Path) -> None:
    """`db upgrade` of the ledger that made it does not orphan an archived report."""
    upgraded = CliRunner().invoke(app, ["--as", CURATOR, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.stderr
    code, output = verify_document(GOLDEN / "report-0.1-custody.pdf")
    assert code == 0, output


def test_a_layout_claim_changed_in_the_file_is_caught(golden_ledger: Path, tmp_path: Path) -> None:
    """The layout number is part of what is checked: a layout-1 file claiming layout 2 is
    re-rendered in layout 2 and no longer matches (exit 1)."""
    data = (GOLDEN / "report-0.1-custody.pdf").read_bytes()
    assert data.count(b'"v":1') == 1
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(data.replace(b'"v":1', b'"v":2'))
    code, output = verify_document(altered)
    assert code == 1
    assert "differs from a fresh rendering" in output


@pytest.mark.parametrize(
    "claim",
    [f'"v":{REPORT_LAYOUT + 1}'.encode(), b'"v":0', b'"w":1'],
    ids=["next", "0", "none"],
)
def test_a_layout_no_release_writes_is_refused(
    golden_ledger: Path, tmp_path: Path, claim: bytes
) -> None:
    """An unknown or missing layout: one line naming `v` and the layouts accepted, exit 1."""
    data = (GOLDEN / "report-0.1-return.pdf").read_bytes()
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(data.replace(b'"v":1', claim, 1))
    code, output = verify_document(altered)
    assert code == 1, output
    accepted = ", ".join(str(number) for number in range(1, REPORT_LAYOUT + 1))
    assert "v: " in output and f"(accepted: {accepted})" in output
    assert "Traceback" not in output


def test_a_new_report_names_the_current_layout(golden_ledger: Path, tmp_path: Path) -> None:
    """Reports printed now carry this release's layout number and verify as before."""
    out = tmp_path / "custody.pdf"
    result = CliRunner().invoke(
        app,
        ["--as", COMPLIANCE, "report", "custody", "--loan", "L-2025-UoC", "--out", str(out)],
    )
    assert result.exit_code == 0, result.stderr
    assert keywords(out.read_bytes())["v"] == REPORT_LAYOUT == max(REPORT_LAYOUTS)
    code, output = verify_document(out)
    assert code == 0, output
    assert "layout 1" not in output
