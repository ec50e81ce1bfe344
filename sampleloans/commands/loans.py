"""`sampleloans loans …`: Loans through their whole life."""

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.commands.common import (
    AtOption,
    CsvOption,
    JsonOption,
    console,
    parse_at,
    print_fitted,
    reading,
    writing,
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
from sampleloans.text import counted
from sampleloans.vocab import LoanStatus, in_words

if TYPE_CHECKING:
    from sampleloans.services.loan_views import DiscrepancyView, LoanDetail, LoanRow

app = typer.Typer(help="Loans through their whole life.", no_args_is_help=True)

Number = Annotated[str, typer.Argument(metavar="NUMBER", help="The loan number, e.g. L-2025-001.")]
Container = Annotated[
    str, typer.Option("--container", metavar="CONTAINER", help="The sealed container.")
]
Seal = Annotated[
    str, typer.Option("--seal", metavar="SEAL", help="The seal number on the container.")
]
Method = Annotated[
    str,
    typer.Option(
        "--method", metavar="METHOD", help="courier, hand-carried, diplomatic-pouch or post."
    ),
]
SealIntact = Annotated[
    bool, typer.Option("--seal-intact/--seal-broken", help="Whether the seal arrived intact.")
]
Condition = Annotated[
    str,
    typer.Option(
        "--condition", metavar="CONDITION", help="Condition as found on arrival, e.g. pristine."
    ),
]
ReleasedBy = Annotated[
    str | None,
    typer.Option(
        "--released-by",
        metavar="WHO",
        help="Who handed the samples over: a registered person's e-mail or a name "
        "(default: see README, 'Hand-overs').",
    ),
]
ReceivedBy = Annotated[
    str | None,
    typer.Option(
        "--received-by",
        metavar="WHO",
        help="Who took the samples: a registered person's e-mail or a name "
        "(default: see README, 'Hand-overs').",
    ),
]
Courier = Annotated[
    str | None,
    typer.Option("--courier", metavar="WHO", help="The courier: a registered e-mail or a name."),
]
Witness = Annotated[
    str | None,
    typer.Option("--witness", metavar="WHO", help="A witness: a registered e-mail or a name."),
]


def _parties(
    released_by: str | None, received_by: str | None, courier: str | None, witness: str | None
) -> dict[str, str | None]:
    """The hand-over persons as service arguments (None: the documented default)."""
    return {
        "released_by": released_by,
        "received_by": received_by,
        "courier": courier,
        "witness": witness,
    }


def parse_weighed(values: list[str] | None) -> dict[str, int]:
    """`--weighed CODE=MASS` options as {code: micrograms}."""
    from sampleloans.errors import InvalidInput
    from sampleloans.units import parse_mass_ug, quote_input

    result: dict[str, int] = {}
    for value in values or []:
        code, sep, mass = value.partition("=")
        code = code.strip()
        if not sep or not code or not mass.strip():
            raise InvalidInput(
                f"--weighed: {quote_input(value)} is not CODE=MASS; write e.g. "
                "CE5C0200YJFM00112=19.5mg"
            )
        if code in result:
            raise InvalidInput(f"--weighed: {code} is given twice; weigh each sample once")
        result[code] = parse_mass_ug(mass, f"--weighed {code}", allow_zero=True)
    return result


def _say(text: str) -> None:
    """One confirmation line, user text printed literally."""
    console().print(text, markup=False)


@app.command("request")
def request(
    ctx: typer.Context,
    number: Number,
    agreement: Annotated[
        str, typer.Option("--agreement", metavar="NUMBER", help="The agreement it falls under.")
    ],
    pi: Annotated[
        str, typer.Option("--pi", metavar="EMAIL", help="E-mail of the principal investigator.")
    ],
    sample: Annotated[
        list[str], typer.Option("--sample", metavar="CODE", help="A sample code (repeatable).")
    ],
    purpose: Annotated[
        str, typer.Option("--purpose", metavar="PURPOSE", help="research or public-welfare.")
    ] = ("research"),
    transfer_type: Annotated[
        str, typer.Option("--transfer-type", metavar="TYPE", help="loan, gift or exhibition.")
    ] = "loan",
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            metavar="PERIOD",
            help="Loan period, e.g. '12 months' (default: the maximum).",
        ),
    ] = None,
    at: AtOption = None,
) -> None:
    """Record a PI's request for whole samples under an agreement.

    \b
    Example: sampleloans loans request L-1 --agreement AG-OU --pi anand@open.example \\
      --sample CE5C0200YJFM00112 --period "12 months"
    """
    from sampleloans.services import loans
    from sampleloans.services.common import (
        LENDABLE_PURPOSES,
        TRANSFER_TYPES,
        require_choice,
        require_distinct,
    )
    from sampleloans.units import parse_period

    with writing(ctx) as (session, service_ctx):
        envelope = loans.request_loan(
            session,
            service_ctx,
            number=number,
            agreement=agreement,
            pi=pi,
            samples=require_distinct(sample, "--sample", "sample"),
            purpose_class=require_choice(purpose, "--purpose", LENDABLE_PURPOSES),
            transfer_type=require_choice(transfer_type, "--transfer-type", TRANSFER_TYPES),
            loan_period=parse_period(period, "--period") if period else None,
            occurred_at=parse_at(at),
        )
    _say(
        f"Loan {number} requested: {counted(len(sample), 'sample')} under agreement "
        f"{agreement} (event {envelope.seq})."
    )


@app.command("approve")
def approve(ctx: typer.Context, number: Number, at: AtOption = None) -> None:
    """Approve a requested loan.

    \b
    Example: sampleloans loans approve L-1
    """
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        envelope = loans.approve_loan(session, service_ctx, number=number, occurred_at=parse_at(at))
    _say(f"Loan {number} approved (event {envelope.seq}).")


@app.command("issue")
def issue(
    ctx: typer.Context,
    number: Number,
    at: AtOption = None,
    released_by: ReleasedBy = None,
    received_by: ReceivedBy = None,
    courier: Courier = None,
    witness: Witness = None,
) -> None:
    """Issue an approved loan: its samples leave the vault, whole.

    \b
    Example: sampleloans loans issue L-1
    """
    from sampleloans.dates import format_datetime
    from sampleloans.services import loans
    from sampleloans.units import format_mass

    with writing(ctx) as (session, service_ctx):
        issued = loans.issue_loan(
            session,
            service_ctx,
            number=number,
            occurred_at=parse_at(at),
            **_parties(released_by, received_by, courier, witness),
        )
    mass = format_mass(sum(i.issued_ug for i in issued.items))
    due = issued.loan.due_at
    due_text = format_datetime(due) if due else "not set"
    _say(
        f"Loan {number} issued: {counted(len(issued.items), 'sample')}, {mass} left the vault; "
        f"due {due_text} (event {issued.seq})."
    )


@app.command("ship")
def ship(
    ctx: typer.Context,
    number: Number,
    container: Container,
    seal: Seal,
    method: Method = "courier",
    at: AtOption = None,
    released_by: ReleasedBy = None,
    received_by: ReceivedBy = None,
    courier: Courier = None,
    witness: Witness = None,
) -> None:
    """Release an issued loan's samples for shipment.

    They travel in a sealed container.

    \b
    Example: sampleloans loans ship L-1 --container "N2 box 7" --seal S-0042 \\
      --method hand-carried
    """
    from sampleloans.services import loans
    from sampleloans.services.common import require_choice

    with writing(ctx) as (session, service_ctx):
        envelope = loans.ship_loan(
            session,
            service_ctx,
            number=number,
            container=container,
            seal_number=seal,
            method=require_choice(method, "--method", loans.SHIPPING_METHODS),
            occurred_at=parse_at(at),
            **_parties(released_by, received_by, courier, witness),
        )
    _say(f"Loan {number} shipped in {container}, seal {seal} (event {envelope.seq}).")


@app.command("receive")
def receive(
    ctx: typer.Context,
    number: Number,
    seal_intact: SealIntact,
    condition: Condition,
    weighed: Annotated[
        list[str] | None,
        typer.Option(
            "--weighed",
            metavar="CODE=MASS",
            help="CODE=MASS weighed on arrival (repeatable); a sample not named is recorded "
            "at the mass shipped.",
        ),
    ] = None,
    at: AtOption = None,
    released_by: ReleasedBy = None,
    received_by: ReceivedBy = None,
    courier: Courier = None,
    witness: Witness = None,
) -> None:
    """Record the borrower's receipt: seal, condition, masses.

    It records the seal, the condition and the weighed masses.

    \b
    Example: sampleloans loans receive L-1 --seal-intact --condition pristine \\
      --weighed CE5C0200YJFM00112=20mg
    """
    from sampleloans.services import loans
    from sampleloans.services.loan_views import weighing_discrepancies

    with writing(ctx) as (session, service_ctx):
        envelope = loans.receive_loan(
            session,
            service_ctx,
            number=number,
            seal_intact=seal_intact,
            condition=condition,
            weighed_ug=parse_weighed(weighed),
            occurred_at=parse_at(at),
            **_parties(released_by, received_by, courier, witness),
        )
        differing = weighing_discrepancies(session, envelope.seq)
    seal_text = "seal intact" if seal_intact else "SEAL BROKEN"
    _say(f"Loan {number} received by the borrower, {seal_text} (event {envelope.seq}).")
    # a receipt entered --at a time: the loss it suggests is dated then too (recorded now, it
    # would come after every later event of the sample typed --at a time before now)
    when = envelope.occurred_at if at is not None else None
    for discrepancy in differing:
        _say(_receipt_discrepancy(number, discrepancy, when))


def _receipt_discrepancy(number: str, d: "DiscrepancyView", at: datetime | None = None) -> str:
    """A sample weighed on arrival other than issued: the ledger still counts what was
    issued as held (a return must account for it), so a shortfall is reported as a loss,
    dated `at` when the receipt was."""
    from sampleloans.services.common import at_option
    from sampleloans.units import format_mass, typed_mass

    weighed = f"{d.sample} weighed {format_mass(d.weighed_ug)}"
    issued = f"the {format_mass(d.expected_ug)} issued"
    still = f"the ledger still counts {format_mass(d.expected_ug)} as held"
    if d.difference_ug > 0:
        return (
            f"{weighed}, {format_mass(d.difference_ug)} more than {issued}: kept as a weighing "
            f"discrepancy ('loans show {number}'); {still}."
        )
    missing = format_mass(-d.difference_ug)
    typed = typed_mass(-d.difference_ug)  # '200µg', '1200.000g': no quotes needed
    return (
        f"{weighed}, {missing} less than {issued}: {still}; if it is lost, report it "
        f"('incidents report --sample {d.sample} --kind loss --mass-lost {typed} "
        f"--description …{at_option(at)}')."
    )


@app.command("consume")
def consume(
    ctx: typer.Context,
    number: Number,
    sample: Annotated[str, typer.Option("--sample", metavar="CODE", help="The sample analysed.")],
    technique: Annotated[
        str, typer.Option("--technique", metavar="TECHNIQUE", help="The analysis, e.g. SIMS.")
    ],
    mass: Annotated[str, typer.Option("--mass", metavar="MASS", help="Mass used, e.g. '2 mg'.")],
    destructive: Annotated[
        bool,
        typer.Option(
            "--destructive/--non-destructive",
            help="Whether the analysis destroys material (needs the agreement's permission). "
            "Either way the mass is consumed: it no longer has to come back.",
        ),
    ],
    at: AtOption = None,
) -> None:
    """Record mass used by one analysis of a held sample.

    A non-destructive analysis still consumes its --mass: that mass leaves what the borrower
    holds and no longer has to come back (issued = held + consumed + returned + …). Record
    only the mass that will not be returned; an analysis that uses nothing needs no record.

    \b
    Example: sampleloans loans consume L-1 --sample CE5C0200YJFM00112 --technique SIMS \\
      --mass "2 mg" --destructive
    """
    from sampleloans.services import loans
    from sampleloans.units import format_mass, parse_mass_ug

    with writing(ctx) as (session, service_ctx):
        mass_ug = parse_mass_ug(mass, "--mass")
        envelope = loans.consume(
            session,
            service_ctx,
            number=number,
            sample=sample,
            technique=technique,
            mass_ug=mass_ug,
            destructive=destructive,
            occurred_at=parse_at(at),
        )
    # say plainly that even a non-destructive use takes mass out of what must come back
    kind = "destructive" if destructive else "non-destructive"
    _say(
        f"Loan {number}: {format_mass(mass_ug)} of {sample} consumed by {technique} "
        f"({kind}); it no longer has to come back (event {envelope.seq})."
    )


@app.command("split")
def split(
    ctx: typer.Context,
    number: Number,
    sample: Annotated[str, typer.Option("--sample", metavar="CODE", help="The held sample split.")],
    child: Annotated[
        str,
        typer.Option(
            "--child", metavar="SUFFIX", help="Suffix or full code of the new piece, e.g. -G1."
        ),
    ],
    mass: Annotated[
        str, typer.Option("--mass", metavar="MASS", help="Mass of the new piece, e.g. '1 mg'.")
    ],
    at: AtOption = None,
) -> None:
    """Record the borrower's split; the piece stays on the loan.

    The split is one the borrower made; the piece stays on the same loan.

    \b
    Example: sampleloans loans split L-1 --sample CE5C0200YJFM00112 --child=-G1 --mass "1 mg"
    """
    from sampleloans.services import loans
    from sampleloans.units import format_mass, parse_mass_ug

    with writing(ctx) as (session, service_ctx):
        split_off = loans.borrower_split(
            session,
            service_ctx,
            number=number,
            parent=sample,
            child=child,
            mass_ug=parse_mass_ug(mass, "--mass"),
            occurred_at=parse_at(at),
        )
    (piece,) = split_off.samples
    _say(
        f"Loan {number}: {piece.code} ({format_mass(piece.initial_mass_ug)}) split from "
        f"{piece.parent_code} (event {split_off.seq})."
    )


@app.command("return")
def return_(
    ctx: typer.Context,
    number: Number,
    container: Container,
    seal: Seal,
    method: Method = "courier",
    sample: Annotated[
        list[str] | None,
        typer.Option(
            "--sample", metavar="CODE", help="A held sample to return (repeatable; default all)."
        ),
    ] = None,
    at: AtOption = None,
    released_by: ReleasedBy = None,
    received_by: ReceivedBy = None,
    courier: Courier = None,
    witness: Witness = None,
) -> None:
    """Release held samples for the return trip.

    All held samples, or the named ones.

    \b
    Example: sampleloans loans return L-1 --container "N2 box 7" --seal S-0043
    """
    from sampleloans.services import loans
    from sampleloans.services.common import require_choice, require_distinct

    with writing(ctx) as (session, service_ctx):
        envelope = loans.release_return(
            session,
            service_ctx,
            number=number,
            container=container,
            seal_number=seal,
            method=require_choice(method, "--method", loans.SHIPPING_METHODS),
            samples=require_distinct(sample, "--sample", "sample") if sample else None,
            occurred_at=parse_at(at),
            **_parties(released_by, received_by, courier, witness),
        )
    _say(f"Loan {number} released for return in {container}, seal {seal} (event {envelope.seq}).")


@app.command("accept-return")
def accept_return(
    ctx: typer.Context,
    number: Number,
    seal_intact: SealIntact,
    condition: Condition,
    weighed: Annotated[
        list[str],
        typer.Option(
            "--weighed", metavar="CODE=MASS", help="CODE=MASS weighed on return (one per sample)."
        ),
    ],
    at: AtOption = None,
    released_by: ReleasedBy = None,
    received_by: ReceivedBy = None,
    courier: Courier = None,
    witness: Witness = None,
) -> None:
    """Accept returned samples back into the vault.

    Each must weigh what is accountable.

    Several returns of one loan may travel at once: weigh the samples of one shipment.

    \b
    Example: sampleloans loans accept-return L-1 --seal-intact --condition pristine \\
      --weighed CE5C0200YJFM00112=18mg
    """
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        accepted = loans.accept_return(
            session,
            service_ctx,
            number=number,
            seal_intact=seal_intact,
            condition=condition,
            weighed_ug=parse_weighed(weighed),
            occurred_at=parse_at(at),
            **_parties(released_by, received_by, courier, witness),
        )
    after = _after_return(accepted.loan.status)
    _say(f"Loan {number} return accepted; {after} (event {accepted.seq}).")


def _after_return(status: str) -> str:
    """What an accepted return leaves, in words: all back, or a partial return."""
    from sampleloans.vocab import state_words

    if status == LoanStatus.RECEIVED:
        return "a partial return: the borrower still holds the other samples"
    if status == LoanStatus.RETURN_IN_TRANSIT:
        return "a partial return: the other samples are still on their way back"
    return f"every sample is accounted for; the loan is {state_words(status)}"


@app.command("extend")
def extend(
    ctx: typer.Context,
    number: Number,
    period: Annotated[
        str, typer.Option("--period", metavar="PERIOD", help="How much longer, e.g. P6M.")
    ],
    approver: Annotated[
        str, typer.Option("--approver", metavar="EMAIL", help="E-mail of the approving curator.")
    ],
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why the extension is granted.")
    ],
    at: AtOption = None,
) -> None:
    """Extend a loan's due date within its agreement's limits.

    The agreement must be in force, the loan may not have used all the extensions it allows,
    the period may not be longer than one extension may be, and the new due date must be later
    than the extension (--at) and no later than the end of the agreement's term.

    \b
    Example: sampleloans loans extend L-1 --period P6M --approver curator@naoc.example \\
      --reason "instrument downtime"
    """
    from sampleloans.dates import format_datetime
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        extended = loans.extend_loan(
            session,
            service_ctx,
            number=number,
            period=parse_period_option(period),
            approver=approver,
            reason=reason,
            occurred_at=parse_at(at),
        )
    due = extended.loan.due_at
    due_text = format_datetime(due) if due else "not set"
    _say(f"Loan {number} extended; now due {due_text} (event {extended.seq}).")


def parse_period_option(text: str) -> str:
    """The --period option as a canonical ISO period."""
    from sampleloans.units import parse_period

    return parse_period(text, "--period")


@app.command("recall")
def recall(
    ctx: typer.Context,
    number: Number,
    due: Annotated[
        str,
        typer.Option(
            "--due", metavar="DATETIME", help="When it must be back (ISO 8601, UTC if no offset)."
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why the loan is recalled.")
    ],
    at: AtOption = None,
) -> None:
    """Recall a loan: it is due back by the given time.

    \b
    Example: sampleloans loans recall L-1 --due 2025-06-30T00:00:00Z --reason "audit"
    """
    from sampleloans.dates import format_datetime, parse_datetime
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        recalled = loans.recall_loan(
            session,
            service_ctx,
            number=number,
            due_at=parse_datetime(due, "--due"),
            reason=reason,
            occurred_at=parse_at(at),
        )
    due_at = recalled.loan.due_at
    due_text = format_datetime(due_at) if due_at else "not set"
    _say(f"Loan {number} recalled; due back {due_text} (event {recalled.seq}).")


@app.command("inventory")
def inventory(
    ctx: typer.Context,
    number: Number,
    note: Annotated[str | None, typer.Option("--note", metavar="TEXT", help="A remark.")] = None,
    at: AtOption = None,
) -> None:
    """Attest the annual inventory of what the borrower holds.

    \b
    Example: sampleloans --as anand@open.example loans inventory L-1 --note "all present"
    """
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        envelope = loans.attest_inventory(
            session, service_ctx, number=number, note=note, occurred_at=parse_at(at)
        )
    _say(f"Loan {number} inventory attested (event {envelope.seq}).")


@app.command("settle")
def settle(
    ctx: typer.Context,
    number: Number,
    obligations: Annotated[
        str,
        typer.Option(
            "--obligations", metavar="TEXT", help="The obligations met (reports, papers)."
        ),
    ],
    at: AtOption = None,
) -> None:
    """Settle a loan whose every microgram is accounted for.

    \b
    Example: sampleloans loans settle L-1 --obligations "final report received"
    """
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        envelope = loans.settle_loan(
            session, service_ctx, number=number, obligations=obligations, occurred_at=parse_at(at)
        )
    _say(f"Loan {number} settled (event {envelope.seq}).")


@app.command("close")
def close(ctx: typer.Context, number: Number, at: AtOption = None) -> None:
    """Close a settled loan.

    \b
    Example: sampleloans loans close L-1
    """
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        envelope = loans.close_loan(session, service_ctx, number=number, occurred_at=parse_at(at))
    _say(f"Loan {number} closed (event {envelope.seq}).")


@app.command("withdraw")
def withdraw(
    ctx: typer.Context,
    number: Number,
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            metavar="TEXT",
            help="Why: withdrawn by the PI, or declined by the lender and why.",
        ),
    ],
    at: AtOption = None,
) -> None:
    """Withdraw a loan never issued (requested or approved).

    The PI withdrew it or the lender declined it. It is closed; its samples never left the vault.

    \b
    Example: sampleloans loans withdraw L-1 --reason "declined: sample class not available"
    """
    from sampleloans.services import loans

    with writing(ctx) as (session, service_ctx):
        envelope = loans.withdraw_loan(
            session, service_ctx, number=number, reason=reason, occurred_at=parse_at(at)
        )
    _say(f"Loan {number} withdrawn and closed; nothing was issued (event {envelope.seq}).")


# --- reads ------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A view as JSON values in the one vocabulary of docs/json.md."""
    from sampleloans.commands.jsonout import to_json

    return to_json(value)


def _when(value: datetime | None) -> str:
    from sampleloans.dates import format_datetime

    return format_datetime(value) if value else "—"


def _after_issue(d: "LoanDetail") -> str | None:
    """'12 months after issue' for a loan not yet issued, as `status` says it."""
    from sampleloans.readmodels.report import due_after_issue

    return due_after_issue(d.status, d.loan_period)


def _no_inventory(d: "LoanDetail") -> str:
    """Why a loan has no next inventory date, as `status` says it."""
    from sampleloans.readmodels.report import no_inventory_words

    return no_inventory_words(d.status, withdrawn=d.withdrawn_reason is not None)


def _due_text(
    due: datetime | None,
    days_left: int | None,
    overdue: bool,
    *,
    cell: bool = False,
    undated: str | None = None,
    sent_back_in_time: bool = False,
) -> Any:
    """The due date with days left, or days overdue in red; `cell`: in a table's column whose
    heading says UTC; `undated`: what a loan with no such date says instead (not yet issued:
    how long after issue; an inventory owed no more: why);
    `sent_back_in_time`: the service's word that a return was met by sending everything back
    by its due time (`ledger/overdue.py`)."""
    from rich.text import Text

    from sampleloans.commands.render import time_cell

    if due is None:
        return Text(undated or "—")
    text = time_cell(due) if cell else _when(due)
    if sent_back_in_time:
        return Text(f"{text} (sent back in time)")
    if days_left is None:
        return Text(text)
    if overdue:
        late = max(0, -days_left)
        words = "since today" if late == 0 else f"by {counted(late, 'day')}"
        return Text(f"{text} (overdue {words})", style="red")
    if days_left == 0:  # the statement's words on the due day
        return Text(f"{text} (due today)")
    return Text(f"{text} ({counted(days_left, 'day')} left)")


def _handover_tables(d: "LoanDetail") -> list[Any]:
    """Who handed over to whom, then weighing discrepancies and broken seals (if any)."""
    from rich.text import Text

    parts: list[Any] = []
    if d.handovers:
        parts.append(_handovers_table(d))
    if d.weighing_discrepancies:
        parts.append(_discrepancies_table(d))
    for b in d.broken_seals:
        parts.append(
            Text(
                f"Seal {b.seal_number} of the {b.direction} shipment (event {b.shipment_seq}) "
                f"arrived BROKEN (event {b.seq}).",
                style="red",
            )
        )
    return parts


def _handovers_table(d: "LoanDetail") -> Any:
    """Each hand-over: step, when, who released, who received, courier and witness."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.render import when_cell
    from sampleloans.readmodels.handover import label, receiver_label

    table = Table(title="Hand-overs")
    table.add_column("event", justify="right")
    for heading in ("step", "when (UTC)", "released by", "received by"):
        table.add_column(heading)
    table.add_column("courier / witness")
    table.add_column("recorded by")
    for h in d.handovers:
        helpers = [
            f"{name} {view.label}"
            for name, view in (("courier", h.courier), ("witness", h.witness))
            if view is not None
        ]
        table.add_row(
            str(h.seq),
            h.step,
            Text(
                when_cell(h.occurred_at, h.recorded_at, h.backdated),
                style="yellow" if h.backdated else "",
            ),
            Text(label(h.released_by)),
            Text(receiver_label(h.step, h.received_by)),
            Text("; ".join(helpers) or "—"),
            Text(h.recorded_by),
        )
    return table


def _discrepancies_table(d: "LoanDetail") -> Any:
    """Each weighing that differs from the mass expected, the difference in red."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.units import format_mass

    table = Table(title="Weighing discrepancies")
    for heading in ("event", "sample", "expected", "weighed", "difference"):
        # a mass is never folded inside itself ("10.40" over "0 mg" reads as another value)
        masses = heading not in ("event", "sample")
        table.add_column(
            heading, justify="left" if heading == "sample" else "right", no_wrap=masses
        )
    for w in d.weighing_discrepancies:
        sign = "+" if w.difference_ug > 0 else "−"
        table.add_row(
            str(w.seq),
            Text(w.sample),
            format_mass(w.expected_ug),
            format_mass(w.weighed_ug),
            Text(f"{sign}{format_mass(abs(w.difference_ug))}", style="red"),
            style="",
        )
    return table


def _status_text(status: str, said: str = "") -> Any:
    """A status in words (or as `said`, in words too: 'return in transit', never the internal
    'return_in_transit'), in yellow while in transit; a CSV cell says the same words, as
    `samples list --csv` says a custody state."""
    from rich.text import Text

    from sampleloans.text import words

    return Text(words(said or status), style="yellow" if "transit" in status else "")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help=f"Only loans in this status: {in_words(LoanStatus)}; or withdrawn (closed "
            "without ever being issued).",
        ),
    ] = (None),
    institution: Annotated[
        str | None,
        typer.Option("--institution", metavar="SHORT", help="Only this institution's loans."),
    ] = None,
    pi: Annotated[
        str | None,
        typer.Option("--pi", metavar="EMAIL", help="Only this principal investigator's (e-mail)."),
    ] = None,
    due_before: Annotated[
        str | None,
        typer.Option(
            "--due-before",
            metavar="DATETIME",
            help="Only loans still out, due before this time (ISO 8601, UTC if no offset).",
        ),
    ] = None,
    due_after: Annotated[
        str | None,
        typer.Option(
            "--due-after",
            metavar="DATETIME",
            help="Only loans still out, due after this time (ISO 8601, UTC if no offset).",
        ),
    ] = None,
    limit: LimitOption = None,
    offset: OffsetOption = 0,
    as_json: JsonOption = False,
    as_jsonl: JsonlOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List loans by number.

    Researchers see their own institution's.

    Filters combine (all must hold); --due-before/--due-after are ISO 8601 times (UTC if no
    offset), strict, and list only loans still out (issued, in transit, received, return in
    transit): a returned, settled or closed loan owes no return. Rows stream: --json writes
    one array row by row, --jsonl one object per line.
    JSON (docs/json.md): a list of {number, agreement_number, institution, pi_email, status,
    transfer_type, sample_count, issued_ug, held_ug, returning_ug (the part of held_ug on its
    way back), due_at (kept once the loan is over), days_left (negative when overdue), overdue,
    sent_back_in_time (everything left sent back by the due time: the return met), returned_at
    (the last return shipment's arrival), settled_at, closed_at, withdrawn_reason (withdrawn
    before issue: why; else null), loan_period (as requested: due that long after
    issue)}. Before issue the table says when it will fall due ("1 year after issue"); once a
    loan is over its due date binds no more: the table says how it ended, as `status` does
    ("— (closed 2025-10-21 10:00)").

    \b
    Example: sampleloans loans list --status received --due-before 2026-06-01
    """
    check_formats(as_json=as_json, as_jsonl=as_jsonl, as_csv=as_csv)
    from sampleloans.commands.jsonout import row_converter
    from sampleloans.dates import parse_datetime
    from sampleloans.services import loan_views

    fmt = output_format(as_json=as_json, as_jsonl=as_jsonl, as_csv=as_csv)
    with reading(ctx) as (session, service_ctx):
        filters = loan_views.LoanFilters(
            status=status,
            institution=institution,
            pi=pi,
            due_before=parse_datetime(due_before, "--due-before") if due_before else None,
            due_after=parse_datetime(due_after, "--due-after") if due_after else None,
        )
        page = page_for(limit, offset, table=fmt == "table")
        listing = loan_views.loans_listing(session, service_ctx, filters=filters, page=page)
        write_rows(
            listing.rows,
            page=page,
            total=listing.total,
            to_json=row_converter(loan_views.LoanRow, {"samples": "sample_count"}),
            spec=LOAN_TABLE,
            fmt=fmt,
        )


def _loan_cells(row: "LoanRow") -> list[Any]:
    from rich.text import Text

    from sampleloans.commands.listing import Fact
    from sampleloans.commands.render import StyledFact, csv_time, mass_fact
    from sampleloans.units import format_mass

    due = _due_or_ended(row)
    ended = row.ended()
    return [
        Text(row.number),
        Text(row.institution),
        Text(row.pi),
        _status_text(row.status, row.said_status),
        str(row.samples),
        mass_fact(row.issued_ug),
        # the table joins the held mass and the part of it on its way back, in short words
        # (a list has eight columns: `status`'s words wrapped the cell over four lines at 120
        # columns); CSV, two cells
        Fact(
            format_mass(row.held_ug) + _returning(row.returning_ug),
            str(row.held_ug),
            str(row.returning_ug),
        ),
        # the due time with days left or overdue in words; CSV, each fact its own cell
        StyledFact(
            due.plain,
            csv_time(row.due_at) if row.due_at else "",
            "" if row.days_left is None else str(row.days_left),
            "yes" if row.overdue else "no",
            csv_time(ended[1]) if ended else "",
            style=due.style,
        ),
    ]


def _due_or_ended(row: "LoanRow") -> Any:
    """The due time with days left or overdue; once the loan is over the due date binds no
    more, so `status`'s words instead: '— (closed 2025-10-21 10:00)'."""
    from rich.text import Text

    from sampleloans.commands.render import time_cell
    from sampleloans.readmodels.report import due_after_issue
    from sampleloans.vocab import ENDED_LOAN_STATUSES

    if row.status not in ENDED_LOAN_STATUSES:
        before_issue = due_after_issue(row.status, row.loan_period)
        return _due_text(
            row.due_at,
            row.days_left,
            row.overdue,
            cell=True,
            undated=before_issue,
            sent_back_in_time=row.sent_back_in_time,
        )
    ended = row.ended()
    return Text("—" if ended is None else f"— ({ended[0]} {time_cell(ended[1])})")


def _on_its_way_back(returning_ug: int) -> str:
    """What of the held mass is on its way back, in `status`'s words (nothing when none is)."""
    from sampleloans.units import format_mass

    return f" ({format_mass(returning_ug)} of it on its way back)" if returning_ug else ""


def _held_note(d: Any) -> str:
    """Where the mass held is, as `status` says it: ' (shipped, not yet received)' or
    ' (issued, not yet shipped)' before receipt (the borrower is accountable for it but does
    not hold it yet; the statement's words), else the part of it on its way back."""
    from sampleloans.readmodels.report import not_yet_held

    coming = not_yet_held(d.items)
    if len(coming) == 1 and coming[0][0] == d.held_ug:  # all of it, as `status` judges it
        return f" ({coming[0][1]})"
    return _on_its_way_back(d.returning_ug)


def _returning(returning_ug: int) -> str:
    """The part of the held mass on its way back, as a list's cell says it: ' (20.000 mg
    returning)' (nothing when none is)."""
    from sampleloans.units import format_mass

    return f" ({format_mass(returning_ug)} returning)" if returning_ug else ""


LOAN_TABLE = TableSpec(
    title="Loans ({count})",
    columns=(
        Column("loan", no_wrap=True),
        Column("institution"),
        Column("PI"),
        Column("status"),
        Column("samples", right=True),
        Column(mass_heading("issued"), right=True, no_wrap=True),
        Column(Fact("held", "held (µg)", "on its way back (µg)"), right=True, no_wrap=True),
        Column(Fact("due (UTC)", "due (UTC)", "days left", "overdue", "ended (UTC)"), no_wrap=True),
    ),
    cells=_loan_cells,
    empty="No loans match.",
)


@app.command("show")
def show(
    ctx: typer.Context,
    number: Number,
    limit: LimitOption = None,
    offset: OffsetOption = 0,
    as_json: JsonOption = False,
    as_jsonl: JsonlOption = False,
) -> None:
    """Show one loan in full: terms, items, shipments, uses.

    Its terms, dates, items with their mass balance, shipments, uses and extensions.

    The consumptions (one per analysis: the part that grows) stream; --limit/--offset page
    through them (on a terminal the table shows 50 unless --limit says otherwise); --jsonl
    writes them alone, one consumption object per line.

    JSON keys (docs/json.md): number, agreement_number, institution, pi_email, purpose,
    transfer_type, status, loan_period, requested_at, approved_at, issued_at, due_at, days_left,
    overdue, sent_back_in_time, extensions_granted, max_extensions, next_inventory_due_at,
    inventory_days_left (negative when late), inventory_overdue, recalled_at, settled_at,
    settled_obligations, closed_at, returned_at (the last return shipment's arrival),
    withdrawn_reason (withdrawn before issue: why; else null), items [{sample_code, source
    (requested until issued), custody_state, issued_ug (by the curator), held_ug, consumed_ug,
    returned_ug, split_ug, lost_ug, transferred_ug, from_split_ug (split off another sample of
    the loan by the borrower), frozen}], shipments [{seq,
    direction, container, seal_number, method, sender, receiver, shipped_at, received_at,
    seal_intact, condition}], consumptions [{seq, sample_code, technique, destructive, mass_ug,
    occurred_at, recorded_at, backdated}], extensions [{seq, period, approver, reason, new_due_at,
    occurred_at, recorded_at, backdated}], handovers [{seq, step,
    occurred_at, recorded_at, backdated, released_by, received_by, courier, witness (each
    {email, name, institution} or null), recorded_by}], weighing_discrepancies [{seq,
    sample_code, expected_ug, weighed_ug, difference_ug}], broken_seals [{seq, shipment_seq,
    direction, seal_number}], corrections [{seq, corrects_seq, occurred_at, recorded_by,
    description}] (of the loan's events: the values above are the corrected ones).

    \b
    Example: sampleloans loans show L-2025-OU --json
    """
    from dataclasses import replace

    from sampleloans.commands.jsonout import renamed, row_converter, to_json
    from sampleloans.commands.listing import CountedRows, write_json_page
    from sampleloans.services import loan_views

    check_formats(as_json=as_json, as_jsonl=as_jsonl)
    with reading(ctx) as (session, service_ctx):
        page = page_for(limit, offset, table=not (as_json or as_jsonl))
        detail, total = loan_views.loan_detail_stream(session, service_ctx, number, page=page)
        if as_jsonl:  # the list that grows, as `custody history --jsonl` writes its events
            consumption_json = row_converter(loan_views.ConsumptionView)
            write_rows(
                iter(detail.consumptions),
                page=page,
                total=total,
                to_json=consumption_json,
                spec=CONSUMPTION_TABLE,
                fmt="jsonl",
            )
            return
        if as_json:
            # the text recorded at settlement, not the open obligations of `status`
            head = renamed(replace(detail, consumptions=()), {"obligations": "settled_obligations"})
            del head["agreement_ended"]  # words for the text; the JSON has the agreement's number
            consumptions = CountedRows(detail.consumptions)
            head["consumptions"] = map(row_converter(loan_views.ConsumptionView), consumptions)
            write_json_page(head, consumptions, page=page, total=total)
            return
        from sampleloans.commands.render import MASS_TERM_ABBREVIATIONS

        before, after = _detail_renderables(detail)
        print_fitted(before, abbreviations=MASS_TERM_ABBREVIATIONS)
        write_rows(
            iter(detail.consumptions),
            page=page,
            total=total,
            to_json=to_json,
            spec=CONSUMPTION_TABLE,
            fmt="table",
        )
        print_fitted(after)


def _consumption_cells(c: Any) -> list[Any]:
    from rich.text import Text

    from sampleloans.commands.render import when_cell
    from sampleloans.units import format_mass

    return [
        str(c.seq),
        Text(c.sample),
        Text(c.technique),
        "yes" if c.destructive else "no",
        format_mass(c.mass_ug),
        Text(
            when_cell(c.occurred_at, c.recorded_at or c.occurred_at, c.backdated),
            style="yellow" if c.backdated else "",
        ),
    ]


CONSUMPTION_TABLE = TableSpec(
    title="Consumptions",
    columns=(
        Column("event", right=True),
        Column("sample"),
        Column("technique"),
        Column("destructive"),
        Column("mass", right=True, no_wrap=True),
        Column("when (UTC)"),
    ),
    cells=_consumption_cells,
    empty="",
)


def _detail_renderables(d: "LoanDetail") -> tuple[list[Any], list[Any]]:
    """Header grid, items, shipments and hand-overs; then (after the consumptions, streamed
    apart) the extensions table."""
    parts: list[Any] = [_detail_header(d), _items_table(d)]
    if d.shipments:
        parts.append(_shipments_table(d))
    parts.extend(_handover_tables(d))
    after: list[Any] = [_extensions_table(d)] if d.extensions else []
    if d.corrections:
        after.append(_corrections_table(d))
    return parts, after


def _detail_header(d: "LoanDetail") -> Any:
    """The loan's facts, one per line: parties, status, dates, extensions, settlement."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.render import extensions_words
    from sampleloans.units import format_mass, format_period

    header = Table.grid(padding=(0, 2))
    # a field's name stays whole ("next inventory", not "next" over "inventory"): its value wraps
    header.add_column(style="bold", no_wrap=True)
    header.add_column()
    for label, value in (
        ("loan", Text(d.number)),
        ("agreement", Text(d.agreement)),
        ("institution", Text(d.institution)),
        ("PI", Text(d.pi)),
        ("purpose", Text(d.purpose.replace("_", " "))),
        ("transfer type", Text(d.transfer_type)),
        ("status", _status_text(d.status, "closed (withdrawn)" if d.withdrawn_reason else "")),
        ("period", Text(format_period(d.loan_period))),
        ("requested", Text(_when(d.requested_at))),
        ("approved", Text(_when(d.approved_at))),
        ("issued", Text(_when(d.issued_at))),
        # as `status` says it, naming the part on its way back, or not yet in the PI's hands
        ("held", Text(format_mass(d.held_ug) + _held_note(d))),
        ("due", _detail_due(d)),
        (
            "extensions",
            Text(extensions_words(d.extensions_granted, d.extensions_allowed, d.agreement_ended)),
        ),
        (
            "next inventory",
            _due_text(
                d.next_inventory_due_at,
                d.inventory_days_left,
                d.inventory_overdue,
                undated=_no_inventory(d),
            ),
        ),
        ("recalled", Text(_when(d.recalled_at))),
    ):
        header.add_row(label, value)
    if d.returned_at:
        header.add_row(_return_label(d.status), Text(_when(d.returned_at)))
    if d.settled_at:
        header.add_row("settled", Text(f"{_when(d.settled_at)}: {d.obligations or ''}"))
    if d.closed_at:
        # a loan closed with nothing issued was withdrawn: say so, and why
        withdrawn = f" (withdrawn before issue: {d.withdrawn_reason})" if d.withdrawn_reason else ""
        header.add_row("closed", Text(_when(d.closed_at) + withdrawn))
    return header


def _detail_due(d: "LoanDetail") -> Any:
    """The loan's due date with days left; once the loan is over, how it ended in its place,
    '— (closed 2025-10-21 10:00 UTC)', as `loans list` and the documents say it (the old date
    binds no more)."""
    from rich.text import Text

    from sampleloans.readmodels.report import ended_words

    ended = d.ended()
    if ended is not None:
        return Text(ended_words(ended))
    return _due_text(
        d.due_at,
        d.days_left,
        d.overdue,
        undated=_after_issue(d),
        sent_back_in_time=d.sent_back_in_time,
    )


def _return_label(status: str) -> str:
    """'returned' once every sample is back (or the loan is over, as `status` says); before,
    the last return shipment brought only part of it back: 'last return arrived'."""
    from sampleloans.vocab import ENDED_LOAN_STATUSES

    return "returned" if status in ENDED_LOAN_STATUSES else "last return arrived"


def _items_table(d: "LoanDetail") -> Any:
    """Each item's mass term by term, and its custody state."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.readmodels.items import state_words
    from sampleloans.units import format_mass

    # "from split" only where the borrower split a sample: what the curator issued stays apart
    split = any(i.from_split_ug for i in d.items)
    terms = ("issued", *(("from_split",) if split else ()), "held", "consumed", "returned")
    terms += ("split", "lost")
    items = Table(title="Items")
    columns = ("code", "source", *(t.replace("_", " ") for t in terms))
    for heading in (*columns, "state"):
        # codes and masses are never folded inside themselves ("10.40" over "0 mg")
        left, words = heading in ("code", "source", "state"), heading in ("source", "state")
        items.add_column(heading, justify="left" if left else "right", no_wrap=not words)
    for i in d.items:
        items.add_row(
            Text(i.sample),
            i.source.replace("_", " "),
            *(format_mass(getattr(i, f"{t}_ug")) for t in terms),
            _status_text(i.state, state_words(i.state, i.frozen)),
        )
    return items


def _shipments_table(d: "LoanDetail") -> Any:
    """Each shipment out and back: container, seal (and whether it arrived intact), times."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.render import time_cell

    ships = Table(title="Shipments")
    ships.add_column("event", justify="right")
    for heading in ("direction", "container", "seal", "method", "shipped (UTC)", "received (UTC)"):
        ships.add_column(heading)
    for s in d.shipments:
        seal = s.seal_number + (
            "" if s.seal_intact is None else (" (intact)" if s.seal_intact else " (BROKEN)")
        )
        ships.add_row(
            str(s.seq),
            f"{s.direction}: {s.sender} → {s.receiver}",
            Text(s.container),
            Text(seal, style="red" if s.seal_intact is False else ""),
            s.method.replace("_", " "),
            time_cell(s.shipped_at),
            Text(time_cell(s.received_at), style="" if s.received_at else "yellow"),
        )
    return ships


def _corrections_table(d: "LoanDetail") -> Any:
    """Each correction of the loan's events: which event, when, by whom, what was wrong."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.render import time_cell

    table = Table(title="Corrections")
    table.add_column("event", justify="right")
    table.add_column("corrects", justify="right")
    for heading in ("when (UTC)", "recorded by", "correction"):
        table.add_column(heading)
    for c in d.corrections:
        table.add_row(
            str(c.seq),
            str(c.corrects_seq),
            time_cell(c.occurred_at),
            Text(c.recorded_by),
            Text(c.description),
        )
    return table


def _extensions_table(d: "LoanDetail") -> Any:
    """Each extension granted: period, approver, reason and the new due date."""
    from rich.table import Table
    from rich.text import Text

    from sampleloans.commands.render import time_cell
    from sampleloans.units import format_period

    exts = Table(title="Extensions")
    exts.add_column("event", justify="right")
    for heading in ("period", "approver", "reason", "new due (UTC)"):
        exts.add_column(heading)
    for e in d.extensions:
        exts.add_row(
            str(e.seq),
            format_period(e.period),
            Text(e.approver),
            Text(e.reason + (f" (recorded {time_cell(e.recorded_at)})" if e.backdated else "")),
            time_cell(e.new_due_at),
        )
    return exts
