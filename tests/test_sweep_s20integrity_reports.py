"""Projections edited by hand never reach a PDF (sweep s20, integrity): a statement (`report
statement`, `notify`) and `verify-document` compare what they would print from the projections
with the same thing replayed from the records' own events, and refuse (exit 1) in one line
naming the record and saying to run `verify`. The reports' side is in
`test_sweep_s20integrity_write_guard.py`."""

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_env

EDIT = (
    "UPDATE loan_item SET issued_ug = issued_ug + 1000, held_ug = held_ug + 1000 "
    "WHERE loan_number = 'L-2025-OU' AND sample_code = 'CE5C0200YJFM00112';"
    "UPDATE sample SET on_loan_ug = on_loan_ug + 1000 WHERE code = 'CE5C0200YJFM00112';"
)
PI = "anand@open.example"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger with a kept checkpoint of its head, made once."""
    path = Path(demo_env(tmp_path_factory, COMPLIANCE)["SAMPLELOANS_DB"])
    key = path.parent / "lender.key"
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": "2026-06-01T00:00:00Z"}
    for args in (("keys", "generate", "--out", str(key)), ("checkpoint", "--key", str(key))):
        made = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env)
        assert made.exit_code == 0, made.stderr
    return path


@pytest.fixture
def ledger(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's copy, as SAMPLELOANS_DB."""
    path = tmp_path / "ledger.db"
    shutil.copy(demo, path)
    monkeypatch.setenv("SAMPLELOANS_DB", str(path))
    monkeypatch.setenv("SAMPLELOANS_NOW", "2026-06-01T00:00:00Z")
    monkeypatch.setenv("NO_COLOR", "1")
    return path


def cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI as a curator; its exit code, stdout and stderr."""
    result = CliRunner().invoke(app, ["--as", CURATOR, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def tamper(path: Path) -> None:
    """A mass of the OU loan edited in the projections, outside the program."""
    with sqlite3.connect(path) as connection:
        connection.executescript(EDIT)


def assert_refused(code: int, err: str) -> None:
    """Exit 1, one line naming the PI's statement and `verify`."""
    assert code == 1, err
    assert err.startswith(f"Error: statement to {PI}: the ledger's tables differ"), err
    assert "run 'sampleloans verify'" in err and len(err.strip().splitlines()) == 1


def test_statement_refuses_projections_edited_by_hand(ledger: Path, tmp_path: Path) -> None:
    """Clean: written; edited: refused, no file."""
    code, _, err = cli("report", "statement", "--institution", "OU", "--out", str(tmp_path / "a"))
    assert code == 0, err
    tamper(ledger)
    out = tmp_path / "b"
    code, _, err = cli("report", "statement", "--institution", "OU", "--out", str(out))
    assert_refused(code, err)
    assert not out.exists() or not any(out.iterdir())


def test_notify_sends_nothing_from_projections_edited_by_hand(ledger: Path, tmp_path: Path) -> None:
    """The dry run's outbox stays empty."""
    tamper(ledger)
    outbox = tmp_path / "outbox"
    code, _, err = cli("notify", "--institution", "OU", "--outbox", str(outbox))
    assert_refused(code, err)
    assert not outbox.exists() or not any(outbox.iterdir())


def test_verify_document_blames_the_ledger_not_the_statement(ledger: Path, tmp_path: Path) -> None:
    """A genuine statement checked against an edited ledger: the ledger's tables are named,
    not the document's content."""
    folder = tmp_path / "st"
    code, _, err = cli("report", "statement", "--pi", PI, "--out", str(folder))
    assert code == 0, err
    (document,) = folder.iterdir()
    code, out, err = cli("verify-document", str(document))
    assert code == 0, (out, err)
    tamper(ledger)
    code, out, err = cli("verify-document", str(document))
    assert_refused(code, err)
    assert "its content is not what the ledger recorded" not in out


def test_verify_document_of_a_report_names_the_edited_tables(ledger: Path, tmp_path: Path) -> None:
    """The same for a custody report."""
    report = tmp_path / "custody.pdf"
    code, _, err = cli("report", "custody", "--loan", "L-2025-OU", "--out", str(report))
    assert code == 0, err
    tamper(ledger)
    code, out, err = cli("verify-document", str(report))
    assert code == 1
    assert "Error: loan L-2025-OU: the ledger's tables differ" in err, (out, err)
