"""A compliance officer runs `verify`, `verify --since`, `verify --checkpoint` and
`verify-document` over files tampered with by hand: each gives a finding line and exit 1 (or
the documented code), never a traceback. What other files prove already (a full `verify` of a
byte flipped or an event deleted, tests/test_sweep_files_tamper.py; a checkpoint's tree size
edited, tests/test_sweep_s21attack_checkpoint_editors.py; one byte of a report's stream,
tests/test_cli_reports.py) is not repeated; these are the cases nothing proved, and what they
found:

- `verify --checkpoint` over a ledger with an event deleted (its trigger dropped) stopped at
  one `Error: the ledger has 108 events, fewer than 109`, exit 1, instead of the findings:
  the Merkle root was read over every event up to the last seq, gap included. It now reads the
  checkpoint's events alone: a gap after them is the chain's finding (`seq jumps`), one among
  them a `[checkpoint]` finding, each beside the full verify's;
- a payload whose field name was changed read `has fields a agreement.created event does not
  have`: now `has fields no agreement.created event has`.
"""

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import COMPLIANCE, CURATOR, demo_copy

NOW = "2026-04-28T12:00:00Z"


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's 107 events, a checkpoint of them (cp.txt, k.pub), two incidents after it
    (events 108, 109) and a custody report (r.pdf): the untouched `ledger.db` and its files."""
    folder = tmp_path_factory.mktemp("s41tamper")
    demo_copy(folder)
    report = ["incidents", "report", "--kind", "damage", "--sample"]
    for args, now in (
        (["keys", "generate", "--out", str(folder / "k")], "11:00"),
        (["checkpoint", "--key", str(folder / "k"), "--out", str(folder / "cp.txt")], "11:00"),
        ([*report, "CE5C0400YJFM00505", "--description", "a crack in the vial"], "11:10"),
        ([*report, "CE5C0400YJFM00507", "--description", "a second crack"], "11:20"),
        (["report", "custody", "--loan", "L-2025-OU", "--out", str(folder / "r.pdf")], "11:30"),
    ):
        done = _run(folder / "ledger.db", CURATOR, *args, now=f"2026-04-28T{now}:00Z")
        assert done.exit_code == 0, (args, done.stderr)
    return folder


def _run(ledger: Path, who: str, *args: str, now: str = NOW) -> Result:
    """`sampleloans --db LEDGER --as WHO ARGS` at `now`."""
    env = {"SAMPLELOANS_NOW": now, "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["--db", str(ledger), "--as", who, *args], env=env)


def _found(ledger: Path, *args: str) -> list[str]:
    """The finding lines of a verify that must find something: exit 1, no `Error:` line, no
    traceback."""
    done = _run(ledger, COMPLIANCE, *args)
    assert done.exit_code == 1, done.stdout + done.stderr
    assert done.stderr == "", done.stderr
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert "Traceback" not in done.stdout + done.stderr
    return [line.strip() for line in done.stdout.splitlines() if line.startswith("  [")]


def _deleted(room: Path, tmp_path: Path, seq: int) -> Path:
    """A copy of the room's ledger with event `seq` deleted by hand, its trigger dropped."""
    ledger = tmp_path / "ledger.db"
    shutil.copy(room / "ledger.db", ledger)
    with closing(sqlite3.connect(ledger)) as connection:
        connection.executescript(
            "DROP TRIGGER ledger_event_no_delete; "
            f"DELETE FROM event_subject WHERE seq = {seq}; "
            f"DELETE FROM ledger_event WHERE seq = {seq};"
        )
    return ledger


def _flipped(room: Path, tmp_path: Path, seq: int, text: bytes, into: bytes) -> Path:
    """A copy of the room's ledger file with `text` changed to `into` (as long) inside the
    stored payload of event `seq`, in the file's bytes (other tables' copies left alone)."""
    with closing(sqlite3.connect(room / "ledger.db")) as connection:
        (payload,) = connection.execute(
            "SELECT payload FROM ledger_event WHERE seq = ?", (seq,)
        ).fetchone()
    data = bytearray((room / "ledger.db").read_bytes())
    stored = payload.encode("utf-8")
    assert data.count(stored) == 1 and stored.count(text) == 1 and len(text) == len(into)
    at = data.index(stored) + stored.index(text)
    data[at : at + len(text)] = into
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(bytes(data))
    return ledger


def _checkpoint(room: Path) -> list[str]:
    """`verify --checkpoint` of the room's checkpoint and key."""
    return ["verify", "--checkpoint", str(room / "cp.txt"), "--public-key", str(room / "k.pub")]


def _since(room: Path) -> list[str]:
    """`verify --since` the room's checkpoint."""
    return ["verify", "--since", str(room / "cp.txt"), "--public-key", str(room / "k.pub")]


def test_verify_checkpoint_names_an_event_deleted_before_the_checkpoint(
    room: Path, tmp_path: Path
) -> None:
    """Event 60 of the 107 signed: the checkpoint's finding, with the chain's and the rest."""
    found = _found(_deleted(room, tmp_path, 60), *_checkpoint(room))
    assert "[chain] seq jumps from 59 to 61: events are missing" in found, found
    assert (
        "[checkpoint] the ledger holds 106 of the 107 events the checkpoint signed: events up "
        "to it were removed (by hand: the append-only triggers forbid it)" in found
    ), found
    assert any("trigger ledger_event_no_delete is missing" in line for line in found), found


def test_verify_checkpoint_names_an_event_deleted_after_the_checkpoint(
    room: Path, tmp_path: Path
) -> None:
    """Event 108, after the 107 signed: the chain's findings, the checkpoint itself holds."""
    found = _found(_deleted(room, tmp_path, 108), *_checkpoint(room))
    assert "[chain] seq jumps from 107 to 109: events are missing" in found, found
    assert not any(line.startswith("[checkpoint]") for line in found), found


def test_verify_since_names_an_event_deleted_after_the_checkpoint(
    room: Path, tmp_path: Path
) -> None:
    """`verify --since`: the gap among the new events, and the dropped trigger."""
    found = _found(_deleted(room, tmp_path, 108), *_since(room))
    assert "[chain] seq jumps from 107 to 109: events are missing" in found, found
    assert any("trigger ledger_event_no_delete is missing" in line for line in found), found


def test_verify_since_names_a_byte_flipped_in_a_new_event(room: Path, tmp_path: Path) -> None:
    """One letter of event 109's payload changed in the file's bytes: its hash fails."""
    ledger = _flipped(room, tmp_path, 109, b"a second crack", b"a secend crack")
    found = _found(ledger, *_since(room))
    assert found == ["[chain] event 109 (incident.reported) does not match its hash"], found


def test_a_changed_field_name_is_named_in_words(room: Path, tmp_path: Path) -> None:
    """A payload's field name flipped in the bytes: the hash, and the replay in plain words."""
    ledger = _flipped(room, tmp_path, 50, b'"allowed_purposes"', b'"allowed_qurposes"')
    found = _found(ledger, "verify")
    assert (
        "[replay] event 50 (agreement.created) cannot be replayed: the agreement.created payload "
        "lacks allowed_purposes and has fields no agreement.created event has "
        "(allowed_qurposes)" in found
    ), found


def _swap(text: str, at: int) -> str:
    """`text` with its character at `at` changed to another base64 letter."""
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


EDITS = {
    "tree size": lambda lines: [lines[0], "106", *lines[2:]],
    "root": lambda lines: [*lines[:2], _swap(lines[2], 5), *lines[3:]],
    "signature": lambda lines: [*lines[:7], _swap(lines[7], len(lines[7]) - 10), *lines[8:]],
}
"""A byte changed in a line of the signed checkpoint file, as a hand would change it."""


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("mode", ["--checkpoint", "--since"])
def test_an_edited_checkpoint_file_is_one_error_line(
    room: Path, tmp_path: Path, edit: str, mode: str
) -> None:
    """`verify --checkpoint` (its signature fails) and `verify --since` (not a kept one):
    exit 1, one `Error:` line naming the option."""
    edited = tmp_path / "cp.txt"
    edited.write_text("\n".join(EDITS[edit]((room / "cp.txt").read_text().split("\n"))))
    args = _checkpoint(room) if mode == "--checkpoint" else _since(room)
    args[2] = str(edited)
    done = _run(room / "ledger.db", COMPLIANCE, *args)
    assert done.exit_code == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"Error: {mode}") and len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stdout + done.stderr


def test_a_byte_changed_anywhere_in_a_report(room: Path, tmp_path: Path) -> None:
    """One byte changed at 24 places through the PDF: a FAIL line and exit 1, or (its cross-
    reference table unreadable) exit 2, `not a sampleloans report`, one line; never a trace."""
    data = (room / "r.pdf").read_bytes()
    codes = set()
    for k in range(24):
        changed = bytearray(data)
        changed[len(data) * k // 24 + 7] ^= 0x01
        path = tmp_path / f"r{k}.pdf"
        path.write_bytes(bytes(changed))
        done = _run(room / "ledger.db", COMPLIANCE, "verify-document", str(path))
        codes.add(done.exit_code)
        assert "Traceback" not in done.stdout + done.stderr
        if done.exit_code == 1:
            assert any(line.startswith("FAIL  ") for line in done.stdout.splitlines()), k
        else:
            assert done.exit_code == 2, (k, done.stdout, done.stderr)
            assert done.stderr.startswith(f"Error: FILE: {path} is not a sampleloans report")
            assert len(done.stderr.splitlines()) == 1
    assert 1 in codes
