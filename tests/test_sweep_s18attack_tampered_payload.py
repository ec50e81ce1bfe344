"""Sweep s18, an attacker: an event's payload edited in the SQLite file (triggers dropped).

Found: `custody history`, `loans show`, `report custody` and `report return` read stored
payloads as they found them, so a payload that was not JSON, not an object, lacked a field or
held a field of another type stopped each of them with a Python traceback (JSONDecodeError,
KeyError, TypeError, AttributeError; exit 1, the exit code of a refused rule), `--as-of` too.
Now every reader checks a stored payload against its kind's fields and types first
(`ledger.store.stored_payload`, the same check `import` runs): one `Error:` line naming the
event and what is wrong with it, exit 3, and `verify` names the event as before.
"""

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sampleloans.errors import StorageError
from sampleloans.ledger.payload import stored_payload
from tests.i15_statement_helpers import env_for, invoke, make_demo

SHIPPED, RECEIVED, CONSUMED, INVENTORY = 94, 95, 99, 107
"""Events of the demo's L-2025-OU: its shipment, receipt, a consumption and its inventory."""

READS = [
    ("loans", "show", "L-2025-OU"),
    ("custody", "history", "--loan", "L-2025-OU"),
    ("custody", "history", "--loan", "L-2025-OU", "--as-of", "2026-01-01"),
    ("custody", "history", "--institution", "OU"),
    ("report", "custody", "--loan", "L-2025-OU", "--out", "{out}"),
    ("report", "return", "--loan", "L-2025-OU", "--out", "{out}"),
]

PAYLOADS = {
    "not JSON": "not json",
    "not an object": "[1, 2]",
    "a field missing": '{"number": "L-2025-OU"}',
    "a field of another type": None,  # the event's own payload with one list made a number
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, never changed: each test edits a copy."""
    return make_demo(tmp_path_factory.mktemp("tampered") / "d")


def tampered(demo: Path, folder: Path, seq: int, payload: str | None) -> Path:
    """A copy of the demo whose event `seq` has `payload` (the triggers dropped to write it)."""
    ledger = folder / "ledger.db"
    shutil.copy(demo, ledger)
    with sqlite3.connect(ledger) as connection:
        if payload is None:
            (text,) = connection.execute(
                "SELECT payload FROM ledger_event WHERE seq = ?", (seq,)
            ).fetchone()
            payload = _one_list_a_number(text)
        connection.execute("DROP TRIGGER ledger_event_no_update")
        connection.execute("UPDATE ledger_event SET payload = ? WHERE seq = ?", (payload, seq))
    return ledger


def _one_list_a_number(text: str) -> str:
    """The stored payload with its first list value replaced by the number 5."""
    data: dict[str, Any] = json.loads(text)
    name = next(key for key, value in sorted(data.items()) if isinstance(value, list))
    data[name] = 5
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


CASES = [
    (seq, args)
    for seq in (SHIPPED, RECEIVED)
    for args in READS
    if not (seq == SHIPPED and args[:2] == ("report", "return"))  # the F-75 reads no shipment
]


@pytest.mark.parametrize("how", sorted(PAYLOADS))
@pytest.mark.parametrize(
    ("seq", "args"), CASES, ids=lambda a: a if isinstance(a, int) else " ".join(a[:3])
)
def test_a_read_names_the_altered_event_instead_of_a_traceback(
    demo: Path, tmp_path: Path, how: str, seq: int, args: tuple[str, ...]
) -> None:
    """Before: a traceback, exit 1."""
    ledger = tampered(demo, tmp_path, seq, PAYLOADS[how])
    out = tmp_path / "report.pdf"
    result = invoke(env_for(ledger), *(a.replace("{out}", str(out)) for a in args))
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        how,
        repr(result.exception),
    )
    assert result.exit_code == 3, (how, result.stdout, result.stderr)
    error = result.stderr.strip()
    assert error.startswith(f"Error: event {seq} (loan.") and "\n" not in error, error
    assert "run 'sampleloans verify'" in error
    assert not out.exists()


@pytest.mark.parametrize("seq", [CONSUMED, INVENTORY])
def test_the_custody_report_names_an_altered_lab_event(
    demo: Path, tmp_path: Path, seq: int
) -> None:
    """Before: KeyError 'destructive' / TypeError 'int' object is not iterable."""
    ledger = tampered(demo, tmp_path, seq, None if seq == INVENTORY else '{"number": "x"}')
    out = tmp_path / "custody.pdf"
    result = invoke(env_for(ledger), "report", "custody", "--loan", "L-2025-OU", "--out", str(out))
    assert result.exit_code == 3, result.stderr
    assert f"Error: event {seq} (" in result.stderr
    assert not out.exists()
    found = invoke(env_for(ledger), "verify")
    assert found.exit_code == 1
    assert f"event {seq} (" in found.stdout


def test_stored_payload_accepts_what_the_ledger_wrote_and_names_what_it_did_not() -> None:
    """The check itself: a payload as recorded passes; each kind of damage is one message."""
    good = '{"number":"L-1"}'
    assert stored_payload(7, "loan.approved", good) == {"number": "L-1"}
    damaged = {
        "not json": "Expecting value",
        "[1]": "not a JSON object",
        '{"number": 5}': "payload.number: give text, not 5",
        '{"number": "L-1", "x": 1}': "has no field 'x'",
        "{}": "lacks number",
    }
    for text, words in damaged.items():
        with pytest.raises(StorageError, match=words) as caught:
            stored_payload(7, "loan.approved", text)
        assert str(caught.value).startswith("event 7 (loan.approved) cannot be read: ")
    with pytest.raises(StorageError, match=r"'loan\.stolen' is not an event kind"):
        stored_payload(7, "loan.stolen", good)


def test_the_readers_field_table_is_the_event_classes() -> None:
    """`ledger/payload_fields.py` is generated from the event classes: regenerate it with
    `python -m tests.payload_fields_source` after a kind or field changes."""
    from tests.payload_fields_source import TARGET, source

    assert TARGET.read_text() == source()


def test_verify_accuses_nobody_of_another_institution_s_loan_for_an_unreadable_payload(
    demo: Path, tmp_path: Path
) -> None:
    """Before: `[recorder] event 107 … was recorded by 'anand@open.example', a researcher at
    OU, about a loan not lent to their institution` (the inventory was of OU's own loan)."""
    ledger = tampered(demo, tmp_path, INVENTORY, "not json")
    found = invoke(env_for(ledger), "verify")
    assert found.exit_code == 1
    assert "not lent to their institution" not in found.stdout
    assert (
        f"[recorder] event {INVENTORY} (loan.inventory) was recorded by 'anand@open.example', a "
        "researcher at OU; its payload names no loan"
    ) in found.stdout
    assert f"[chain] event {INVENTORY} (loan.inventory) does not match its hash" in found.stdout
