"""The reports' read models: frozen dataclasses, and the content digest of a report.

A report is fully determined by its request (kind and scope), the ledger up to a seq, and its
`generated_at` (used as "now" for days late and due dates). `content_digest` hashes the
canonical JSON of that read model (not the PDF bytes), so `verify-document` can rebuild the
same model from a replay of the ledger up to the printed head and compare digests.

This module holds no SQL and imports neither SQLAlchemy nor the ledger: `services/reporting/`
builds these objects from the ledger, `reports/` turns them into PDF bytes.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

from sampleloans.dates import format_datetime, to_iso
from sampleloans.readmodels.handover import Handover
from sampleloans.units import format_period, masses_grouped
from sampleloans.vocab import (
    ACTIVE_LOAN_STATUSES,
    ENDED_LOAN_STATUSES,
    ItemState,
    LoanStatus,
    event_label,
)

KINDS = ("custody", "return", "overdue", "inventory")
TITLES = {
    "custody": "Chain-of-custody report",
    "return": "Sample return report (F-75)",
    "overdue": "Notice of overdue obligations",
    "inventory": "Inventory statement",
}
RESPOND_WITHIN_DAYS = 14  # an overdue notice asks for the return or an extension request by then
EARLIER_LABELS = {
    # a kind's label as the page layouts before LABELS_LAYOUT (statement layouts before
    # statement.LABELS_VERSION) printed it, where the one table (`vocab.EVENT_LABELS`) now
    # names it as the command line does; their content digests cover these words
    "mass.corrected": "Corrected",
}


@dataclass(frozen=True)
class ReportRequest:
    """What a report covers: its kind and exactly one scope, optionally as of a moment."""

    kind: str
    loan: str | None = None
    sample: str | None = None
    institution: str | None = None
    as_of: str | None = None  # ISO text; custody only
    # who it is printed for (layout 9 on, LAYOUT_FIELDS): BORROWER, a researcher of the borrowing
    # institution, who is not shown the lender's internal details (the OS account of an event);
    # None: the lender's staff, and every report of layouts 1-8
    audience: str | None = None

    @property
    def scope(self) -> str:
        """`loan:NUMBER`, `sample:CODE` or `institution:SHORT`."""
        for name in ("loan", "sample", "institution"):
            value = getattr(self, name)
            if value:
                return f"{name}:{value}"
        return ""

    @property
    def scope_words(self) -> str:
        """The scope as a person reads it: 'loan L-1', 'sample CODE', 'institution OU' (the
        metadata's `loan:L-1` is for programs)."""
        return self.scope.replace(":", " ", 1)


@dataclass(frozen=True, slots=True)
class Reworded:
    """A text a later page layout words better: `earlier` as the layouts before `since` printed
    it (their content digest covers those words, so their files still verify), `text` from
    `since` on."""

    text: str
    earlier: "str | Reworded"  # reworded again by an earlier layout
    since: int

    def words(self, layout: int) -> str:
        """The words `layout` prints (and digests)."""
        if layout >= self.since:
            return self.text
        return self.earlier.words(layout) if isinstance(self.earlier, Reworded) else self.earlier


Words = str | Reworded
"""A text of a read model: a plain string, or one whose words changed with a layout."""


V = TypeVar("V", int, bool)
"""What a layout may count or judge differently: a mass, a yes or no."""


@dataclass(frozen=True)
class ByLayout(Generic[V]):
    """A mass or a yes or no that a later page layout counts or judges better: `earlier` as
    the layouts before `since` printed it (their content digest covers it, so their files
    still verify), `value` from `since` on."""

    value: V
    earlier: V
    since: int

    def in_layout(self, layout: int) -> V:
        """The value `layout` prints (and digests)."""
        return self.value if layout >= self.since else self.earlier


Mass = int | ByLayout[int]
"""A mass of a read model: plain micrograms, or one a layout came to count differently."""

Flag = bool | ByLayout[bool]
"""A yes or no of a read model: a plain bool, or one a layout came to judge differently."""


def remeasured(ug: int, earlier_ug: int, since: int) -> Mass:
    """`ug`, kept a plain int when the layouts before `since` said the same."""
    return ug if ug == earlier_ug else ByLayout(ug, earlier_ug, since)


def rejudged(flag: bool, earlier: bool, since: int) -> Flag:
    """`flag`, kept a plain bool when the layouts before `since` said the same."""
    return flag if flag == earlier else ByLayout(flag, earlier, since)


def flag_in(value: Flag, layout: int) -> bool:
    """The yes or no `layout` prints."""
    return value.in_layout(layout) if isinstance(value, ByLayout) else value


def mass_in(value: Mass, layout: int) -> int:
    """The micrograms a mass prints in `layout`."""
    return value.in_layout(layout) if isinstance(value, ByLayout) else value


def reworded(text: str, earlier: Words, since: int) -> Words:
    """`text`, kept a plain string when the layouts before `since` said the same."""
    return text if text == earlier else Reworded(text, earlier, since)


_GROUPED_GRAMS = re.compile(r"[0-9],[0-9]{3}(?:,[0-9]{3})*\.[0-9]+ g")
"""A mass of 1,000 g or more as `format_mass` groups it."""


def with_grouped_masses(build: Callable[[], Words], since: int | None = None) -> Words:
    """The words `build` makes, which print masses: from layout `since` on (a report's
    `GROUPED_MASS_LAYOUT` unless a statement's is given) with the thousands of grams grouped
    ("1,731.000 g"), in the layouts before as they printed them ("1731.000 g"), so their
    digests stay. Built a second time only when a grouped mass shows."""
    since = GROUPED_MASS_LAYOUT if since is None else since
    text = build()
    latest = words_in(text, since)
    if not _GROUPED_GRAMS.search(latest):
        return text
    with masses_grouped(False):
        earlier = build()
    return latest if latest == earlier else Reworded(latest, earlier, since)


def words_in(value: Words, layout: int) -> str:
    """The words a text prints in `layout`."""
    return value.words(layout) if isinstance(value, Reworded) else value


def label_words(kind: str, direction: str, since: int) -> Words:
    """An event's label from the one table (`vocab.event_label`), as the layouts before
    `since` printed it where they named it otherwise (`EARLIER_LABELS`)."""
    label = event_label(kind, direction)
    return reworded(label, EARLIER_LABELS.get(kind, label), since)


def finding_cell(text: Words, layout: int) -> str:
    """A finding's "What" cell as `layout` printed it: its words, but in layout 11, which
    printed a reworded finding (a weighing of 1,000 g or more) as the program's text of it,
    "Reworded(text=…, earlier=…, since=11)", that text again, so its files still verify."""
    if layout != FINDING_WORDS_LAYOUT - 1 or not isinstance(text, Reworded):
        return words_in(text, layout)
    while isinstance(text, Reworded) and text.since > layout:  # as layout 11 built it
        text = text.earlier
    return str(text)


@dataclass(frozen=True)
class Party:
    """One party named on a report."""

    role: Words
    name: Words
    detail: Words


@dataclass(frozen=True)
class AgreementInfo:
    """An agreement and its terms, as labelled lines."""

    number: str
    status: str
    signed_at: datetime | None
    signed_by: str | None
    terms: tuple[tuple[str, Words], ...]


@dataclass(frozen=True)
class ItemRow:
    """One sample in a report's items table (its masses as `readmodels/items.py` reads them)."""

    code: str
    description: str
    loan: str
    issued_ug: Mass  # by the curator; before layout 8, with what came from a split
    held_ug: int
    custodian: str
    state: str
    from_split_ug: int = 0  # from layout 8 on: split off another sample of the loan
    # from layout 8 on: frozen by an open incident; from layout 17 on, only while on this loan
    frozen: Flag = False


@dataclass(frozen=True, slots=True)
class CustodyRow:
    """One ledger event in the chain of custody."""

    seq: int
    occurred_at: datetime
    kind: str
    label: Words  # what a reader sees for the kind: "Receipt", "Return accepted" (`label_words`)
    released_by: str
    received_by: str
    location: str
    container: str
    seal: str
    seal_intact: str
    mass_ug: int | None
    condition: Words
    recorded_by: str
    os_user: str  # the operating-system account that recorded the event
    description: Words
    flag: str  # "" | gap | discrepancy | incident | correction
    recorded_at: datetime | None = None
    backdated: bool = False  # recorded over an hour after it occurred: both times are shown
    courier: str = ""
    witness: str = ""
    handover: Handover | None = None  # the persons of a hand-over (issue, ship, receive, …)
    # from layout 15 on: the events that correct this one, as `custody history` marks them
    corrected_by: tuple[int, ...] = ()
    # recorded by a person of the institution the event's loan is lent to (services/reporting/
    # services/borrower_mark.py); printed and digested from layout 3 on (LAYOUT_FIELDS)
    by_borrower: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    """A gap, discrepancy or incident a reviewer must see."""

    seq: int
    kind: str
    text: Words


@dataclass(frozen=True)
class Overdue:
    """A loan whose return (or, in `InventoryBody.inventory_overdue`, whose inventory
    attestation) is past due at the report's moment."""

    loan: str
    due_at: datetime
    days_late: int


@dataclass(frozen=True)
class Recall:
    """A loan recalled by the lender: when, why, and the due date it set (layout 9 on)."""

    seq: int
    loan: str
    recalled_at: datetime
    due_at: datetime  # the new due date the recall set
    reason: str


@dataclass(frozen=True)
class CustodyBody:
    """The custody report's content."""

    overdue: tuple[Overdue, ...]
    parties: tuple[Party, ...]
    agreements: tuple[AgreementInfo, ...]
    items: tuple[ItemRow, ...]
    events: tuple[CustodyRow, ...]
    findings: tuple[Finding, ...]
    recalls: tuple[Recall, ...] = ()  # from layout 9 on
    inventory_overdue: tuple[Overdue, ...] = ()  # from layout 11 on: an attestation past due


@dataclass(frozen=True)
class Analysis:
    """One analysis that consumed mass."""

    seq: int
    occurred_at: datetime
    technique: str
    destructive: bool
    mass_ug: int
    # from layout 15 on: when it was recorded, for one back-dated (recorded over an hour after
    # it happened), as `custody history` and the custody report show it; None otherwise
    recorded_at: datetime | None = None
    # from layout 16 on: the events that corrected it (a mass correction), in seq order, as
    # `custody history` marks them "[corrected by N]"
    corrected_by: tuple[int, ...] = ()


@dataclass(frozen=True)
class ReturnLine:
    """One item of a loan on the return form, term by term (as a line of `balance --loan`)."""

    code: str
    split_from: str  # the parent of a borrower's split (a continuation item), else ""
    description: str
    issued_ug: Mass  # by the curator; before layout 8, with what came from a split
    transferred_ug: int
    consumed_ug: int
    analyses: tuple[Analysis, ...]
    returned_now_ug: int
    returned_before_ug: int
    split_ug: Mass  # the Total's: before layout 8, net of the splits within the loan
    lost_ug: int
    remaining_ug: int
    from_split_ug: int = 0  # from layout 8 on: split off another sample of the loan
    on_its_way_back: bool = False  # from layout 15 on: shipped back, not yet accepted


@dataclass(frozen=True)
class SplitLine:
    """A split the borrower made, with its fate."""

    code: str
    parent: str
    mass_ug: int
    consumed_ug: int
    returned_ug: int
    lost_ug: int
    remaining_ug: int
    fate: Words


@dataclass(frozen=True)
class ReturnBody:
    """The return report's content (NASA F-75 counterpart)."""

    loan: str
    status: str
    overdue: tuple[Overdue, ...]
    parties: tuple[Party, ...]
    agreement: AgreementInfo
    lines: tuple[ReturnLine, ...]
    total: ReturnLine  # net of the borrower's splits within the loan, as `balance --loan`
    splits: tuple[SplitLine, ...]
    conditions: tuple[Finding, ...]
    findings: tuple[Finding, ...]
    recalls: tuple[Recall, ...] = ()  # from layout 9 on
    inventory_overdue: tuple[Overdue, ...] = ()  # from layout 11 on: an attestation past due


@dataclass(frozen=True)
class OverdueLine:
    """One overdue obligation."""

    loan: str
    pi: str  # the PI's name
    agreement: str
    what: str  # return | inventory
    due_at: datetime
    days_late: int
    held_ug: int


@dataclass(frozen=True)
class OverdueBody:
    """The overdue notice's content."""

    institution: Party
    addressees: tuple[Party, ...]  # each PI named in the notice: name, e-mail, institution
    respond_by: datetime  # RESPOND_WITHIN_DAYS after generation
    clauses: tuple[Party, ...]  # per agreement: number, and its loan-period and extension terms
    lines: tuple[OverdueLine, ...]
    actions: tuple[Words, ...]
    recalls: tuple[Recall, ...] = ()  # from layout 9 on: of the loans past due
    # what the "Respond by" line asks (from layout 19 on, LAYOUT_FIELDS: before, the renderer's
    # words, an extension asked for even where none is left)
    respond: Words = ""


WITHDRAWN = "withdrawn"
"""How a loan closed before issue is said to have ended."""


@dataclass(frozen=True)
class LoanEnd:
    """How a loan that is over ended: its last milestone ('closed', when), as `status`,
    `loans list` and the documents say it once its due date binds no more."""

    word: str  # returned | settled | closed | withdrawn
    at: datetime

    @property
    def withdrawn(self) -> bool:
        """Whether the loan was withdrawn before issue (closed at once, nothing issued)."""
        return self.word == WITHDRAWN


def loan_end(
    status: str,
    *,
    withdrawn: bool,
    returned_at: datetime | None,
    settled_at: datetime | None,
    closed_at: datetime | None,
) -> LoanEnd | None:
    """A loan's last milestone once it is over (all back, settled, closed or withdrawn); None
    while it is not. The one rule of `loans list` and the documents."""
    if status not in ENDED_LOAN_STATUSES:
        return None
    moments = (
        (WITHDRAWN if withdrawn else status, closed_at),
        (LoanStatus.SETTLED.value, settled_at),
        (LoanStatus.RETURNED.value, returned_at),
    )
    return next((LoanEnd(word, at) for word, at in moments if at is not None), None)


def ended_words(end: LoanEnd) -> str:
    """A loan's due date once it is over, in the words of `loans list` and `status`: the dash
    and how it ended, '— (closed 2025-10-21 10:00 UTC)'."""
    return f"— ({end.word} {format_datetime(end.at)})"


@dataclass(frozen=True)
class InventoryBody:
    """The inventory statement's content."""

    loan: str
    status: str
    overdue: tuple[Overdue, ...]
    parties: tuple[Party, ...]
    due_at: datetime | None
    last_inventory_at: datetime | None
    next_inventory_due_at: datetime | None
    items: tuple[ItemRow, ...]
    held_ug: int
    recalls: tuple[Recall, ...] = ()  # from layout 9 on
    inventory_overdue: tuple[Overdue, ...] = ()  # from layout 10 on: the attestation past due
    # from layout 14 on: how the loan ended (withdrawn, too) and its period (due that long
    # after issue), so its dates say what `status` says instead of a bare dash or an old date
    ended: LoanEnd | None = None
    loan_period: str = ""


CHECKPOINT_PROOF_FORMAT = "sampleloans-report-checkpoint-v1"
# The page layout a report is printed in, carried as "v" in its metadata, so that
# `verify-document` re-renders a file in the layout it was made with: 1 = before signed
# checkpoints (no checkpoint lines on the first page), 2 = naming its signed checkpoint, 3 = the
# custody report marks the events a researcher of the borrower recorded, 4 = the running head
# is shortened with '…' to end before 'sampleloans custody ledger' (before: cut at 120 characters)
# and the inventory report of a loan no longer out shows no next inventory date, 5 = every table
# cell is wrapped to its column (before: a string of up to 14 characters never was, and a wide
# one ran over into the next column), and the inventory report's "Total held" is `status`'s,
# naming the part on its way back (before: it left that part out, without saying so), 6 = every
# full-width table (and the return report's chart) is as wide as the document frame, so it ends
# at the right margin (before: as wide as the page between its margins, it started at the
# frame's 6 pt padding and ended 6 pt past the right margin), and the inventory report of a loan
# with nothing in the PI's hands still prints `status`'s "Total held": the part on its way back,
# or "nothing left to send back" (before: "(none)" and no total), 7 = counts agree with their
# nouns ("up to 1 extension of at most 6 months each", where 1-6 printed "1 extension(s)" and an
# agreement's "Extensions" term "up to 1 of 6 months"), an analysis says "non-destructive" as it
# says "destructive" (before: nothing), a shipment "by hand" (before: "by hand carried"), the
# return report "The borrower remains accountable for …" and, of a loan with nothing issued yet,
# that nothing was (before: "… accountable by the borrower", "close-out"), and a right-aligned
# column's heading is right-aligned over its figures (before: left-aligned, away from them); the
# changed words the digest covers are `Reworded`, 8 = a loan item is read as every view reads it
# (`readmodels/items.py`): a sample the borrower split off shows its mass "From split", not as
# issued, so the issued masses add up to what was issued, and a frozen sample's state says
# "(frozen)", as `samples show` does (before: the split mass counted as issued, a frozen sample
# read "held"); the issued mass the digest covers is a `ByLayout`, 9 = a loan recalled by the
# lender says so: the custody, return and inventory reports and the overdue notice list each
# recall (when, why, the due date it set; before: only the custody report's event row), and a
# report printed for a researcher of the borrowing institution (its request's `audience`,
# metadata "for") leaves out the OS account that recorded each event, an internal detail of the
# lender's machines (before: printed for everyone), 10 = the inventory report flags an inventory
# attestation past due in its header ("Inventory overdue"), as `overdue`, the overdue notice and
# the statement say (before: only a return past due was flagged, and the "Next inventory due"
# date of an attestation weeks late read as if still to come), and the custody report's
# "Chain of custody (1 event)" counts in agreement (before: "1 events"), as does a checkpoint of
# "1 event", and the return report's chart draws the samples top down in the order of its
# accounting table (before: reportlab's, the first sample at the bottom).
# 11 = the custody and return reports flag an inventory attestation past due in their header
# ("Inventory overdue"), as the inventory report, `status`, `overdue` and the statement do
# (before: only a return past due), and a mass of 1,000 g or more is printed with its thousands
# grouped, "1,731.000 g" (before: "1731.000 g"); the words the digest covers are `Reworded`.
# 12 = a finding a layout rewords is printed in its words (11 printed one, a weighing of 1,000 g
# or more, as program text, and re-renders it so: `finding_cell`), the return report words a
# weighing as the custody report does, with the difference (`parts.weighing_words`), and a
# return sent back by its due time is not flagged overdue while it travels (`ledger/overdue.py`;
# a file of 1–11 is rebuilt as it was judged: `queries.judged_before_sent_back`).
# 13 = an inventory attestation is not owed, nor flagged overdue, once everything left was sent
# back by its due time, as a return is not (`ledger/overdue.py`; before: "Inventory overdue" and
# a "Next inventory due" date while the PI held nothing; a file of 1–12 is rebuilt as it was
# judged: `queries.judged_before_sent_back`).
# 14 = the inventory report's dates say what `status` says where there is no date to keep: no
# next inventory owed, and why ("— (none owed: the loan is closed)"), a loan over, how it ended
# in place of its old return date ("— (closed 2025-10-21 10:00 UTC)"), one not yet issued, how
# long after issue it falls due, and one never attested, "— (none attested yet)" (before: a
# bare "—", and a closed loan's return date as if still due; `InventoryBody.ended` and
# `loan_period`, digested from 14 on).
# 15 = every event is named by the one table of labels the command line uses too
# (`vocab.EVENT_LABELS`; a mass correction "Mass corrected", before: "Corrected"), and the
# reports mark what `custody history` marks: a back-dated analysis in the return report says
# when it was recorded, a corrected event in the custody report "[corrected by N]", and the
# return report of a partial return in flight names the part on its way back, as `status`
# does, and marks each item shipped back (`MARKED_EVENTS_LAYOUT`; before: none of these).
# 16 = the return report's Analyses mark a corrected analysis "[corrected by N]", as `custody
# history` and the custody report do (`Analysis.corrected_by`; before: no mark), and the custody
# report names a correction by its label alone, "Mass corrected" (before: "Mass corrected
# [correction]", the flag repeating the label; `PLAIN_CORRECTION_LAYOUT`).
# 17 = a sample's state says "(frozen)" on a loan only while the sample is on that loan
# (`queries.frozen_on_loan`), as `loans show`, `status` and `balance` say it (before: a sample
# frozen after it came back, or brought back frozen, read "returned (frozen)" on every loan it
# was ever on; `ItemRow.frozen` is a `ByLayout`, `FROZEN_ON_LOAN_LAYOUT`).
# 18 = the overdue notice asks for an extension "under the extension clause of the agreement
# terms quoted in this notice" (before: "… clause below", while the notice quotes the terms
# above its actions; the action is `Reworded`, `EXTENSION_CLAUSE_LAYOUT`).
# 19 = an overdue notice none of whose loans past due `loans extend` could still extend asks for
# the return alone (before: "or request an extension", which `loans extend` refuses);
# the action is `Reworded` and the "Respond by" words `OverdueBody.respond`,
# `NO_EXTENSION_LEFT_LAYOUT`).
# 20 = the overdue notice quotes, with an agreement's terms, when it ended once it is no longer
# in force ("signed …; expired 2026-09-01 09:00 UTC; L-… has used 0 of 1 extension"; before,
# "used 0 of 1" beside "the agreement terms below allow no further extension" said no why;
# `Reworded`, `AGREEMENT_END_LAYOUT`).
# 21 = a table cell wraps keeping a mass with its unit and a time with its date ("32.000 mg",
# "2025-07-01 09:00 UTC"), as the terminal tables keep them (before: a line could end on
# "32.000" and the next start on "mg"; `tables.whole_figures`, `WHOLE_FIGURES_LAYOUT`), and the
# return report's chart counts in the unit of its largest bar, its ticks grouped, "mass in g"
# under "0 500 1,000 1,500" (before: "mass in mg" under "500000 1000000 1500000";
# `CHART_UNIT_LAYOUT`); printed only, the digest unchanged; and the custody report of an
# institution names it by what it is to the collection, "Curating institution" for NAOC
# (before: "Borrowing institution" whatever it was; `Reworded`, `PARTY_KIND_LAYOUT`), and a
# name in Arabic script (Urdu: SUPARCO is in Pakistan) is drawn, in Noto Naskh Arabic (other
# scripts the report font lacks in DejaVu Sans), its letters joined and its words in reading
# order (before: the report font's missing glyph, nothing visible: a blank where the name was;
# printed only, `layout.other_scripts`, `OTHER_SCRIPTS_LAYOUT`); and every Mass column holds the
# widest mass the ledger accepts, "9,999.999999 g", on one line, the return report's accounting
# of a loan with splits (or a sample code too long beside eight masses) in two tables (before:
# "1,700." at a line's end, "000001 g" on the next; printed only, `MASS_COLUMNS_LAYOUT`).
REPORT_LAYOUT = 21
REPORT_LAYOUTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
FITTED_HEAD_LAYOUT = 4
OWED_INVENTORY_LAYOUT = 4
FITTED_CELLS_LAYOUT = 5
HELD_TOTAL_LAYOUT = 5
FRAMED_TABLES_LAYOUT = 6
EMPTY_HANDS_TOTAL_LAYOUT = 6
WORDED_LAYOUT = 7
SPLIT_APART_LAYOUT = 8
RECALLED_LAYOUT = 9
INVENTORY_FLAG_LAYOUT = 10
COUNTED_EVENTS_LAYOUT = 10
CHART_IN_TABLE_ORDER_LAYOUT = 10
EVERY_REPORT_FLAGS_INVENTORY_LAYOUT = 11
GROUPED_MASS_LAYOUT = 11
FINDING_WORDS_LAYOUT = 12
"""The first layout printing a reworded finding in its words (11 printed one, a weighing of
1,000 g or more, as program text: `finding_cell`) and wording a weighing in the return report
as the custody report does, with the difference ("expected …, weighed … (−10.000 mg)")."""
SENT_BACK_LAYOUT = 12
"""The first layout judging a return as `ledger/overdue.py` does now: sent back by its due
time, it is not overdue while it travels (1–11 flagged it "Return overdue" until it arrived)."""
INVENTORY_SENT_BACK_LAYOUT = 13
"""The first layout judging an inventory as `ledger/overdue.py` does now: everything left sent
back by its due time, it is not owed (1–12 flagged it "Inventory overdue" while it travelled)."""
NO_DATE_WORDS_LAYOUT = 14
"""The first layout whose inventory report says why a loan has no next inventory date, how a
loan over ended (not its old return date), when one not yet issued falls due, and that no
inventory was attested yet (1–13: "—")."""
LABELS_LAYOUT = 15
"""The first layout naming every event by the one table of labels the command line uses too
(`vocab.EVENT_LABELS`): a mass correction "Mass corrected" (1–14: "Corrected")."""
MARKED_EVENTS_LAYOUT = 15
"""The first layout marking what `custody history` marks: a back-dated analysis in the return
report with when it was recorded, a corrected event in the custody report "[corrected by N]",
and in the return report a partial return in flight: the part on its way back in its verdict,
as `status` says it, and each item shipped back marked so (1–14: none of these)."""
CORRECTED_ANALYSES_LAYOUT = 16
"""The first layout marking a corrected analysis in the return report's Analyses "[corrected by
N]", as `custody history` and the custody report mark the event (1–15: no mark)."""
FROZEN_ON_LOAN_LAYOUT = 17
"""The first layout saying "(frozen)" of a loan's sample only while it is on that loan (8–16:
whenever an open incident froze the sample, even one back in the vault or on another loan)."""
EXTENSION_CLAUSE_LAYOUT = 18
"""The first layout whose overdue notice points at the agreement terms it quotes wherever they
stand (1–17: "the agreement's extension clause below", though the notice prints them above)."""
NO_EXTENSION_LEFT_LAYOUT = 19
"""The first layout whose overdue notice asks only for the return when every loan past due has
no extension `loans extend` would grant (`services.common.extension_possible`; 1–18: "or request
an extension" all the same)."""
AGREEMENT_END_LAYOUT = 20
"""The first layout whose overdue notice says, beside an agreement's terms, when it ended once
it is no longer in force (1–19: its extensions "used 0 of 1" and no word of its end)."""
WHOLE_FIGURES_LAYOUT = 21
CHART_UNIT_LAYOUT = 21
PARTY_KIND_LAYOUT = 21
OTHER_SCRIPTS_LAYOUT = 21
"""The first layout that draws what the report font lacks (Arabic script in Noto Naskh Arabic,
others in DejaVu Sans), right to left words shaped and in reading order (1–20: nothing visible
where such a name was)."""
"""The first layout whose custody report of an institution names it by its kind ("Curating
institution", "Lending institution", "Recipient institution"; 1–20: "Borrowing institution" of
every one)."""
"""The first layout whose return report's chart counts in the unit of its largest bar (µg, mg or
g, as `format_mass` would print it), its ticks' thousands grouped (1–20: mg, "1500000")."""
"""The first layout whose table cells keep a mass with its unit and a time with its date on one
line (1–20 broke a line at any space: "32.000" at a line's end, "mg" on the next)."""
MASS_COLUMNS_LAYOUT = 21
"""The first layout whose tables' Mass columns hold the widest mass the ledger accepts,
"9,999.999999 g", on one line (`tables.masses_fitted`; 1–20 broke "1,700.000001 g" into
"1,700." and "000001 g" in the custody report's and the return report's narrow columns)."""
CORRECTION_FLAG = "correction"
"""`CustodyRow.flag` of a correction (an `event.corrected` or `mass.corrected` event)."""
PLAIN_CORRECTION_LAYOUT = 16
"""The first layout naming a correction in the custody report by its label alone ("Mass
corrected"; 1–15 added its flag, "Mass corrected [correction]", which says it twice)."""
BORROWER = "borrower"
"""`ReportRequest.audience` of a report printed for a researcher of the borrowing institution."""
# Read-model fields a layout added, with the first layout that has them: an older layout's content
# digest leaves them out, so a report printed before them re-renders to the same digest and bytes.
LAYOUT_FIELDS: dict[tuple[type, str], int] = {
    (CustodyRow, "by_borrower"): 3,
    (ItemRow, "from_split_ug"): SPLIT_APART_LAYOUT,
    (ItemRow, "frozen"): SPLIT_APART_LAYOUT,
    (ReturnLine, "from_split_ug"): SPLIT_APART_LAYOUT,
    (CustodyBody, "recalls"): RECALLED_LAYOUT,
    (OverdueBody, "respond"): NO_EXTENSION_LEFT_LAYOUT,
    (ReturnBody, "recalls"): RECALLED_LAYOUT,
    (InventoryBody, "recalls"): RECALLED_LAYOUT,
    (OverdueBody, "recalls"): RECALLED_LAYOUT,
    (ReportRequest, "audience"): RECALLED_LAYOUT,
    (InventoryBody, "inventory_overdue"): INVENTORY_FLAG_LAYOUT,
    (InventoryBody, "ended"): NO_DATE_WORDS_LAYOUT,
    (InventoryBody, "loan_period"): NO_DATE_WORDS_LAYOUT,
    (CustodyBody, "inventory_overdue"): EVERY_REPORT_FLAGS_INVENTORY_LAYOUT,
    (Analysis, "recorded_at"): MARKED_EVENTS_LAYOUT,
    (ReturnLine, "on_its_way_back"): MARKED_EVENTS_LAYOUT,
    (Analysis, "corrected_by"): CORRECTED_ANALYSES_LAYOUT,
    (CustodyRow, "corrected_by"): MARKED_EVENTS_LAYOUT,
    (ReturnBody, "inventory_overdue"): EVERY_REPORT_FLAGS_INVENTORY_LAYOUT,
}
# (the statement's own fields, added by its later layouts, are entered in readmodels/statement.py)


NOTHING_LEFT = "nothing left to send back"
SETTLEMENT_REPORT = "report the results and publications the agreement asks for"
"""What the PI of a returned loan, or of a received one with nothing left, owes before it is
settled (`status` and the statement)."""


def nothing_left_to_send_back(status: str, held_ug: int) -> bool:
    """Whether a loan is received with no mass left to return (every microgram consumed, split,
    transferred or lost): still out until settled, it owes the settlement report. The rule of
    `status` (`services.standing`), for the statement's renderer too."""
    return status == LoanStatus.RECEIVED and held_ug == 0


def due_after_issue(status: str, loan_period: str) -> str | None:
    """How long after issue a loan not yet issued falls due ('12 months after issue'), or None
    once it is issued: it has no due date before, and a PI reads how long the loan is for. The
    words of `status`, `loans show` and the statement."""
    if status not in (LoanStatus.REQUESTED, LoanStatus.APPROVED) or not loan_period:
        return None
    return f"{format_period(loan_period)} after issue"


_NO_INVENTORY_ENDED = {
    LoanStatus.RETURNED: "the loan is returned",
    LoanStatus.SETTLED: "the loan is settled",
    LoanStatus.CLOSED: "the loan is closed",
}
"""Why a loan that is over owes no inventory, by its status."""


def no_inventory_words_of(status: str, ended: LoanEnd | None) -> str:
    """`no_inventory_words` of a document's loan, which knows how it ended (withdrawn or not)."""
    return no_inventory_words(status, withdrawn=ended is not None and ended.withdrawn)


def no_inventory_words(status: str, *, withdrawn: bool) -> str:
    """What `status` and `loans show` print for a loan with no next inventory date: the dash
    and why none is owed (not issued yet, withdrawn, everything left sent back by its due time,
    the loan over), so a PI tells a loan that owes none from a date missing; a bare dash
    where the status gives no reason (a loan that is out always has a date)."""
    if withdrawn:
        reason = "none owed: withdrawn before issue"
    elif status in (LoanStatus.REQUESTED, LoanStatus.APPROVED):
        return "— (none owed before issue)"
    elif status == LoanStatus.RETURN_IN_TRANSIT:
        # the one way a loan still out has no date: `ledger.overdue.inventory_due`
        reason = "none owed: everything left was sent back by its due time"
    elif status in _NO_INVENTORY_ENDED:
        reason = f"none owed: {_NO_INVENTORY_ENDED[LoanStatus(status)]}"
    else:
        return "—"
    return f"— ({reason})"


def owed_inventory_due(status: str, next_inventory_due_at: datetime | None) -> datetime | None:
    """The inventory date a printed loan shows: none once it is no longer out. The rule of
    `ledger.overdue.inventory_due`, for the renderers, which load no ledger module (one sent
    back by its inventory's due time has no date in the read model: the service judged it)."""
    return next_inventory_due_at if status in ACTIVE_LOAN_STATUSES else None


@dataclass(frozen=True)
class ReportCheckpoint:
    """The signed checkpoint a report names: the newest kept one covering its head event, with
    that event's RFC 6962 inclusion proof under the checkpoint's root."""

    origin: str
    tree_size: int  # events 1 … tree_size; the report's head is one of them
    root_hash: str  # hex
    signed_by: str  # the signing keys as NAME+KEYID, from the note's signature lines
    note: str  # the signed note as kept (C2SP tlog-checkpoint)
    proof: tuple[str, ...]  # audit path (hex) of the head event, leaf index head_seq - 1

    @property
    def id(self) -> str:
        """`SIZE:ROOT`, as the report's metadata names it."""
        return f"{self.tree_size}:{self.root_hash}"


@dataclass(frozen=True)
class Report:
    """A report's read model: request, title, the ledger head it reads, and its content.

    `checkpoint` is the signed checkpoint the report names (None: none covers its head yet);
    like the head, it is printed beside the content and not part of the content digest.
    `layout` is the page layout it is printed in; its content digest covers that layout's fields.
    """

    request: ReportRequest
    title: str
    scope_label: str
    generated_at: datetime
    head_seq: int
    head_hash: str
    body: CustodyBody | ReturnBody | OverdueBody | InventoryBody
    checkpoint: ReportCheckpoint | None = None
    layout: int = REPORT_LAYOUT

    @cached_property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the content (the head is printed beside it)."""
        return content_digest(self)

    @property
    def head(self) -> str:
        """`SEQ:HASH`."""
        return f"{self.head_seq}:{self.head_hash}"


def checkpoint_document(report: Report) -> dict[str, Any] | None:
    """What a report embeds for a reader without the ledger: the signed checkpoint and the
    inclusion proof of the head event under its root (None when it names no checkpoint)."""
    checkpoint = report.checkpoint
    if checkpoint is None:
        return None
    return {
        "format": CHECKPOINT_PROOF_FORMAT,
        "checkpoint": checkpoint.note,
        "tree_size": checkpoint.tree_size,
        "head": {"seq": report.head_seq, "hash": report.head_hash},
        "proof": list(checkpoint.proof),
    }


_ATOMS = (str, int, float, type(None), datetime)


def plain(value: Any, layout: int = REPORT_LAYOUT) -> Any:
    """`dataclasses.asdict` for the read models, without its deep copies (same JSON), with the
    fields and words of `layout` only."""
    if isinstance(value, Reworded):
        return value.words(layout)
    if isinstance(value, ByLayout):
        return value.in_layout(layout)
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, (tuple, list)):
        return [plain(v, layout) for v in value]
    if isinstance(value, dict):
        return {k: plain(v, layout) for k, v in value.items()}
    names = _field_names(type(value), layout)
    return {name: plain(getattr(value, name), layout) for name in names}


_FIELD_NAMES: dict[tuple[type, int], tuple[str, ...]] = {}


def _field_names(cls: type, layout: int) -> tuple[str, ...]:
    """The field names of a dataclass in `layout`, in order (remembered per class and layout:
    called once per row)."""
    names = _FIELD_NAMES.get((cls, layout))
    if names is None:
        names = _FIELD_NAMES[(cls, layout)] = tuple(
            f.name for f in fields(cls) if LAYOUT_FIELDS.get((cls, f.name), 0) <= layout
        )
    return names


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


_JSON = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)


def _canonical_parts(value: Any, layout: int) -> Iterator[str]:
    """Sorted-key compact JSON of a read model (dataclasses as objects), in pieces.

    The pieces joined are `json.dumps(plain(value), sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`; a list is written item by item, so a report of 100,000 events never
    holds the JSON of all of them at once. Only the fields `layout` has are written.
    """
    if isinstance(value, Reworded):
        yield _JSON.encode(value.words(layout))
    elif isinstance(value, ByLayout):
        yield _JSON.encode(value.in_layout(layout))
    elif isinstance(value, (tuple, list)):
        yield "["
        for index, item in enumerate(value):
            if index:
                yield ","
            yield _JSON.encode(plain(item, layout))
        yield "]"
    elif isinstance(value, dict) or not isinstance(value, _ATOMS):
        pairs = value if isinstance(value, dict) else _plain_fields(value, layout)
        yield "{"
        for index, key in enumerate(sorted(pairs)):
            yield ("," if index else "") + _JSON.encode(key) + ":"
            yield from _canonical_parts(pairs[key], layout)
        yield "}"
    else:
        yield _JSON.encode(value)


def _plain_fields(value: Any, layout: int) -> dict[str, Any]:
    """A dataclass's fields in `layout` by name, values as they are."""
    return {name: getattr(value, name) for name in _field_names(type(value), layout)}


def _canonical_data(report: Report) -> dict[str, Any]:
    """What the content digest covers."""
    return {
        "request": report.request,
        "title": report.title,
        "scope": report.scope_label,
        "generated_at": report.generated_at,
        "body": report.body,
    }


def canonical_content(report: Report) -> str:
    """Sorted-key compact JSON of everything a report says except the ledger head (in the
    report's layout)."""
    return "".join(_canonical_parts(_canonical_data(report), report.layout))


def content_digest(report: Report) -> str:
    """The content digest printed on every page and stored in the PDF metadata: of the content
    as the report's layout has it (a field a later layout added is left out)."""
    digest = hashlib.sha256()
    for part in _canonical_parts(_canonical_data(report), report.layout):
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()


# a loan's mass the PI is accountable for but does not hold yet, by item state, in `status`'s words
NOT_YET_HELD = (
    (ItemState.ISSUED, "issued, not yet shipped"),
    (ItemState.IN_TRANSIT, "shipped, not yet received"),
)


def not_yet_held(items: Iterable[Any]) -> list[tuple[int, str]]:
    """The mass of a loan issued but not yet shipped, and shipped but not yet received, each
    with its words (only the parts there are): the borrower does not hold it yet."""
    listed = list(items)
    parts = [
        (sum(i.held_ug for i in listed if i.state == state), words) for state, words in NOT_YET_HELD
    ]
    return [(ug, words) for ug, words in parts if ug]
