"""Sweep s20-round: `verify-document` names what a report covers in words.

A compliance officer checking a custody report read "custody report, loan:L-2025-OU, ledger
head …": the metadata's key for programs. Now the first line says "custody report, loan
L-2025-OU", as the line `report` printed when it wrote the file; the file's metadata keeps
`loan:L-2025-OU`. `notify` likewise said "overdue to X (institution:Osaka)"; now "overdue
notice of Osaka to X".
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, Path]:
    """The demo ledger with a checkpoint, a custody report of L-2025-OU and the key's .pub."""
    env = demo_env(tmp_path_factory, CURATOR)
    folder = Path(env["SAMPLELOANS_DB"]).parent
    key = folder / "cp.key"
    assert CliRunner().invoke(app, ["keys", "generate", "--out", str(key)]).exit_code == 0
    made = CliRunner().invoke(app, ["checkpoint", "--key", str(key)], env=env)
    assert made.exit_code == 0, made.stderr
    pdf = folder / "custody.pdf"
    wrote = CliRunner().invoke(
        app, ["report", "custody", "--loan", "L-2025-OU", "--out", str(pdf)], env=env
    )
    assert wrote.exit_code == 0, wrote.stderr
    return env, pdf, Path(f"{key}.pub")


def test_with_the_ledger_the_first_line_says_loan_number(
    printed: tuple[dict[str, str], Path, Path],
) -> None:
    """Checked against the ledger: 'custody report, loan L-2025-OU, ledger head …'."""
    env, pdf, _ = printed
    result = CliRunner().invoke(app, ["verify-document", str(pdf)], env=env)
    assert result.exit_code == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{pdf}: custody report, loan L-2025-OU, ledger head ")
    assert "loan:" not in result.stdout


def test_offline_the_first_line_says_it_too(
    printed: tuple[dict[str, str], Path, Path], tmp_path: Path
) -> None:
    """Checked with the public key alone (no ledger): the same words."""
    env, pdf, pub = printed
    offline = {**env, "SAMPLELOANS_DB": str(tmp_path / "none.db")}
    result = CliRunner().invoke(
        app, ["verify-document", str(pdf), "--public-key", str(pub)], env=offline
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith(f"{pdf}: custody report, loan L-2025-OU, ")
    assert "loan:" not in result.stdout


def test_notify_names_each_message_in_words(
    printed: tuple[dict[str, str], Path, Path], tmp_path: Path
) -> None:
    """`notify --outbox`: 'statement to X' and 'overdue notice of Osaka to X', without the
    record's keys '(pi:X)' and '(institution:Osaka)'."""
    env, _, _ = printed
    result = CliRunner().invoke(app, ["notify", "--outbox", str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.stderr
    wrote = [line for line in result.stdout.splitlines() if line.startswith("Wrote ")]
    assert wrote, result.stdout
    assert any(": overdue notice of Osaka to terada@osaka-u.example" in x for x in wrote), wrote
    assert any(x.endswith(": statement to terada@osaka-u.example") for x in wrote), wrote
    assert not [x for x in wrote if "(pi:" in x or "(institution:" in x]


def test_an_extension_left_overdue_gives_its_dates_as_the_term_line_does(
    printed: tuple[dict[str, str], Path, Path],
) -> None:
    """`loans extend` wrote "due 2026-05-01T08:00:00Z, which is already past on …" where its
    other refusal (past the agreement's end) writes "2026-05-01 08:00 UTC": now both do."""
    env, _, _ = printed
    args = ["loans", "extend", "L-2025-Osaka", "--period", "1 day", "--approver", CURATOR]
    result = CliRunner().invoke(app, [*args, "--reason", "x"], env=env)
    assert result.exit_code == 1, result.stdout
    assert "which is already past on 2026-04-28 10:00 UTC;" in result.stderr
    assert "T10:00:00Z" not in result.stderr
