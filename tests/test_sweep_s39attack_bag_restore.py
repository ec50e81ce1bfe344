"""Session 39's attack on `restore --bag`, as a hostile bag-maker and a hostile user.

Found: a bag whose checkpoints were re-signed by the bag-maker's own key (its `keys/` replaced,
its checksums regenerated, which anyone can do) was restored without `--public-key`, and the
rebuilt ledger's `verify-document` then said of that key "its signature verifies" (a key nobody
compared); a `--db` inside the bag was refused as "a file was added to the bag" (the restore's
own temp file); the events file was read twice, validated and then rebuilt, so one replaced in
between was rebuilt unchecked; a checkpoint file of any size was read whole into memory.
Checked and holding: a note twice, a note signed before a smaller one, a checkpoint of another
ledger, a binary checkpoint, a FIFO in the bag.
"""

import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import bagit  # type: ignore[import-untyped]  # bagit ships no type hints
import pytest

from sampleloans.ledger import checkpoint as notes
from sampleloans.ledger.merkle import root_of
from sampleloans.services.checkpoints import origin_of
from tests.i15_statement_helpers import (
    copy_ledger,
    env_for,
    event_hashes,
    invoke,
    make_demo,
)
from tests.test_s39_restore_bag import kept_notes, lender, signed_note

__all__ = ["lender"]  # the module fixture, shared by name


def copied(lender: dict[str, Any], tmp_path: Path, name: str = "bag") -> Path:
    """A copy of the lender's bag to change."""
    return Path(shutil.copytree(lender["bag"], tmp_path / name))


def regenerate(bag: Path) -> None:
    """Regenerate the bag's checksums, as anyone who edits a bag can."""
    bagit.Bag(str(bag)).save(manifests=True)


def resigned(lender: dict[str, Any], tmp_path: Path) -> tuple[Path, notes.SignerKey]:
    """The bag with every checkpoint re-signed by another key of the same name, that key in
    place of the lender's in keys/, and its checksums regenerated."""
    bag = copied(lender, tmp_path, "resigned")
    signer = notes.generate_signer("naoc.example/ledger")
    for path in (bag / "data" / "checkpoints").iterdir():
        text, _signatures = notes.split_note(path.read_text("utf-8"))
        path.write_text(notes.sign_checkpoint(notes.parse_checkpoint(text), signer), "utf-8")
    for path in (bag / "data" / "keys").iterdir():
        path.unlink()
    (bag / "data" / "keys" / "naoc.example_ledger.pub").write_text(
        signer.verifier().encode() + "\n", "utf-8"
    )
    regenerate(bag)
    return bag, signer


def restored(lender: dict[str, Any], ledger: Path, bag: Path) -> Any:
    """`restore --bag` of `bag` into `ledger`, with the lender's key."""
    return invoke(env_for(ledger), "restore", "--bag", str(bag), "--public-key", str(lender["pub"]))


def listing(folder: Path) -> list[str]:
    """Every path under `folder`, hidden ones too."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def assert_refused(done: Any, code: int, words: str, folder: Path, before: list[str]) -> None:
    """One `Error:` line holding `words`, exit `code`, nothing printed, nothing written."""
    assert done.exit_code == code, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines
    assert done.stdout == "" and listing(folder) == before


def test_a_bag_re_signed_by_its_makers_key_keeps_no_checkpoint_anywhere(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    """verify-bag accepts it (asking to compare fingerprints); restore --bag refuses to keep
    a checkpoint no key of the reader's vouches for, and refuses it with the lender's key."""
    bag, signer = resigned(lender, tmp_path)
    env = env_for(tmp_path / "rebuilt.db")
    shown = invoke(env, "verify-bag", str(bag))
    assert shown.exit_code == 0 and signer.verifier().fingerprint()[:23] in shown.stdout
    before = listing(tmp_path)
    done = invoke(env, "restore", "--bag", str(bag))
    assert_refused(done, 2, "--public-key: the bag", tmp_path, before)
    assert "were chosen by whoever made it" in done.stderr
    done = restored(lender, tmp_path / "rebuilt.db", bag)
    assert_refused(done, 1, "is not signed by any key checked", tmp_path, before)
    assert done.stderr.rstrip().endswith("nothing was restored")


def test_the_key_is_asked_for_before_a_byte_of_the_bag_is_read(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    """A FIFO in place of the events file: reading it would wait forever; the --public-key
    refusal comes first (and with the key, verify-bag's refusal of the FIFO)."""
    bag = copied(lender, tmp_path)
    events = bag / "data" / "events.jsonl"
    events.unlink()
    os.mkfifo(events)
    env = env_for(tmp_path / "rebuilt.db")
    before = listing(tmp_path)
    assert_refused(invoke(env, "restore", "--bag", str(bag)), 2, "--public-key", tmp_path, before)
    done = restored(lender, tmp_path / "rebuilt.db", bag)
    assert_refused(done, 1, "is a FIFO (named pipe)", tmp_path, before)


@pytest.mark.parametrize("where", ["bag", "data"])
def test_a_db_inside_the_bag_is_refused_and_the_bag_stays_valid(
    lender: dict[str, Any], tmp_path: Path, where: str
) -> None:
    """Before: exit 1, 'a file was added to the bag', naming the restore's own temp file."""
    bag = copied(lender, tmp_path)
    ledger = (bag if where == "bag" else bag / "data") / "rebuilt.db"
    before = listing(tmp_path)
    done = restored(lender, ledger, bag)
    assert_refused(done, 2, f"--db: {ledger} lies inside the bag", tmp_path, before)
    assert invoke(env_for(ledger), "verify-bag", str(bag)).exit_code == 0


@pytest.mark.parametrize("signed", [True, False], ids=["checkpoints", "none"])
def test_an_events_file_replaced_between_validation_and_rebuild_is_refused(
    lender: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signed: bool
) -> None:
    """The bag is validated, then its events file read again to rebuild: one cut back to its
    first events in between (a chain as valid as any) was rebuilt unchecked (a bag with no
    checkpoint: restored with 3 events fewer than validated, exit 0)."""
    from sampleloans.services import bag as bag_service

    if signed:
        bag, key = copied(lender, tmp_path), ["--public-key", str(lender["pub"])]
    else:
        demo = copy_ledger(make_demo(tmp_path / "d"), tmp_path / "demo.db")
        bag, key = tmp_path / "bag", []
        assert invoke(env_for(demo), "export", "--bag", str(bag)).exit_code == 0
    events = bag / "data" / "events.jsonl"
    validate = bag_service.verify_bag

    def validate_then_swap(path: Path, public_key: Any = None, **more: Any) -> Any:
        found = validate(path, public_key, **more)
        lines = events.read_bytes().splitlines(keepends=True)
        events.write_bytes(b"".join(lines[:-3]))
        return found

    monkeypatch.setattr(bag_service, "verify_bag", validate_then_swap)
    before = listing(tmp_path)
    done = invoke(env_for(tmp_path / "rebuilt.db"), "restore", "--bag", str(bag), *key)
    assert done.exit_code == 1, done.stdout + done.stderr
    assert "changed while it was restored" in done.stderr and done.stdout == ""
    assert done.stderr.rstrip().endswith("nothing was restored")
    assert listing(tmp_path) == before
    assert not (tmp_path / "rebuilt.db").exists()


NOT_A_NOTE = {
    "huge": ("checkpoints", 100_000, "holds 100,000 bytes"),
    "binary": ("checkpoints", 40, "is not a signed checkpoint"),
    "huge key": ("keys", 100_000, "holds 100,000 bytes (a key file: at most 4,096)"),
}  # fmt: skip


@pytest.mark.parametrize("case", NOT_A_NOTE)
def test_a_checkpoint_or_key_file_not_one_is_refused(
    lender: dict[str, Any], tmp_path: Path, case: str
) -> None:
    """A huge one unread (before: read whole into memory), a binary one named; exit 1."""
    folder, size, words = NOT_A_NOTE[case]
    bag = copied(lender, tmp_path)
    [first, *_] = sorted((bag / "data" / folder).iterdir())
    first.write_bytes(b"\xff" * size)
    regenerate(bag)
    checked = invoke(env_for(tmp_path / "x.db"), "verify-bag", str(bag))
    assert checked.exit_code == 1 and words in checked.stderr, checked.stderr
    before = listing(tmp_path)
    done = restored(lender, tmp_path / "rebuilt.db", bag)
    assert_refused(done, 1, words, tmp_path, before)


def test_a_checkpoint_of_another_ledger_is_refused(lender: dict[str, Any], tmp_path: Path) -> None:
    """Signed by the lender's own key, of the same events, but of another ledger: its origin
    names that one."""
    signer = notes.parse_signer_key(lender["key"].read_text("utf-8").strip())
    hashes = event_hashes(lender["db"], 40)
    other = notes.Checkpoint(origin_of("0f0f0f0f-0000-4000-8000-000000000000"), 40, root_of(hashes))
    note = notes.sign_checkpoint(other, signer)
    bag = copied(lender, tmp_path)
    (bag / "data" / "checkpoints" / "checkpoint-000003-size-40.txt").write_text(note, "utf-8")
    regenerate(bag)
    before = listing(tmp_path)
    done = restored(lender, tmp_path / "rebuilt.db", bag)
    assert_refused(done, 1, "checkpoint-000003-size-40.txt", tmp_path, before)


def test_a_note_twice_is_kept_once_and_one_signed_out_of_order_is_named(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    """Genuine notes, signed by the lender's key: a copy of one under another name is kept
    once; one of more events signed before a smaller one is left out, named; verify passes."""
    bag = copied(lender, tmp_path)
    folder = bag / "data" / "checkpoints"
    [first, second] = sorted(folder.iterdir())
    shutil.copy(second, folder / "copy-of-second.txt")
    signer = notes.parse_signer_key(lender["key"].read_text("utf-8").strip())
    early = signed_note(lender["db"], signer, 108, "2020-01-01T00:00:00Z").note
    (folder / "early.txt").write_text(early, "utf-8")
    regenerate(bag)
    rebuilt = tmp_path / "rebuilt.db"
    env = env_for(rebuilt)
    done = restored(lender, rebuilt, bag)
    assert done.exit_code == 0, done.stderr
    assert "Kept 2 checkpoints of the bag:" in done.stdout
    said = " ".join(done.stdout.split())
    assert "Not kept: checkpoints/early.txt: signed at 2020-01-01T00:00:00Z" in said
    assert kept_notes(rebuilt) == kept_notes(lender["db"])
    checked = invoke(env, "verify")
    assert checked.exit_code == 0, checked.stdout
    with sqlite3.connect(rebuilt) as connection:
        assert connection.execute("SELECT count(*) FROM checkpoint").fetchone() == (2,)
    assert first.read_text("utf-8") in {note for _id, _size, note in kept_notes(rebuilt)}


def test_a_lender_who_replaced_their_key_gives_both_keys(tmp_path: Path) -> None:
    """A bag of a ledger whose checkpoints were signed by an old key and then a new one: with
    --public-key now needed, one key alone refuses the other's checkpoint (exit 1, named);
    --public-key given twice keeps both."""
    ledger = copy_ledger(make_demo(tmp_path / "d"), tmp_path / "ledger.db")
    env = env_for(ledger)
    for name in ("old", "new"):
        made = invoke(env, "keys", "generate", "--out", str(tmp_path / f"{name}.key"))
        assert made.exit_code == 0, made.stderr
        signed = invoke(env, "checkpoint", "--key", str(tmp_path / f"{name}.key"))
        assert signed.exit_code == 0, signed.stderr
        moved = invoke(env, "samples", "move", "CE5C0400YJFM00505", "--location", name)
        assert moved.exit_code == 0, moved.stderr
    bag = tmp_path / "bag"
    assert invoke(env, "export", "--bag", str(bag)).exit_code == 0
    rebuilt = tmp_path / "rebuilt.db"
    new_key = ["--public-key", str(tmp_path / "new.key.pub")]
    before = listing(tmp_path)
    done = invoke(env_for(rebuilt), "restore", "--bag", str(bag), *new_key)
    assert_refused(done, 1, "checkpoint-000001-size-", tmp_path, before)
    both = ["--public-key", str(tmp_path / "old.key.pub"), *new_key]
    done = invoke(env_for(rebuilt), "restore", "--bag", str(bag), *both)
    assert done.exit_code == 0, done.stderr
    assert "Kept 2 checkpoints of the bag:" in done.stdout
    assert kept_notes(rebuilt) == kept_notes(ledger)


def test_a_signature_added_to_a_genuine_note_is_not_kept(
    lender: dict[str, Any], tmp_path: Path
) -> None:
    """Before: a second signature line, by anyone's key, appended to each of the lender's notes
    (checksums regenerated) was kept with it, so the lender's genuine report then failed
    verify-document against the rebuild ('the file was modified after it was written') and
    reports rendered on it named that key as a co-signer. Now the note is kept as the lender's
    ledger kept it, and the dropped signature named."""
    bag = copied(lender, tmp_path)
    stranger = notes.generate_signer("stranger.example/x")
    for path in (bag / "data" / "checkpoints").iterdir():
        text, _signatures = notes.split_note(path.read_text("utf-8"))
        extra = notes.sign_checkpoint(notes.parse_checkpoint(text), stranger).split("\n\n")[1]
        path.write_text(path.read_text("utf-8") + extra, "utf-8")
    regenerate(bag)
    rebuilt = tmp_path / "rebuilt.db"
    env = env_for(rebuilt)
    done = restored(lender, rebuilt, bag)
    assert done.exit_code == 0, done.stderr
    said = " ".join(done.stdout.split())
    key_id = stranger.verifier().key_id.hex()
    assert said.count(f"Not kept: the signature by stranger.example/x+{key_id} on ") == 2, said
    assert kept_notes(rebuilt) == kept_notes(lender["db"])
    report = lender["home"] / "custody.pdf"
    checked = invoke(env, "verify-document", str(report))
    assert checked.exit_code == 0, checked.stdout


def test_keep_signed_notes_keeps_the_verified_signature_alone(tmp_path: Path) -> None:
    """Service level: a note carrying a second signature is kept with its signer's line alone,
    the same bytes as the note that signer signed; the other signature is named."""
    from sampleloans import db
    from sampleloans.services.checkpoints import keep_signed_notes

    ledger = copy_ledger(make_demo(tmp_path / "d"), tmp_path / "ledger.db")
    signer, other = (notes.generate_signer(n) for n in ("naoc.example/ledger", "x.example/y"))
    genuine = signed_note(ledger, signer, 40, "2026-06-01T09:00:00Z")
    text, _signatures = notes.split_note(genuine.note)
    extra = notes.sign_checkpoint(notes.parse_checkpoint(text), other).split("\n\n")[1]
    cosigned = replace(genuine, note=genuine.note + extra)
    engine = db.make_engine(db.url_for_path(ledger))
    try:
        with db.transaction(engine) as session:
            found = keep_signed_notes(session.connection(), [cosigned])
    finally:
        engine.dispose()
    assert [note.note for _id, note in found.kept] == [genuine.note]
    [why] = found.left_out
    assert why.startswith(f"the signature by x.example/y+{other.verifier().key_id.hex()} on cp-40")
    assert [note for _id, _size, note in kept_notes(ledger)] == [genuine.note]


def test_checkpoints_put_in_after_the_first_look_still_need_the_key(
    lender: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bag's checkpoints/ is looked at before the bag is read (to ask for --public-key at
    once), and the bag validated after: checkpoints put in between (a re-signed set, checksums
    regenerated) are refused all the same, exit 2, nothing written."""
    from sampleloans.services import maintenance

    bag, _signer = resigned(lender, tmp_path)
    monkeypatch.setattr(maintenance, "_holds_checkpoints", lambda _source: False)
    before = listing(tmp_path)
    done = invoke(env_for(tmp_path / "rebuilt.db"), "restore", "--bag", str(bag))
    assert_refused(done, 2, "--public-key: the bag", tmp_path, before)
