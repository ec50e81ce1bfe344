"""A trigger added to a SQLite ledger by anyone with the file (no append-only trigger need be
dropped): it runs inside every later write, and can rewrite a projection as each event goes in
or block what is recorded. Before stop 37 `verify` named it but every write went on, the
trigger firing; now a write refuses the ledger, exit 3, in one line, nothing written.
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, demo_copy, fingerprint
from tests.test_sweep_s37attack_receipt_refs import s37_cli

VAULT_SAMPLE = "CE5C0400YJFM00505"
TRIGGERS = {
    "zz_pocket": (
        "CREATE TRIGGER zz_pocket AFTER INSERT ON ledger_event BEGIN "
        f"UPDATE sample SET storage_location = 'my pocket' WHERE code = '{VAULT_SAMPLE}'; END"
    ),
    "zz_items": (
        "CREATE TRIGGER zz_items AFTER UPDATE ON loan_item BEGIN "
        "UPDATE loan_item SET held_ug = held_ug + 1 WHERE rowid = NEW.rowid; END"
    ),
}


@pytest.mark.parametrize("name", sorted(TRIGGERS))
def test_a_write_refuses_a_ledger_with_a_trigger_not_its_own(tmp_path: Path, name: str) -> None:
    path = demo_copy(tmp_path / "demo")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(TRIGGERS[name])
        connection.commit()
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    before = fingerprint(path)
    moved = s37_cli(env, CURATOR, "samples", "move", VAULT_SAMPLE, "--location", "cabinet C")
    assert moved.exit_code == 3
    assert moved.stderr.strip().splitlines() == [
        f"Error: the ledger was changed outside sampleloans: a trigger {name} that is not the "
        "ledger's own was added: it can change or block what a write records; nothing was "
        "written (run 'sampleloans verify', and restore the last good backup)"
    ]
    assert fingerprint(path) == before
    verified = s37_cli(env, COMPLIANCE, "verify")
    assert verified.exit_code == 1
    assert f"[schema] trigger {name} on " in verified.stdout
    shown = s37_cli(env, CURATOR, "samples", "show", VAULT_SAMPLE)
    assert shown.exit_code == 0, shown.stderr  # reads go on: they run no trigger
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(f"DROP TRIGGER {name}")  # the owner removes it: writes go on
        connection.commit()
    moved = s37_cli(env, CURATOR, "samples", "move", VAULT_SAMPLE, "--location", "cabinet C")
    assert moved.exit_code == 0, moved.stderr
    with closing(sqlite3.connect(path)) as connection:
        (location,) = connection.execute(
            "SELECT storage_location FROM sample WHERE code = ?", (VAULT_SAMPLE,)
        ).fetchone()
    assert location == "cabinet C"
