"""`restore --bag`: a ledger rebuilt from a bag keeps the bag's signed checkpoints.

Found in stop 38: an auditor who rebuilt the ledger from a bag (`restore --events
bag/data/events.jsonl`, the only way then) and checked a report of the bag against it was told
"FAIL checkpoint: this ledger keeps no checkpoint at all": a genuine report did not verify
against a faithful rebuild, and `verify --since`, `report statement` and `checkpoint list` had
nothing to work from. `restore --bag DIR [--public-key KEY.pub]` validates the bag as
`verify-bag` does, rebuilds the ledger from its events and keeps each checkpoint as the ledger it
was made on kept it (checked again by the verify every restore runs). PostgreSQL too: a copy
into an empty database now sets the serial ids past the rows copied, or the next `checkpoint`
there was refused as a duplicate of checkpoint 1.
"""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sampleloans import db
from sampleloans.ledger import checkpoint as notes
from sampleloans.ledger.envelope import Context
from sampleloans.ledger.merkle import root_of
from sampleloans.services.checkpoints import SignedNote, keep_signed_notes, origin_of
from sampleloans.services.maintenance import BagGiven, restore
from sampleloans.services.verify import verify
from tests.i15_statement_helpers import (
    CURATOR,
    NOW,
    copy_ledger,
    env_for,
    event_hashes,
    invoke,
    make_checkpoint,
    make_demo,
)
from tests.pgcluster import PgServer, fresh_database

ROOT = Path(__file__).resolve().parent.parent
TRUST_MD = (ROOT / "docs" / "trust.md").read_text("utf-8")


@pytest.fixture(scope="module")
def lender(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A ledger with two checkpoints and an event after the second, a custody report naming
    the second, and a bag of it all."""
    folder = tmp_path_factory.mktemp("s39bag")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    env = env_for(ledger)
    first = make_checkpoint(ledger, folder)
    moved = invoke(env, "samples", "move", "CE5C0400YJFM00505", "--location", "Shelf 9")
    assert moved.exit_code == 0, moved.stderr
    second = make_checkpoint(ledger, folder)
    report = folder / "custody.pdf"
    done = invoke(env, "report", "custody", "--loan", "L-2025-Osaka", "--out", str(report))
    assert done.exit_code == 0, done.stderr
    moved = invoke(env, "samples", "move", "CE5C0400YJFM00505", "--location", "Shelf 10")
    assert moved.exit_code == 0, moved.stderr
    bag = folder / "bag"
    done = invoke(env, "export", "--bag", str(bag), "--report", str(report))
    assert done.exit_code == 0, done.stderr
    return {"db": ledger, "home": folder, "bag": bag, "report": report, "key": first["key"],
            "pub": first["pub"], "sizes": [first["size"], second["size"]],
            "notes": [first["note"], second["note"]]}  # fmt: skip


def kept_notes(ledger: Path) -> list[tuple[int, int, str]]:
    """The checkpoint table's rows: id, size, note."""
    with sqlite3.connect(ledger) as connection:
        return connection.execute(
            "SELECT id, tree_size, note FROM checkpoint ORDER BY id"
        ).fetchall()


def test_restore_bag_keeps_every_checkpoint_so_the_report_verifies(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    rebuilt = tmp_path / "rebuilt.db"
    env = env_for(rebuilt)
    done = invoke(env, "restore", "--bag", str(lender["bag"]), "--public-key", str(lender["pub"]))
    assert done.exit_code == 0, done.stderr
    said = done.stdout
    assert "Kept 2 checkpoints of the bag:" in said
    for row, size in enumerate(lender["sizes"], start=1):
        assert re.search(
            rf"checkpoint {row}: checkpoints/checkpoint-{row:06d}-size-{size}\.txt, {size} events",
            said,
        ), said
    assert "Each is signed by your --public-key." in said
    # the same rows, in the same order, as the lender's ledger keeps
    assert kept_notes(rebuilt) == kept_notes(lender["db"])
    checked = invoke(env, "verify-document", str(lender["report"]))
    assert checked.exit_code == 0, checked.stdout
    assert "is kept in the ledger and its signature verifies" in checked.stdout
    assert invoke(env, "verify").exit_code == 0
    newest = sorted((lender["bag"] / "data" / "checkpoints").glob("*.txt"))[-1]
    since = invoke(env, "verify", "--since", str(newest))
    assert since.exit_code == 0, since.stdout + since.stderr
    # the rebuilt ledger goes on: its next checkpoint is the third, after the bag's two
    shutil.copy(lender["key"], tmp_path / "k.key")  # KEY.signed is kept beside the key
    (tmp_path / "k.key").chmod(0o600)
    signed = invoke(
        env, "checkpoint", "--key", str(tmp_path / "k.key"), "--out", str(tmp_path / "3.txt")
    )
    assert signed.exit_code == 0, signed.stderr
    assert signed.stdout.startswith("Checkpoint 3:"), signed.stdout


def test_without_the_key_a_bag_holding_checkpoints_is_refused(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    """Session 39's review: a key the bag carries was chosen by whoever made the bag, and a
    ledger keeping checkpoints signed by it would say "its signature verifies" of them in every
    later verify-document; the restore names --public-key and verify-bag (which prints each
    signer's fingerprint) instead, exit 2, nothing written."""
    done = invoke(env_for(tmp_path / "rebuilt.db"), "restore", "--bag", str(lender["bag"]))
    assert done.exit_code == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert said.startswith("Error: --public-key: the bag") and "verify-bag" in said, said
    assert not (tmp_path / "rebuilt.db").exists()


def tampered(lender: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the bag with one byte of its events changed."""
    bag = tmp_path / "tampered"
    shutil.copytree(lender["bag"], bag)
    events = bag / "data" / "events.jsonl"
    data = events.read_bytes()
    events.write_bytes(data.replace(b"Shelf 9", b"Shelf 8", 1))
    return bag


REFUSALS = {
    "another key": (1, "is not signed by any key checked",
                    ["--bag", "BAG", "--public-key", "OTHER"]),
    "a changed bag": (1, "fails validation", ["--bag", "TAMPERED", "--public-key", "KEY"]),
    "both kinds": (2, "--bag: give --bag", ["--bag", "--events", "BAG"]),
    "a key alone": (2, "--public-key: only with --bag",
                    ["--events", "EVENTS", "--public-key", "KEY"]),
    "a file": (2, "is a file, not a folder", ["--bag", "REPORT"]),
}  # fmt: skip


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_restore_bag_writes_nothing(
    lender: dict[str, Any], tmp_path: Path, case: str
) -> None:
    code, words, args = REFUSALS[case]
    other = invoke(env_for(lender["db"]), "keys", "generate", "--out", str(tmp_path / "o.key"))
    assert other.exit_code == 0, other.stderr
    given = {"BAG": lender["bag"], "OTHER": tmp_path / "o.key.pub", "KEY": lender["pub"],
             "TAMPERED": tampered(lender, tmp_path), "REPORT": lender["report"],
             "EVENTS": lender["bag"] / "data" / "events.jsonl"}  # fmt: skip
    before = sorted(os.listdir(tmp_path))
    done = invoke(
        env_for(tmp_path / "rebuilt.db"), "restore", *(str(given.get(a, a)) for a in args)
    )
    assert done.exit_code == code, (done.stdout, done.stderr)
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == "" and sorted(os.listdir(tmp_path)) == before
    if code == 1:
        assert done.stderr.rstrip().endswith("nothing was restored")


def test_restore_events_of_a_bag_says_its_checkpoints_were_not_kept(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    env = env_for(tmp_path / "rebuilt.db")
    done = invoke(env, "restore", "--events", str(lender["bag"] / "data" / "events.jsonl"))
    assert done.exit_code == 0, done.stderr
    assert "the bag's checkpoints were not kept" in done.stdout
    assert "'restore --bag DIR' keeps them" in " ".join(done.stdout.split())
    checked = invoke(env, "verify-document", str(lender["report"]))
    assert checked.exit_code == 1
    assert "'restore --bag' keeps a bag's" in checked.stdout


def test_trust_md_step_four_rebuild_keeps_the_checkpoints(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    """The page's `restore --bag` line, pasted with the bag and KEY.pub where it says, then
    the bag's report checked against the rebuilt ledger."""
    shutil.copytree(lender["bag"], tmp_path / "bag")
    shutil.copy(lender["pub"], tmp_path / "KEY.pub")
    section = TRUST_MD.split("## 4. A bag")[1]
    [line] = [row for row in section.splitlines() if " restore --bag " in row and "#" not in row]
    command = line.replace("CURATOR", CURATOR)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "SAMPLELOANS_NOW": NOW}  # fmt: skip
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    report = tmp_path / "bag" / "data" / "reports" / lender["report"].name
    checked = subprocess.run(
        ["sampleloans", "--db", "rebuilt.db", "--as", CURATOR, "verify-document", str(report)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def signed_note(ledger: Path, signer: notes.SignerKey, size: int, at: str) -> SignedNote:
    """A checkpoint of the first `size` events, signed at `at` (no `checkpoint` run made it)."""
    with sqlite3.connect(ledger) as connection:
        (ledger_id,) = connection.execute(
            "SELECT value FROM ledger_meta WHERE key = 'ledger_id'"
        ).fetchone()
        (head,) = connection.execute(
            "SELECT hash FROM ledger_event WHERE seq = ?", (size,)
        ).fetchone()
    root = root_of(event_hashes(ledger, size))
    checkpoint = notes.Checkpoint(
        origin_of(ledger_id), size, root, (f"head {size}:{head}", f"time {at}")
    )
    note = notes.sign_checkpoint(checkpoint, signer)
    return SignedNote(
        f"cp-{size}", note, signer.verifier(), notes.parse_checkpoint(checkpoint.text())
    )


def test_keep_signed_notes_keeps_them_in_order_once_and_leaves_out_a_later_smaller_one(
    tmp_path: Path,
) -> None:
    """Service level: by size then time; the same note twice is kept once; one signed before a
    smaller one it would follow is left out, named; verify finds the rows as `checkpoint`
    would have written them."""
    ledger = copy_ledger(make_demo(tmp_path / "d"), tmp_path / "ledger.db")
    signer = notes.generate_signer("naoc.example/ledger")
    early = signed_note(ledger, signer, 40, "2026-06-01T09:00:00Z")
    later = signed_note(ledger, signer, 80, "2026-06-02T09:00:00Z")
    stale = signed_note(ledger, signer, 100, "2026-05-30T09:00:00Z")
    engine = db.make_engine(db.url_for_path(ledger))
    try:
        with db.transaction(engine) as session:
            found = keep_signed_notes(session.connection(), [later, stale, early, later])
        assert [(row_id, note.name) for row_id, note in found.kept] == [(1, "cp-40"), (2, "cp-80")]
        assert len(found.left_out) == 1 and found.left_out[0].startswith("cp-100: signed at")
        assert verify(engine).ok
        assert [size for _id, size, _note in kept_notes(ledger)] == [40, 80]
    finally:
        engine.dispose()


def test_restore_service_with_a_bag_returns_what_it_kept(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    rebuilt = tmp_path / "rebuilt.db"
    engine = db.make_engine(db.url_for_path(rebuilt))
    ctx = Context(actor=CURATOR, os_user="test", now=datetime(2026, 6, 15, 9, 0, tzinfo=UTC))
    try:
        key = notes.parse_verifier_key(lender["pub"].read_text())
        result = restore(engine, ctx, lender["bag"], bag=BagGiven((key,)))
    finally:
        engine.dispose()
    assert result.checkpoints is not None
    assert [note.checkpoint.size for _id, note in result.checkpoints.kept] == lender["sizes"]
    assert result.head_seq == len(event_hashes(lender["db"]))


def test_restore_bag_into_postgresql_keeps_them_and_signs_the_next(
    pg_server: PgServer, lender: dict[str, Any], tmp_path: Path
) -> None:
    """On a server: the checkpoints copied in, the report verified there, and the next
    checkpoint numbered 3 (before, the serial id stayed at 1: a duplicate key, refused)."""
    shutil.copy(lender["key"], tmp_path / "k.key")
    (tmp_path / "k.key").chmod(0o600)
    with fresh_database(pg_server) as target:
        env = {**env_for(lender["db"]), "SAMPLELOANS_DB": target}
        done = invoke(
            env, "restore", "--bag", str(lender["bag"]), "--public-key", str(lender["pub"])
        )
        assert done.exit_code == 0, done.stderr
        assert "Kept 2 checkpoints of the bag:" in done.stdout
        checked = invoke(env, "verify-document", str(lender["report"]))
        assert checked.exit_code == 0, checked.stdout
        signed = invoke(
            env, "checkpoint", "--key", str(tmp_path / "k.key"), "--out", str(tmp_path / "3.txt")
        )
        assert signed.exit_code == 0, signed.stderr
        assert signed.stdout.startswith("Checkpoint 3:"), signed.stdout
        listed = invoke(env, "checkpoint", "list", "--json")
        assert listed.exit_code == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [row["id"] for row in rows] == [1, 2, 3]
        assert [row["note"] for row in rows[:2]] == lender["notes"]


@pytest.mark.parametrize("target", ["new", "existing"])
def test_import_of_a_bag_names_restore_bag_with_the_key(
    lender: dict[str, Any], tmp_path: Path, target: str
) -> None:
    """`import` of a bag's folder: into a new --db it said 'no database at …; run sampleloans
    init' (exit 3), into a ledger 'neither a sample catalogue (.csv) nor a history'; both now
    name `restore --bag … --public-key`, which keeps its checkpoints (import takes no key)."""
    ledger = tmp_path / "ledger.db"
    if target == "existing":
        copy_ledger(lender["db"], ledger)
    before = sorted(os.listdir(tmp_path)), ledger.read_bytes() if ledger.exists() else b""
    done = invoke(env_for(ledger), "import", str(lender["bag"]))
    assert done.exit_code == 2, done.stdout
    assert done.stderr.startswith(f"Error: FILE: {lender['bag']} is an archival bag")
    assert f"restore --bag {lender['bag']} --public-key KEY.pub'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (sorted(os.listdir(tmp_path)), ledger.read_bytes() if ledger.exists() else b"") == before


def test_a_researcher_importing_a_bag_is_refused_for_the_role_first(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    ledger = copy_ledger(lender["db"], tmp_path / "ledger.db")
    done = invoke(env_for(ledger, actor="terada@osaka-u.example"), "import", str(lender["bag"]))
    assert done.exit_code == 4, done.stderr


def test_import_of_a_bags_events_file_says_its_checkpoints_were_not_kept(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    events = lender["bag"] / "data" / "events.jsonl"
    done = invoke(env_for(tmp_path / "new.db"), "import", str(events))
    assert done.exit_code == 0, done.stderr
    assert "the bag's checkpoints were not kept" in done.stdout
