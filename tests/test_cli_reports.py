"""`sampleloans report …` and `verify-document` end to end: files, refusals, verification."""

import re
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.services import loans
from tests.conftest import UOC_PI, Run
from tests.factories import rich_history

AS = ["--as", "compliance@naoc.example"]
GEN = ["--generated-at", "2025-04-01T09:00:00Z"]


@pytest.fixture
def ledger(engine: Engine, run: Run, cli_env: dict[str, str]) -> Engine:
    """The factories' varied history, with the CLI pointed at it."""
    rich_history(run)
    return engine


def report(runner: CliRunner, out: Path, *args: str) -> Result:
    """Run `report custody --loan L-2 --out OUT` (or other args)."""
    command = list(args) or ["custody", "--loan", "L-2"]
    return runner.invoke(app, [*AS, "report", *command, "--out", str(out), *GEN])


def verify(runner: CliRunner, path: Path) -> Result:
    """Run `verify-document PATH`."""
    return runner.invoke(app, [*AS, "verify-document", str(path)])


def test_report_writes_a_private_pdf(ledger: Engine, runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "custody.pdf"
    result = report(runner, out)
    assert result.exit_code == 0, result.stderr
    assert "Wrote" in result.stdout
    assert out.read_bytes().startswith(b"%PDF-")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = tmp_path / "again.pdf"
    assert report(runner, again).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["return", "--loan", "L-1"],
        ["overdue", "--institution", "UoC"],
        ["inventory", "--loan", "L-2"],
        ["custody", "--sample", "CE5C0300YJFM00307"],
        ["custody", "--institution", "OU"],
    ],
)
def test_every_kind_writes_and_verifies(
    ledger: Engine, runner: CliRunner, tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "r.pdf"
    result = report(runner, out, *args)
    assert result.exit_code == 0, result.stderr
    checked = verify(runner, out)
    assert checked.exit_code == 0, checked.stdout
    assert "verified against the ledger" in checked.stdout


def test_existing_file_is_refused_without_force(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "custody.pdf"
    out.write_bytes(b"keep me")
    result = report(runner, out)
    assert result.exit_code == 3
    assert result.stderr == f"Error: --out: {out} exists; pass --force to replace it\n"
    assert out.read_bytes() == b"keep me"
    forced = runner.invoke(
        app, [*AS, "report", "custody", "--loan", "L-2", "--out", str(out), *GEN, "--force"]
    )
    assert forced.exit_code == 0, forced.stderr
    assert out.read_bytes().startswith(b"%PDF-")


def test_directory_and_errors_leave_no_file(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    result = report(runner, tmp_path)
    assert result.exit_code == 3
    assert "is a directory" in result.stderr
    missing = report(runner, tmp_path / "x" / "r.pdf")
    assert missing.exit_code == 3
    unknown = report(runner, tmp_path / "r.pdf", "custody", "--loan", "L-404")
    assert unknown.exit_code == 2
    assert "L-404" in unknown.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.db"] or not list(
        tmp_path.glob("*.pdf*")
    )
    assert not list(tmp_path.glob(".*.tmp"))


def test_researcher_of_another_institution_is_refused(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "--as",
            "anand@open.example",
            "report",
            "custody",
            "--loan",
            "L-2",
            "--out",
            str(tmp_path / "r.pdf"),
        ],
    )
    assert result.exit_code == 2  # another institution's loan reads as a missing one
    assert not (tmp_path / "r.pdf").exists()


def test_verify_document_refuses_an_outsider_before_saying_anything_of_the_ledger(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "custody.pdf"
    assert report(runner, out).exit_code == 0
    result = runner.invoke(app, ["--as", "anand@open.example", "verify-document", str(out)])
    assert result.exit_code == 2  # another institution's loan reads as a missing one
    assert not re.search(r"^ok\b", result.stdout, re.M)  # no check line, not even the head
    assert "Error:" in result.stderr


def test_verify_fails_after_a_later_event_in_scope(
    ledger: Engine, run: Run, runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "custody.pdf"
    assert report(runner, out).exit_code == 0
    # an event outside the scope (another loan) keeps the report current
    from sampleloans.services import samples as samples_service

    run(samples_service.move_sample, code="CE5C0200YJFM00112", storage_location="cabinet Z")
    assert verify(runner, out).exit_code == 0
    run(loans.attest_inventory, number="L-2", actor=UOC_PI)
    result = verify(runner, out)
    assert result.exit_code == 1
    assert "ok    content digest" in result.stdout  # still authentic at its head
    assert "out of date" in result.stdout


def test_verify_fails_when_one_byte_changes(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "custody.pdf"
    assert report(runner, out).exit_code == 0
    data = bytearray(out.read_bytes())
    position = data.index(b"stream", len(data) // 3) + 20
    data[position] ^= 0x01
    out.write_bytes(bytes(data))
    result = verify(runner, out)
    assert result.exit_code == 1
    assert "the file was modified" in result.stdout


def test_verify_detects_a_rolled_back_ledger(
    ledger: Engine, run: Run, runner: CliRunner, tmp_path: Path, db_path: Path
) -> None:
    backup = tmp_path / "old.db"
    ledger.dispose()
    shutil.copy(db_path, backup)
    run(loans.attest_inventory, number="L-2", actor=UOC_PI)
    out = tmp_path / "custody.pdf"
    assert report(runner, out).exit_code == 0
    assert verify(runner, out).exit_code == 0
    ledger.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db_path)
    result = verify(runner, out)
    assert result.exit_code == 1
    assert "events were removed" in result.stdout


def test_verify_refuses_a_file_that_is_not_a_report(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    other = tmp_path / "other.pdf"
    other.write_bytes(b"not a pdf")
    result = verify(runner, other)
    assert result.exit_code == 2
    assert "is not a sampleloans report" in result.stderr


def test_custody_as_of_verifies_and_stays_current(
    ledger: Engine, run: Run, runner: CliRunner, tmp_path: Path
) -> None:
    from tests.factories import LATER

    run(loans.attest_inventory, number="L-2", actor=UOC_PI, now=LATER)
    out = tmp_path / "then.pdf"
    result = runner.invoke(
        app,
        [
            *AS,
            "report",
            "custody",
            "--loan",
            "L-2",
            "--as-of",
            "2025-04-02T00:00:00Z",
            "--out",
            str(out),
            "--generated-at",
            "2025-06-01T00:00:00Z",
        ],
        env={"SAMPLELOANS_NOW": "2025-06-01T00:00:00Z"},
    )
    assert result.exit_code == 0, result.stderr
    checked = runner.invoke(
        app, [*AS, "verify-document", str(out)], env={"SAMPLELOANS_NOW": "2025-06-01T00:00:00Z"}
    )
    assert checked.exit_code == 0, checked.stdout


def test_atomic_writer_leaves_nothing_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from sampleloans.errors import StorageError
    from sampleloans.fileio import write_atomic

    def broken(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(StorageError, match="No space left on device"):
        write_atomic(tmp_path / "r.pdf", b"%PDF-")
    assert list(tmp_path.iterdir()) == []


def test_generated_at_in_the_future_is_refused(
    ledger: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "future.pdf"
    result = runner.invoke(
        app,
        [
            *AS,
            "report",
            "custody",
            "--loan",
            "L-2",
            "--out",
            str(out),
            "--generated-at",
            "2030-01-01T00:00:00Z",
        ],
    )
    assert result.exit_code == 1  # time order is a rule, as for a write's --at
    assert result.stderr == (
        "Error: --generated-at: 2030-01-01T00:00:00Z is in the future "
        "(now is 2025-04-01T09:00:00Z); a report is dated when it is made\n"
    )
    assert not out.exists()
