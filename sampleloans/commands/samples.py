"""`sampleloans samples …`: Samples and splits in the collection."""

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sampleloans.commands.common import (
    AtOption,
    CsvOption,
    JsonOption,
    console,
    parse_at,
    print_json,
    print_table,
)
from sampleloans.commands.jsonout import renamed
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

if TYPE_CHECKING:
    from sampleloans.services.catalog import SampleNode, SampleView

app = typer.Typer(help="Samples and splits in the collection.", no_args_is_help=True)

_DEPTH_RE = re.compile(r"([0-9]{1,4}(?:\.[0-9])?) *- *([0-9]{1,4}(?:\.[0-9])?)", re.ASCII)


def jsonable(value: Any) -> Any:
    """A view as JSON values in the one vocabulary of docs/json.md."""
    from sampleloans.commands.jsonout import to_json

    return to_json(value)


def plain(*values: str) -> list[Any]:
    """User text as rich Text, so '[' in a name is never read as markup. A cell that is not
    text (SQLite hands back a BLOB edited into a text column as bytes, which rich's Text
    refused with a TypeError traceback) is the edited table's one line, exit 3."""
    from rich.text import Text

    from sampleloans.errors import EditedTable
    from sampleloans.text import one_line

    odd = next((v for v in values if not isinstance(v, str)), None)
    if odd is not None:
        raise EditedTable(
            f"a stored text holds {one_line(repr(odd))[:60]}, not text: the ledger's tables "
            "were edited outside sampleloans; run 'sampleloans verify' and restore the latest "
            "verified backup"
        )
    return [Text(value) for value in values]


def parse_depth(text: str | None) -> tuple[int | None, int | None]:
    """'28-30' (cm, one decimal at most) as (280, 300) millimetres."""
    from sampleloans.errors import InvalidInput
    from sampleloans.units import parse_depth_mm, quote_input

    if text is None:
        return None, None
    match = _DEPTH_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            f"--depth: {quote_input(text)} is not a depth interval; give TOP-BOTTOM in cm, "
            "e.g. 28-30"
        )
    top, bottom = (parse_depth_mm(part, "--depth") for part in match.groups())
    return top, bottom


def parse_child(text: str) -> tuple[str, int]:
    """'-01=20mg' or 'CODE-01=20 mg' as (code or suffix, micrograms)."""
    from sampleloans.errors import InvalidInput
    from sampleloans.units import parse_mass_ug, quote_input

    code, sep, mass = text.rpartition("=")
    if not sep or not code.strip():
        raise InvalidInput(
            f"--child: {quote_input(text)} is not SUFFIX=MASS; e.g. --child -01=20mg"
        )
    return code.strip(), parse_mass_ug(mass, "--child")


@app.command("register")
def register(
    ctx: typer.Context,
    code: Annotated[
        str, typer.Argument(metavar="CODE", help="The sample's code (opaque, unique).")
    ],
    mission: Annotated[
        str, typer.Option("--mission", metavar="MISSION", help="Mission code, e.g. CE-5.")
    ],
    mass: Annotated[
        str, typer.Option("--mass", metavar="MASS", help="Initial mass, e.g. '20 mg'.")
    ],
    origin: Annotated[str, typer.Option("--origin", metavar="ORIGIN", help="scoop or drill.")],
    material: Annotated[
        str, typer.Option("--material", metavar="MATERIAL", help="Material type, e.g. regolith.")
    ],
    form: Annotated[
        str, typer.Option("--form", metavar="FORM", help="Physical form, e.g. powder.")
    ],
    purpose: Annotated[
        str,
        typer.Option(
            "--purpose", metavar="PURPOSE", help="permanent, backup, research or public-welfare."
        ),
    ],
    location: Annotated[
        str, typer.Option("--location", metavar="LOCATION", help="Storage location in the vault.")
    ],
    depth: Annotated[
        str | None,
        typer.Option(
            "--depth", metavar="TOP-BOTTOM", help="Drill depth TOP-BOTTOM in cm, e.g. 28-30."
        ),
    ] = None,
    condition: Annotated[
        str, typer.Option("--condition", metavar="CONDITION", help="Condition.")
    ] = "pristine",
    record: Annotated[
        str,
        typer.Option(
            "--record", metavar="RECORD", help="real or illustrative (where the record comes from)."
        ),
    ] = "illustrative",
    at: AtOption = None,
) -> None:
    """Register a sample in the acting curator's vault (curators only).

    \b
    Example: sampleloans samples register CE5C0400YJFM00777 --mission CE-5 --mass "20 mg" \\
      --origin scoop --material regolith --form powder --purpose research \\
      --location "NAOC N2 cabinet A"
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.common import PURPOSE_CLASSES, get_sample, require_choice
    from sampleloans.services.samples import ORIGINS, RECORD_SOURCES, register_sample
    from sampleloans.units import format_mass, parse_mass_ug

    with writing(ctx) as (session, service_ctx):
        top, bottom = parse_depth(depth)
        envelope = register_sample(
            session,
            service_ctx,
            code=code,
            mission=mission,
            mass_ug=parse_mass_ug(mass, "--mass"),
            origin=require_choice(origin, "--origin", ORIGINS),
            material_type=material,
            physical_form=form,
            purpose_class=require_choice(purpose, "--purpose", PURPOSE_CLASSES),
            storage_location=location,
            condition=condition,
            depth_top_mm=top,
            depth_bottom_mm=bottom,
            record=require_choice(record, "--record", RECORD_SOURCES),
            occurred_at=parse_at(at),
        )
        sample = get_sample(session, code)
        line = (
            f"Registered {sample.code} ({format_mass(sample.initial_mass_ug)}) in the "
            f"{sample.custodian} vault; event {envelope.seq}."
        )
    console().print(line, markup=False)


@app.command("split")
def split(
    ctx: typer.Context,
    parent: Annotated[
        str, typer.Argument(metavar="PARENT", help="Code of the sample to split (in the vault).")
    ],
    child: Annotated[
        list[str],
        typer.Option(
            "--child", metavar="SUFFIX=MASS", help="SUFFIX_OR_CODE=MASS, repeatable, e.g. -01=20mg."
        ),
    ],
    loss: Annotated[
        str | None,
        typer.Option("--loss", metavar="MASS", help="Mass lost in processing, e.g. 0.1mg."),
    ] = None,
    at: AtOption = None,
) -> None:
    """Split children off a vault sample; the parent keeps the rest.

    The sample must be in the vault. Curators only.

    \b
    Example: sampleloans samples split CE5C0400YJFM00505 --child -G1=20mg --child -G2=5mg \\
      --loss 0.1mg
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.samples import split_sample
    from sampleloans.units import format_mass, parse_mass_ug

    with writing(ctx) as (session, service_ctx):
        loss_ug = parse_mass_ug(loss, "--loss") if loss is not None else 0
        split_off = split_sample(
            session,
            service_ctx,
            parent=parent,
            children=[parse_child(text) for text in child],
            loss_ug=loss_ug,
            occurred_at=parse_at(at),
        )
    made = ", ".join(f"{s.code} ({format_mass(s.initial_mass_ug)})" for s in split_off.samples)
    lost = f"; loss {format_mass(loss_ug)}" if loss_ug else ""
    console().print(f"Split {parent} into {made}{lost}; event {split_off.seq}.", markup=False)


@app.command("move")
def move(
    ctx: typer.Context,
    code: Annotated[
        str, typer.Argument(metavar="CODE", help="Code of the sample to move (in the vault).")
    ],
    location: Annotated[
        str,
        typer.Option(
            "--location",
            metavar="LOCATION",
            help="The new storage location, e.g. 'NAOC N2 cabinet C'.",
        ),
    ],
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why it moved (kept with the event)."),
    ] = None,
    at: AtOption = None,
) -> None:
    """Record a new storage location for a sample in the vault.

    Curators only.

    \b
    Example: sampleloans samples move CE5C0400YJFM00505 --location "NAOC N2 cabinet C" \\
      --reason "cabinet B serviced"
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.samples import move_sample

    with writing(ctx) as (session, service_ctx):
        envelope = move_sample(
            session,
            service_ctx,
            code=code,
            storage_location=location,
            occurred_at=parse_at(at),
            reason=reason,
        )
    console().print(f"Moved {code} to {location}; event {envelope.seq}.", markup=False)


@app.command("transfer")
def transfer(
    ctx: typer.Context,
    codes: Annotated[
        list[str],
        typer.Argument(metavar="CODE", help="Codes of the samples given (whole, from the vault)."),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to", metavar="SHORT", help="The recipient institution (kind recipient), e.g. MNHN."
        ),
    ],
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            metavar="REFERENCE",
            help="The document the transfer rests on (decree, protocol).",
        ),
    ],
    at: AtOption = None,
) -> None:
    """Give whole samples to an institution for good, not on loan.

    A gift to the recipient institution, not a loan. Curators only.

    Each sample must be in the vault, not frozen and not permanent or backup storage; its whole
    mass leaves the collection and is shown as "transferred" in its balance.

    \b
    Example: sampleloans samples transfer CE5C0400YJFM00507 --to MNHN \\
      --reference 'CNSA gift to France, 24 Apr 2023' --at 2023-04-24
    """
    from sampleloans.commands.common import writing
    from sampleloans.services.transfers import transfer_samples
    from sampleloans.units import format_mass

    with writing(ctx) as (session, service_ctx):
        envelope = transfer_samples(
            session,
            service_ctx,
            codes=codes,
            recipient=to,
            reference=reference,
            occurred_at=parse_at(at),
        )
        given = transferred_items(envelope)
    total = format_mass(sum(mass for _code, mass in given))
    names = ", ".join(code for code, _mass in given)
    console().print(
        f"Transferred {names} ({total}) to {to} for good; event {envelope.seq}.",
        markup=False,
    )


def transferred_items(envelope: Any) -> list[tuple[str, int]]:
    """The (code, mass_ug) pairs a transfer event recorded."""
    import json

    return [(str(code), int(mass)) for code, mass in json.loads(envelope.payload or "{}")["items"]]


@app.command("list")
def list_(
    ctx: typer.Context,
    mission: Annotated[
        str | None, typer.Option("--mission", metavar="MISSION", help="Only this mission.")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            metavar="STATE",
            help="vault, on-loan, issued, in-transit, held, return-in-transit, consumed, "
            "lost, split or transferred.",
        ),
    ] = None,
    material: Annotated[
        str | None,
        typer.Option(
            "--material", metavar="MATERIAL", help="Only this material type, e.g. basalt."
        ),
    ] = None,
    location: Annotated[
        str | None,
        typer.Option(
            "--location", metavar="LOCATION", help="Only storage locations containing this text."
        ),
    ] = None,
    custodian: Annotated[
        str | None,
        typer.Option(
            "--custodian",
            metavar="SHORT",
            help="Only samples held by this institution (short name).",
        ),
    ] = None,
    limit: LimitOption = None,
    offset: OffsetOption = 0,
    as_json: JsonOption = False,
    as_jsonl: JsonlOption = False,
    as_csv: CsvOption = False,
) -> None:
    """List samples by code.

    Researchers see only those on their institution's loans.

    Filters combine (all must hold). Rows stream: --json writes one array row by row, --jsonl
    one object per line; both with the keys of 'samples show --json'.

    \b
    Example: sampleloans samples list --state vault --mission CE-5 --limit 20
    """
    check_formats(as_json=as_json, as_jsonl=as_jsonl, as_csv=as_csv)
    from sampleloans.commands.common import reading
    from sampleloans.commands.jsonout import row_converter
    from sampleloans.services.catalog import SampleFilters, SampleView, samples_listing

    filters = SampleFilters(mission, state, material, location, custodian)
    fmt = output_format(as_json=as_json, as_jsonl=as_jsonl, as_csv=as_csv)
    with reading(ctx) as (session, service_ctx):
        page = page_for(limit, offset, table=fmt == "table")
        listing = samples_listing(session, service_ctx, filters=filters, page=page)
        write_rows(
            listing.rows,
            page=page,
            total=listing.total,
            to_json=row_converter(SampleView, {"children": "child_codes"}),
            spec=SAMPLE_TABLE,
            fmt=fmt,
        )


def _sample_cells(row: "SampleView") -> list[Any]:
    from sampleloans.commands.render import NOTHING, mass_fact, state_fact

    return [
        *plain(row.code, row.mission, row.material_type),
        mass_fact(row.initial_mass_ug),
        mass_fact(row.vault_ug),
        mass_fact(row.on_loan_ug),
        state_fact(row.custody_state, row.frozen),
        *plain(row.custodian),
        # on no loan: '—', as `samples show` and every other table say nothing (CSV: empty)
        *(plain(row.loan_number) if row.loan_number else [NOTHING]),
    ]


SAMPLE_TABLE = TableSpec(
    title="Samples ({count})",
    columns=(
        Column("code", no_wrap=True),
        Column("mission", no_wrap=True),
        Column("material"),
        Column(mass_heading("initial"), right=True, no_wrap=True),
        Column(mass_heading("vault"), right=True, no_wrap=True),
        Column(mass_heading("on loan"), right=True, no_wrap=True),
        Column(Fact("state", "state", "frozen")),
        Column("custodian", no_wrap=True),
        Column("loan", no_wrap=True),
    ),
    cells=_sample_cells,
    empty="No samples match.",
)


def _state(state: str, frozen: bool) -> str:
    """A custody state in words, marked when frozen by an incident (as every view says it)."""
    from sampleloans.readmodels.items import state_words

    return state_words(state, frozen)


def balance_line(view: "SampleView") -> str:
    """initial = vault + on loan + split + consumed + lost + transferred, in words."""
    from sampleloans.units import format_mass

    parts = (
        ("vault", view.vault_ug),
        ("on loan", view.on_loan_ug),
        ("split", view.split_ug),
        ("consumed", view.consumed_ug),
        ("lost", view.lost_ug),
        ("transferred", view.transferred_ug),
    )
    terms = " + ".join(f"{format_mass(mass)} {name}" for name, mass in parts)
    return f"{format_mass(view.initial_mass_ug)} initial = {terms}"


@app.command("show")
def show(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="The sample's code.")],
    as_json: JsonOption = False,
) -> None:
    """Show a sample: description, masses, balance, custody, lineage.

    JSON keys (docs/json.md): code, mission, parent_code, child_codes, origin, depth_top_mm,
    depth_bottom_mm, material_type, physical_form, purpose_class, storage_location, condition,
    record, initial_ug, vault_ug, on_loan_ug, split_ug, consumed_ug, lost_ug, transferred_ug,
    custodian, custody_state, loan_number, frozen, registered_at, last_event_at.

    \b
    Example: sampleloans samples show CE5C0400YJFM00505
    """
    from rich.table import Table

    from sampleloans.commands.common import reading
    from sampleloans.dates import format_datetime
    from sampleloans.services.catalog import show_sample

    with reading(ctx) as (session, service_ctx):
        view = show_sample(session, service_ctx, code=code)
    if as_json:
        print_json(renamed(view, {"children": "child_codes"}))
        return
    depth = ""
    if view.depth_top_mm is not None and view.depth_bottom_mm is not None:
        depth = f"{view.depth_top_mm / 10:g}-{view.depth_bottom_mm / 10:g} cm"
    table = Table(title=plain(f"Sample {view.code}")[0], show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    for name, value in (
        ("mission", view.mission),
        ("origin", view.origin + (f", depth {depth}" if depth else "")),
        ("material", f"{view.material_type}, {view.physical_form}"),
        ("purpose class", view.purpose_class.replace("_", " ")),
        ("condition", view.condition),
        ("record", view.record),
        ("storage location", view.storage_location),
        ("masses", balance_line(view)),
        ("custodian", view.custodian),
        ("state", _state(view.custody_state, view.frozen)),
        ("loan", view.loan_number or "—"),
        ("frozen", "yes (open incident)" if view.frozen else "no"),
        ("parent", view.parent_code or "—"),
        ("children", ", ".join(view.children) or "—"),
        ("registered", format_datetime(view.registered_at)),
        ("last event", format_datetime(view.last_event_at)),
    ):
        table.add_row(*plain(name, value))
    print_table(table)  # fitted: a mass is never cut from its unit on a narrow terminal


@app.command("tree")
def tree(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(metavar="CODE", help="Any sample of the lineage.")],
    as_json: JsonOption = False,
) -> None:
    """Show a sample's split lineage from its root ancestor.

    Borrower splits are included.

    Researchers see it from the sample asked for, with only the samples on their own loans.

    JSON: the root node; each node has code, initial_ug, vault_ug, on_loan_ug, consumed_ug,
    lost_ug, transferred_ug, custody_state, custodian, loan_number, frozen and children (nodes,
    by code): initial = vault + on loan + consumed + lost + transferred + the children's initial.

    \b
    Example: sampleloans samples tree CE5C0100YJFM00201
    """
    from rich.tree import Tree

    from sampleloans.commands.common import reading
    from sampleloans.services.catalog import sample_tree

    with reading(ctx) as (session, service_ctx):
        root = sample_tree(session, service_ctx, code=code)
    if as_json:
        print_json(jsonable(root))
        return
    out = Tree(_node_label(root, code))
    _add_children(out, root, code)
    # each line whole, left to the terminal to wrap as the other lines of text are: cropped
    # to the width, a label lost its end ('consumed 333' without its unit, the loan number);
    # wrapped by rich, a mass could fold away from its unit
    wide = console()
    wide.width = TREE_WIDTH
    wide.print(out, crop=False)


TREE_WIDTH = 10_000
"""Wide enough for any label: the tree is drawn whole, its lines wrapped by the terminal."""


def _add_children(branch: Any, node: "SampleNode", asked: str) -> None:
    for child in node.children:
        _add_children(branch.add(_node_label(child, asked)), child, asked)


def _node_label(node: "SampleNode", asked: str) -> Any:
    """code, initial mass, vault and on-loan mass, state, custodian and loan."""
    from rich.text import Text

    from sampleloans.units import format_mass

    label = Text(node.code, style="bold" if node.code == asked else "")
    loan = f" loan {node.loan_number}" if node.loan_number else ""
    # what left the sample otherwise than by a split (its children, below), so that the line
    # adds up: initial = vault + on loan + children + these
    gone = [
        f", {term} {format_mass(mass_ug)}"
        for term, mass_ug in (
            ("consumed", node.consumed_ug),
            ("lost", node.lost_ug),
            ("transferred", node.transferred_ug),
        )
        if mass_ug
    ]
    label.append(
        f"  {format_mass(node.initial_mass_ug)}; vault {format_mass(node.vault_ug)}, "
        f"on loan {format_mass(node.on_loan_ug)}{''.join(gone)}; "
        f"{_state(node.custody_state, node.frozen)} at {node.custodian}{loan}"
    )
    return label
