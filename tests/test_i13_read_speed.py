"""Issue 13, the read side's speed: what the fast paths of `overdue` and the streamed lists
rely on, and the bench's peak memory being each child's own.

The speed itself is measured by the bench (`python -m bench --only overdue,lists`), never timed
here; these tests prove the fast paths give exactly what the plain ones give.
"""

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.commands.jsonout import renamed, row_converter
from sampleloans.services import standing
from sampleloans.services.catalog import SampleView, samples_listing
from sampleloans.services.listing import view_maker
from sampleloans.services.standing import OverdueRow, OverdueRows
from tests.conftest import ctx_for, demo_copy

CURATOR = "curator@naoc.example"
LATE = "2031-01-01T00:00:00Z"  # every loan of the demo that is out is late by then


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, made once."""
    folder = tmp_path_factory.mktemp("i13-speed") / "demo"
    demo_copy(folder)
    return folder / "ledger.db"


def _samples(demo_db: Path) -> list[SampleView]:
    engine = db.open_engine(db.url_for_path(demo_db))
    try:
        with db.transaction(engine, write=False) as session:
            return list(samples_listing(session, ctx_for(CURATOR)).rows)
    finally:
        engine.dispose()


def test_view_maker_builds_the_same_frozen_view(demo_db: Path) -> None:
    views = _samples(demo_db)
    assert any(view.children for view in views)  # not vacuous: a view with a tuple field
    make = view_maker(SampleView)
    for view in views:
        values = [getattr(view, f.name) for f in dataclasses.fields(SampleView)]
        made = make(values)
        plain = SampleView(*values)
        assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.code = "X"  # type: ignore[misc]  # the point: frozen refuses it


def test_view_maker_refuses_what_it_cannot_build_alike() -> None:
    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclass(frozen=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            assert self.a >= 0

    for kind in (Slotted, Checked):
        with pytest.raises(TypeError, match="not a plain dataclass view"):
            view_maker(kind)
    with pytest.raises(ValueError):  # a value short: refused, not a half-made view
        view_maker(SampleView)(["only one"])


def test_row_converter_general_path_matches_renamed() -> None:
    """Views the fast path cannot rename in place (two fields under one key, a new key that
    is another field's name, slots) still give what `renamed` gives."""

    @dataclass(frozen=True)
    class Shared:
        pi: str  # renamed to pi_email, which is also the next field: the later one wins
        pi_email: str
        state: str
        when_at: datetime | None

    @dataclass(frozen=True, slots=True)
    class Slotted:
        sample: str
        status: str
        due_at: datetime
        codes: tuple[str, ...]

    moment = datetime(2026, 4, 28, 9, 0, 0, 500_000, tzinfo=UTC)
    for view in (
        Shared("a@x", "b@x", "in_transit", moment),
        Shared("a@x", "b@x", "vault", None),
        Slotted("S1", "return_in_transit", moment, ("C1", "C2")),
    ):
        assert row_converter(type(view))(view) == renamed(view, {})
    converted = row_converter(Slotted)(Slotted("S1", "return_in_transit", moment, ("C1",)))
    assert converted == {"sample_code": "S1", "status": "return-in-transit",
                         "due_at": "2026-04-28T09:00:00Z", "codes": ["C1"]}  # fmt: skip


def _overdue(demo_db: Path, now: str) -> OverdueRows:
    engine = db.open_engine(db.url_for_path(demo_db))
    try:
        with db.transaction(engine, write=False) as session:
            moment = datetime.fromisoformat(now)
            return standing.overdue(session, ctx_for(CURATOR, moment))
    finally:
        engine.dispose()


def test_overdue_rows_behave_as_a_list_of_named_rows(demo_db: Path) -> None:
    rows = _overdue(demo_db, LATE)
    as_list = list(rows)
    assert len(as_list) == len(rows) >= 4  # returns and inventories of several loans
    assert all(type(row) is OverdueRow for row in as_list)
    assert rows[0] == as_list[0] and rows[-1] == as_list[-1] and rows[1:3] == as_list[1:3]
    assert rows == as_list and rows == _overdue(demo_db, LATE)
    assert as_list[0].loan_number in repr(rows)
    keys = [(-row.days_late, row.loan_number, row.what) for row in as_list]
    assert keys == sorted(keys)  # most days late first, then loan, then inventory before return
    assert {row.what for row in as_list} == {"inventory", "return"}
    assert len({row.days_late for row in as_list}) > 1  # several dates: the order is tested
    with pytest.raises(TypeError):
        hash(rows)


def test_overdue_cli_json_is_the_service_rows(demo_db: Path) -> None:
    env = {"SAMPLELOANS_DB": str(demo_db), "SAMPLELOANS_USER": CURATOR, "SAMPLELOANS_NOW": LATE}
    result = CliRunner().invoke(app, ["overdue", "--json"], env=env)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    rows = _overdue(demo_db, LATE)
    assert [(r["loan_number"], r["what"], r["days_late"]) for r in printed] == [
        (row.loan_number, row.what, row.days_late) for row in rows
    ]
    assert [r["due_at"] for r in printed] == [
        row.due_at.replace(microsecond=0).isoformat().replace("+00:00", "Z") for row in rows
    ]
    paged = CliRunner().invoke(app, ["overdue", "--jsonl", "--limit", "2", "--offset", "1"],
                               env=env)  # fmt: skip
    assert paged.exit_code == 0, paged.output
    assert [json.loads(line) for line in paged.stdout.splitlines()] == printed[1:3]
    assert f"showing 2–3 of {len(rows)}" in paged.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_bench_peak_is_the_childs_own_not_the_parents() -> None:
    """The bug it fixes: `ru_maxrss` of a child carries its parent's peak over `execve`, so
    every child of a large parent read the parent's size."""
    from bench.__main__ import in_child

    ballast = bytearray(300 * 1024 * 1024)  # this process: over 300 MB resident
    for page in range(0, len(ballast), 4096):
        ballast[page] = 1
    small = in_child("result = {}\n")
    grown = in_child(
        "data = bytearray(120 * 1024 * 1024)\n"
        "for page in range(0, len(data), 4096):\n    data[page] = 1\nresult = {}\n"
    )
    del ballast
    assert small["peak_mb"] < 100, small  # a bare interpreter, not this 300 MB process
    assert grown["peak_mb"] > 120, grown
    assert grown["peak_mb"] - small["peak_mb"] > 100


def test_flat_row_json_text_is_json_dumps_text() -> None:
    """`--json` lists put a flat row's indented text together from the json module's pieces;
    it must be the very text `json.dumps(indent=2, sort_keys=True)` gives, or fall back."""
    import random
    import string

    from sampleloans.commands.listing import _flat_row_text, json_text

    rnd = random.Random(13)
    alphabet = string.printable + 'é\u2028\x00"\\ü😀'

    def text() -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))

    def value() -> object:
        return rnd.choice(
            [text(), rnd.randint(-(10**18), 10**18), True, False, None, 1.5, {"a": 1},
             [text() for _ in range(rnd.randint(0, 3))], [rnd.randint(0, 9), None, True]]
        )  # fmt: skip

    fast = 0
    for _ in range(3000):
        row = {text(): value() for _ in range(rnd.randint(0, 8))}
        want = json.dumps(row, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        assert json_text(row) == want, row
        assert json_text(row, "  ") == want.replace("\n", "\n  ")
        fast += _flat_row_text(row) is not None
    assert 500 < fast < 3000  # both the fast path and the fallback were taken
