"""Stop 38, attack: a large file that is not a PDF given as a report.

`verify-document` (and a bag's `--report`) handed any bytes to pypdf, which searches a file
without the PDF header through all of it for one: a 300 MB file took 40 s and 900 MB of memory
to be called "not a readable PDF". Every report begins with `%PDF-`: a file that does not is
refused with the same line before the PDF reader opens it.
"""

from pathlib import Path

import pypdf
import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.errors import InvalidInput
from sampleloans.reports.document import document_metadata

NOT_A_PDF = b"A" * 3_000_000


def _no_reader(*args: object, **kwargs: object) -> None:
    raise AssertionError("the PDF reader was opened on a file without the PDF header")


def test_bytes_without_the_header_never_reach_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """Service level: refused as not a readable PDF, the reader never constructed."""
    monkeypatch.setattr(pypdf, "PdfReader", _no_reader)
    with pytest.raises(
        InvalidInput, match=r"^X is not a sampleloans report \(not a readable PDF\)$"
    ):
        document_metadata(NOT_A_PDF, "X is not a sampleloans report")


def test_verify_document_refuses_it_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLI, without a ledger (a statement's offline check): one `Error:` line, exit 2, the
    reader never opened, no file written."""
    monkeypatch.setattr(pypdf, "PdfReader", _no_reader)
    big = tmp_path / "big.pdf"
    big.write_bytes(NOT_A_PDF)
    env = {"SAMPLELOANS_DB": "", "SAMPLELOANS_USER": "", "COLUMNS": "200"}
    made = CliRunner().invoke(app, ["keys", "generate", "--out", str(tmp_path / "lender")], env=env)
    assert made.exit_code == 0, made.stderr
    key = tmp_path / "lender.pub"
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "none.db"), "verify-document", str(big), "--public-key", str(key)],
        env=env,
    )
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr == f"Error: FILE: {big} is not a sampleloans report (not a readable PDF)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.pdf", "lender", "lender.pub"]
