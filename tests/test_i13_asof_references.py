"""A scoped "as of" replay holds every reference record a view of it reads (issue 13, point 1).

A scoped replay takes only the reference records (persons, institutions, missions) its scope's
events name and a view of them reads (`ledger/replay.py`, `_named_references`). The proof here
does not restate that rule: for every loan, sample lineage and institution of two ledgers (the
demo's, and the demo's with what it lacks: a registered witness from an institution the loan
does not name, a researcher of the borrower who is not its PI recording an event, a person
deactivated and reactivated, a lender added later, a sample of a second mission), at several
moments and earlier heads,

- each report kind and the history's replayed state are built twice: from the narrowed replay,
  and from the full replay of the same cut; the two are equal (the PDF bytes too);
- while built from the full replay, every statement the build sends to it is sent to the
  narrowed replay as well, and both answer alike: whatever the rendering reads, the narrowed
  replay holds as the full one does;
- dropping any one part of the rule makes this check fail (`test_each_part_of_the_rule_is_needed`).
"""

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db, reports
from sampleloans.cli import app
from sampleloans.errors import SampleLoansError, StorageError
from sampleloans.ledger import replay
from sampleloans.models import Person
from sampleloans.services import agreements, history, loans, reference, reporting
from sampleloans.services import samples as samples_service
from sampleloans.services.history import lineage
from tests.conftest import COMPLIANCE, UOC_PI, ctx_for, run_on
from tests.i15_statement_helpers import copy_ledger, make_demo

WITNESS = "witness@eth.example"
POSTDOC = "postdoc@uni-koeln.example"
ETH_PI = "pi@eth.example"
DAY = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
GENERATED_AT = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (read only)."""
    return make_demo(tmp_path_factory.mktemp("demo") / "d")


@pytest.fixture(scope="module")
def enriched(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger and, after it, what the demo lacks (module docstring)."""
    path = copy_ledger(demo, tmp_path_factory.mktemp("enriched") / "ledger.db")
    engine = db.open_engine(db.url_for_path(path))
    try:
        _enrich(run_on(engine))
    finally:
        engine.dispose()
    return path


def _enrich(run: Any) -> None:
    """Events the demo lacks, a day apart from May 1, 2026 (after the demo's last)."""
    day = iter(DAY + timedelta(days=n) for n in range(60))
    run(reference.add_institution, now=next(day), short_name="ETH", name="ETH Zurich",
        country="Switzerland", city="Zurich", institution_kind="borrower")  # fmt: skip
    for email, name, home in ((WITNESS, "Wanda Witness", "ETH"), (ETH_PI, "Eva PI", "ETH"),
                              (POSTDOC, "Paul Postdoc", "UoC")):  # fmt: skip
        run(reference.add_person, now=next(day), email=email, name=name, institution=home,
            role="researcher")  # fmt: skip
    # a researcher of the borrower, not its PI, records on the loan (an analysis: its
    # inventory, attested in the demo with nothing since, would repeat that one, refused)
    run(loans.consume, now=next(day), actor=POSTDOC, number="L-2025-UoC",
        sample="CE5C0000YJYX052", technique="SEM", mass_ug=1, destructive=False)  # fmt: skip
    # a registered witness from an institution the loan names nowhere else
    run(loans.release_return, now=next(day), number="L-2025-UoC",
        container="N2 box", seal_number="R-UoC-1", samples=["CE5C0800YJFM00102-01"],
        witness=WITNESS, courier="Dora Courier")  # fmt: skip
    run(loans.accept_return, now=next(day), number="L-2025-UoC", seal_intact=True,
        condition="pristine", weighed_ug={"CE5C0800YJFM00102-01": 800_000},
        witness=WITNESS)  # fmt: skip
    run(reference.deactivate_person, now=next(day), email=WITNESS, reason="left ETH")
    # a lender added later whose short name comes first: reports name it "Lender" from then on
    run(reference.add_institution, now=next(day), short_name="ASI",
        name="Agenzia Spaziale Italiana", country="Italy", city="Rome",
        institution_kind="lender")  # fmt: skip
    run(reference.reactivate_person, now=next(day), email=WITNESS, reason="back at ETH")
    # a sample of the second mission, lent to ETH
    run(samples_service.register_sample, now=next(day), code="CE6C0100YJFM00001",
        mission="CE-6", mass_ug=50_000, origin="scoop", material_type="regolith",
        physical_form="powder", purpose_class="research", storage_location="vault 6")  # fmt: skip
    when = next(day)
    run(agreements.create_agreement, now=when, number="AG-ETH", institution="ETH", term="P5Y",
        max_total_mass_ug=1_000_000, allowed_purposes=["research"], max_loan_period="P1Y",
        destructive_use_allowed=True)  # fmt: skip
    run(agreements.sign_agreement, now=when, number="AG-ETH", signed_by="CNSA and ETH")
    run(loans.request_loan, now=next(day), number="L-ETH", agreement="AG-ETH", pi=ETH_PI,
        samples=["CE6C0100YJFM00001"], loan_period=None)  # fmt: skip
    run(loans.approve_loan, now=next(day), number="L-ETH")
    run(loans.issue_loan, now=next(day), number="L-ETH", witness=COMPLIANCE)
    run(loans.ship_loan, now=next(day), number="L-ETH", container="N2 box", seal_number="E-1",
        courier=WITNESS)  # fmt: skip
    run(loans.receive_loan, now=next(day), number="L-ETH", seal_intact=True,
        condition="pristine")  # fmt: skip


# --- what is built twice ----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One build: a report (kind and scope) as of a moment or up to a seq, or a history's
    replayed state as of a moment, for a reader."""

    what: str  # a report kind, or "history"
    scope: tuple[str, str]  # (loan | sample | institution, key)
    moment: datetime | None = None
    seq: int | None = None
    reader: str = COMPLIANCE


def _cases(engine: Engine, moments: list[datetime], seqs: list[int]) -> list[Case]:
    """Every report kind of every loan, lineage and institution as of each moment (custody) and
    up to each seq (every kind: `verify-document` after later events), and every history."""
    with db.transaction(engine, write=False) as session:
        connection = session.connection()
        numbers = sorted(r[0] for r in connection.execute(text("SELECT number FROM loan")))
        institutions = sorted(
            r[0] for r in connection.execute(text("SELECT short_name FROM institution"))
        )
        codes = [r[0] for r in connection.execute(text("SELECT code FROM sample ORDER BY code"))]
        roots = sorted({lineage(session, code)[0] for code in codes})
        pis = {
            str(number): str(pi)
            for number, pi in connection.execute(text("SELECT number, pi_email FROM loan"))
        }
    scopes = [
        *(("loan", n) for n in numbers),
        *(("sample", c) for c in roots),
        *(("institution", i) for i in institutions),
    ]
    kinds = {
        "loan": ("custody", "return", "inventory"),
        "sample": ("custody",),
        "institution": ("custody", "overdue"),
    }
    cases: list[Case] = []
    for scope in scopes:
        # every moment for a loan; every other one for a lineage or an institution
        for moment in moments if scope[0] == "loan" else moments[::-2]:
            cases.append(Case("custody", scope, moment=moment))
            cases.append(Case("history", scope, moment=moment))
        if scope[0] == "loan":  # the PI reads their own loan's state (as a researcher)
            cases.append(Case("history", scope, moment=moments[-1], reader=pis[scope[1]]))
        cases += [Case(kind, scope, seq=seq) for kind in kinds[scope[0]] for seq in seqs]
    return cases


def _build(session: Session, case: Case) -> Any:
    """What the case's view shows (a report, a replayed state), or the refusal it meets."""
    ctx = ctx_for(case.reader, GENERATED_AT)
    subject_type, key = case.scope
    try:
        if case.what == "history":
            assert case.moment is not None
            reader = session.get(Person, case.reader)
            codes = lineage(session, key) if subject_type == "sample" else []
            return history.replayed_state(
                session, case.moment, subject_type, key, codes, reader=reader
            )
        request = reporting.make_request(case.what, as_of=case.moment, **{subject_type: key})
        seq = case.seq
        if seq is None:
            assert case.moment is not None
            seq = replay.as_of(session, case.moment).up_to_seq or 0
        return reporting.rebuild_at(session, ctx, request, seq, GENERATED_AT, checkpoint=None)
    except SampleLoansError as exc:
        return f"{type(exc).__name__}: {exc}"


# --- the full replay, and what the narrowed one answers to the same reads ---------------------


EVERY_PERSON = "SELECT person.email, person.institution \nFROM person"
"""`BorrowerMark` reads every person's institution, and looks up only the actors of the events
it marks: the narrowed replay holds fewer, each as the full replay does (checked as a subset;
what the mark shows is compared in the outputs)."""


class Replays:
    """The replays a case is built from, made by the real `ledger_at`: the full replay of each
    cut (kept until `stack` closes) and the narrowed replay of each cut and scope (kept while
    the cases are of one scope, see `start_case`). While `reading_full`, a build reads the full
    replay, and each statement it sends there is also sent to the narrowed one: a different
    answer is noted in `differences`. While `reading_narrowed`, a build reads the narrowed
    replay."""

    def __init__(self, stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = replay.ledger_at
        self.stack = stack
        self.monkeypatch = monkeypatch
        self.full: dict[replay.Cut, Session] = {}
        self.narrowed: dict[tuple[replay.Cut, tuple[Any, ...]], Session] = {}
        self.case = ExitStack()
        stack.callback(self.case.close)
        self.scope: tuple[str, str] | None = None
        self.differences: list[str] = []

    def start_case(self, case: Case) -> None:
        """Keep the narrowed replays while the cases are of one scope, drop them at the next.

        The cases of a scope follow one another (`_cases`), and several replay the same cut and
        scope (a loan's return, inventory and custody reports up to one seq): replayed once,
        each is read from a fresh transaction, as a new replay would be; one scope's at a time
        keeps the memory they take small."""
        if case.scope != self.scope:
            self.case.close()
            self.narrowed.clear()
            self.scope = case.scope
        for session in (*self.narrowed.values(), *self.full.values()):
            session.rollback()  # nothing of an earlier build's session carries over

    @contextmanager
    def reading_full(self) -> Iterator[None]:
        """Builds inside read the full replays; their reads are checked on the narrowed."""
        with self._reading(self._full_checked):
            yield

    @contextmanager
    def reading_narrowed(self) -> Iterator[None]:
        """Builds inside read the narrowed replays (the same as for `reading_full`)."""
        with self._reading(self._narrowed):
            yield

    @contextmanager
    def _reading(self, ledger_at: Callable[..., Any]) -> Iterator[None]:
        self.monkeypatch.setattr(replay, "ledger_at", ledger_at)
        try:
            yield
        finally:
            self.monkeypatch.setattr(replay, "ledger_at", self.real)

    @contextmanager
    def _narrowed(self, session: Session, cut: replay.Cut, scope: Any = None) -> Iterator[Session]:
        yield self._narrowed_session(session, cut, scope)

    def _narrowed_session(self, session: Session, cut: replay.Cut, scope: Any) -> Session:
        """The case's narrowed replay of `cut` and `scope` (made once)."""
        key = (cut, tuple(scope or ()))
        if key not in self.narrowed:
            self.narrowed[key] = self.case.enter_context(self.real(session, cut, scope))
        return self.narrowed[key]

    @contextmanager
    def _full_checked(
        self, session: Session, cut: replay.Cut, scope: Any = None
    ) -> Iterator[Session]:
        """The full replay to read; at the end, its reads compared with the narrowed one's."""
        if cut not in self.full:
            self.full[cut] = self.stack.enter_context(self.real(session, cut))
        full = self.full[cut]
        sent: list[tuple[str, Any]] = []

        def keep(_c: Any, _cur: Any, statement: str, parameters: Any, *_r: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                sent.append((statement, parameters))

        bind = full.get_bind()
        event.listen(bind, "before_cursor_execute", keep)
        try:
            yield full
        finally:
            event.remove(bind, "before_cursor_execute", keep)
        try:
            narrowed = self._narrowed_session(session, cut, scope)
        except StorageError as exc:  # the narrowed replay does not replay
            self.differences.append(f"{scope}: {exc}")
            return
        for statement, parameters in sent:
            expected = _answer(full, statement, parameters)
            got = _answer(narrowed, statement, parameters)
            every = statement.strip() == EVERY_PERSON
            if not (set(got) <= set(expected) if every else got == expected):
                folded = " ".join(statement.split())
                self.differences.append(f"{scope}: {folded} {parameters}: {got}")


def _answer(session: Session, statement: str, parameters: Any) -> list[tuple[Any, ...]]:
    """A statement's rows, sent on the session's own SQLite connection."""
    raw = session.connection().connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    return [tuple(row) for row in raw.execute(statement, parameters).fetchall()]


def differences(
    engine: Engine,
    cases: list[Case],
    monkeypatch: pytest.MonkeyPatch,
    *,
    first_only: bool = False,
    render_pdf: Callable[[Case], bool] = lambda _case: False,
) -> list[str]:
    """Where the narrowed replay and the full one differ, for each case: in what the view
    shows, in what the replay answers to the view's reads, or in the PDF's bytes."""
    found: list[str] = []
    with ExitStack() as stack, db.transaction(engine, write=False) as session:
        replays = Replays(stack, monkeypatch)
        for case in cases:
            replays.start_case(case)
            with replays.reading_full():
                expected = _build(session, case)
            with replays.reading_narrowed():
                got = _build(session, case)
            found += replays.differences
            replays.differences.clear()
            if got != expected:
                found.append(f"{case}: shows {got!r}, the full replay {expected!r}")
            elif (
                _is_report(got)
                and render_pdf(case)
                and reports.render(got) != reports.render(expected)
            ):
                found.append(f"{case}: the PDFs differ")
            if found and first_only:
                break
    return found


def _is_report(shown: Any) -> bool:
    """Whether a build made a report (not a refusal, not a history's state)."""
    return isinstance(shown, reporting.Report)


def _moments(engine: Engine) -> tuple[list[datetime], list[int]]:
    """Moments across the ledger's days (within the demo's, and within what follows it), the
    last, and two earlier heads."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT seq, occurred_at FROM ledger_event")).all()
    head = max(seq for seq, _ in rows)
    days = sorted({datetime.fromisoformat(o.replace("Z", "+00:00")) for _, o in rows})
    demo = [d for d in days if d < DAY]
    later = [d + timedelta(hours=1) for d in days if d >= DAY]
    picks = [demo[len(demo) // 3], demo[len(demo) * 2 // 3], *later[1::3]]
    return [*picks, days[-1]], [head * 2 // 3, head]


def test_the_narrowed_replay_answers_every_read(
    enriched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every loan, lineage and institution of the demo (its moments are the demo's: nothing
    added later is part of them) and of what was added after it."""
    engine = db.open_engine(db.url_for_path(enriched))
    try:
        moments, seqs = _moments(engine)
        cases = _cases(engine, moments, seqs)
        assert {c.scope for c in cases} >= {("loan", "L-2025-UoC"), ("institution", "ETH")}

        def pdf(case: Case) -> bool:  # a report's bytes follow from it: some are compared
            return case.scope[0] == "loan" and case.seq == seqs[-1]

        assert differences(engine, cases, monkeypatch, render_pdf=pdf) == []
    finally:
        engine.dispose()


def _without(part: str) -> Callable[[pytest.MonkeyPatch], None]:
    """A mutation of the rule: `part` of what a scoped replay takes left out."""

    def cone_without(field: str) -> Callable[[pytest.MonkeyPatch], None]:
        def patch(monkeypatch: pytest.MonkeyPatch) -> None:
            real = replay._cone

            def cone(*args: Any) -> Any:
                found = real(*args)
                getattr(found, field).clear()
                return found

            monkeypatch.setattr(replay, "_cone", cone)

        return patch

    def named_without(field: str) -> Callable[[pytest.MonkeyPatch], None]:
        def patch(monkeypatch: pytest.MonkeyPatch) -> None:
            real = replay._named_in_events

            def named(*args: Any) -> Any:
                found = real(*args)
                getattr(found, field).clear()
                return found

            monkeypatch.setattr(replay, "_named_in_events", named)

        return patch

    def nothing(name: str, empty: Any) -> Callable[[pytest.MonkeyPatch], None]:
        def patch(monkeypatch: pytest.MonkeyPatch) -> None:
            monkeypatch.setattr(replay, name, lambda *_args: type(empty)())

        return patch

    def no_split_children(monkeypatch: pytest.MonkeyPatch) -> None:
        real = replay._asks

        def asks(*args: Any, **kw: Any) -> dict[int, int]:
            return {seq: min(how, replay.ASK_BEFORE) if how == replay.ASK_SPLIT else how
                    for seq, how in real(*args, **kw).items()}  # fmt: skip

        monkeypatch.setattr(replay, "_asks", asks)

    return {
        "persons the index names (PIs)": cone_without("persons"),
        "institutions the index names": cone_without("institutions"),
        "actors": named_without("actors"),
        "hand-over persons": named_without("parties"),
        "missions": named_without("missions"),
        "persons' institutions": nothing("_homes", set()),
        "lenders": nothing("_lenders", {}),
        "changes to persons": nothing("_person_changes", set()),
        "split children of a sample read in full": no_split_children,
    }[part]


PARTS = (
    "persons the index names (PIs)",
    "institutions the index names",
    "actors",
    "hand-over persons",
    "missions",
    "persons' institutions",
    "lenders",
    "changes to persons",
    "split children of a sample read in full",
)


@pytest.mark.parametrize("part", PARTS)
def test_each_part_of_the_rule_is_needed(
    part: str, enriched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Left out, each part of the rule makes the check above find a difference (on the loans
    and the curator the enriched ledger was built for: the others take as long to say so)."""
    engine = db.open_engine(db.url_for_path(enriched))
    try:
        moments, seqs = _moments(engine)
        watched = {("loan", "L-2025-UoC"), ("loan", "L-ETH"), ("institution", "NAOC")}
        cases = [c for c in _cases(engine, moments, seqs) if c.scope in watched]
        _without(part)(monkeypatch)  # (whole, the rule shows none: the test above)
        assert differences(engine, cases, monkeypatch, first_only=True) != []
    finally:
        engine.dispose()


# --- the same through the command line ------------------------------------------------------


def _full_ledger_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every "as of" replays the whole ledger as its cut takes it (the code before narrowing)."""
    real = replay.ledger_at

    def whole(session: Session, cut: replay.Cut, scope: Any = None) -> Any:
        return real(session, cut)

    monkeypatch.setattr(replay, "ledger_at", whole)


@pytest.mark.parametrize(
    ("scope", "moment"),
    [
        (("--loan", "L-2025-UoC"), "2026-05-08T10:00:00Z"),  # the witness deactivated
        (("--loan", "L-ETH"), "2026-05-17T09:00:00Z"),
        (("--sample", "CE5C0100YJFM00201-01"), "2025-05-05T09:00:00Z"),
        (("--institution", "NAOC"), "2025-05-05T09:00:00Z"),
        (("--institution", "UoC"), "2026-05-10T10:00:00Z"),
    ],
)
def test_history_and_report_as_of_print_what_the_full_replay_prints(
    enriched: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scope: Any, moment: str
) -> None:
    """`custody history --as-of` (text and JSON) and `report custody --as-of` (the PDF's bytes)
    from the narrowed replay and from the whole ledger's are the same; `verify-document` of the
    report made from the whole ledger finds it true from the narrowed replay."""
    ledger = copy_ledger(enriched, tmp_path / "ledger.db")
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_USER": COMPLIANCE,
           "SAMPLELOANS_NOW": "2026-07-01T09:00:00Z", "COLUMNS": "160"}  # fmt: skip
    history = ["custody", "history", *scope, "--as-of", moment]

    def outputs(name: str) -> tuple[str, str, bytes]:
        pdf = tmp_path / f"{name}.pdf"
        report = ["report", "custody", *scope, "--as-of", moment, "--out", str(pdf)]
        dated = [*report, "--generated-at", "2026-07-01T09:00:00Z"]
        made = [CliRunner().invoke(app, a, env=env) for a in (history, [*history, "--json"], dated)]
        assert [m.exit_code for m in made] == [0, 0, 0], [m.stderr for m in made]
        return made[0].stdout, made[1].stdout, pdf.read_bytes()

    narrowed = outputs("narrowed")
    with monkeypatch.context() as patch:
        _full_ledger_at(patch)
        whole = outputs("whole")
    assert narrowed == whole
    checked = CliRunner().invoke(app, ["verify-document", str(tmp_path / "whole.pdf")], env=env)
    assert checked.exit_code == 0, checked.stdout


# --- found by the reads above: a curator's split children, as of a moment ----------------------


def test_history_of_the_curator_as_of_shows_its_split_children_as_they_stood(
    demo: Path, tmp_path: Path
) -> None:
    """Before, `custody history --institution NAOC --as-of` replayed a split child only up to
    its split: CE5C0100YJFM00201-01, on loan to IPGP since April 28, 2025, read "vault, NAOC"
    on May 3 (and -03, requested on a loan, kept the date of its split as its last event)."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_USER": COMPLIANCE,
           "SAMPLELOANS_NOW": "2026-04-28T09:00:00Z", "COLUMNS": "120"}  # fmt: skip
    args = ["custody", "history", "--as-of", "2025-05-03T14:00:00Z", "--json"]
    curator = CliRunner().invoke(app, [*args, "--institution", "NAOC"], env=env)
    assert curator.exit_code == 0, curator.stderr
    held = {s["code"]: s for s in json.loads(curator.stdout)["replayed_state"]["samples"]}
    assert "CE5C0100YJFM00201-01" not in held  # at IPGP then
    assert held["CE5C0100YJFM00201-03"]["custody_state"] == "vault"
    borrower = CliRunner().invoke(app, [*args, "--institution", "IPGP"], env=env)
    assert borrower.exit_code == 0, borrower.stderr
    there = {s["code"]: s for s in json.loads(borrower.stdout)["replayed_state"]["samples"]}
    assert there["CE5C0100YJFM00201-01"]["custodian"] == "IPGP"


def test_a_record_whose_index_does_not_start_with_it_is_still_found(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's and an institution's first index entry is normally the event that added them
    (one seek finds it); an index tampered with an earlier entry falls back to the `kind`
    index, and the narrowed replay still answers every read as the full one does."""
    ledger = copy_ledger(demo, tmp_path / "ledger.db")
    with sqlite3.connect(ledger) as connection:
        connection.executemany(
            "INSERT INTO event_subject (seq, subject_type, subject_key) VALUES (?, ?, ?)",
            [(2, "person", UOC_PI), (3, "institution", "UoC")],
        )
    engine = db.open_engine(db.url_for_path(ledger))
    try:
        with db.transaction(engine, write=False) as session:
            cut = replay.Cut()
            seqs = replay.scope_seqs(session.connection(), [("loan", "L-2025-UoC")], cut)
        assert {8, 24} <= set(seqs)  # UoC and its PI added (seqs 8 and 24 of the demo)
        moments, heads = _moments(engine)
        cases = [c for c in _cases(engine, moments, heads) if c.scope == ("loan", "L-2025-UoC")]
        assert differences(engine, cases, monkeypatch) == []
    finally:
        engine.dispose()
