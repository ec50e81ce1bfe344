"""A projection cell edited in the file to hold what no release writes: text or a BLOB in an
INTEGER mass column (SQLite keeps it, and the CHECK `held_ug >= 0` lets 'abc' by, text
sorting after numbers), or a time column holding no time. Before stop 37 `status`, `loans
show`, `loans list`, `samples list`, the next write and `verify` itself died with a TypeError
or ValueError traceback. Now a read or write says in one line which row and column hold what
(exit 3, nothing written), and `verify` names the cell (exit 1).
"""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.services.verify import verify
from tests.conftest import COMPLIANCE, CURATOR, DEMO_NOW, OU_PI, demo_copy, fingerprint
from tests.test_sweep_s37attack_receipt_refs import s37_cli

EDITED = (
    "the ledger's tables were edited outside sampleloans; nothing was written; run "
    "'sampleloans verify' and restore the latest verified backup"
)
CASES = {
    # name: (the edit, what a read says, what verify's invariants say)
    "a held mass as text": (
        "UPDATE loan_item SET held_ug = 'abc' WHERE sample_code = 'CE5C0200YJFM00112'",
        "loan_item row L-2025-OU/CE5C0200YJFM00112: held_ug holds 'abc', not a whole number",
        "loan L-2025-OU item CE5C0200YJFM00112: held_ug holds 'abc', not a whole number of "
        "micrograms: the table was edited by hand",
    ),
    "a held mass as a BLOB": (
        "UPDATE loan_item SET held_ug = x'1b5b324a' WHERE sample_code = 'CE5C0200YJFM00112'",
        "loan_item row L-2025-OU/CE5C0200YJFM00112: held_ug holds b'\\x1b[2J', not a whole number",
        "loan L-2025-OU item CE5C0200YJFM00112: held_ug holds b'\\x1b[2J', not a whole number "
        "of micrograms: the table was edited by hand",
    ),
    "an agreement's maximum as text": (
        "UPDATE agreement SET max_total_mass_ug = 'lots' WHERE institution = 'OU'",
        "agreement row AG-2025-OU: max_total_mass_ug holds 'lots', not a whole number",
        "agreement AG-2025-OU: max_total_mass_ug holds 'lots', not a whole number of "
        "micrograms: the table was edited by hand",
    ),
    "a due date as no time": (
        "UPDATE loan SET due_at = 'soon' WHERE number = 'L-2025-OU'",
        "a stored time holds 'soon', which is no ISO 8601 time",
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_edited_cell_is_one_line_for_reads_and_writes_and_a_finding_for_verify(
    tmp_path: Path, case: str
) -> None:
    edit, said, invariant = CASES[case]
    path = demo_copy(tmp_path / "demo")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(edit)  # a projection: no trigger stands in the way
        connection.commit()
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    before = fingerprint(path)
    consume = ["loans", "consume", "L-2025-OU", "--sample", "CE5C0200YJFM00112"]
    consume += ["--technique", "EPMA", "--mass", "0.1 mg", "--non-destructive"]
    for who, command in (
        (OU_PI, ["status"]),
        (CURATOR, ["loans", "show", "L-2025-OU"]),
        (OU_PI, consume),
    ):
        refused = s37_cli(env, who, *command)
        assert refused.exit_code == 3, (command, refused.stdout)
        assert refused.stderr.strip().splitlines() == [f"Error: {said}: {EDITED}"], command
    assert fingerprint(path) == before

    verified = s37_cli(env, COMPLIANCE, "verify")
    assert verified.exit_code == 1, verified.stderr
    assert "[projection] " in verified.stdout
    if invariant is not None:
        assert f"[invariant] {invariant}" in verified.stdout
        engine = db.open_engine(db.url_for_path(path))
        try:
            assert any(p.message == invariant for p in verify(engine).problems)
        finally:
            engine.dispose()


def test_a_vault_mass_as_text_stops_the_sample_list_in_one_line(tmp_path: Path) -> None:
    path = demo_copy(tmp_path / "demo")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("UPDATE sample SET vault_ug = 'abc' WHERE code = 'CE5C0400YJFM00505'")
        connection.commit()
    env = {"SAMPLELOANS_DB": str(path), "SAMPLELOANS_NOW": DEMO_NOW, "NO_COLOR": "1"}
    listed = s37_cli(env, CURATOR, "samples", "list")
    assert listed.exit_code == 3
    assert listed.stderr.strip().splitlines() == [
        "Error: a stored mass holds 'abc', not a whole number of micrograms: the ledger's "
        "tables were edited outside sampleloans; run 'sampleloans verify' and restore the "
        "latest verified backup"
    ]
    moved = s37_cli(env, CURATOR, "samples", "move", "CE5C0400YJFM00505", "--location", "cab C")
    assert moved.exit_code == 3
    assert "sample row CE5C0400YJFM00505: vault_ug holds 'abc'" in moved.stderr
