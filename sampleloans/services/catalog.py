"""Read models for samples, institutions, people and agreements: frozen dataclasses, sorted.

Who sees what (every function starts with `access.reader`):
- curators and compliance officers read everything;
- researchers read their own institution's people and agreements, the institution itself,
  and only the samples that are on a loan of their institution (`sample.loan_number` points
  at a loan whose institution is theirs). Samples in the vault belong to the curator's
  institution (their custodian) and are hidden from researchers. Lists are filtered to what
  the reader may see; asking by name for something else gets the answer a missing record gets
  (`access.unseen`, NotFound, exit 2), so nothing tells what exists elsewhere.
- a researcher's lineage tree starts at the sample they asked for and holds only the samples
  they may read (a child on another institution's loan or back in the vault is left out, with
  its subtree); staff see the whole lineage from its root.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, func, select

from sampleloans.errors import InvalidInput
from sampleloans.ledger.envelope import Context
from sampleloans.models import (
    Agreement,
    Institution,
    Loan,
    Mission,
    Person,
    Sample,
    byte_lower,
    byte_order,
)
from sampleloans.services import access
from sampleloans.services.common import (
    INSTITUTION_KINDS,
    ROLES,
    in_force,
    lineage_cycle,
    require_choice,
    require_text,
    root_sample,
)
from sampleloans.services.listing import (
    EVERY_ROW,
    Listing,
    Page,
    Query,
    counter,
    paged,
    plain_batches,
    view_maker,
)
from sampleloans.services.queries import issued_under
from sampleloans.text import ascii_lower
from sampleloans.units import quote_input
from sampleloans.vocab import AgreementStatus, CustodyState, InstitutionKind, values

ON_LOAN_STATES: tuple[str, ...] = (
    CustodyState.ISSUED.value,
    CustodyState.IN_TRANSIT.value,
    CustodyState.HELD.value,
    CustodyState.RETURN_IN_TRANSIT.value,
)
SAMPLE_STATES = (
    CustodyState.VAULT.value,
    "on_loan",  # a filter word: any of ON_LOAN_STATES
    *ON_LOAN_STATES,
    CustodyState.CONSUMED.value,
    CustodyState.LOST.value,
    CustodyState.SPLIT.value,
    CustodyState.TRANSFERRED.value,
)
AGREEMENT_STATUSES = values(AgreementStatus)


@dataclass(frozen=True)
class SampleView:
    """One sample with its masses, custody and lineage links."""

    code: str
    mission: str
    parent_code: str | None
    children: tuple[str, ...]
    origin: str
    depth_top_mm: int | None
    depth_bottom_mm: int | None
    material_type: str
    physical_form: str
    purpose_class: str
    storage_location: str
    condition: str
    record: str
    initial_mass_ug: int
    vault_ug: int
    on_loan_ug: int
    split_ug: int
    consumed_ug: int
    lost_ug: int
    transferred_ug: int
    custodian: str
    custody_state: str
    loan_number: str | None
    frozen: bool
    registered_at: datetime
    last_event_at: datetime


@dataclass(frozen=True)
class SampleNode:
    """One sample in a lineage tree, with its children in code order."""

    code: str
    initial_mass_ug: int
    vault_ug: int
    on_loan_ug: int
    consumed_ug: int
    lost_ug: int
    transferred_ug: int
    custody_state: str
    custodian: str
    loan_number: str | None
    frozen: bool
    children: tuple["SampleNode", ...]


@dataclass(frozen=True)
class InstitutionView:
    """An institution with the number of its people, agreements and loans."""

    short_name: str
    name: str
    country: str
    city: str
    kind: str
    people: int
    agreements: int
    loans: int


@dataclass(frozen=True)
class PersonView:
    """A registered person."""

    email: str
    name: str
    institution: str
    role: str
    active: bool


@dataclass(frozen=True)
class AgreementView:
    """An agreement with its terms, whether it is in force now, and the mass issued under it."""

    number: str
    institution: str
    status: str
    in_force: bool
    created_at: datetime
    signed_at: datetime | None
    signed_by: str | None
    term: str
    expires_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    max_total_mass_ug: int
    issued_ug: int
    loans: int
    allowed_purposes: tuple[str, ...]
    destructive_use_allowed: bool
    onward_transfer_allowed: bool
    max_loan_period: str
    max_extensions: int
    max_extension_period: str
    inventory_interval: str


# --- samples ----------------------------------------------------------------------------------


def _children(session: Session, person: Person, code: str) -> list[Sample]:
    """A sample's children in code order, those the person may read."""
    children = session.exec(
        select(Sample).where(Sample.parent_code == code).order_by(byte_order(Sample.code))
    )
    return [c for c in children.all() if access.can_see_sample(session, person, c)]


def _sample_view(sample: Sample, children: tuple[str, ...]) -> SampleView:
    return SampleView(
        code=sample.code,
        mission=sample.mission,
        parent_code=sample.parent_code,
        children=children,
        origin=sample.origin,
        depth_top_mm=sample.depth_top_mm,
        depth_bottom_mm=sample.depth_bottom_mm,
        material_type=sample.material_type,
        physical_form=sample.physical_form,
        purpose_class=sample.purpose_class,
        storage_location=sample.storage_location,
        condition=sample.condition,
        record=sample.record,
        initial_mass_ug=sample.initial_mass_ug,
        vault_ug=sample.vault_ug,
        on_loan_ug=sample.on_loan_ug,
        split_ug=sample.split_ug,
        consumed_ug=sample.consumed_ug,
        lost_ug=sample.lost_ug,
        transferred_ug=sample.transferred_ug,
        custodian=sample.custodian,
        custody_state=sample.custody_state,
        loan_number=sample.loan_number,
        frozen=sample.frozen,
        registered_at=sample.registered_at,
        last_event_at=sample.last_event_at,
    )


def list_samples(
    session: Session, ctx: Context, *, mission: str | None = None, state: str | None = None
) -> list[SampleView]:
    """Every sample by code, as a list (small ledgers, tests); `samples_listing` streams."""
    return list(samples_listing(session, ctx, filters=SampleFilters(mission, state)).rows)


@dataclass(frozen=True)
class SampleFilters:
    """What `samples list` narrows to; None: no filter on that field."""

    mission: str | None = None
    state: str | None = None  # a custody state or `on_loan` (any state away from the vault)
    material: str | None = None  # material type, case-insensitive
    location: str | None = None  # storage locations containing this text, case-insensitive
    custodian: str | None = None  # an institution's short name


def samples_listing(
    session: Session,
    ctx: Context,
    *,
    filters: SampleFilters = SampleFilters(),
    page: Page = EVERY_ROW,
) -> Listing[SampleView]:
    """Samples by code, streamed a batch at a time, with the count of every match.

    Researchers get only the samples on loans of their institution (a join, in SQL). Every
    filter value is checked before any row is read (exit 2 naming the option).
    """
    person = access.reader(session, ctx)
    query = _sample_query(session, person, filters)
    rows = _sample_views(session, person, paged(query, page))
    return Listing(rows=rows, total=counter(session, query))


_Selected = TypeVar("_Selected", bound=Select[Any])

_SAMPLE_FIELDS = tuple(f for f in SampleView.__dataclass_fields__ if f != "children")
_make_sample_view = view_maker(SampleView)
assert list(SampleView.__dataclass_fields__).index("children") == 3  # see `_sample_views`


def _sample_query(session: Session, person: Person, filters: SampleFilters) -> Query:
    """The samples a person may read that match the filters, by code."""
    query = _readable(sa_select(*(getattr(Sample, name) for name in _SAMPLE_FIELDS)), person)
    if filters.mission is not None:
        query = query.where(col(Sample.mission) == _mission(session, filters.mission))
    if filters.state is not None:
        wanted = require_choice(filters.state, "--state", SAMPLE_STATES)
        states = ON_LOAN_STATES if wanted == "on_loan" else (wanted,)
        query = query.where(col(Sample.custody_state).in_(states))
    if filters.material is not None:
        material = _material(session, person, filters.material)
        query = query.where(byte_lower(col(Sample.material_type)) == material)
    if filters.location is not None:
        # folded as SQL folds the stored text: a Python lower() of `É` would never match it
        text = ascii_lower(require_text(filters.location, "--location", max_len=200))
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(
            byte_lower(col(Sample.storage_location)).like(f"%{escaped}%", escape="\\")
        )
    if filters.custodian is not None:
        query = query.where(col(Sample.custodian) == _custodian(session, person, filters.custodian))
    return query.order_by(byte_order(col(Sample.code)))


def _mission(session: Session, code: str) -> str:
    """A mission code the ledger knows, or InvalidInput listing them."""
    wanted = code.strip()
    known = sorted(session.exec(select(Mission.code)).all())
    match = next((m for m in known if m.lower() == wanted.lower()), None)
    if match is None:
        raise InvalidInput(
            f"--mission: {quote_input(code)} is not a mission; give one of {', '.join(known)}"
        )
    return match


def _readable(query: _Selected, person: Person) -> _Selected:
    """`query` over Sample narrowed to the samples `person` may read: a researcher's are those
    on their institution's loans (a join, in SQL); staff read every one."""
    if access.is_staff(person):
        return query
    return query.join(Loan, col(Loan.number) == col(Sample.loan_number)).where(
        col(Loan.institution) == person.institution
    )


def _material(session: Session, person: Person, material: str) -> str:
    """A material type some sample the person may read has (its ASCII letters in lower case,
    as SQL folds it), or InvalidInput listing those: a researcher learns nothing of other
    institutions' samples from it."""
    wanted = ascii_lower(material.strip())
    lowered = byte_lower(col(Sample.material_type))
    known = session.exec(
        _readable(select(lowered).distinct().where(lowered == wanted), person)
    ).first()
    if known is None:
        readable = _readable(select(col(Sample.material_type)).distinct(), person)
        types = sorted(set(session.exec(readable).all()))
        shown = ", ".join(types[:20]) + (", …" if len(types) > 20 else "")
        # a researcher's answer is about the samples they may read: true whoever has basalt
        scope = "" if access.is_staff(person) else " you may read"
        none = "there are no samples yet" if access.is_staff(person) else "you may read none yet"
        raise InvalidInput(
            f"--material: {quote_input(material)} is not the material of any sample{scope}; "
            + (f"give one of {shown}" if shown else none)
        )
    return wanted


def _custodian(session: Session, person: Person, short_name: str) -> str:
    """An institution a sample may be held by: any for staff; for a researcher their own or a
    lender or curator (the vaults), any other answering as a missing one does."""
    name = short_name.strip()
    if access.is_staff(person):
        return access.readable_institution(session, person, name, "--custodian").short_name
    access.refuse_own_case_twin(person, name, "--custodian")
    institution = session.get(Institution, name)
    vaults = (InstitutionKind.LENDER.value, InstitutionKind.CURATOR.value)
    if institution is None or not (
        institution.short_name == person.institution or institution.kind in vaults
    ):
        raise access.unseen("institution", name, "--custodian")
    return institution.short_name


def _sample_views(session: Session, person: Person, query: Query) -> Iterator[SampleView]:
    """Views of the rows of `query`, each with the children the person may see (one query per
    batch of rows, not per sample)."""
    for batch in plain_batches(session, query):
        columns = list(zip(*batch, strict=True))
        codes = columns[0]
        children = _children_of(session, person, list(codes))
        # in the view's field order (`children` is its fourth field), a column at a time in C
        columns.insert(3, tuple(map(children.get, codes, repeat(()))))
        yield from map(_make_sample_view, zip(*columns, strict=True))


def _children_of(session: Session, person: Person, codes: list[str]) -> dict[str, tuple[str, ...]]:
    """parent code → its children's codes in code order, those the person may read."""
    query = sa_select(col(Sample.parent_code), col(Sample.code)).where(
        col(Sample.parent_code).in_(codes)
    )
    if not access.is_staff(person):
        query = query.join(Loan, col(Loan.number) == col(Sample.loan_number)).where(
            col(Loan.institution) == person.institution
        )
    found: dict[str, list[str]] = {}
    for parent, code in session.connection().execute(query.order_by(byte_order(col(Sample.code)))):
        if parent is not None:  # every row has one (the filter); the test narrows the type
            found.setdefault(parent, []).append(code)
    return {parent: tuple(codes) for parent, codes in found.items()}


def show_sample(session: Session, ctx: Context, *, code: str) -> SampleView:
    """One sample with the codes of its children the reader may see."""
    person = access.reader(session, ctx)
    sample = access.readable_sample(session, person, code)
    children = tuple(c.code for c in _children(session, person, sample.code))
    return _sample_view(sample, children)


def sample_tree(session: Session, ctx: Context, *, code: str) -> SampleNode:
    """The lineage of a sample from its root ancestor, borrower splits included.

    Researchers see the subtree from the sample they asked for, and in it only the samples on
    their own institution's loans: ancestors, siblings and other children may be on other
    institutions' loans.
    """
    person = access.reader(session, ctx)
    root = access.readable_sample(session, person, code)
    if access.is_staff(person):
        root = root_sample(session, root)
    return _node(session, person, root, frozenset())


def _node(session: Session, person: Person, sample: Sample, above: frozenset[str]) -> SampleNode:
    """A sample and, recursively, the children the person may read; `above`, the codes on the
    way down to it, stops a loop of parents (an edited table) in one line, not a RecursionError."""
    if sample.code in above:
        raise lineage_cycle(sample.code)
    path = above | {sample.code}
    return SampleNode(
        code=sample.code,
        initial_mass_ug=sample.initial_mass_ug,
        vault_ug=sample.vault_ug,
        on_loan_ug=sample.on_loan_ug,
        consumed_ug=sample.consumed_ug,
        lost_ug=sample.lost_ug,
        transferred_ug=sample.transferred_ug,
        custody_state=sample.custody_state,
        custodian=sample.custodian,
        loan_number=sample.loan_number,
        frozen=sample.frozen,
        children=tuple(
            _node(session, person, child, path) for child in _children(session, person, sample.code)
        ),
    )


# --- institutions -----------------------------------------------------------------------------


def _counts(session: Session, model: type, column: Mapped[str]) -> dict[str, int]:
    rows = session.exec(select(column, func.count()).select_from(model).group_by(column)).all()
    return {key: int(n) for key, n in rows}


def _institution_views(session: Session, rows: list[Institution]) -> list[InstitutionView]:
    people = _counts(session, Person, col(Person.institution))
    agreements = _counts(session, Agreement, col(Agreement.institution))
    loans = _counts(session, Loan, col(Loan.institution))
    return [
        InstitutionView(
            short_name=i.short_name,
            name=i.name,
            country=i.country,
            city=i.city,
            kind=i.kind,
            people=people.get(i.short_name, 0),
            agreements=agreements.get(i.short_name, 0),
            loans=loans.get(i.short_name, 0),
        )
        for i in rows
    ]


def list_institutions(
    session: Session, ctx: Context, *, kind: str | None = None
) -> list[InstitutionView]:
    """Institutions by short name; researchers see only their own."""
    person = access.reader(session, ctx)
    query = select(Institution).order_by(byte_order(Institution.short_name))
    if kind:
        query = query.where(Institution.kind == require_choice(kind, "--kind", INSTITUTION_KINDS))
    rows = [
        i for i in session.exec(query).all() if access.can_see_institution(person, i.short_name)
    ]
    return _institution_views(session, rows)


def show_institution(session: Session, ctx: Context, *, short_name: str) -> InstitutionView:
    """One institution with its counts."""
    person = access.reader(session, ctx)
    institution = access.readable_institution(session, person, short_name)
    return _institution_views(session, [institution])[0]


# --- people -----------------------------------------------------------------------------------


def _person_view(p: Person) -> PersonView:
    return PersonView(
        email=p.email, name=p.name, institution=p.institution, role=p.role, active=p.active
    )


def list_people(
    session: Session, ctx: Context, *, institution: str | None = None, role: str | None = None
) -> list[PersonView]:
    """People by e-mail; researchers see only their own institution's."""
    person = access.reader(session, ctx)
    query = select(Person).order_by(byte_order(Person.email))
    if institution:
        access.readable_institution(session, person, institution)
        query = query.where(Person.institution == institution)
    if role:
        query = query.where(Person.role == require_choice(role, "--role", ROLES))
    return [
        _person_view(p)
        for p in session.exec(query).all()
        if access.can_see_institution(person, p.institution)
    ]


def show_person(session: Session, ctx: Context, *, email: str) -> PersonView:
    """One person."""
    reader = access.reader(session, ctx)
    return _person_view(access.readable_person(session, reader, email))


# --- agreements -------------------------------------------------------------------------------


def _agreement_view(session: Session, a: Agreement, now: datetime) -> AgreementView:
    loans = session.exec(
        select(func.count()).select_from(Loan).where(Loan.agreement == a.number)
    ).one()
    return AgreementView(
        number=a.number,
        institution=a.institution,
        status=a.status,
        in_force=in_force(a, now),
        created_at=a.created_at,
        signed_at=a.signed_at,
        signed_by=a.signed_by,
        term=a.term,
        expires_at=a.expires_at,
        ended_at=a.ended_at,
        end_reason=a.end_reason,
        max_total_mass_ug=a.max_total_mass_ug,
        issued_ug=issued_under(session, a.number),
        loans=int(loans),
        allowed_purposes=tuple(p for p in a.allowed_purposes.split(",") if p),
        destructive_use_allowed=a.destructive_use_allowed,
        onward_transfer_allowed=a.onward_transfer_allowed,
        max_loan_period=a.max_loan_period,
        max_extensions=a.max_extensions,
        max_extension_period=a.max_extension_period,
        inventory_interval=a.inventory_interval,
    )


def list_agreements(
    session: Session, ctx: Context, *, institution: str | None = None, status: str | None = None
) -> list[AgreementView]:
    """Agreements by number; researchers see only their own institution's."""
    person = access.reader(session, ctx)
    query = select(Agreement).order_by(byte_order(Agreement.number))
    if institution:
        access.readable_institution(session, person, institution)
        query = query.where(Agreement.institution == institution)
    if status:
        query = query.where(
            Agreement.status == require_choice(status, "--status", AGREEMENT_STATUSES)
        )
    return [
        _agreement_view(session, a, ctx.now)
        for a in session.exec(query).all()
        if access.can_see_institution(person, a.institution)
    ]


def show_agreement(session: Session, ctx: Context, *, number: str) -> AgreementView:
    """One agreement, in force or not at `ctx.now`."""
    person = access.reader(session, ctx)
    agreement = access.readable_agreement(session, person, number)
    return _agreement_view(session, agreement, ctx.now)
