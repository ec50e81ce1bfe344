"""Issue 13 (stop 32, import9): a history batch reads the loans, samples and loan items its
lines name with one query per table before its first line (`bulk._named_keys`,
`Unit.prefetch`, `Unit.prefetch_items`), not one read by key per line: an import into a large
ledger read each line's loan, item and sample cold, 18 % of its CPU.

- an import of consumptions into a copy of the golden ledger (every loan, item and sample cold)
  writes the same ledger, every row and the head, as the same import reading each row by key,
  and refuses alike: a consumption over the held mass, and a line naming a loan in another
  spelling (a key the prefetch found no row for is known free: the other spelling reads its
  own key), each named on its line, exit 1, nothing written;
- with the prefetch, the import reads none of those rows by key.
"""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from sampleloans.ledger.unit import Unit
from sampleloans.services import bulk
from tests.conftest import CURATOR, GOLDEN
from tests.test_sweep_s31import8_driver_reads import LOANS, _dump, _history

NOW = "2026-05-01T10:00:00Z"


def _with_other_spelling(path: Path) -> None:
    """The history with a consumption naming a held item's loan in lower case at the end."""
    payload = {
        "number": "l-2025-uoc",
        "sample": LOANS["L-2025-UoC"][0],
        "technique": "probe",
        "mass_ug": 7,
        "destructive": True,
    }
    record = {"kind": "loan.consumed", "occurred_at": "2026-04-25T11:00:00Z", "actor": CURATOR}
    with path.open("a", encoding="utf-8") as lines:
        lines.write(json.dumps({**record, "payload": payload}) + "\n")


def _import(ledger: Path, history: Path) -> tuple[int, str, int]:
    """Exit code and output of the import, and the exit code of `verify` after it."""
    answer = CliRunner().invoke(app, ["--db", str(ledger), "--as", CURATOR, "import", str(history)])
    after = CliRunner().invoke(app, ["--db", str(ledger), "--as", CURATOR, "verify"])
    return answer.exit_code, answer.output, after.exit_code


@pytest.mark.parametrize("case", ["accepted", "over the held mass", "another spelling"])
def test_a_prefetched_batch_writes_and_refuses_as_reading_each_line_s_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    history = tmp_path / "history.jsonl"
    _history(history, refused=case == "over the held mass")
    if case == "another spelling":
        _with_other_spelling(history)
    monkeypatch.setenv("SAMPLELOANS_NOW", NOW)
    answers, dumps = [], []
    for way in ("prefetch", "by key"):
        ledger = tmp_path / f"{way}.db"
        shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
        with monkeypatch.context() as patched:
            if way == "by key":  # before the change: no key named, each line reads its rows
                patched.setattr(bulk, "_named_keys", lambda _records: (set(), set()))
            answers.append(_import(ledger, history))
        dumps.append(_dump(ledger))
    assert answers[0] == answers[1]
    assert dumps[0] == dumps[1]
    code, output, verified = answers[0]
    said = " ".join(output.split())
    if case == "accepted":
        assert code == 0 and verified == 0, output
    elif case == "over the held mass":
        assert code == 1 and "line 5: mass_ug: cannot consume 1,000.000 g" in said, said
        assert dumps[0] == _dump(GOLDEN / "ledger-0.1.db")  # nothing written
    else:
        assert code != 0 and "line 9:" in said and "l-2025-uoc" in said, said
        assert dumps[0] == _dump(GOLDEN / "ledger-0.1.db")


def test_a_prefetched_batch_reads_none_of_its_lines_rows_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = tmp_path / "history.jsonl"
    _history(history, refused=False)
    monkeypatch.setenv("SAMPLELOANS_NOW", NOW)
    ledger = tmp_path / "ledger.db"
    shutil.copy(GOLDEN / "ledger-0.1.db", ledger)
    read_by_key: list[tuple[str, tuple[Any, ...]]] = []
    read_before = Unit._read

    def spy(unit: Unit, info: Any, ident: tuple[Any, ...]) -> dict[str, Any] | None:
        read_by_key.append((info.table.name, ident))
        return read_before(unit, info, ident)

    monkeypatch.setattr(Unit, "_read", spy)
    code, output, _verified = _import(ledger, history)
    assert code == 0, output
    named = {"loan", "loan_item", "sample"}
    assert [read for read in read_by_key if read[0] in named] == []
