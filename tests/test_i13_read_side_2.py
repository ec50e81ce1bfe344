"""Issue 13, read side (wave of 2026-11-30, second pass): the faster paths give what the
general ones give.

- the "as of" cut finds its last event by one index seek plus a count of what came after,
  falling back to the whole range when a later event is back-dated: the same seq as a plain
  computation over every event, at every moment around every event;
- `plain_batches` (driver rows, only the converted columns touched) gives the values and types
  SQLAlchemy's own rows give;
- the JSON Lines encoder built once gives `json.dumps`' text;
- `samples list --jsonl` and `loans list --jsonl` through the CLI: one line per row, each the
  `--json` array's object.
"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.commands.listing import write_jsonl
from sampleloans.dates import parse_datetime
from sampleloans.ledger import replay
from sampleloans.ledger.envelope import from_stored
from sampleloans.models import Loan, Sample
from sampleloans.services import loans
from sampleloans.services.listing import batches, plain_batches
from tests.conftest import CURATOR, NOW, Run
from tests.factories import received_loan, rich_history, signed_agreement

S1, S2 = "CE5C0200YJFM00112", "CE5C0300YJFM00307"


def _backdated_ledger(run: Run) -> None:
    """A loan whose later events are back-dated before earlier ones (two of them)."""
    signed_agreement(run)
    received_loan(run, samples=(S1, S2))
    run(loans.consume, number="L-1", sample=S1, technique="late", mass_ug=1_000,
        destructive=True, now=NOW + timedelta(days=10))  # fmt: skip
    run(loans.consume, number="L-1", sample=S2, technique="back-dated", mass_ug=2_000,
        destructive=True, now=NOW + timedelta(days=11),
        occurred_at=NOW + timedelta(days=5))  # fmt: skip
    run(loans.consume, number="L-1", sample=S1, technique="after", mass_ug=10,
        destructive=True, now=NOW + timedelta(days=13))  # fmt: skip
    run(loans.consume, number="L-1", sample=S2, technique="back again", mass_ug=10,
        destructive=True, now=NOW + timedelta(days=15),
        occurred_at=NOW + timedelta(days=6, microseconds=500_000))  # fmt: skip


def test_the_cut_is_the_last_event_that_had_occurred_also_after_back_dated_ones(
    engine: Engine, run: Run
) -> None:
    _backdated_ledger(run)
    with engine.connect() as connection:
        stored = [
            (int(seq), from_stored(occurred))
            for seq, occurred in connection.exec_driver_sql(
                "SELECT seq, occurred_at FROM ledger_event ORDER BY seq"
            )
        ]
        assert any(b < a for (_, a), (_, b) in pairwise(stored))
        head = max(seq for seq, _ in stored)
        moments = sorted(
            {when + timedelta(microseconds=delta) for _, when in stored for delta in (-1, 0, 1)}
            | {when + timedelta(seconds=delta) for _, when in stored for delta in (-1, 1)}
        )
        # between the back-dated events' dates and their recording, the event dated latest is
        # not the last one that had occurred: the whole range answers there
        for moment in moments:
            for up_to in (None, head - 1, head - 3):
                expected = max(
                    (
                        seq
                        for seq, when in stored
                        if when <= moment and (up_to is None or seq <= up_to)
                    ),
                    default=0,
                )
                assert replay._last_occurred(connection, moment, up_to) == expected, (
                    moment,
                    up_to,
                )


def test_plain_batches_give_what_sqlalchemy_rows_give(engine: Engine, run: Run) -> None:
    rich_history(run)
    signed_agreement(run, "Brown")
    for query in (
        select(*Sample.__table__.columns).order_by(Sample.code),  # type: ignore[attr-defined]  # SQLModel sets it
        select(*Loan.__table__.columns).order_by(Loan.number),  # type: ignore[attr-defined]  # SQLModel sets it
    ):
        with db.transaction(engine, write=False) as session:
            general = [tuple(row) for batch in batches(session, query) for row in batch]
            plain = [tuple(row) for batch in plain_batches(session, query) for row in batch]
        assert general and plain == general
        assert [list(map(type, row)) for row in plain] == [list(map(type, row)) for row in general]
        assert any(isinstance(value, datetime) for value in plain[0])


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [1, 2.5, None, True], "ü": "ça — “quoted”\n\t\\"},
        {"nested": {"z": {"y": []}, "x": {}}, "big": 10**30, "neg": -0.0},
        {"when": datetime(2025, 1, 2, 3, 4, 5), "set-like": ("a", "b")},
        [],
        "plain",
    ],
)
def test_the_line_encoder_writes_json_dumps_text(value: Any) -> None:
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

    assert write_jsonl([value, value], Out()) == 2  # type: ignore[arg-type]  # a writer, not a TextIO
    expected = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    assert lines == [expected, expected]


@pytest.mark.parametrize("command", [["samples", "list"], ["loans", "list"]])
def test_jsonl_lines_are_the_json_arrays_objects_through_the_cli(
    run: Run, cli_env: dict[str, str], command: list[str]
) -> None:
    rich_history(run)
    runner = CliRunner()
    as_array = runner.invoke(app, ["--as", CURATOR, *command, "--json"])
    as_lines = runner.invoke(app, ["--as", CURATOR, *command, "--jsonl"])
    assert as_array.exit_code == 0 and as_lines.exit_code == 0, as_lines.stderr
    objects = json.loads(as_array.stdout)
    lines = as_lines.stdout.splitlines()
    assert len(objects) >= 2 and [json.loads(line) for line in lines] == objects
    assert lines == [json.dumps(o, sort_keys=True, ensure_ascii=False) for o in objects]


@pytest.mark.parametrize(
    "text",
    [
        "2025-06-01T09:00:00+00:00",
        "2025-06-01T09:00:00.5+00:00",
        "2025-06-01T09:00:00.123456+00:00",
        "2025-06-01T09:00:00.000000+00:00",
        "2025-06-01T09:00+00:00",
        "2025-06-01T24:00:00+00:00",
    ],
)
def test_a_time_with_a_zero_offset_reads_as_isoparse_reads_it(text: str) -> None:
    from dateutil.parser import isoparse

    assert parse_datetime(text) == isoparse(text).astimezone(UTC)


def test_a_command_run_at_an_isoformat_now_starts_without_dateutils_parser(
    db_path: Path, run: Run
) -> None:
    """SAMPLELOANS_NOW as Python's isoformat writes it (what the bench sets) is read without
    importing dateutil's parser and time-zone modules at start-up."""
    signed_agreement(run)
    received_loan(run, samples=(S1,))
    probe = (
        "import sys\nsys.argv = ['sampleloans', 'status', '--loan', 'L-1']\n"
        "from sampleloans.cli import main\ntry:\n    main()\nexcept SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('dateutil.parser'))\n"
        "print(loaded, file=sys.stderr)\n"
    )
    env = {**os.environ, "SAMPLELOANS_DB": str(db_path), "SAMPLELOANS_USER": CURATOR,
           "SAMPLELOANS_NOW": (NOW + timedelta(days=1)).isoformat()}  # fmt: skip
    assert env["SAMPLELOANS_NOW"].endswith("+00:00")
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert "L-1" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"
