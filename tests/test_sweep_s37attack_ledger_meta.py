"""A row added to `ledger_meta` by anyone with the file: its triggers refuse an UPDATE or a
DELETE but not an INSERT, and no trigger need be dropped. Before stop 37 `verify` said OK and
the row rode along in every events export into the ledgers restored from it; now `verify`
names it, and `restore --events` and `import` refuse an export carrying one (exit 2, no file).
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, demo_copy
from tests.test_sweep_s37attack_receipt_refs import s37_cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A copy of the demo ledger with a row added to ledger_meta (an escape in its value)."""
    path = demo_copy(tmp_path / "demo")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "INSERT INTO ledger_meta VALUES ('signer', 'lender' || char(27) || '[2J')"
        )
        connection.commit()
    return {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}


def test_verify_names_a_row_added_to_ledger_meta(env: dict[str, str]) -> None:
    verified = s37_cli(env, COMPLIANCE, "verify")
    assert verified.exit_code == 1
    assert (
        "[chain] ledger_meta holds a row 'signer' = 'lender\\x1b[2J' that sampleloans never "
        "writes (its only row is ledger_id): it was added by hand"
    ) in verified.stdout
    assert "\x1b" not in verified.stdout  # shown, never obeyed
    engine = db.open_engine(db.url_for_path(Path(env["SAMPLELOANS_DB"])))
    try:
        found = verify(engine)
    finally:
        engine.dispose()
    assert [p.area for p in found.problems] == ["chain"], found.problems


@pytest.mark.parametrize("how", ["restore --events", "import"])
def test_an_export_carrying_the_row_is_refused(
    env: dict[str, str], tmp_path: Path, how: str
) -> None:
    exported = tmp_path / "events.jsonl"
    written = s37_cli(env, COMPLIANCE, "export", "--events", str(exported))
    assert written.exit_code == 0, written.stderr  # an export shows the ledger as it is
    target = tmp_path / "new.db"
    command = ["restore", "--events"] if how == "restore --events" else ["import"]
    refused = s37_cli({**env, "SAMPLELOANS_DB": str(target)}, CURATOR, *command, str(exported))
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        f"Error: {exported} line 1: the header's meta holds 'signer', which no sampleloans "
        "ledger writes (its only key is ledger_id): the file or its ledger was edited by hand; "
        "give a file written by 'sampleloans export --events'"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "events.jsonl"]
