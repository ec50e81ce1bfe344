"""Consumptions held back by `verify`'s replay and applied a group at a time (issue 15 point 3).

Three events in four of a bench ledger are `loan.consumed`, and each one, applied alone, reads
and sets its loan, sample and loan item (`apply._consumed`): the largest part of `verify`'s
replay. Those rows change only by the consumptions themselves until some other event reads them,
so the replay holds a plain consumption back (`Consumptions.take`) and applies the ones held for
the same rows together when a later event reads one of those rows (`Unit.before_read`), at the
end of each batch, and at the end: one read and one update of each row for the whole group,
the rules checked on the group as a whole (`_fits`):

- its loan, sample and item exist (checked when each is taken: at its own seq), the loan is
  `received` and the item `held`;
- per loan, no consumption dated before its last whole-loan event; per sample, the times in seq
  order from its last event on (time order, `apply._in_order`);
- per item, every mass positive and their sum less than what the item holds: then every running
  sum in seq order is less too, nothing is used up, and no item or loan changes state.

Where the group does not pass (a rule fails, an item is used up, or a comparison cannot be
made), its consumptions are applied one by one through `apply`, in seq order, from the rows as
they stood before the first of them: the same rows, and the same first failure, in the same
words, as the event-by-event replay. A failure is the first in seq order only once the other
held consumptions before it are applied (`Consumptions.fail_before`): held ones touch none of
the rows the events in between read (reading one applies them), so applying them later changes
nothing else. Each consumption's index entries are handed to the index check at its own seq,
from its loan's row then (`take`); a group's rows then differ from the one-by-one replay in
nothing (`tests/test_sweep_s33verify10_consumed.py` compares the two on tampered ledgers).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from sampleloans.errors import SampleLoansError
from sampleloans.ledger import events as ev
from sampleloans.ledger.apply import plain_consumption
from sampleloans.ledger.checks import LOAN_TRANSITIONS
from sampleloans.ledger.envelope import Envelope
from sampleloans.ledger.reads import Key
from sampleloans.ledger.unit import Unit, apply_aside
from sampleloans.models import Loan, LoanItem, Sample
from sampleloans.vocab import ItemState, SubjectType

REPLAY_FAILURES = (SampleLoansError, ValueError, TypeError, KeyError, SQLAlchemyError)
"""What a replayed event's apply may raise for a ledger that does not replay (`replay_into`)."""

_LOAN, _SAMPLE, _ITEM = "loan", "sample", "loan_item"
_CONSUMABLE = frozenset(LOAN_TRANSITIONS["consume"])


@dataclass(frozen=True, slots=True)
class Held:
    """A consumption held back: its seq, what it names, and what `apply` needs of it."""

    seq: int
    number: str
    sample: str
    mass_ug: int
    occurred_at: datetime
    envelope: Envelope
    event: ev.LoanConsumed


class HeldFailure(Exception):
    """A held consumption did not apply: its seq and the replay's own exception."""

    def __init__(self, seq: int, cause: BaseException) -> None:
        super().__init__(seq, cause)
        self.seq, self.cause = seq, cause


class Consumptions:
    """The consumptions a replay's unit holds back, by the loans and samples they name."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.held: dict[int, Held] = {}  # seq → consumption, in seq order
        self.of_loan: dict[str, list[int]] = {}
        self.of_sample: dict[str, list[int]] = {}
        self.named: dict[str, tuple[Any, Any, Any]] = {}
        """Loan → the institution, agreement and PI its consumptions are indexed under."""
        self._peeking = False
        unit.before_read = self._before_read

    def take(self, envelope: Envelope, event: ev.LoanConsumed) -> set[tuple[int, str, str]] | None:
        """Hold a consumption back if it is plain and its loan, sample and item exist now; its
        index entries (as `apply` makes them), or None: apply it now."""
        number, code, mass_ug = event.number, event.sample, event.mass_ug
        if not (plain_consumption(event, envelope.occurred_at) and mass_ug > 0):
            return None
        keys = self.unit.deferred_keys
        named = self.named.get(number)
        # rows are never deleted: the item of a consumption held now exists, as do its loan and
        # sample (each read once per group, not once per consumption)
        if named is None or (_ITEM, (number, code)) not in keys:
            loan = self._peek(Loan, number)
            if loan is None or self._peek(Sample, code) is None:
                return None
            if self._peek(LoanItem, (number, code)) is None:
                return None
            # what a loan's index entries name is set at its request (no event changes it)
            named = self.named[number] = (loan.institution, loan.agreement, loan.pi_email)
        seq = envelope.seq
        self.held[seq] = Held(seq, number, code, mass_ug, envelope.occurred_at, envelope, event)
        self.of_loan.setdefault(number, []).append(seq)
        self.of_sample.setdefault(code, []).append(seq)
        keys.update(((_LOAN, (number,)), (_SAMPLE, (code,)), (_ITEM, (number, code))))
        institution, agreement, pi_email = named
        return {
            (seq, SubjectType.LOAN, number),
            (seq, SubjectType.INSTITUTION, institution),
            (seq, SubjectType.AGREEMENT, agreement),
            (seq, SubjectType.PERSON, pi_email),
            (seq, SubjectType.SAMPLE, code),
        }

    def apply_all(self) -> None:
        """Apply every held consumption (a batch's end, the replay's end)."""
        while self.held:
            first = next(iter(self.held.values()))
            self._apply(self._group({first.number}, {first.sample}))

    def fail_before(self, seq: int) -> tuple[int, BaseException] | None:
        """Apply, one by one in seq order, the held consumptions before `seq` (an event that
        failed): the first of them that fails, with its exception, or None."""
        # the rows are read as they stand: the held ones after `seq` are never applied (the
        # replay stops), and those before it are applied here in seq order
        self._peeking = True
        try:
            for held in sorted(self.held.values(), key=lambda h: h.seq):
                if held.seq >= seq:
                    break
                self._drop([held])
                try:
                    apply_aside(self.unit, held.seq, held.event.kind, held.envelope, held.event)
                except REPLAY_FAILURES as exc:
                    return held.seq, exc
        finally:
            self._peeking = False
        return None

    def _peek(self, model: type[Any], key: Any) -> Any:
        """A row as it stands, without applying the consumptions held for it."""
        self._peeking = True
        try:
            return self.unit.get(model, key)
        finally:
            self._peeking = False

    def _before_read(self, name: Key) -> None:
        """A row held consumptions change is read: apply those that must come first."""
        if self._peeking:
            return
        table, ident = name
        if table == _LOAN:
            self._apply(self._group({ident[0]}, set()))
        elif table == _SAMPLE:
            self._apply(self._group(set(), {ident[0]}))
        else:
            self._apply(self._group({ident[0]}, {ident[1]}))

    def _group(self, loans: set[str], samples: set[str]) -> list[Held]:
        """The held consumptions of these loans and samples and, in turn, of every loan and
        sample they name (their rules read those rows), in seq order; no longer held."""
        loans_left, samples_left = list(loans), list(samples)
        seen_loans, seen_samples = set(loans), set(samples)
        found: dict[int, Held] = {}
        while loans_left or samples_left:
            seqs = (
                self.of_loan.pop(loans_left.pop(), [])
                if loans_left
                else self.of_sample.pop(samples_left.pop(), [])
            )
            for seq in seqs:
                if seq in found or seq not in self.held:  # taken already, or applied
                    continue
                held = found[seq] = self.held[seq]
                if held.number not in seen_loans:
                    seen_loans.add(held.number)
                    loans_left.append(held.number)
                if held.sample not in seen_samples:
                    seen_samples.add(held.sample)
                    samples_left.append(held.sample)
        group = sorted(found.values(), key=lambda h: h.seq)
        self._drop(group)
        return group

    def _drop(self, group: list[Held]) -> None:
        """No longer hold these consumptions (their loans' and samples' lists may keep them:
        a seq not held is passed over)."""
        keys = self.unit.deferred_keys
        for held in group:
            del self.held[held.seq]
            keys.discard((_ITEM, (held.number, held.sample)))
        for held in group:
            if held.number not in self.of_loan or not any(
                seq in self.held for seq in self.of_loan[held.number]
            ):
                self.of_loan.pop(held.number, None)
                keys.discard((_LOAN, (held.number,)))
            if held.sample not in self.of_sample or not any(
                seq in self.held for seq in self.of_sample[held.sample]
            ):
                self.of_sample.pop(held.sample, None)
                keys.discard((_SAMPLE, (held.sample,)))

    def _apply(self, group: list[Held]) -> None:
        """Apply a group at once where it passes the rules as a whole, else one by one."""
        if not group:
            return
        try:
            fits = self._fits(group)
        except TypeError:  # times that do not compare: the one-by-one replay says which
            fits = False
        if fits:
            self._apply_at_once(group)
            return
        for held in group:
            try:
                apply_aside(self.unit, held.seq, held.event.kind, held.envelope, held.event)
            except REPLAY_FAILURES as exc:
                raise HeldFailure(held.seq, exc) from exc

    def _fits(self, group: list[Held]) -> bool:
        """Whether the group passes every rule of a consumption as a whole (module docstring)."""
        get = self.unit.get
        totals: dict[tuple[str, str], int] = {}
        last_at: dict[str, datetime] = {}
        latest: dict[str, datetime] = {}  # only to meet a time `max` cannot compare here
        wide: dict[str, datetime] = {}  # loan → its last whole-loan event's time
        for held in group:
            since = wide.get(held.number)
            if since is None:
                loan = get(Loan, held.number)
                if loan is None or loan.status not in _CONSUMABLE:
                    return False
                since = wide[held.number] = loan.last_loan_wide_event_at
                latest[held.number] = loan.last_event_at
            if held.occurred_at < since:
                return False
            previous = last_at.get(held.sample)
            if previous is None:
                sample = get(Sample, held.sample)
                if sample is None:
                    return False
                previous = sample.last_event_at
            if held.occurred_at < previous:
                return False
            last_at[held.sample] = held.occurred_at
            key = (held.number, held.sample)
            totals[key] = totals.get(key, 0) + held.mass_ug
            latest[held.number] = max(latest[held.number], held.occurred_at)
        for key, total_ug in totals.items():
            item = get(LoanItem, key)
            if item is None or item.state != ItemState.HELD or total_ug >= item.held_ug:
                return False
        return True

    def _apply_at_once(self, group: list[Held]) -> None:
        """Each row of the group set once, as the one-by-one replay leaves it."""
        get = self.unit.get
        by_item: dict[tuple[str, str], int] = {}
        loan_times: dict[str, list[datetime]] = {}
        sample_last: dict[str, datetime] = {}
        for held in group:
            key = (held.number, held.sample)
            by_item[key] = by_item.get(key, 0) + held.mass_ug
            loan_times.setdefault(held.number, []).append(held.occurred_at)
            sample_last[held.sample] = held.occurred_at
        for (number, code), total_ug in by_item.items():
            item, sample = get(LoanItem, (number, code)), get(Sample, code)
            assert item is not None and sample is not None  # `_fits`
            item.held_ug -= total_ug
            item.consumed_ug += total_ug
            sample.on_loan_ug -= total_ug
            sample.consumed_ug += total_ug
        for code, moment in sample_last.items():
            sample = get(Sample, code)
            assert sample is not None
            sample.last_event_at = moment
        for number, times in loan_times.items():
            loan = get(Loan, number)
            assert loan is not None
            # `max` keeps the first of equal times, as one `max` per event does
            loan.last_event_at = max([loan.last_event_at, *times])


def first_words(seq: int, kind: str, exc: BaseException) -> str:
    """A replay failure as `replay_into` words it."""
    return f"event {seq} ({kind}) cannot be replayed: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
