"""`verify`: chain recomputation, replay = projections, every invariant, SQLite integrity.

Every problem is collected and returned; nothing stops at the first. An anchor (`SEQ:HASH`
from an earlier report or `--print-head`) also proves the ledger still extends that head, which
catches truncation, a rollback to an older copy and a chain recomputed after tampering.
"""

import json
import re
import subprocess
import sys
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlmodel import Session, SQLModel

from sampleloans import crashpoints, db, fileio, pgsecurity
from sampleloans.errors import InvalidInput, StorageError
from sampleloans.ledger import chain, checks, replay
from sampleloans.ledger.store import Context
from sampleloans.ledger.unit import Touched
from sampleloans.models import Agreement, EventSubject, Loan, Sample, made_on
from sampleloans.services import recorders, verify_halves
from sampleloans.services.common import require_role
from sampleloans.text import events_span, one_line

VERIFY_REPLAY_BATCH = replay.REPLAY_BATCH
"""Events `verify` replays between two writes of the scratch copy. Measured on the 1M-event
bench ledger: 20,000 cut the replay's CPU by a fifth but raised the peak to 482 MB; the memory
is kept bounded by a small batch instead."""
ANCHOR_PATTERN = re.compile(r"^(\d{1,12}):([0-9a-f]{64})$", re.ASCII)

BODY = chain.BODY_FIELDS  # the hashed columns, in the order `_check_chain` selects them


@dataclass(frozen=True)
class Problem:
    """One thing verify found wrong, in words a compliance officer can act on."""

    area: str  # integrity | schema | chain | anchor | replay | projection | invariant | recorder
    message: str


@dataclass
class VerifyResult:
    """What verify saw: the head it checked and every problem found."""

    head_seq: int = 0
    head_hash: str = ""
    events: int = 0
    problems: list[Problem] = field(default_factory=list)
    storage: str = "SQLite integrity ok"  # what the storage check proved, in words
    not_checked: list[str] = field(default_factory=list)  # what this login could not check

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.problems

    @property
    def head(self) -> str | None:
        """`SEQ:HASH` of the last event; None when no event could be read (a damaged file)."""
        if not self.head_hash:
            return None
        return chain.format_head(self.head_seq, self.head_hash)


def parse_anchor(value: str, field: str = "anchor") -> tuple[int, str]:
    """An anchor `SEQ:HASH` as printed by `verify --print-head` or on a report (InvalidInput
    naming `field`, e.g. the option it was typed as)."""
    match = ANCHOR_PATTERN.match(value.strip().lower())
    if not match:
        raise InvalidInput(
            f"{field}: {value[:40]!r} is not SEQ:HASH (a number, a colon and 64 hex digits), "
            "as printed by 'verify --print-head'"
        )
    if int(match.group(1)) < 1:  # the first event is seq 1: no head is seq 0
        raise InvalidInput(
            f"{field}: {value[:40]!r} names event 0; a head's SEQ is 1 or more, as printed by "
            "'verify --print-head'"
        )
    return int(match.group(1)), match.group(2)


VERIFY_ROLES = ("curator", "compliance_officer")
"""Who may verify the whole ledger: its problem lines name every institution's records."""


UNPROVEN_WITHOUT_WITNESS = (
    "not checked: that this is the lender's ledger, whole and current: a copy rolled back, cut "
    "short or rewritten with its hashes recomputed passes too (its kept checkpoints as well: "
    "their keys are in the ledger too); check it against the newest signed checkpoint you hold, "
    "'verify --checkpoint CP.txt --public-key KEY.pub' (or --anchor SEQ:HASH)"
)
"""What a full verify cannot prove from the ledger alone: only a witness from outside it can."""


def unproven(
    *, anchor_given: bool, checkpoint_given: bool, covered: int = 0, head_seq: int = 0
) -> list[str]:
    """What a clean full verify did not prove, in words: its authenticity and freshness, unless
    an anchor or a signed checkpoint held outside the ledger was given; with one, the events
    after the last one it `covered` (anyone who can write the file can append events whose
    hashes hold: only a newer checkpoint or anchor vouches for them)."""
    if not (anchor_given or checkpoint_given):
        return [UNPROVEN_WITHOUT_WITNESS]
    if head_seq <= covered:
        return []
    witness = "the checkpoint's last event" if checkpoint_given else "the anchored event"
    one = head_seq == covered + 1
    return [
        f"not checked: that {events_span(covered + 1, head_seq)}, after {witness} "
        f"{covered}, {'is' if one else 'are'} the lender's: nothing signed or held outside the "
        f"ledger covers {'it' if one else 'them'} (whoever can write the ledger can add events "
        "whose hashes hold); a newer checkpoint does"
    ]


def verify_as(
    engine: Engine,
    ctx: Context,
    *,
    anchor: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """`verify` for the acting person: a registered curator or compliance officer (exit 4
    otherwise). A file too damaged to look the person up is reported as damaged, nothing more."""
    damaged = verifier_refused(engine, ctx)
    return damaged if damaged is not None else verify(engine, anchor=anchor, progress=progress)


def verifier_refused(engine: Engine, ctx: Context) -> VerifyResult | None:
    """Refuse (exit 4) a person who may not verify; a file too damaged to look them up is
    the result to report (its one problem); None when they may. The command reads what was
    typed (`--anchor`, `--checkpoint`) only after this: who acts comes first."""
    try:
        with Session(engine) as session:
            require_role(session, ctx, *VERIFY_ROLES, action="verify the whole ledger")
    except OperationalError as exc:
        if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
            raise StorageError(
                "the database is locked past the lock timeout; try again (or raise "
                "SAMPLELOANS_LOCK_TIMEOUT)"
            ) from None
        return VerifyResult(problems=[damaged_file_problem(exc, "verify")])
    except DatabaseError as exc:
        return VerifyResult(problems=[damaged_file_problem(exc, "verify")])
    return None


def verify(
    engine: Engine,
    *,
    anchor: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Run every check on the ledger database and return all problems found.

    Every stage reads through one connection inside one read transaction, so they all see the
    same snapshot of a ledger that others keep writing (WAL readers keep theirs until the end).
    """
    result = VerifyResult()
    path = db.sqlite_path(engine.url.render_as_string(hide_password=True))
    background = _FileCheck.launch(engine)
    chain_check = _ChainCheck()
    with (
        # the replay is a whole copy of the ledger: its folder is removed at the end, on SIGTERM,
        # or (after a SIGKILL) by the next verify (fileio.private_temp_dir)
        fileio.private_temp_dir("replay") as scratch,
        engine.connect() as connection,
    ):
        at: dict[str, int] = {}  # where the findings of checks that run beside go
        stored = _StoredChecks(
            (
                ("the invariant checks", lambda found: _check_invariants(connection, found)),
                ("the recorders check", lambda found: _check_recorders(connection, found)),
                ("the kept checkpoints", lambda found: _check_kept_checkpoints(connection, found)),
            )
        )
        stages: tuple[tuple[str, Callable[[], None]], ...] = (
            ("the snapshot", lambda: _begin_snapshot(connection)),
            ("the integrity check", lambda: _check_integrity(connection, result, background)),
            ("the ledger metadata", lambda: _check_meta(connection, result)),
            ("the chain check", lambda: chain_check.start(engine, connection, result, anchor)),
            (
                "the replay",
                lambda: _check_replay(connection, scratch, result, progress, path, stored.run),
            ),
            *((name, stored.stage(name, result)) for name in stored.names),
            (
                "the chain check",
                lambda: chain_check.finish(connection, result, at["the chain check"]),
            ),
        )
        try:
            for name, stage in stages:
                at.setdefault(name, len(result.problems))  # in stage order, not finish order
                _run_stage(
                    name, _in_savepoint(connection, stage, first=name == stages[0][0]), result
                )
        finally:
            chain_check.stop()  # stopped early (SIGTERM): its answer is no longer wanted
        connection.rollback()  # ends the read transaction; nothing was written
    if background is not None:
        found = VerifyResult()
        _run_stage("the integrity check", background.finish_into(found), found)
        result.problems[at["the integrity check"] : at["the integrity check"]] = found.problems
    return result


class _StoredChecks:
    """The stages that read only the stored rows (invariants, recorders, kept checkpoints).

    In a replay in halves they run while the half beside finishes (`verify_halves`), not after
    it; each keeps its findings apart, and its stage puts them where a stage run in its turn
    would have (the same findings, in the same order). Elsewhere each runs in its turn.
    """

    def __init__(self, checks: tuple[tuple[str, Callable[[VerifyResult], None]], ...]) -> None:
        self.checks = dict(checks)
        self.names = tuple(self.checks)
        self.found: dict[str, VerifyResult] = {}

    def run(self) -> None:
        """Run every check now, each into findings of its own (a damaged file: its stage's)."""
        for name, check in self.checks.items():
            found = VerifyResult()
            _run_stage(name, partial(check, found), found)
            self.found[name] = found

    def stage(self, name: str, result: VerifyResult) -> Callable[[], None]:
        """The stage of check `name`: its findings from an earlier run, or the check now."""

        def take_or_run() -> None:
            """Add the findings the check already made, or run it (it did not run early)."""
            early = self.found.pop(name, None)
            if early is None:
                self.checks[name](result)
            else:
                result.problems.extend(early.problems)

        return take_or_run


def _in_savepoint(
    connection: Connection, stage: Callable[[], None], *, first: bool
) -> Callable[[], None]:
    """On PostgreSQL, a stage after the snapshot's in a savepoint of the read transaction: a
    statement the server refuses (a table dropped by hand) aborts the whole transaction there,
    and every later stage would fail on it; rolled back to the savepoint, they still run on the
    same snapshot (SQLite goes on by itself)."""
    if first or not db.is_postgres(connection):
        return stage

    def guarded() -> None:
        with connection.begin_nested():
            stage()

    return guarded


def _run_stage(name: str, stage: Callable[[], None], result: VerifyResult) -> None:
    """Run one stage; a damaged file (flipped bytes, truncated pages) is a finding, not a crash."""
    try:
        stage()
    except DatabaseError as exc:
        said = getattr(exc.orig, "sqlstate", None)
        if said in db.SCHEMA_CHANGED_STATES and any(p.area == "schema" for p in result.problems):
            return  # PostgreSQL: a table or column dropped by hand, already a [schema] finding
        result.problems.append(damaged_file_problem(exc, name))


class _FileCheck(threading.Thread):
    """SQLite's integrity check of a ledger file, on a connection of its own in a thread.

    The check walks every page and index in SQLite's C code with the GIL released, so it runs on
    another core while the chain and the replay run here (it was a third of `verify`'s time on a
    1M-event ledger). It checks the file's structure, which another snapshot of it shares.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="verify-integrity-check", daemon=True)
        self.engine = engine
        self.found: list[str] = []
        self.error: DatabaseError | None = None

    @classmethod
    def launch(cls, engine: Engine) -> "_FileCheck | None":
        """The check started for a SQLite file; None where it runs inline (memory, PostgreSQL)."""
        if db.sqlite_path(engine.url.render_as_string(hide_password=True)) is None:
            return None
        check = cls(engine)
        check.start()
        return check

    def run(self) -> None:
        """Run the check; a file too damaged to check is kept as the error to report."""
        try:
            with self.engine.connect() as connection:
                self.found = db.integrity_check(connection)
                connection.rollback()
        except DatabaseError as exc:
            self.error = exc

    def finish_into(self, result: VerifyResult) -> Callable[[], None]:
        """The stage that waits for the check and records what it found."""

        def finish() -> None:
            """Wait for the integrity check; its findings join verify's problems."""
            self.join()
            if self.error is not None:
                raise self.error
            result.problems.extend(
                Problem("integrity", f"SQLite integrity_check: {problem}") for problem in self.found
            )

        return finish


CHAIN_BESIDE_EVENTS = 100_000
"""From this many events on, the chain of a SQLite file is checked in a second process, beside
the replay (on another core): it was a tenth of `verify`'s time at 1M events. Below, starting
that process would cost more than it saves."""


class _ChainCheck:
    """The chain stage: run here, or for a large SQLite file in a second process beside the
    replay (the recompute is Python, so a thread would only share this one's core).

    The second process (`python -m sampleloans.services.chain_beside`) reads the same file in
    its own read transaction, up to the head this snapshot sees: events are append-only, so it
    checks the same rows. Should it fail to run or answer, the chain is checked here after all.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.anchor: tuple[int, str] | None = None

    def start(
        self,
        engine: Engine,
        connection: Connection,
        result: VerifyResult,
        anchor: tuple[int, str] | None,
    ) -> None:
        """Check the chain now, or start checking it beside (a large SQLite file)."""
        self.anchor = anchor
        path = db.sqlite_path(engine.url.render_as_string(hide_password=True))
        head = replay.last_taken(connection, replay.Cut())
        if path is None or head < CHAIN_BESIDE_EVENTS:
            _check_chain(connection, result, anchor, None)
            return
        given = "-" if anchor is None else chain.format_head(*anchor)
        command = [sys.executable, "-m", "sampleloans.services.chain_beside", str(path), str(head)]
        self.process = subprocess.Popen(
            [*command, given],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def stop(self) -> None:
        """End the second process if it still runs (a verify stopped before its last stage)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def finish(self, connection: Connection, result: VerifyResult, at: int) -> None:
        """Wait for the second process; put its findings where the chain stage's go (`at`),
        and take its head and event count."""
        if self.process is None:
            return
        output, _ = self.process.communicate()
        checked = _chain_answer(output) if self.process.returncode == 0 else None
        if checked is None:  # it could not run: the proof is still owed, so it is done here
            checked = VerifyResult()
            _check_chain(connection, checked, self.anchor, None)
        result.problems[at:at] = checked.problems
        result.events = checked.events
        result.head_seq, result.head_hash = checked.head_seq, checked.head_hash


def _chain_answer(output: str) -> VerifyResult | None:
    """The second process's answer (None when it is not one)."""
    try:
        found = json.loads(output)
        return VerifyResult(
            head_seq=int(found["head_seq"]),
            head_hash=str(found["head_hash"]),
            events=int(found["events"]),
            problems=[Problem(str(area), str(message)) for area, message in found["problems"]],
        )
    except (ValueError, KeyError, TypeError):
        return None


def chain_of_file(path: str, up_to_seq: int, anchor: tuple[int, str] | None) -> VerifyResult:
    """The chain stage on a SQLite file, up to `up_to_seq` (what the second process runs)."""
    result = VerifyResult()
    engine = db.open_engine(db.url_for_path(path))
    try:
        with engine.connect() as connection:
            _run_stage(
                "the chain check",
                lambda: _check_chain(connection, result, anchor, None, up_to_seq=up_to_seq),
                result,
            )
            connection.rollback()
    finally:
        engine.dispose()
    return result


def damaged_file_problem(exc: DatabaseError, what: str) -> Problem:
    """The finding for a database SQLite cannot read: `what` could not run."""
    return Problem(
        "integrity",
        f"the database file is damaged ({_first_line(exc.orig or exc)}); {what} could "
        "not run: restore the latest verified backup",
    )


def _check_kept_checkpoints(connection: Connection, result: VerifyResult) -> None:
    """The ledger still reaches every checkpoint it kept (a truncation or rewrite after one), and
    no kept checkpoint or sent notification was deleted (where SQLite's ids show it)."""
    from sampleloans.services.checkpoints import kept_checkpoint_problems

    result.problems.extend(Problem("checkpoint", m) for m in kept_checkpoint_problems(connection))
    # the rows that keep notify from sending twice: one deleted by hand sends a message again
    if inspect(connection).has_table("notification_sent"):
        result.problems.extend(
            Problem("notification", m)
            for m in db.deleted_rows_problems(connection, "notification_sent", "notification")
        )
        # and each row kept is one notify wrote: a forged "sent" row hides an unsent message
        from sampleloans.services.notify import sent_record_problems

        result.problems.extend(Problem("notification", m) for m in sent_record_problems(connection))


def _begin_snapshot(connection: Connection) -> None:
    """Open the read transaction and fix its snapshot with a first read (WAL: BEGIN alone
    takes no snapshot; the first read does, and every later read of this transaction sees it)."""
    db.begin_snapshot(connection)


def _check_integrity(
    connection: Connection, result: VerifyResult, background: "_FileCheck | None" = None
) -> None:
    """SQLite's integrity check (here, or already running in `background`) and the append-only
    triggers."""
    if background is None:
        for problem in db.integrity_check(connection):
            result.problems.append(Problem("integrity", f"SQLite integrity_check: {problem}"))
    result.problems.extend(revision_problems(connection))
    result.problems.extend(shape_problems(connection))
    if db.is_postgres(connection):  # issue 14: its defences are triggers of its own
        result.storage = "PostgreSQL triggers in place"
        result.problems.extend(
            Problem("schema", message) for message in db.postgres_trigger_problems(connection)
        )
        result.problems.extend(
            Problem("defence", message) for message in pgsecurity.defence_problems(connection)
        )
        policies = pgsecurity.policy_check(connection)
        result.problems.extend(Problem("defence", message) for message in policies.problems)
        result.not_checked += policies.not_checked
        if policies.checked:
            result.storage = (
                "PostgreSQL triggers in place, row-level security policies the ledger's own"
            )
        return
    result.problems.extend(trigger_problems(connection))


def revision_problems(connection: Connection) -> list[Problem]:
    """The schema version table holding anything but one revision this release knows (an
    older known one is `db upgrade`'s note, not a finding; no table: a ledger from before
    migrations)."""
    if not inspect(connection).has_table("alembic_version"):
        return []
    found = [
        str(value)
        for value in connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    ]
    if found == [db.SCHEMA_HEAD]:
        return []
    from sampleloans import migrate  # Alembic is loaded only for a ledger not at this release

    if len(found) == 1 and found[0] in migrate.known_revisions():
        return []
    if len(found) == 1:
        return [Problem("schema", migrate.unknown_revision_message(found[0]))]
    held = "no revision" if not found else f"{len(found)} revisions ({', '.join(sorted(found))})"
    return [
        Problem(
            "schema",
            f"the ledger's schema version table holds {held}, where every release writes one: "
            "the table was edited by hand",
        )
    ]


def shape_problems(connection: Connection) -> list[Problem]:
    """Columns the ledger's tables have or lack against its schema (no revision adds a column,
    so either is an edit by hand), and, at this release's revision, its indexes that are gone.
    A table not there yet (`checkpoint` before a first one) is no finding here."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    problems = []
    for table in sorted(SQLModel.metadata.tables.values(), key=lambda table: table.name):
        if table.name not in present:
            if table.name in db.projection_tables():  # in every revision since the baseline
                problems.append(
                    Problem(
                        "schema", f"table {table.name} is missing: the schema was changed by hand"
                    )
                )
            continue
        have = [str(column["name"]) for column in inspector.get_columns(table.name)]
        want = [column.name for column in table.columns]
        problems += [
            Problem(
                "schema",
                f"table {table.name} has a column {name} the ledger's schema does "
                "not define: the schema was changed by hand",
            )
            for name in sorted(set(have) - set(want))
        ]
        problems += [
            Problem(
                "schema",
                f"table {table.name} lacks its column {name}: the schema was changed by hand",
            )
            for name in want
            if name not in have
        ]
    problems += [
        Problem(
            "schema",
            f"table {name} is not one of the ledger's tables: the schema was changed by hand",
        )
        for name in sorted(present - set(SQLModel.metadata.tables) - {"alembic_version"})
    ]
    return problems + _missing_index_problems(connection, present)


def _lacking_columns(connection: Connection) -> set[str]:
    """The tables missing or lacking a column of the schema (findings of `shape_problems`):
    their rows cannot be compared with the replay's."""
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    return {
        table.name
        for table in SQLModel.metadata.tables.values()
        if table.name not in present
        or {column.name for column in table.columns}
        - {str(column["name"]) for column in inspector.get_columns(table.name)}
    }


def _missing_index_problems(connection: Connection, tables: set[str]) -> list[Problem]:
    """The indexes of the ledger's schema that a ledger at this release's revision lacks."""
    if "alembic_version" not in tables or connection.execute(
        text("SELECT version_num FROM alembic_version")
    ).scalars().all() != [db.SCHEMA_HEAD]:
        return []  # an older revision may predate an index; `db upgrade` adds it
    held = db.index_names(connection)
    wanted = sorted(
        (str(index.name), table.name)
        for table in SQLModel.metadata.tables.values()
        if table.name in tables
        for index in table.indexes
        if made_on(index, connection.dialect.name)
    )
    problems = [
        Problem("schema", f"index {name} on {table} is missing: the schema was changed by hand")
        for name, table in wanted
        if name not in held
    ]
    defined = {name for name, _table in wanted}
    return problems + [
        Problem(
            "schema",
            f"index {name} on {table} is not one of the ledger's indexes: the schema was changed "
            "by hand",
        )
        for table, name in db.created_indexes(connection)
        if name not in defined and table in SQLModel.metadata.tables
    ]


def expected_triggers() -> dict[str, str]:
    """Name → normalised definition of every append-only trigger as SQLite stores it (SQLite
    drops `IF NOT EXISTS` from the stored text)."""
    return db.normalised_triggers(db.APPEND_ONLY_TRIGGERS)


def trigger_problems(connection: Connection) -> list[Problem]:
    """Append-only triggers that are missing or altered (same name, another definition, e.g.
    `WHEN 0`), and any trigger the ledger does not create (it could change what is recorded)."""
    expected = expected_triggers()
    rows = connection.execute(
        text(
            "SELECT name, tbl_name, sql FROM main.sqlite_master WHERE type = 'trigger' "
            "ORDER BY name"
        )
    ).all()
    present = {row.name: row for row in rows}
    # the checkpoint table and its triggers exist once a first checkpoint was kept
    if connection.execute(
        text("SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'checkpoint'")
    ).first():
        from sampleloans.services.checkpoints import checkpoint_triggers

        expected = {**expected, **db.normalised_triggers(checkpoint_triggers())}
    notification = db.normalised_triggers(db.NOTIFICATION_TRIGGERS)
    if not db.notification_triggers_expected(connection):  # before 0013: allowed, not wanted
        notification = {name: sql for name, sql in notification.items() if name in present}
    expected = {**expected, **notification}
    problems = [
        Problem("schema", f"append-only trigger {name} is missing: the ledger was unprotected")
        for name in expected
        if name not in present
    ]
    for name, row in present.items():
        stored = db.normalised_sql(row.sql or "")
        if name not in expected:
            problems.append(
                Problem(
                    "schema",
                    f"trigger {name} on {row.tbl_name} is not part of the ledger's schema "
                    f"({stored[:120]}): a trigger can change or block what is recorded",
                )
            )
        elif stored != expected[name]:
            problems.append(
                Problem(
                    "schema",
                    f"append-only trigger {name} was altered (now: {stored[:160]}): its "
                    "definition is not the ledger's, so the ledger may have been unprotected",
                )
            )
    return problems


INVARIANT_CHUNK = 5_000
"""Samples, loans and agreements checked together: the invariants hold these rows (and their
neighbours) at a time, never the whole collection."""


def _check_invariants(connection: Connection, result: VerifyResult) -> None:
    """Every invariant over the stored projections, a chunk of records at a time.

    Each chunk is checked as the write path checks the records a batch touched
    (`checks.check_touched`: the named records and the neighbours their checks read), so the
    chunks together check every record; a violation seen from two chunks is reported once.
    """
    seen: set[str] = set()
    for samples, loans, agreements in _record_chunks(connection):
        touched = Touched(samples=set(samples), loans=set(loans), agreements=set(agreements))
        try:
            violations = checks.check_touched(connection, touched)
        except ValueError as exc:  # a stored time that is no time: the comparison names its row
            result.problems.append(
                Problem(
                    "invariant",
                    f"the invariants of samples {samples[0] if samples else '-'}… could not be "
                    f"checked: a stored value cannot be read ({_first_line(exc)})",
                )
            )
            continue
        for violation in violations:
            if violation.message not in seen:
                seen.add(violation.message)
                result.problems.append(Problem("invariant", violation.message))


def _check_recorders(connection: Connection, result: VerifyResult) -> None:
    """Every event was recorded by someone who could record it (`services/recorders.py`)."""
    result.problems.extend(
        Problem("recorder", finding.message) for finding in recorders.recorder_findings(connection)
    )


def _record_chunks(connection: Connection) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """The keys of every sample, loan and agreement, `INVARIANT_CHUNK` of each at a time."""
    columns = (
        Sample.__table__.c.code,  # type: ignore[attr-defined]  # SQLModel sets it
        Loan.__table__.c.number,  # type: ignore[attr-defined]  # SQLModel sets it
        Agreement.__table__.c.number,  # type: ignore[attr-defined]  # SQLModel sets it
    )
    keysets = [_keys_in_chunks(connection, column) for column in columns]
    while True:
        chunk = [next(keys, []) for keys in keysets]
        if not any(chunk):
            return
        yield chunk[0], chunk[1], chunk[2]


def _keys_in_chunks(connection: Connection, column: Any) -> Iterator[list[str]]:
    """A table's keys in order, a chunk at a time (keyset pagination: each chunk is an index
    range from the last key, so nothing is held between chunks)."""
    after: str | None = None
    while True:
        query = select(column).order_by(column).limit(INVARIANT_CHUNK)
        if after is not None:
            query = query.where(column > after)
        keys = [str(key) for (key,) in connection.execute(query)]
        if not keys:
            return
        yield keys
        after = keys[-1]


LEDGER_META_KEYS = ("ledger_id",)
"""The one row of ledger_meta any release writes (`init`); its triggers forbid an UPDATE or a
DELETE, not an INSERT, so a row added there by hand would otherwise pass unseen into every
export and restore."""


def _check_meta(connection: Connection, result: VerifyResult) -> None:
    """Name every ledger_meta row that no sampleloans release writes."""
    rows = connection.execute(text("SELECT key, value FROM ledger_meta ORDER BY key")).all()
    for key, value in rows:
        if key not in LEDGER_META_KEYS:
            result.problems.append(
                Problem(
                    "chain",
                    f"ledger_meta holds a row {one_line(repr(key))[:80]} = "
                    f"{one_line(repr(value))[:80]} that sampleloans never writes (its only row "
                    "is ledger_id): it was added by hand",
                )
            )


def _genesis(connection: Any) -> str | None:
    """The ledger's genesis hash from its metadata (None when missing)."""
    row = connection.execute(text("SELECT value FROM ledger_meta WHERE key = 'ledger_id'")).first()
    return None if row is None else chain.genesis_hash(row[0])


def _stream(connection: Any, query: str, batch: int = 5000) -> Iterator[Any]:
    """Rows of a query fetched in batches so memory stays bounded."""
    cursor = connection.execute(text(query))
    while rows := cursor.fetchmany(batch):
        yield from rows


def _check_chain(
    connection: Connection,
    result: VerifyResult,
    anchor: tuple[int, str] | None,
    progress: Callable[[int], None] | None,
    *,
    up_to_seq: int | None = None,
) -> None:
    """Recompute every hash link (up to `up_to_seq`, when given); check seq is gapless, the
    recording clock never goes back, and the anchor is still in the chain."""
    columns = ", ".join((*BODY, "prev_hash", "hash"))
    genesis = _genesis(connection)
    if genesis is None:
        result.problems.append(Problem("chain", "ledger_meta has no ledger_id (genesis)"))
        genesis = ""
    prev_hash, expected_seq, anchor_seen = genesis, 1, False
    clock = chain.RecordingClock()
    link_hash, body_fields = chain.stored_link_hash, BODY
    within = "" if up_to_seq is None else f" WHERE seq <= {int(up_to_seq)}"
    query = f"SELECT {columns} FROM ledger_event{within} ORDER BY seq"
    for values in db.stream_tuples(connection, query):
        # the common case in a few comparisons on a plain tuple; any doubt takes the checks that
        # name the fault (on a named row)
        if not (
            values[0] == expected_seq
            and values[9] == prev_hash
            and _links(link_hash, prev_hash, dict(zip(body_fields, values[:9], strict=True)))
            == values[10]
        ):
            _check_link(StoredEvent._make(values), prev_hash, expected_seq, result)
        if values[4] == clock.latest_text:  # the same moment as the last event's is in order
            clock.latest_seq = values[0]
        else:
            finding = clock.finding(StoredEvent._make(values))
            if finding is not None:
                result.problems.append(Problem("chain", finding))
        if anchor and values[0] == anchor[0]:
            anchor_seen = True
            _check_anchor(values[10], anchor, result)
        prev_hash, expected_seq = values[10], values[0] + 1
        result.events += 1
        result.head_seq, result.head_hash = values[0], values[10]
        if progress is not None:
            progress(values[0])
    if anchor and not anchor_seen:
        result.problems.append(
            Problem(
                "anchor",
                f"the ledger ends at event {result.head_seq} but the anchor is event {anchor[0]}: "
                "events were removed (truncation or a rollback to an older copy)",
            )
        )


StoredEvent = namedtuple("StoredEvent", (*BODY, "prev_hash", "hash"))  # type: ignore[misc]  # names from BODY_FIELDS
"""A stored event row as `_check_chain` selects it, by name (for the checks that name a fault)."""


def _links(link_hash: Callable[[str, dict[str, Any]], str], prev: str, body: dict[str, Any]) -> str:
    """The hash of a stored body after `prev`; "" for a body no hash covers (a BLOB or a REAL
    where the program writes text or an integer): `_check_link` names that field."""
    try:
        return link_hash(prev, body)
    except InvalidInput:
        return ""


def _check_anchor(hash_hex: str, anchor: tuple[int, str], result: VerifyResult) -> None:
    """The event at the anchor's seq must have the anchor's hash."""
    if hash_hex != anchor[1]:
        result.problems.append(
            Problem(
                "anchor",
                # whole: two hashes that differ only in their last digits must read differently
                f"event {anchor[0]} has hash {hash_hex} but the anchor says "
                f"{anchor[1]}: the ledger was rewritten or replaced since",
            )
        )


def _body(row: Any) -> dict[str, Any]:
    """The hashed body of a stored event row."""
    return chain.stored_body(row)


REQUIRED_FIELDS = tuple(
    name
    for name in (*chain.BODY_FIELDS, "prev_hash", "hash")
    if name not in ("corrects_seq", "reason")
)
"""An event's stored fields that are never NULL (the schema's NOT NULL columns)."""


def _hash_matches(row: Any) -> bool:
    """Whether a stored event's hash is the hash of its body after its stored previous hash."""
    return chain.stored_link_hash(row.prev_hash, _body(row)) == row.hash


def _check_link(row: Any, prev_hash: str, expected_seq: int, result: VerifyResult) -> None:
    """One event's seq, previous hash and own hash."""
    if row.seq != expected_seq:
        result.problems.append(
            Problem("chain", f"seq jumps from {expected_seq - 1} to {row.seq}: events are missing")
        )
    if row.prev_hash != prev_hash and expected_seq == 1:  # the first link is to the genesis
        result.problems.append(
            Problem(
                "chain",
                f"event {row.seq} ({row.kind}) does not link to the genesis of this ledger's id "
                "(ledger_meta): the ledger id was changed, or the first events were changed, "
                "removed or inserted",
            )
        )
    elif row.prev_hash != prev_hash:
        result.problems.append(
            Problem(
                "chain",
                f"event {row.seq} ({row.kind}) does not link to event {row.seq - 1}: an event "
                "before it was changed, removed or inserted",
            )
        )
    missing = [name for name in REQUIRED_FIELDS if getattr(row, name) is None]
    wrong_type = chain.stored_type_problem(row)
    if wrong_type is not None:  # no hash to compute either: the row was edited in the file
        result.problems.append(
            Problem("chain", f"event {row.seq} ({row.kind}) was edited: {wrong_type}")
        )
    elif missing:  # no hash to compute: SQLite read a cut page's fields as NULL
        result.problems.append(
            Problem(
                "chain",
                f"event {row.seq} has no {', '.join(missing)}, which every event has: the file "
                "is damaged (cut short) or the row was edited",
            )
        )
    elif not _hash_matches(row):
        result.problems.append(
            Problem(
                "chain",
                f"event {row.seq} ({row.kind}) does not match its hash: it was altered after it "
                "was recorded",
            )
        )


def replay_into(
    source: Engine | Connection,
    target: Engine,
    cut: replay.Cut | None = None,
    *,
    batch: int = replay.REPLAY_BATCH,
    index_check: replay.IndexCheck | None = None,
    progress: Callable[[int], None] | None = None,
) -> Problem | None:
    """Replay `source` (all of it, or as `cut` takes it) into the empty schema of `target`
    through the unit of work (`ledger/replay.py`); the first failure as a problem."""
    failure = replay.replay_into(
        source, target, cut, batch=batch, index_check=index_check, progress=progress
    )
    return None if failure is None else Problem("replay", failure)


@contextmanager
def _connected(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection: the given one as it is (its transaction stays open), or a new one."""
    if isinstance(bind, Connection):
        yield bind
        return
    with bind.connect() as connection:
        yield connection


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _check_replay(
    connection: Connection,
    scratch: Path,
    result: VerifyResult,
    progress: Callable[[int], None] | None = None,
    ledger: Path | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> None:
    """Replay into a scratch file and compare every projection table with the stored one (the
    event index as the replay goes, `replay.IndexCheck`; the others once it is done).

    A large SQLite ledger is replayed in two halves on two cores (`verify_halves.py`), running
    `meanwhile` while the half beside finishes; where that replay is not clean, the whole
    ledger is replayed here in one piece to name what differs."""
    head = replay.last_taken(connection, replay.Cut())
    if ledger is not None and head >= verify_halves.REPLAY_BESIDE_EVENTS:
        halves = verify_halves.replay_in_halves(
            connection, scratch, ledger, head, VERIFY_REPLAY_BATCH, progress, meanwhile
        )
        if halves is not None:
            if progress is not None:
                progress(head)  # the last events may have been the other half's
            crashpoints.reached("after_replay")
            _compare_replayed(connection, halves, result)
            return
    path = scratch / "replay.db"
    target = db.scratch_engine(path)
    try:
        db.create_scratch_schema(target)
        index_check = replay.IndexCheck(connection)
        try:
            failure = replay_into(
                connection,
                target,
                batch=VERIFY_REPLAY_BATCH,
                index_check=index_check,
                progress=progress,
            )
            crashpoints.reached("after_replay")
            if failure is not None:
                result.problems.append(failure)
                return
            index_check.finish()
        finally:
            index_check.close()  # its cursor, while the connection is open
        result.problems.extend(_index_problems(index_check))
    finally:
        target.dispose()
    _compare_replayed(connection, path, result)


def _compare_replayed(connection: Connection, path: Path, result: VerifyResult) -> None:
    """Compare every projection table but the index with the replay in the scratch file."""
    target = db.scratch_engine(path)
    try:
        for table in _differing_tables(connection, path):
            result.problems.extend(compare_table(connection, target, table))
    finally:
        target.dispose()


INDEX_TABLE = str(EventSubject.__tablename__)
"""The projection compared as the replay goes (`replay.IndexCheck`), not in the scratch copy."""


def _index_problems(check: replay.IndexCheck) -> list[Problem]:
    """The differences between the replayed and the stored event index, as `compare_table`
    names them."""
    found = [(tuple(row), _extra_row) for row in check.extra]
    found += [(tuple(row), _missing_row) for row in check.missing]
    found.sort(key=lambda pair: db.sql_order(pair[0]))  # in key order, as `compare_table` does
    problems = [name(INDEX_TABLE, row) for row, name in found]
    if check.differences > len(problems):
        problems.append(Problem("projection", f"{INDEX_TABLE}: more differences not shown"))
    return problems


def _differing_tables(connection: Connection, replayed: Path) -> list[str]:
    """The projection tables whose rows differ from the replay's (set difference in SQLite).

    Only those are compared row by row to name the differences; equal tables cost one pass in C.
    The replay is attached to the verifying connection, so `main` is read in its snapshot.
    """
    lacking = _lacking_columns(connection)  # once: it reflects every table of the schema
    tables = [
        table for table in db.projection_tables() if table != INDEX_TABLE and table not in lacking
    ]
    if db.is_postgres(connection):  # no ATTACH there: every table is compared row by row
        return tables
    differing = []
    db.attach(connection, replayed, "replayed")
    for table in tables:
        here, there = f"main.{table}", f"replayed.{table}"
        columns = db.model_columns(table)  # named: a column added by hand is a schema finding
        query = (
            f"SELECT EXISTS (SELECT {columns} FROM {here} EXCEPT SELECT {columns} FROM {there}) "
            f"OR EXISTS (SELECT {columns} FROM {there} EXCEPT SELECT {columns} FROM {here})"
        )
        if connection.exec_driver_sql(query).scalar():
            differing.append(table)
    # no DETACH: it is refused while the transaction is open; closing the connection detaches
    return differing


def compare_table(stored: Engine | Connection, replayed: Engine, table: str) -> list[Problem]:
    """Differences between the stored projection and the replayed one for one table.

    Both sides are streamed in primary-key order and merged, so one missing row is reported
    once instead of shifting every row after it.
    """
    keys = inspect(replayed).get_pk_constraint(table)["constrained_columns"]
    problems: list[Problem] = []
    with _connected(stored) as left, replayed.connect() as right:
        # `main.`: the verifying connection also has the replay attached, under another name
        have_rows = _stream(left, db.ordered_rows_query(left, table))
        want_rows = _stream(right, db.ordered_rows_query(right, table))
        have, want = next(have_rows, None), next(want_rows, None)
        while (have is not None or want is not None) and len(problems) < 50:
            have_key = None if have is None else tuple(have._mapping[k] for k in keys)
            want_key = None if want is None else tuple(want._mapping[k] for k in keys)
            # compared as SQLite orders them: a tampered key may be text in an integer column
            have_at = None if have_key is None else db.sql_order(have_key)
            want_at = None if want_key is None else db.sql_order(want_key)
            if want_at is None or (have_at is not None and have_at < want_at):
                problems.append(_extra_row(table, have_key))
                have = next(have_rows, None)
            elif have_at is None or want_at < have_at:
                problems.append(_missing_row(table, want_key))
                want = next(want_rows, None)
            else:
                # the same key on both sides
                assert have is not None and want is not None and have_key is not None
                if tuple(have) != tuple(want):
                    problems.append(_changed_row(table, have_key, have, want))
                have, want = next(have_rows, None), next(want_rows, None)
    if len(problems) >= 50:
        problems.append(Problem("projection", f"{table}: more differences not shown"))
    return problems


def _key_text(key: tuple[Any, ...] | None) -> str:
    """A primary key as readable text."""
    return "/".join(str(part) for part in key or ())


def _extra_row(table: str, key: tuple[Any, ...] | None) -> Problem:
    """A stored row that no event produced."""
    return Problem(
        "projection",
        f"{table} row {_key_text(key)} is in the database but no event produced it",
    )


def _missing_row(table: str, key: tuple[Any, ...] | None) -> Problem:
    """A row the events produce that the database lacks."""
    return Problem(
        "projection", f"{table} row {_key_text(key)} is produced by the events but missing"
    )


def _changed_row(table: str, key: tuple[Any, ...], have: Any, want: Any) -> Problem:
    """Which columns of a stored row differ from what the events give."""
    changed = [
        f"{column} is {have._mapping[column]!r} but the events give {want._mapping[column]!r}"
        for column in have._mapping
        if have._mapping[column] != want._mapping[column]
    ]
    return Problem("projection", f"{table} row {_key_text(key)}: {'; '.join(changed)}")
