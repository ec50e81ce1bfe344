"""A statement to a principal investigator, as read model: frozen dataclasses, no SQL.

`services/statement.py` builds it from the ledger; `reports/statement.py` renders it; the proof
document is what a borrower checks with the lender's public key alone.
"""

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sampleloans.dates import from_iso, to_iso
from sampleloans.readmodels.report import (
    LAYOUT_FIELDS,
    Flag,
    LoanEnd,
    Mass,
    Party,
    Recall,
    Words,
    plain,
)

TITLE = "Statement to the principal investigator"
KIND = "statement"
PROOF_FORMAT = "sampleloans-statement-proofs-v1"
STATEMENT_LAYOUT = 16
"""The statement layout a statement is read in unless `verify-document` names an earlier one
(`reports/statement.py`'s METADATA_VERSION, where each layout is described)."""
WORDED_VERSION = 7
"""The first statement layout whose words are `Reworded`'s newer ones (an analysis says
"non-destructive"; a sample is described as the reports describe it, with its origin)."""
SPLIT_APART_VERSION = 8
"""The first statement layout that reads a loan item as every view does (`readmodels/items.py`):
a sample the borrower split off shows its mass "from split", not issued, and a frozen sample
says so (before: the split mass counted as issued, and a frozen sample read "held")."""
RECALLED_VERSION = 9
"""The first statement layout that lists each recall of the PI's loans: when, why, and the due
date it set (before: the recall's event row alone, without its reason)."""
AS_OF_VERSION = 10
"""The first statement layout that says, under "Generated at", when its checkpoint was signed:
the moment the ledger it shows stood at (before: only the date it was printed, so a statement
printed days after its checkpoint read as the ledger of that day)."""
CHECKPOINT_TIME = "time "
"""The prefix of a checkpoint note's line holding when it was signed (ledger-format.md)."""
COUNTED_VERSION = 10
"""The first statement layout whose counts agree with their nouns ("1 event"; before, "1
events") and whose loan not yet issued says when it falls due, as `status` does ("12 months
after issue"; before, "—")."""
GROUPED_MASS_VERSION = 11
"""The first statement layout printing a mass of 1,000 g or more with its thousands grouped,
"1,731.000 g", as every command and report layout 11 print it (before, "1731.000 g")."""
SENT_BACK_VERSION = 11
"""The first statement layout judging a return as `ledger/overdue.py` does now: sent back by
its due time, it is owed no more while it travels (1–10 listed it, overdue, until it arrived)."""
INVENTORY_SENT_BACK_VERSION = 12
"""The first statement layout judging an inventory as `ledger/overdue.py` does now: everything
left sent back by its due time, it is owed no more (1–11 listed it, and its date, while the PI
held nothing)."""
NO_DATE_WORDS_VERSION = 13
"""The first statement layout whose loans say what `status` says where there is no date to
keep: no inventory owed, and why ("— (none owed: the loan is returned)"), and a loan returned
or settled, how it ended in place of its old return date, and an obligation with no date of its
own (the settlement report) is due "— (now)" (1–12: "—", and the old date)."""
LABELS_VERSION = 14
MARKED_EVENTS_VERSION = 14
"""The first statement layout marking an event as `custody history` does: a back-dated one
with when it was recorded, a corrected one "[corrected by N]" (1–13: neither)."""
"""The first statement layout naming every event by the one table of labels the command line
and the reports use (`vocab.EVENT_LABELS`): a mass correction "Mass corrected" (1–13:
"Corrected")."""
FROZEN_ON_LOAN_VERSION = 15
"""The first statement layout saying "(frozen)" of a loan's sample only while it is on that
loan, as `status` says it (8–14: whenever an open incident froze the sample, even one back in
the vault: "returned (frozen)")."""


@dataclass(frozen=True)
class CheckpointRef:
    """The signed checkpoint a statement is built on: its note as kept, and what it commits to."""

    origin: str
    tree_size: int  # the number of events it covers: events 1 … tree_size
    root_hash: str  # hex of the RFC 6962 root over the event hashes
    note: str  # the signed note, exactly as kept (C2SP tlog-checkpoint)
    signed_by: str = ""  # the signing keys as NAME+KEYID, from the note's signature lines


def signed_at(checkpoint: CheckpointRef) -> datetime | None:
    """When the checkpoint was signed (its note's `time` line), or None when it has none."""
    text = checkpoint.note.split("\n\n", 1)[0]
    for line in text.split("\n")[3:]:  # after the origin, size and root lines
        if line.startswith(CHECKPOINT_TIME):
            return from_iso(line.removeprefix(CHECKPOINT_TIME))
    return None


@dataclass(frozen=True)
class StatementItem:
    """One sample of a loan as it stands."""

    code: str
    description: Words
    state: str
    issued_ug: Mass  # by the curator; before layout 8, with what came from a split
    held_ug: int
    from_split_ug: int = 0  # from layout 8 on: split off another sample of the loan
    # from layout 8 on: frozen by an open incident; from layout 15 on, only while on this loan
    frozen: Flag = False


LAYOUT_FIELDS[(StatementItem, "from_split_ug")] = SPLIT_APART_VERSION
LAYOUT_FIELDS[(StatementItem, "frozen")] = SPLIT_APART_VERSION


@dataclass(frozen=True)
class StatementLoan:
    """One of the PI's loans: dates, extensions and samples."""

    number: str
    agreement: str
    status: str
    issued_at: datetime | None
    due_at: datetime | None
    extensions_granted: int
    max_extensions: int
    last_inventory_at: datetime | None
    next_inventory_due_at: datetime | None
    items: tuple[StatementItem, ...]
    held_ug: int
    loan_period: str = ""  # from layout 10 on: the ISO period asked for (due that long after issue)
    ended: LoanEnd | None = None  # from layout 13 on: how a loan over (returned, settled) ended


LAYOUT_FIELDS[(StatementLoan, "loan_period")] = COUNTED_VERSION
LAYOUT_FIELDS[(StatementLoan, "ended")] = NO_DATE_WORDS_VERSION


@dataclass(frozen=True)
class Obligation:
    """Something the PI owes: a return, an inventory attestation, a report."""

    loan: str
    what: str  # return | inventory attestation | settlement report | incident report
    due_at: datetime | None
    standing: str  # "overdue by 3 days", "due in 12 days", "now"
    overdue: bool


def obligation_order(owed: Obligation) -> tuple[bool, bool, datetime, str, str]:
    """Most pressing first: overdue ones, then by due date (undated ones last), loan, what."""
    undated = owed.due_at is None
    return (not owed.overdue, undated, owed.due_at or _UNDATED, owed.loan, owed.what)


_UNDATED = datetime.min.replace(tzinfo=UTC)  # compared only with another undated obligation


@dataclass(frozen=True)
class StatementEvent:
    """One event of the PI's loans, with what a borrower needs to check it without the ledger."""

    seq: int
    occurred_at: datetime
    loan: str
    label: Words  # from the one table of labels (`services.reporting.custody.event_label`)
    description: Words
    hash: str
    prev_hash: str
    body: dict[str, Any] = field(compare=False)  # the fields hashed (ledger.chain.event_body)
    proof: tuple[str, ...] = ()  # RFC 6962 audit path (hex), leaf index seq - 1
    # from statement layout 14 on (MARKED_EVENTS_VERSION): when a back-dated event was
    # recorded (None: recorded when it happened), and the events that correct this one, as
    # `custody history` shows them
    recorded_at: datetime | None = None
    corrected_by: tuple[int, ...] = ()


LAYOUT_FIELDS[(StatementEvent, "recorded_at")] = MARKED_EVENTS_VERSION
LAYOUT_FIELDS[(StatementEvent, "corrected_by")] = MARKED_EVENTS_VERSION


@dataclass(frozen=True)
class StatementBody:
    """A statement's content."""

    pi: Party
    institution: Party
    lender: Party
    checkpoint: CheckpointRef
    loans: tuple[StatementLoan, ...]
    held_ug: int
    obligations: tuple[Obligation, ...]
    events: tuple[StatementEvent, ...]
    recalls: tuple[Recall, ...] = ()  # from layout 9 on


LAYOUT_FIELDS[(StatementBody, "recalls")] = RECALLED_VERSION


@dataclass(frozen=True)
class StatementRequest:
    """Which PI a statement is for (the report machinery's `request`)."""

    pi: str
    kind: str = KIND
    as_of: str | None = None

    @property
    def scope(self) -> str:
        """`pi:EMAIL`."""
        return f"pi:{self.pi}"


@dataclass(frozen=True)
class Statement:
    """A statement's read model, shaped like `reporting.Report` (title, head, digest)."""

    request: StatementRequest
    title: str
    scope_label: str
    generated_at: datetime
    head_seq: int
    head_hash: str
    body: StatementBody
    version: int = STATEMENT_LAYOUT  # the layout whose words the digest covers (its "v")

    @cached_property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the content (the head is printed beside it)."""
        return hashlib.sha256(canonical_content(self).encode("utf-8")).hexdigest()

    @property
    def head(self) -> str:
        """`SEQ:HASH` of the checkpoint's last event."""
        return f"{self.head_seq}:{self.head_hash}"

    @property
    def checkpoint_id(self) -> str:
        """`SIZE:ROOT`: the checkpoint a statement is built on, as recorded with a send."""
        return f"{self.body.checkpoint.tree_size}:{self.body.checkpoint.root_hash}"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def in_version(statement: Statement, version: int) -> Statement:
    """The same statement read in layout `version` (its digest covers that layout's words)."""
    return statement if statement.version == version else replace(statement, version=version)


def canonical_content(statement: Statement) -> str:
    """Sorted-key compact JSON of everything a statement says except the ledger head, in the
    words of its layout."""
    data = {
        "request": plain(statement.request, statement.version),
        "title": statement.title,
        "scope": statement.scope_label,
        "generated_at": statement.generated_at,
        "body": plain(statement.body, statement.version),
    }
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def proof_document(statement: Statement) -> dict[str, Any]:
    """What a statement embeds for a borrower: the checkpoint and, per event, its hashed fields,
    previous hash, hash and inclusion proof (checked by `verify_proofs` with the key alone)."""
    body = statement.body
    return {
        "format": PROOF_FORMAT,
        "pi": statement.request.pi,
        "digest": statement.digest,
        "checkpoint": body.checkpoint.note,
        "tree_size": body.checkpoint.tree_size,
        "events": [
            {
                "seq": e.seq,
                "event": e.body,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
                "proof": list(e.proof),
            }
            for e in body.events
        ],
    }
