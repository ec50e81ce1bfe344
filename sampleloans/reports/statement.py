"""The statement to a principal investigator: holdings, dates, obligations and the events of
their loans, with the checkpoint it is built on and each event's inclusion proof embedded."""

import json
from datetime import datetime
from typing import Any

from sampleloans.dates import to_iso
from sampleloans.gcpause import gc_paused
from sampleloans.readmodels.items import state_words
from sampleloans.readmodels.report import (
    NOTHING_LEFT,
    SETTLEMENT_REPORT,
    due_after_issue,
    ended_words,
    flag_in,
    mass_in,
    no_inventory_words_of,
    not_yet_held,
    nothing_left_to_send_back,
    owed_inventory_due,
    words_in,
)
from sampleloans.readmodels.statement import (
    AS_OF_VERSION,
    COUNTED_VERSION,
    GROUPED_MASS_VERSION,
    MARKED_EVENTS_VERSION,
    NO_DATE_WORDS_VERSION,
    RECALLED_VERSION,
    SPLIT_APART_VERSION,
    STATEMENT_LAYOUT,
    WORDED_VERSION,
    CheckpointRef,
    Obligation,
    Statement,
    StatementEvent,
    StatementItem,
    StatementLoan,
    in_version,
    obligation_order,
    proof_document,
    signed_at,
)
from sampleloans.reports import layout, tables
from sampleloans.reports.common import (
    compact,
    events_in,
    held_note,
    mass,
    party_lines,
    readable,
    recalls_section,
    returning_ug,
    when,
)
from sampleloans.units import masses_grouped
from sampleloans.vocab import ItemState

PROOFS_FILE = "statement-proofs.json"
PROOFS_MIME = "application#2Fjson"  # a PDF name: '/' is written #2F
# A statement's page layout, carried as "v" in its metadata so that verify-document re-renders
# a file the way it was made: 1 = the first; 2 = the running head is shortened with '…' to end
# before 'sampleloans custody ledger' (a long PI name ran over it), and a loan no longer out
# (returned, settled) shows no inventory date (it owes none); 3 = every table cell is wrapped to
# its column (before: a string of up to 14 characters never was, and ran over into the next), and
# "Total held" names the part of it on its way back, as `status` does (before: it said nothing);
# 4 = each loan's "Held" names the part on its way back too, a received loan with nothing left
# says so there and owes its settlement report now, as `status` says (before: "0 µg" and a
# return date alone), and full-width tables end at the right margin (before: 6 pt past it);
# 5 = a loan issued but not yet shipped, or shipped and not yet received, is not called held:
# its "Held" says which, and the samples are "Samples lent to you" with a "Total lent" naming
# that part, as `status` does (before: "What you hold" and "Total held" listed it as held);
# 6 = a sample only requested (its loan not yet issued) is not listed under "What you hold",
# which says so when nothing was issued yet (before: a row "requested", 0 µg issued and held).
# 7 = the words of report layout 7: an analysis says "non-destructive" as it says "destructive",
# a sample is described as the reports describe it, with its origin ("regolith powder, CE-5
# scoop"), and a right-aligned column's heading is right-aligned over its figures (before:
# nothing said of a non-destructive analysis, the origin left out, every heading left-aligned).
# 8 = a loan item is read as every view reads it (`readmodels/items.py`): a sample the borrower
# split off shows its mass in a column "From split", not as issued, so the issued masses add up
# to what was issued, and a frozen sample's state says "(frozen)", as `samples show` does
# (before: the split mass counted as issued, the rows added up to more than was issued, and a
# frozen sample read "held").
# 9 = each recall of the PI's loans is listed: when the lender recalled it, the due date it set
# and why (before: only the recall's event row, without its reason).
# 10 = "Ledger as of": when the checkpoint the statement is built on was signed, and that what
# was recorded later is not in it (before: only "Generated at", so a statement printed days
# after its checkpoint read as that day's ledger: an extension after it still read "overdue").
# 11 = a mass of 1,000 g or more printed with its thousands grouped, "1,731.000 g", as every
# command and report layout 11 print it (before: "1731.000 g"; an event's words, which the
# digest covers, are `Reworded` by `with_grouped_masses`), and a return sent back by its due
# time no longer owed while it travels (before: overdue until it arrived; an older file is
# rebuilt so, `queries.judged_before_sent_back`).
# 12 = an inventory attestation owed no more, and its date not shown, once everything left was
# sent back by its due time, as a return is not (before: owed, overdue, while the PI held
# nothing; an older file is rebuilt so, `queries.judged_before_sent_back`).
# 13 = a loan's dates say what `status` says where there is none to keep: no inventory owed,
# and why ("— (none owed: the loan is returned)"), and a loan returned or settled, how it ended
# in place of its old return date ("— (returned 2025-10-08 10:00 UTC)"; before: a bare "—",
# and the old date as if still due; `StatementLoan.ended`, digested from 13 on); in "What you
# owe", an obligation with no date of its own (the settlement report) is due "— (now)", as
# its standing says (before: a bare "—").
# 14 = every event named by the one table of labels the command line and the reports use
# (`vocab.EVENT_LABELS`; a mass correction "Mass corrected", before: "Corrected"), and marked
# as `custody history` marks it: a back-dated event with when it was recorded, a corrected one
# "[corrected by N]" (`StatementEvent.recorded_at`, `corrected_by`; before: neither).
# 15 = a sample's state says "(frozen)" only while it is on that loan, as `status` says it
# (`queries.frozen_on_loan`; before: a sample of a partial return frozen back in the vault read
# "returned (frozen)"; `StatementItem.frozen` is a `ByLayout`).
# 16 = a table cell wraps keeping a mass with its unit and a time with its date, as report
# layout 21 (before: "CE5C0800YJFM00001 1" at a line's end, "µg" on the next;
# `tables.whole_figures`), and a name in Arabic script is drawn, in Noto Naskh Arabic, shaped and in
# reading order (before: nothing visible; `layout.other_scripts`); printed only, the digest
# unchanged.
METADATA_VERSION = STATEMENT_LAYOUT
METADATA_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
VERSION_2 = 2
FITTED_CELLS_VERSION = 3
HELD_TOTAL_VERSION = 3
HELD_PER_LOAN_VERSION = 4
FRAMED_TABLES_VERSION = 4
NOT_YET_HELD_VERSION = 5
ISSUED_ONLY_VERSION = 6
WHOLE_FIGURES_VERSION = 16


def metadata(statement: Statement, version: int = METADATA_VERSION) -> dict[str, Any]:
    """What the QR code and the PDF Keywords carry, and verify-document reads back."""
    statement = in_version(statement, version)
    return {
        "app": "sampleloans",
        "v": version,
        "kind": statement.request.kind,
        "scope": statement.request.scope,
        "head": statement.head,
        "digest": statement.digest,
        "generated_at": to_iso(statement.generated_at),
        "checkpoint": statement.checkpoint_id,
    }


def proofs_json(statement: Statement) -> bytes:
    """The embedded proofs file: sorted-key JSON, UTF-8, one trailing newline."""
    text = json.dumps(proof_document(statement), sort_keys=True, indent=1, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def render(statement: Statement, version: int = METADATA_VERSION) -> bytes:
    """The statement's PDF bytes in a page layout (`version`; invariant: the same statement
    gives the same bytes)."""
    statement = in_version(statement, version)  # its digest covers the words of `version`
    meta = compact(metadata(statement, version))
    with (
        gc_paused(),
        masses_grouped(version >= GROUPED_MASS_VERSION),  # "1,731.000 g" from layout 11
        tables.fitted_cells(version >= FITTED_CELLS_VERSION),
        layout.framed_tables(version >= FRAMED_TABLES_VERSION),
        tables.right_headings(version >= WORDED_VERSION),
        tables.whole_figures(version >= WHOLE_FIGURES_VERSION),
        layout.other_scripts(version >= WHOLE_FIGURES_VERSION),  # Arabic script, from 16
    ):
        return layout.build_pdf(
            story(statement, version),
            title=statement.title,
            doc_title=f"{statement.title}: {statement.scope_label}",
            scope=statement.scope_label,
            head=statement.head,
            digest=statement.digest,
            generated_at=when(statement.generated_at),
            created_at=statement.generated_at,
            subject=f"{statement.title}, {statement.scope_label}, ledger head {statement.head}",
            keywords=meta,
            qr_payload=meta,
            head_fits=version >= VERSION_2,
            attachments=((PROOFS_FILE, PROOFS_MIME, proofs_json(statement)),),
        )


def statement_number(statement: Statement) -> str:
    """A stable number: checkpoint size and the first digest digits."""
    return f"ST-{statement.head_seq}-{statement.digest[:8].upper()}"


def _as_of_line(checkpoint: CheckpointRef, version: int) -> list[tuple[str, str]]:
    """From layout 10 on, the moment the ledger shown stood at: when its checkpoint was signed."""
    signed = signed_at(checkpoint) if version >= AS_OF_VERSION else None
    if signed is None:
        return []
    return [
        (
            "Ledger as of",
            f"{when(signed)}, when the checkpoint was signed: what was recorded later (an "
            "extension, a return) is not in this statement",
        )
    ]


def story(statement: Statement, version: int = METADATA_VERSION) -> list[Any]:
    """The flowables of a statement."""
    body = statement.body
    st = layout.styles()
    checkpoint = body.checkpoint
    late = [o for o in owed(statement, version) if o.overdue]
    header = [
        ("Statement number", statement_number(statement)),
        ("To", f"{body.pi.name} — {body.pi.detail}"),
        ("Generated at", when(statement.generated_at)),
        *_as_of_line(checkpoint, version),
        (
            "Signed checkpoint",
            f"{checkpoint.origin}, {events_in(checkpoint.tree_size, version >= COUNTED_VERSION)}",
        ),
        ("Checkpoint signed by", checkpoint.signed_by or "—"),
        ("Checkpoint root", checkpoint.root_hash),
        ("Content digest", statement.digest),
    ]
    flags = [("Overdue", f"{o.what} of loan {o.loan}: {o.standing}") for o in late]
    marked = range(len(header), len(header) + len(flags))
    out: list[Any] = layout.title_block(statement.title, [*header, *flags], marked)
    out += layout.section(
        "Parties",
        [layout.key_values(party_lines((body.lender, body.institution, body.pi), version))],
    )
    out += _holdings(statement, version)
    out += recalls_section(body.recalls, version >= RECALLED_VERSION)
    out += _obligations(statement, version)
    out += _events(statement, version)
    note = (
        f"This statement is built on the ledger as the lender's signed checkpoint commits to it "
        f"(events 1 to {checkpoint.tree_size}, root {checkpoint.root_hash[:16]}…). The file "
        f"'{PROOFS_FILE}' embedded in this PDF holds the checkpoint and, for each event listed, "
        "the fields that were hashed, the previous hash and an RFC 6962 inclusion proof. "
        "Anyone with the lender's public key can check them without the ledger: "
        "'sampleloans verify-document THIS.pdf --public-key KEY'."
    )
    out += layout.section("How to check this statement", [layout.para(note, st["body"])])
    return out


def _inventory_due(loan: StatementLoan, version: int) -> datetime | None:
    """The inventory date a loan shows: from version 2 on, none for a loan no longer out (the
    read model keeps the column's value, so a version 1 file keeps its digest and bytes)."""
    if version >= VERSION_2:
        return owed_inventory_due(loan.status, loan.next_inventory_due_at)
    return loan.next_inventory_due_at


def _holdings(statement: Statement, version: int) -> list[Any]:
    """What the PI holds, loan by loan, and the loans' dates."""
    body = statement.body
    if not body.loans:
        return layout.section(
            "What you hold",
            [
                layout.para(
                    "You have no open loan at the date of this statement.", layout.styles()["body"]
                )
            ],
        )
    return _loans_section(statement, version) + _held_samples_section(statement, version)


def _loans_section(statement: Statement, version: int) -> list[Any]:
    """Each open loan: agreement, status, return and inventory dates, extensions, mass held."""
    loans = [
        (
            loan.number,
            loan.agreement,
            readable(loan.status),
            _return_due(loan, version),
            f"{loan.extensions_granted} of {loan.max_extensions}",
            _inventory_cell(loan, version),
            _loan_held(loan, version),
        )
        for loan in statement.body.loans
    ]
    return layout.section(
        "Your loans",
        tables.data_tables(
            ("Loan", "Agreement", "Status", "Return due", "Extensions", "Inventory due", "Held"),
            loans,
            LOAN_WIDTHS if version < HELD_PER_LOAN_VERSION else HELD_LOAN_WIDTHS,
            align_right=(6,),
        ),
    )


def _return_due(loan: StatementLoan, version: int) -> str:
    """A loan's "Return due" cell: its due date; from layout 10 on, before issue, how long
    after issue it falls due, as `status` says (before: a dash); from layout 13 on, once the
    loan is over, how it ended instead of the date that binds no more."""
    if loan.ended is not None and version >= NO_DATE_WORDS_VERSION:
        return ended_words(loan.ended)
    if loan.due_at is not None or version < COUNTED_VERSION:
        return when(loan.due_at)
    return due_after_issue(loan.status, loan.loan_period) or when(None)


def _inventory_cell(loan: StatementLoan, version: int) -> str:
    """A loan's "Inventory due" cell: its date; from layout 13 on, where none is owed, the dash
    and why, as `status` says it (before: a bare dash)."""
    due = _inventory_due(loan, version)
    if due is not None or version < NO_DATE_WORDS_VERSION:
        return when(due)
    return no_inventory_words_of(loan.status, loan.ended)


LOAN_WIDTHS = (0.14, 0.13, 0.13, 0.17, 0.1, 0.17, 0.16)
# from layout 4 on Held says more ('(999.999 mg of it on its way back)', '0 µg: nothing left to
# send back' on one line); the dates, codes and 'return in transit' still fit theirs whole
HELD_LOAN_WIDTHS = (0.13, 0.14, 0.11, 0.15, 0.08, 0.15, 0.24)


def _loan_held(loan: StatementLoan, version: int) -> str:
    """A loan's "Held" cell: from layout 4 on, in `status`'s words, naming the part on its way
    back, or that nothing is left to send back."""
    held = mass(loan.held_ug)
    if version < HELD_PER_LOAN_VERSION:
        return held
    if nothing_left_to_send_back(loan.status, loan.held_ug):
        return f"{held}: {NOTHING_LEFT}"
    coming = not_yet_held(loan.items) if version >= NOT_YET_HELD_VERSION else []
    if coming:
        return f"{held}\n({_coming_note(coming, loan.held_ug, returning_ug(loan.items))})"
    returning = returning_ug(loan.items)
    # on a line of its own, so that neither mass is cut between its digits and its unit
    return f"{held}\n({held_note(returning)})" if returning else held


def _coming_note(coming: list[tuple[int, str]], held_ug: int, returning: int) -> str:
    """The words of mass not yet held (from layout 5 on): 'issued, not yet shipped' when it is
    all of it, else each part '… of it …', with the part on its way back."""
    if len(coming) == 1 and coming[0][0] == held_ug:
        return coming[0][1]
    parts = [f"{mass(ug)} of it {words}" for ug, words in coming]
    return "; ".join([*parts, held_note(returning)] if returning else parts)


TOTAL_HELD, TOTAL_LENT = "Total held", "Total lent"


def total_words(statement: Statement, version: int = METADATA_VERSION) -> tuple[str, str]:
    """The statement's total row: "Total held", or "Total lent" when the PI does not hold all
    of it yet (from layout 5 on), and its note (the part on its way back or not yet held)."""
    items = [item for loan in statement.body.loans for item in loan.items]
    returning = returning_ug(items)
    note = held_note(returning) if version >= HELD_TOTAL_VERSION else ""
    coming = not_yet_held(items) if version >= NOT_YET_HELD_VERSION else []
    if coming:  # the PI does not hold all of it yet
        return TOTAL_LENT, _coming_note(coming, statement.body.held_ug, returning)
    return TOTAL_HELD, note


def _held_samples_section(statement: Statement, version: int) -> list[Any]:
    """Each sample of the open loans, issued and held, and the total held (from layout 3 on,
    naming the part on its way back, as `status` does)."""
    body = statement.body
    shown = [
        (loan, item)
        for loan in body.loans
        for item in loan.items
        if version < ISSUED_ONLY_VERSION or item.state != ItemState.REQUESTED
    ]
    if not shown:  # every open loan still awaits approval or issue: nothing was lent yet
        note = "No sample has been issued to you yet: each loan above awaits approval or issue."
        return layout.section("What you hold", [layout.para(note, layout.styles()["body"])])
    # from layout 8 on, a "From split" column where the PI split a sample (as `status` has it)
    split = version >= SPLIT_APART_VERSION and any(item.from_split_ug for _, item in shown)
    rows = [_held_row(loan.number, item, version, split) for loan, item in shown]
    label, note = total_words(statement, version)
    rows.append((label, "", note, "", "", *([""] if split else []), mass(body.held_ug)))
    title = (
        "Samples lent to you (sample and mass)"
        if label == TOTAL_LENT
        else "What you hold (sample and mass)"
    )
    headings: tuple[str, ...] = ("Sample", "Loan", "Description", "State", "Issued", "Held")
    widths: tuple[float, ...] = HELD_WIDTHS
    right: tuple[int, ...] = (4, 5)
    if split:
        headings, widths, right = (*headings[:5], "From split", "Held"), SPLIT_WIDTHS, (4, 5, 6)
    return layout.section(
        title, tables.data_tables(headings, rows, widths, total=True, align_right=right)
    )


HELD_WIDTHS = (0.2, 0.13, 0.29, 0.14, 0.12, 0.12)
# with "From split" (layout 8): the description gives up room; "100.000 mg" fits each mass
SPLIT_WIDTHS = (0.19, 0.12, 0.2, 0.13, 0.12, 0.12, 0.12)


def _held_row(loan: str, item: StatementItem, version: int, split: bool) -> tuple[str, ...]:
    """One sample's row of "What you hold": its state and masses in `version`'s words."""
    frozen = flag_in(item.frozen, version) if version >= SPLIT_APART_VERSION else False
    masses = (
        (item.issued_ug, item.from_split_ug, item.held_ug)
        if split
        else (item.issued_ug, item.held_ug)
    )
    return (
        item.code,
        loan,
        words_in(item.description, version),
        state_words(item.state, frozen),
        *(mass(mass_in(m, version)) for m in masses),
    )


def owed(statement: Statement, version: int = METADATA_VERSION) -> list[Obligation]:
    """What the PI owes, most pressing first: from layout 4 on, with the settlement report of
    each received loan with nothing left to send back (derived from the loan's status and mass,
    which the content digest covers, so earlier layouts keep their bytes)."""
    listed = list(statement.body.obligations)
    if version < HELD_PER_LOAN_VERSION:
        return listed
    for loan in statement.body.loans:
        if nothing_left_to_send_back(loan.status, loan.held_ug):
            standing = f"now: {NOTHING_LEFT}; {SETTLEMENT_REPORT}"
            listed.append(Obligation(loan.number, "settlement report", None, standing, False))
    return sorted(listed, key=obligation_order)


OWED_NOW = "— (now)"
"""The "Due" cell of an obligation with no date of its own: the settlement report, owed as soon
as nothing is left to send back (its "Standing" says "now: …")."""


def _owed_due(owed_: Obligation, version: int) -> str:
    """An obligation's "Due" cell: its date; from layout 13 on, one with no date of its own
    says it is owed now, as its standing does (before: a bare dash)."""
    if owed_.due_at is not None or version < NO_DATE_WORDS_VERSION:
        return when(owed_.due_at)
    return OWED_NOW


def _obligations(statement: Statement, version: int) -> list[Any]:
    """What the PI owes, most pressing first."""
    rows_owed = owed(statement, version)
    if not rows_owed:
        return layout.section(
            "What you owe",
            [
                layout.para(
                    "Nothing is owed at the date of this statement.", layout.styles()["body"]
                )
            ],
        )
    rows = [(o.loan, o.what, _owed_due(o, version), o.standing) for o in rows_owed]
    marked = [index for index, o in enumerate(rows_owed) if o.overdue]
    return layout.section(
        "What you owe (returns, inventory attestations, reports)",
        tables.data_tables(
            ("Loan", "Obligation", "Due", "Standing"),
            rows,
            (0.15, 0.22, 0.2, 0.43),
            marked=marked,
        ),
    )


EVENT_WIDTHS = (0.06, 0.15, 0.12, 0.13, 0.39, 0.15)
# from layout 3 on every cell wraps to its column: Seq is widened to hold a 7-digit event number
# (a ledger of a million events), which would otherwise be cut between its digits
FITTED_EVENT_WIDTHS = (0.07, 0.15, 0.12, 0.13, 0.38, 0.15)


def _occurred_cell(e: StatementEvent, version: int) -> str:
    """When an event happened; from layout 14 on, a back-dated one also says when it was
    recorded, as `custody history` and the custody report do."""
    if e.recorded_at is None or version < MARKED_EVENTS_VERSION:
        return when(e.occurred_at)
    return f"{when(e.occurred_at)} (recorded {when(e.recorded_at)})"


def _description_cell(e: StatementEvent, version: int) -> str:
    """What the ledger records of an event; from layout 14 on, a corrected one marked as
    `custody history` marks it, "[corrected by 110]"."""
    text = words_in(e.description, version)
    if e.corrected_by and version >= MARKED_EVENTS_VERSION:
        text += f" [corrected by {', '.join(map(str, e.corrected_by))}]"
    return text


def _events(statement: Statement, version: int) -> list[Any]:
    """Every event of the PI's loans, with its hash (the proof is in the embedded file)."""
    events = statement.body.events
    rows = (
        (
            str(e.seq),
            _occurred_cell(e, version),
            e.loan,
            words_in(e.label, version),
            _description_cell(e, version),
            e.hash[:16] + "…",
        )
        for e in events
    )
    return layout.section(
        f"Events of your loans ({len(events)}, each proved in the signed checkpoint)",
        tables.data_tables(
            ("Seq", "Occurred", "Loan", "Event", "Description", "Hash"),
            rows,
            FITTED_EVENT_WIDTHS if version >= FITTED_CELLS_VERSION else EVENT_WIDTHS,
            align_right=(0,),
        ),
    )
