"""Issue 15 point 7: "`sampleloans import` of the bag's events into a fresh ledger reproduces
the same head". An events export (a bag's `data/events.jsonl`) imported into a --db file that
does not exist yet rebuilds that ledger as `restore --events` does; before, `import` refused
any --db without a ledger (exit 3), so the issue's re-import could not be typed at all. Into an
existing ledger it stays refused (exit 2, the file unchanged)."""

from pathlib import Path

from tests.conftest import CURATOR, fingerprint
from tests.i15_statement_helpers import env_for, invoke

RESEARCHER = "anand@open.example"


def head_of(ledger: Path) -> str:
    result = invoke(env_for(ledger), "verify", "--print-head")
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def bag_events(ledger: Path, folder: Path) -> Path:
    result = invoke(env_for(ledger), "export", "--bag", str(folder / "bag"))
    assert result.exit_code == 0, result.output
    return folder / "bag" / "data" / "events.jsonl"


def test_import_of_a_bags_events_into_a_new_db_gives_the_same_head(
    ledger: Path, tmp_path: Path
) -> None:
    events = bag_events(ledger, tmp_path)
    fresh = tmp_path / "fresh.db"
    env = {**env_for(fresh), "SAMPLELOANS_DB": ""}
    result = invoke(env, "--db", str(fresh), "--as", CURATOR, "import", str(events))
    assert result.exit_code == 0, result.output
    assert head_of(fresh) == head_of(ledger)
    assert f"ledger head {head_of(ledger)}" in result.stdout
    assert oct(fresh.stat().st_mode & 0o777) == "0o600"


def test_import_of_an_export_into_an_existing_ledger_stays_refused(
    ledger: Path, tmp_path: Path
) -> None:
    events = bag_events(ledger, tmp_path)
    before = fingerprint(ledger)
    result = invoke(env_for(ledger), "import", str(events))
    assert result.exit_code == 2
    assert "is an events export" in result.stderr and "restore --events" in result.stderr
    assert "--db NEW.db import" in result.stderr  # the way this command itself can do it
    assert fingerprint(ledger) == before


def test_a_researcher_rebuilds_nothing(ledger: Path, tmp_path: Path) -> None:
    events = bag_events(ledger, tmp_path)
    fresh = tmp_path / "fresh.db"
    env = {**env_for(fresh), "SAMPLELOANS_DB": ""}
    result = invoke(env, "--db", str(fresh), "--as", RESEARCHER, "import", str(events))
    assert result.exit_code == 4, result.output
    # in the words of what was asked, not of another command ('restore the ledger')
    assert "import an events export into a new ledger" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag", "ledger.db"]  # nothing new


def test_a_history_into_a_missing_db_is_still_no_database(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text('{"kind": "sample.moved"}\n', "utf-8")
    fresh = tmp_path / "fresh.db"
    env = {**env_for(fresh), "SAMPLELOANS_DB": ""}
    result = invoke(env, "--db", str(fresh), "--as", CURATOR, "import", str(history))
    assert result.exit_code == 3 and "no database at" in result.stderr
    assert not fresh.exists()
