"""Top-level read commands for compliance officers and researchers: balance, overdue, status."""

import sys
from typing import Annotated, Any

import typer

from sampleloans.commands.common import (
    CsvOption,
    JsonOption,
    check_output_format,
    console,
    print_fitted,
    print_json,
    reading,
)
from sampleloans.commands.listing import (
    Column,
    Fact,
    JsonlOption,
    LimitOption,
    OffsetOption,
    TableSpec,
    check_formats,
    mass_heading,
    output_format,
    page_for,
    write_rows,
)

LoanOption = Annotated[str | None, typer.Option("--loan", metavar="NUMBER", help="A loan number.")]
InstitutionOption = Annotated[
    str | None, typer.Option("--institution", metavar="SHORT", help="An institution's short name.")
]

ITEM_TERMS = ("issued", "held", "consumed", "returned", "transferred", "split", "lost")
# with a borrower's split in the loan: what came from it beside what was issued
SPLIT_ITEM_TERMS = ("issued", "from_split", *ITEM_TERMS[1:])
SAMPLE_TERMS = ("initial", "vault", "on_loan", "split", "consumed", "lost", "transferred")


def _iso(moment: Any) -> str | None:
    """A time in the JSON vocabulary (whole-second UTC 'Z'), or None."""
    from sampleloans.commands.jsonout import json_time

    return json_time(moment)


def _terms(row: Any, terms: tuple[str, ...]) -> dict[str, int]:
    return {f"{t}_ug": getattr(row, f"{t}_ug") for t in terms}


def balance(
    ctx: typer.Context,
    sample: Annotated[
        str | None,
        typer.Option("--sample", metavar="CODE", help="A sample code (its whole lineage)."),
    ] = None,
    loan: LoanOption = None,
    as_json: JsonOption = False,
    as_csv: CsvOption = False,
) -> None:
    """The mass balance term by term: loan, lineage, collection.

    The mass balance of a loan, of a sample lineage, or (staff) the whole collection.

    Loan: per item and in total, issued = held + consumed + returned + transferred + split +
    lost; with a borrower's split, issued + from split = … (issued is what the curator issued,
    from split what the borrower split off another sample of the loan). Sample: each sample of
    the lineage, initial = vault + on loan + split + consumed + lost + transferred (given away
    for good).
    Without --sample/--loan (curators and compliance officers only): collection-wide totals.

    JSON keys (docs/json.md): subject_type (loan|sample|collection), subject_key, balanced,
    item_balance {rows [sample_code, source, custody_state, frozen, issued_ug, from_split_ug,
    held_ug, consumed_ug, returned_ug, transferred_ug, split_ug, lost_ug, balanced], total {the
    same masses, balanced}}, sample_balance {rows [code, parent_code, custody_state, initial_ug,
    vault_ug, on_loan_ug, split_ug, consumed_ug, lost_ug, transferred_ug, balanced], total {…}};
    each null when not shown.

    CSV: the table's columns and rows (the total row included); the collection's two tables
    one after the other, separated by an empty line.

    \b
    Example: sampleloans --as compliance@naoc.example balance --loan L-2025-OU
    """
    check_output_format(as_json=as_json, as_csv=as_csv)
    from sampleloans.services.standing import mass_balance

    with reading(ctx) as (session, service_ctx):
        result = mass_balance(session, service_ctx, sample=sample, loan=loan)
    if as_json:
        print_json(_balance_json(result))
        return
    if as_csv:
        from sampleloans.commands.render import table_csv

        tables = [r for r in _balance_renderables(result) if hasattr(r, "columns")]
        sys.stdout.write(table_csv(*tables))
        return
    from sampleloans.commands.render import MASS_TERM_ABBREVIATIONS

    print_fitted(_balance_renderables(result), abbreviations=MASS_TERM_ABBREVIATIONS)


def _total(row: Any, terms: tuple[str, ...]) -> dict[str, Any]:
    """A total: only the mass terms and whether they balance (no fake sample code or state)."""
    return {**_terms(row, terms), "balanced": row.balanced}


def _balance_json(result: Any) -> dict[str, Any]:
    """Rows and their total in separate keys: a total is never a pseudo-row of the list."""

    def item(row: Any) -> dict[str, Any]:
        """A loan item's row: its sample, source, state and terms."""
        return {
            "sample_code": row.sample_code,
            "source": row.source,
            "custody_state": row.state,
            "frozen": row.frozen,
            **_total(row, SPLIT_ITEM_TERMS),
        }

    def sample(row: Any) -> dict[str, Any]:
        """A sample's row: its code, parent, state and terms."""
        return {
            "code": row.code,
            "parent_code": row.parent_code,
            "custody_state": row.custody_state,
            **_total(row, SAMPLE_TERMS),
        }

    totals = [t for t in (result.item_total, result.sample_total) if t is not None]
    item_balance = sample_balance = None
    if result.item_total is not None:
        item_balance = {
            "rows": [item(r) for r in result.items],
            "total": _total(result.item_total, SPLIT_ITEM_TERMS),
        }
    if result.sample_total is not None:
        sample_balance = {
            "rows": [sample(r) for r in result.samples],
            "total": _total(result.sample_total, SAMPLE_TERMS),
        }
    # the same names as `custody history` for what is looked at (one name per concept)
    return {
        "subject_type": "sample" if result.scope == "lineage" else result.scope,
        "subject_key": result.subject,
        "balanced": all(t.balanced for t in totals)
        and all(r.balanced for r in (*result.items, *result.samples)),
        "item_balance": item_balance,
        "sample_balance": sample_balance,
    }


def _check(ok: bool) -> Any:
    """A green tick, or a bold red cross (`yes`/`no` in CSV)."""
    from sampleloans.commands.render import check_fact

    return check_fact(ok)


def _balance_renderables(result: Any) -> list[Any]:
    """The loan items' balance table and equation, then the samples', where the result has
    them."""
    out: list[Any] = []
    if result.item_total is not None:
        out.append(_item_balance_table(result))
        if result.item_total.from_split_ug:
            words = (
                "issued + from split = held + consumed + returned + transferred + split + lost: "
            )
            out.append(_equation(words, result.item_total, SPLIT_ITEM_TERMS, left=2))
        else:
            words = "issued = held + consumed + returned + transferred + split + lost: "
            out.append(_equation(words, result.item_total, ITEM_TERMS))
    if result.sample_total is not None:
        out.append(_sample_balance_table(result))
        out.append(
            _equation(
                "initial = vault + on loan + split + consumed + lost + transferred: ",
                result.sample_total,
                SAMPLE_TERMS,
            )
        )
        out.extend(_split_sample_note(result.samples))
    return out


def _split_sample_note(samples: Any) -> list[str]:
    """Why a lineage's total is not the sum of its rows: a child's initial mass is the part
    its parent shows as split, counted once in the total."""
    from sampleloans.units import format_mass

    codes = {s.code for s in samples}
    children = [s for s in samples if s.parent_code in codes]
    if not children:
        return []
    moved = format_mass(sum(s.initial_ug for s in children))
    return [
        f"total: the {moved} split into {', '.join(s.code for s in children)} is counted once, "
        "in the initial mass of the sample it was split from"
    ]


def _item_balance_table(result: Any) -> Any:
    """One row per loan item, term by term, and the total in bold."""
    title = f"Mass balance of loan {result.subject}" if result.subject else "All loan items"
    from sampleloans.commands.render import StyledFact, state_facts
    from sampleloans.readmodels.items import state_words

    def state(row: Any) -> StyledFact:
        """An item's state; in CSV its words, whether frozen and its mass on its way back."""
        facts = (*state_facts(row.state, row.frozen), str(_returning_ug([row])))
        return StyledFact(state_words(row.state, row.frozen), *facts)

    rows: list[tuple[str, Any, Any]] = [(row.sample_code, state(row), row) for row in result.items]
    # the total names the part of its held mass on its way back, in `status`'s words; in CSV
    # the words are left to the table and the mass is the next column's
    returning_ug = _returning_ug(result.items)
    total_state = StyledFact(_returning(returning_ug).strip(" ()"), "", "", str(returning_ug))
    rows.append((result.item_total.sample_code, total_state, result.item_total))
    # "from split" only where a borrower split a sample: the table of other loans is unchanged
    terms = SPLIT_ITEM_TERMS if result.item_total.from_split_ug else ITEM_TERMS
    heading = Fact("state", "state", "frozen", "on its way back (µg)")
    return _terms_table(title, heading, tuple(t.replace("_", " ") for t in terms), terms, rows)


def _returning_ug(items: Any) -> int:
    """The held mass of the items in a return in transit (the rule of `status`)."""
    from sampleloans.vocab import ItemState

    return sum(i.held_ug for i in items if i.state == ItemState.RETURN_IN_TRANSIT)


def _sample_balance_table(result: Any) -> Any:
    """One row per sample of the lineage (or the collection), term by term, the total in bold."""
    title = f"Mass balance of the lineage of {result.subject}" if result.subject else "All samples"
    headings = ("initial", "vault", "on loan", "split to children", "consumed", "lost")
    rows = [(row.code, row.custody_state, row) for row in (*result.samples, result.sample_total)]
    return _terms_table(title, "custody state", (*headings, "transferred"), SAMPLE_TERMS, rows)


def _terms_table(
    title: str,
    state_heading: str,
    headings: tuple[str, ...],
    terms: tuple[str, ...],
    rows: list[tuple[str, Any, Any]],  # a state: its words, or a `StyledFact` (more for CSV)
) -> Any:
    """A mass balance table: a row per (code, state, balance), a column per term (`headings`
    over the balance's `TERM_ug` values), whether it balances; the last row (the total) bold."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.render import mass_fact

    table = Table(title=Text(title))
    table.add_column("sample", no_wrap=True)
    table.add_column(state_heading)
    for heading in headings:
        table.add_column(mass_heading(heading), justify="right", no_wrap=True)
    table.add_column(Fact("=", "balanced"), justify="center")
    for index, (code, state, balance) in enumerate(rows):
        table.add_row(
            Text(code),
            Text(state.replace("_", " ")) if isinstance(state, str) else state,
            *(mass_fact(getattr(balance, f"{term}_ug")) for term in terms),
            _check(balance.balanced),
            style="bold" if index == len(rows) - 1 else "",
        )
    return table


def _equation(words: str, total: Any, terms: tuple[str, ...], left: int = 1) -> Any:
    """The balance equation in words, then in the total's masses, green or red: the sum of the
    first `left` terms equals the sum of the others."""
    from rich.text import Text

    from sampleloans.units import format_mass

    def side(names: tuple[str, ...]) -> str:
        """The masses of some terms, joined by '+'."""
        return " + ".join(format_mass(getattr(total, f"{x}_ug")) for x in names)

    return Text(
        words
        + f"{side(terms[:left])} = "
        + side(terms[left:])
        + (" ✓" if total.balanced else " ✗ DOES NOT BALANCE"),
        style="green" if total.balanced else "bold red",
    )


def overdue(
    ctx: typer.Context,
    institution: InstitutionOption = None,
    limit: LimitOption = None,
    offset: OffsetOption = 0,
    as_json: JsonOption = False,
    as_jsonl: JsonlOption = False,
    as_csv: CsvOption = False,
) -> None:
    """Loans and inventories past due, most days late first.

    As of now: loans past their due date and inventories past due.

    Curators and compliance officers see every institution (or the one given); researchers see
    only their own. Exit 0 even when some are overdue.

    JSON (docs/json.md): an array of {loan_number, institution, pi_email, what
    (return|inventory), due_at, days_late}, like every list command; --jsonl: one per line.

    \b
    Example: sampleloans --as compliance@naoc.example overdue --institution OU
    """
    check_formats(as_json=as_json, as_jsonl=as_jsonl, as_csv=as_csv)
    from itertools import islice

    from sampleloans.services.standing import overdue as find_overdue

    fmt = output_format(as_json=as_json, as_jsonl=as_jsonl, as_csv=as_csv)
    with reading(ctx) as (session, service_ctx):
        page = page_for(limit, offset, table=fmt == "table")
        # a sequence that makes each row as it is written: never a list of every row
        rows = find_overdue(session, service_ctx, institution=institution)
        if not rows and fmt == "table":  # CSV: the header alone says "none" to a spreadsheet
            console().print("Nothing is overdue.", style="green")
            return
        # the page's rows without adding offset and limit, which may pass islice's largest index
        write_rows(
            islice(islice(rows, page.offset, None), page.limit),
            page=page,
            total=lambda: len(rows),
            to_json=_overdue_json,
            spec=OVERDUE_TABLE,
            fmt=fmt,
        )


def _overdue_json(r: Any) -> dict[str, Any]:
    return {
        "loan_number": r.loan_number,
        "institution": r.institution,
        "pi_email": r.pi_email,
        "what": r.what,
        "due_at": _iso(r.due_at),
        "days_late": r.days_late,
    }


def _overdue_cells(r: Any) -> list[Any]:
    from rich.text import Text

    from sampleloans.commands.render import time_fact

    return [
        Text(r.loan_number),
        Text(r.institution),
        Text(r.pi_email),
        "return" if r.what == "return" else "inventory",
        time_fact(r.due_at),
        str(r.days_late),
    ]


OVERDUE_TABLE = TableSpec(
    title="Overdue loans and inventories",
    columns=(
        Column("loan", no_wrap=True),
        Column("institution", no_wrap=True),
        Column("PI", no_wrap=True),
        Column("overdue", no_wrap=True),
        Column("was due (UTC)", no_wrap=True),
        Column("days late", right=True, no_wrap=True),
    ),
    cells=_overdue_cells,
    empty="Nothing is overdue.",
    row_style=lambda _row: "red",
)


def status(
    ctx: typer.Context,
    loan: LoanOption = None,
    institution: InstitutionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each loan of an institution: what is held, due, owed.

    Per loan: samples, mass held, due date, extensions, inventory, open obligations and the
    custody state of each item.

    Researchers see their own institution; curators and compliance officers must give --loan or
    --institution.

    JSON keys (docs/json.md): loans [number, institution, pi_email, status, held_ug,
    returning_ug (the part of held_ug on its way back), due_at, loan_period (as requested: due
    that long after issue), days_left (negative when overdue), overdue, sent_back_in_time
    (everything left sent back by the due time: the return met), recalled_at,
    inventory_overdue, extensions_granted, max_extensions, next_inventory_due_at,
    inventory_days_left, obligations [text], returned_at (the last return shipment's arrival),
    settled_at, closed_at, withdrawn_reason (withdrawn before issue: why; else null),
    items [the shape of `loans show`'s items: sample_code, source, custody_state, frozen,
    issued_ug (by the curator), from_split_ug (split off another sample of the loan by the
    borrower), held_ug, consumed_ug, returned_ug, transferred_ug, split_ug, lost_ug]].

    \b
    Example: sampleloans --as anand@open.example status
    """
    from sampleloans.services.standing import loan_status

    with reading(ctx) as (session, service_ctx):
        rows = loan_status(session, service_ctx, loan=loan, institution=institution)
    if as_json:
        print_json({"loans": [_standing_json(r) for r in rows]})
        return
    out = console()
    if not rows:
        out.print("No loans.")
        return
    for r in rows:
        out.print(_standing_table(r))


def _standing_json(r: Any) -> dict[str, Any]:
    from sampleloans.units import format_period

    return {
        "number": r.number,
        "institution": r.institution,
        "pi_email": r.pi_email,
        "status": r.status,
        "held_ug": r.held_ug,
        "returning_ug": r.returning_ug,
        "due_at": _iso(r.due_at),
        "loan_period": format_period(r.loan_period),
        "days_left": r.days_left,
        "overdue": r.overdue,
        "sent_back_in_time": r.sent_back_in_time,
        "recalled_at": _iso(r.recalled_at),
        "extensions_granted": r.extensions_granted,
        "max_extensions": r.max_extensions,
        "next_inventory_due_at": _iso(r.next_inventory_due_at),
        "inventory_days_left": r.inventory_days_left,
        "inventory_overdue": r.inventory_overdue,
        "obligations": list(r.obligations),
        "returned_at": _iso(r.returned_at),
        "settled_at": _iso(r.settled_at),
        "closed_at": _iso(r.closed_at),
        "withdrawn_reason": r.withdrawn_reason,
        # one item shape with `loans show` and `balance`: the same keys, the same words
        "items": [
            {
                "sample_code": i.sample_code,
                "source": i.source,
                "custody_state": i.state,
                "frozen": i.frozen,
                **_terms(i, SPLIT_ITEM_TERMS),
            }
            for i in r.items
        ],
    }


def _returning(returning_ug: int) -> str:
    """What of the mass held is on its way back, when some is (the borrower no longer has it)."""
    from sampleloans.units import format_mass

    return f" ({format_mass(returning_ug)} of it on its way back)" if returning_ug else ""


def _mass_words(r: Any) -> str:
    """What the borrower is accountable for, in words true of where it is: 'held …' once
    received; '… issued, not yet shipped' or '… shipped, not yet received' before (the borrower
    does not hold it yet; the statement's words)."""
    from sampleloans.readmodels.report import not_yet_held
    from sampleloans.units import format_mass

    parts = not_yet_held(r.items)
    if not r.held_ug or sum(ug for ug, _ in parts) != r.held_ug:
        return f"held {format_mass(r.held_ug)}{_returning(r.returning_ug)}"
    return ", ".join(f"{format_mass(ug)} {words}" for ug, words in parts)


def _days(days: int | None, overdue: bool, sent_back_in_time: bool = False) -> str:
    """' (3 days left)', ' (due today)', ' (OVERDUE by 2 days)' or ' (OVERDUE since today)'
    (the statement's words); of a return the service says was met by sending everything back
    by its due time, ' (sent back in time)' (`ledger/overdue.py`)."""
    if sent_back_in_time:
        return " (sent back in time)"
    if days is None:
        return ""
    if overdue:
        late = -days
        return (
            " (OVERDUE since today)"
            if late <= 0
            else f" (OVERDUE by {late} day{'s' * (late != 1)})"
        )
    return " (due today)" if days == 0 else f" ({days} day{'s' * (days != 1)} left)"


def _standing_table(r: Any) -> Any:
    """One loan's standing for its researcher: the summary lines, then each item's state."""
    from rich.console import Group

    from sampleloans.commands.render import fitted

    return Group(*_standing_lines(r), fitted(_standing_items(r), console().width))


def _standing_lines(r: Any) -> list[Any]:
    """The loan, its mass held and due date, extensions and inventory, obligations; a late
    return or inventory in red."""
    from rich.text import Text

    from sampleloans.commands.render import extensions_words
    from sampleloans.dates import format_datetime
    from sampleloans.readmodels.report import no_inventory_words

    overdue_now = r.overdue
    inventory_late = r.inventory_overdue
    due = format_datetime(r.due_at) if r.due_at else _due_from_issue(r)
    inventory = (
        format_datetime(r.next_inventory_due_at)
        if r.next_inventory_due_at
        else no_inventory_words(r.status, withdrawn=r.withdrawn_reason is not None)
    )
    said = "withdrawn" if r.withdrawn_reason else r.status.replace("_", " ")
    return [
        Text(f"Loan {r.number} ({r.institution}, PI {r.pi_email}): {said}", style="bold"),
        Text(
            f"  {'nothing issued' if r.withdrawn_reason else _mass_words(r)}; "
            f"{_ended(r) or f'due {due}'}"
            f"{_days(r.days_left, r.overdue, r.sent_back_in_time)}{_recalled(r)}",
            style="red" if overdue_now else "",
        ),
        Text(
            f"  extensions "
            f"{extensions_words(r.extensions_granted, r.max_extensions, r.agreement_ended)}; "
            f"next inventory "
            f"{inventory}{_days(r.inventory_days_left, r.inventory_overdue)}",
            style="red" if inventory_late else "",
        ),
        Text(
            "  obligations: " + ("; ".join(r.obligations) or "none"),
            style="red" if overdue_now or inventory_late else "",
        ),
    ]


def _ended(r: Any) -> str:
    """Once all is back (or the loan is withdrawn) the due date no longer binds: when it came
    back, was settled and closed, or why it was withdrawn ('' while the loan is not over)."""
    from sampleloans.dates import format_datetime
    from sampleloans.vocab import ENDED_LOAN_STATUSES

    if r.withdrawn_reason is not None:  # withdrawn, even with an empty reason (an import)
        return f"withdrawn {format_datetime(r.closed_at)}: {r.withdrawn_reason}"
    if r.status not in ENDED_LOAN_STATUSES:
        return ""
    moments = (("returned", r.returned_at), ("settled", r.settled_at), ("closed", r.closed_at))
    return "; ".join(f"{word} {format_datetime(at)}" for word, at in moments if at)


def _due_from_issue(r: Any) -> str:
    """Before issue there is no due date yet: '1 year after issue' tells the PI how long the
    loan is for (once issued and back, nothing is due: '—')."""
    from sampleloans.readmodels.report import due_after_issue

    return due_after_issue(r.status, r.loan_period) or "—"


def _recalled(r: Any) -> str:
    """'; recalled 2025-06-02 08:00 UTC' when the lender brought the due date forward: the PI
    reads why the loan is due earlier than it was lent for."""
    from sampleloans.dates import format_datetime

    return f"; recalled {format_datetime(r.recalled_at)}" if r.recalled_at else ""


def _standing_items(r: Any) -> Any:
    """Each item's custody state, issued and held mass (in transit in yellow)."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.readmodels.items import state_words
    from sampleloans.units import format_mass

    # "from split" only where the borrower split a sample: what the curator issued stays apart
    split = any(i.from_split_ug for i in r.items)
    table = Table()
    table.add_column("sample", no_wrap=True)
    table.add_column("custody state")
    for heading in ("issued", "from split", "held") if split else ("issued", "held"):
        table.add_column(heading, justify="right", no_wrap=True)
    for i in r.items:
        masses = (i.issued_ug, i.from_split_ug, i.held_ug) if split else (i.issued_ug, i.held_ug)
        table.add_row(
            Text(i.sample_code),
            Text(state_words(i.state, i.frozen)),
            *(format_mass(m) for m in masses),
            style="yellow" if "transit" in i.state else "",
        )
    return table
