"""The write-back batch session behind bulk import and replay: same results as one by one."""

import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bench.generate import Scale, write_catalogue, write_history
from sampleloans import db
from sampleloans.ledger import unit as unit_module
from sampleloans.ledger.unit import Unit
from sampleloans.models import EventSubject, LedgerEvent, Loan, Sample
from sampleloans.services import bulk
from sampleloans.services.bulk import BulkRejected, import_records
from sampleloans.services.verify import verify
from tests.conftest import CURATOR, ctx_for, fingerprint

SMALL = Scale(samples=40, institutions=3, loans=6, events=400, report_events=20, runs=1)


def _dump(path: Path) -> list[str]:
    """Every row of every table, as SQL text."""
    with sqlite3.connect(path) as connection:
        return list(connection.iterdump())


def _files(tmp_path: Path) -> tuple[Path, Path]:
    """A synthetic catalogue and history (the benchmark's generator, at a small scale)."""
    catalogue, history = tmp_path / "catalogue.csv", tmp_path / "history.jsonl"
    write_catalogue(catalogue, SMALL)
    write_history(history, SMALL)
    return catalogue, history


def _import(path: Path, files: tuple[Path, Path], *, batched: bool) -> None:
    """Import both files, through the batched pass or the per-record pass."""
    from bench.generate import NOW, START

    engine = db.open_engine(db.url_for_path(path))
    early = ctx_for(now=START)
    for file, fmt, ctx in ((files[0], "csv", early), (files[1], "jsonl", ctx_for(now=NOW))):
        with db.transaction(engine) as session, file.open(encoding="utf-8", newline="") as lines:
            if batched:
                import_records(session, ctx, lines, fmt=fmt, batch=37)
            else:
                bulk.require_importer(session, ctx)
                bulk._import_per_record(session, ctx, lines, fmt, file.name, None)
    engine.dispose()


def test_batched_import_writes_exactly_what_record_by_record_writes(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    twin = tmp_path / "twin.db"
    shutil.copyfile(db_path, twin)
    files = _files(tmp_path)
    _import(db_path, files, batched=True)
    _import(twin, files, batched=False)
    batched, one_by_one = _dump(db_path), _dump(twin)
    assert len(batched) > 2_000  # events, subjects and projections of the whole history
    assert batched == one_by_one
    assert verify(engine).ok


def test_valid_input_takes_the_batched_pass(
    engine: Engine, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the per-record pass ran for valid input")

    monkeypatch.setattr(bulk, "_import_per_record", refuse)
    _import(db_path, _files(tmp_path), batched=True)
    with engine.connect() as connection:
        consumed = connection.execute(text("SELECT count(*) FROM consumption")).scalar_one()
    assert consumed == SMALL.events - SMALL.samples - 4 * SMALL.institutions - 5 * SMALL.loans


def test_a_refusal_after_several_batches_names_its_line_and_writes_nothing(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    from bench.generate import NOW

    history, bad_line = _history_with_a_bad_line(tmp_path, engine)
    lines = history.read_text(encoding="utf-8").splitlines(keepends=True)
    before = fingerprint(db_path)
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(now=NOW), lines, fmt="jsonl", batch=10)
    assert [e.line for e in refused.value.errors] == [bad_line]
    assert "holds only" in refused.value.errors[0].message
    assert fingerprint(db_path) == before


def test_the_unit_reads_its_own_writes_and_forgets_on_release(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as connection:
        unit = Unit(connection, checks_now=False)
        sample = unit.get(Sample, "CE5C0100YJFM00201")
        assert sample is not None and unit.get(Sample, "CE5C0100YJFM00201") is sample
        sample.storage_location = "cabinet 9"  # changed in memory only, until written
        stored = connection.execute(
            text("SELECT storage_location FROM sample WHERE code = 'CE5C0100YJFM00201'")
        ).scalar_one()
        assert stored != "cabinet 9"
        assert unit.has_open_incident("CE5C0100YJFM00201") is False  # a lookup writes first
        stored = connection.execute(
            text("SELECT storage_location FROM sample WHERE code = 'CE5C0100YJFM00201'")
        ).scalar_one()
        assert stored == "cabinet 9"
        head = connection.execute(text("SELECT max(seq) FROM ledger_event")).scalar_one()
        unit.insert_event(
            {
                "seq": head + 1,
                "kind": "x",
                "payload": "{}",
                "occurred_at": "2025-01-01T00:00:00Z",
                "recorded_at": "2025-01-01T00:00:00Z",
                "actor": CURATOR,
                "os_user": "t",
                "corrects_seq": None,
                "reason": None,
                "prev_hash": "0" * 64,
                "hash": "1" * 64,
            }
        )
        assert unit.get(LedgerEvent, head + 1) is not None  # a buffered insert is readable
        unit.index(head + 1, "t", "k")
        unit.index(head + 1, "t", "k")  # once per event
        assert unit.get(EventSubject, (head + 1, "t", "k")) is not None
        assert unit.get(Loan, "no such loan") is None
        unit.release()
        assert unit._rows  # kept while small: the next batch reads them again for free
        monkeypatch.setattr(unit_module, "KEEP_ROWS", 2)
        unit.release()
        assert not unit._rows  # forgotten past the cap: memory stays bounded
        subjects = connection.execute(
            text("SELECT count(*) FROM event_subject WHERE subject_type = 't'")
        ).scalar_one()
        assert subjects == 1
        connection.rollback()


def _history_with_a_bad_line(tmp_path: Path, engine: Engine) -> tuple[Path, int]:
    """The catalogue imported, and a history file whose third-to-last line over-consumes."""
    from bench.generate import START

    catalogue, history = _files(tmp_path)
    with db.transaction(engine) as session, catalogue.open(encoding="utf-8") as rows:
        import_records(session, ctx_for(now=START), rows, fmt="csv")
    lines = history.read_text(encoding="utf-8").splitlines(keepends=True)
    bad_line = len(lines) - 3
    # more than any sample holds, within the 10 kg a mass may be (beyond is invalid input)
    lines[bad_line - 1] = re.sub(r'"mass_ug":\d+', '"mass_ug":9999999999', lines[bad_line - 1])
    history.write_text("".join(lines), encoding="utf-8")
    return history, bad_line


def test_the_progress_bar_wrapper_is_read_again_by_the_second_pass(
    engine: Engine, db_path: Path, tmp_path: Path
) -> None:
    from bench.generate import NOW
    from sampleloans.commands.bulk import _lines

    history, bad_line = _history_with_a_bad_line(tmp_path, engine)
    before = fingerprint(db_path)
    with (
        pytest.raises(BulkRejected) as refused,
        db.transaction(engine) as session,
        history.open(encoding="utf-8") as handle,
        _lines(handle, history.stat().st_size, show=True) as lines,
    ):
        import_records(session, ctx_for(now=NOW), lines, fmt="jsonl", batch=10)
    assert [e.line for e in refused.value.errors] == [bad_line]
    assert fingerprint(db_path) == before


def test_a_one_shot_iterator_is_read_once_even_when_a_record_is_refused(
    engine: Engine, db_path: Path
) -> None:
    # no second pass over the file any more: a generator is enough, refusals included
    header = "code,mission,origin,material_type,physical_form,purpose_class,mass,storage_location\n"
    rows = [f"ONCE{i},CE-5,scoop,regolith,powder,research,1 mg,A\n" for i in range(5)]
    rows[3] = "ONCE3,CE-5,scoop,regolith,powder,research,1 parsec,A\n"
    before = fingerprint(db_path)
    with pytest.raises(BulkRejected) as refused, db.transaction(engine) as session:
        import_records(session, ctx_for(), iter([header, *rows]), fmt="csv", batch=2)
    assert [e.line for e in refused.value.errors] == [5]
    assert fingerprint(db_path) == before
    with db.transaction(engine) as session:
        del rows[3]
        result = import_records(session, ctx_for(), iter([header, *rows]), fmt="csv", batch=2)
    assert result.events == 4
