"""A loan item's masses and state as every view shows them: one computation for `status`,
`loans show`, `loans list`, `balance --loan` and the statement.

The ledger keeps, per loan item, `issued_ug` as all the mass that came into the item: for a
sample the borrower split off another item of the loan, that is the split mass, which the
curator never issued. Shown as "issued" it made a loan's rows add up to more than was issued
(and more than `loans list` says), so every view reads an item through `item_masses`: issued is
what the curator issued, and what came from a split is "from split" beside it. Per item, and
for the loan's total (the plain sum of the rows):

    issued + from split = held + consumed + returned + transferred + split + lost
"""

from dataclasses import dataclass
from typing import Protocol

from sampleloans.text import words
from sampleloans.vocab import ItemSource, ItemState

TERMS = ("held", "consumed", "returned", "transferred", "split", "lost")
"""The terms an item's incoming mass (issued + from split) is accounted for by, in order."""
FROZEN = "frozen"
"""What a sample's state says while an open incident freezes it."""


class StoredItem(Protocol):
    """A loan item as the ledger keeps it (`models.LoanItem`, or a row of its columns)."""

    sample_code: str
    source: str
    state: str
    issued_ug: int
    held_ug: int
    consumed_ug: int
    returned_ug: int
    transferred_ug: int
    split_ug: int
    lost_ug: int


@dataclass(frozen=True)
class ItemMasses:
    """One loan item's masses: issued by the curator, or from a borrower's split, and where
    all of it is now."""

    issued_ug: int  # issued by the curator (0 for a sample the borrower split off)
    from_split_ug: int  # split off another sample of the loan by the borrower
    held_ug: int
    consumed_ug: int
    returned_ug: int
    transferred_ug: int
    split_ug: int
    lost_ug: int

    @property
    def incoming_ug(self) -> int:
        """All that came into the item: issued plus from split."""
        return self.issued_ug + self.from_split_ug

    @property
    def balanced(self) -> bool:
        """Whether issued + from split = held + consumed + returned + transferred + split + lost."""
        return self.incoming_ug == sum(getattr(self, f"{t}_ug") for t in TERMS)


def item_masses(item: StoredItem) -> ItemMasses:
    """The masses of a stored loan item as every view shows them."""
    from_split_ug = item.issued_ug if item.source == ItemSource.BORROWER_SPLIT else 0
    return ItemMasses(
        issued_ug=item.issued_ug - from_split_ug,
        from_split_ug=from_split_ug,
        held_ug=item.held_ug,
        consumed_ug=item.consumed_ug,
        returned_ug=item.returned_ug,
        transferred_ug=item.transferred_ug,
        split_ug=item.split_ug,
        lost_ug=item.lost_ug,
    )


NEVER_ISSUED = (ItemState.REQUESTED, ItemState.WITHDRAWN)
"""An item's states before issue: it is on the loan only as requested."""


def item_source(item: StoredItem) -> str:
    """How the item is on the loan, as every view says it: 'requested' until it is issued (the
    ledger stores the source it will have, 'issued', from the request on)."""
    return ItemState.REQUESTED if item.state in NEVER_ISSUED else item.source


def total_masses(items: "list[ItemMasses] | tuple[ItemMasses, ...]") -> ItemMasses:
    """The sum of each term over the items (a loan's total row: its rows add up to it)."""
    names = ItemMasses.__dataclass_fields__
    return ItemMasses(**{name: sum(getattr(i, name) for i in items) for name in names})


def state_words(state: str, frozen: bool) -> str:
    """A sample's state in words, as every view says it: 'held', 'held (frozen)' while an open
    incident freezes the sample."""
    said = words(state)
    return f"{said} ({FROZEN})" if frozen else said
