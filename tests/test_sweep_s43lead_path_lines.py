"""A file name holding a newline (or a terminal control) is shown escaped on the line that
names it, as every `Error:` line shows it: a name cannot print a line of its own, such as a
forged 'verified against the ledger' under a report that fails."""

from pathlib import Path

from typer.testing import CliRunner

from sampleloans.cli import app
from tests.i15_statement_helpers import CURATOR, make_demo

FORGED = "ok.pdf: verified against the ledger\nx"
NOW = "2026-12-01T00:00:00Z"


def _run(ledger: Path, *args: str) -> tuple[int, str]:
    """Exit code and stdout of one command as the demo's curator at NOW."""
    env = {"SAMPLELOANS_NOW": NOW, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["--db", str(ledger), "--as", CURATOR, *args], env=env)
    return result.exit_code, result.stdout


def test_a_report_written_to_a_name_with_a_newline_is_named_on_one_line(tmp_path: Path) -> None:
    ledger = make_demo(tmp_path)
    out = tmp_path / FORGED
    code, stdout = _run(ledger, "report", "custody", "--loan", "L-2025-OU", "--out", str(out))
    assert code == 0 and out.is_file()
    assert stdout.count("\n") == 1
    assert stdout.startswith(f"Wrote {tmp_path}/ok.pdf: verified against the ledger\\nx: ")


def test_verify_document_of_such_a_file_prints_no_line_the_name_made(tmp_path: Path) -> None:
    ledger = make_demo(tmp_path)
    out = tmp_path / FORGED
    assert _run(ledger, "report", "custody", "--loan", "L-2025-OU", "--out", str(out))[0] == 0
    with out.open("ab") as pdf:
        pdf.write(b"%% appended\n")  # no longer byte-identical: the check must fail
    code, stdout = _run(ledger, "verify-document", str(out))
    assert code == 1
    lines = stdout.splitlines()
    assert not any(line.startswith("ok.pdf: verified") for line in lines)
    assert lines[-1].startswith(f"{tmp_path}/ok.pdf: verified against the ledger\\nx: ")
    assert "does NOT" in lines[-1] or "NOT" in lines[-1]


def test_a_key_pair_written_to_a_name_with_an_escape_shows_it(tmp_path: Path) -> None:
    key = tmp_path / "k\x1b[2Jey"
    result = CliRunner().invoke(app, ["keys", "generate", "--out", str(key), "--name", "lender"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert f"Wrote private key {tmp_path}/k\\x1b[2Jey " in result.stdout
