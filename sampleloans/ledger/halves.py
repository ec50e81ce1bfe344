"""Two halves of a ledger that replay independently (`verify`'s replay on two cores).

An event applies to the rows of the samples, loans and agreement it names, reading their
earlier state and the reference records (missions, institutions, people), and to nothing else
(`ledger/apply.py`; the scoped "as of" of `ledger/replay.py` rests on the same fact). So the
records fall into groups no event joins: the connected components of "named by one event",
over the `sample`, `loan` and `agreement` subjects of the event index. Each half replays the
reference events and the events of its groups, in seq order; every row a half writes outside
the reference tables is then exactly the full replay's row, and the two halves' rows together
are the full replay's.

The halves are read from the stored index, which the replay itself checks entry by entry
(`replay.IndexCheck`): when the index is as the events make it, the halves are right; when it
is not, `verify` says so and does not rely on them (it replays the whole ledger in one piece to
name what it finds).
"""

from array import array
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from sampleloans import db
from sampleloans.models import Institution, LedgerEvent, Mission, Person

MAIN, BESIDE, BOTH = 0, 1, 2
"""Which replay takes an event: the verifying process, the one beside it, or both (reference)."""

LINKING = ("sample", "loan", "agreement")
"""Subjects whose rows an event reads and changes: an event joins the groups of all it names."""

REFERENCE_TABLES = tuple(str(model.__tablename__) for model in (Mission, Institution, Person))
"""The tables only reference events write: both halves replay them, one copy is kept."""


BESIDE_SHARE = 0.54
"""The share of the events the replay beside takes (the verifying process, the rest). Set by
cost, not count: once its half is replayed the verifying process runs the checks of the stored
rows (invariants, recorders, kept checkpoints) while the half beside finishes, and the events
that name no record are its own. Measured on the 1M-event bench ledger (bench/RESULTS.md, stop
37: each side's CPU): at 0.566 the half beside took 43.2 s against 36.7 + 2.7 s here; at 0.54,
36.5 s against 33.5 + 2.5 s, so both end together."""


@dataclass(frozen=True)
class Halves:
    """Which replay takes each event up to `head` (`side[seq]`: MAIN, BESIDE or BOTH)."""

    side: bytes
    head: int

    def takes(self, seq: int, which: int) -> bool:
        """Whether replay `which` (MAIN or BESIDE) applies event `seq`."""
        found = self.side[seq] if 0 < seq <= self.head else MAIN
        return found in (which, BOTH)

    def checks(self, seq: object, which: int) -> bool:
        """Whether replay `which` compares the stored index entries under `seq` (the reference
        events' and every entry under a seq no event has: MAIN's)."""
        if not isinstance(seq, int) or not 0 < seq <= self.head:
            return which == MAIN
        found = self.side[seq]
        return found == which or (found == BOTH and which == MAIN)

    def compared(self, which: int) -> bytes:
        """`checks(seq, which)` for every seq up to `head`, as one byte per seq (1: compared)."""
        table = bytearray(256)
        table[which] = 1
        if which == MAIN:
            table[BOTH] = 1
        return self.side.translate(table)

    def count(self, which: int) -> int:
        """How many events replay `which` applies."""
        return sum(1 for seq in range(1, self.head + 1) if self.takes(seq, which))

    def save(self, path: Path) -> None:
        """Write the halves for the process beside (a scratch file, one byte per event)."""
        path.write_bytes(self.side)

    @classmethod
    def load(cls, path: Path) -> "Halves":
        """The halves `save` wrote."""
        side = path.read_bytes()
        return cls(side=side, head=len(side) - 1)


def split_in_two(connection: Connection, head: int, reference_kinds: tuple[str, ...]) -> Halves:
    """Group the records of the events up to `head`, and share the groups between two replays,
    `BESIDE_SHARE` of the events to the one beside (the verifying process also takes every
    event that names none).
    """
    first, parent = _groups(connection, head)
    sizes: dict[int, int] = {}
    for seq in range(1, head + 1):
        node = first[seq]
        if node >= 0:
            root = _root(parent, node)
            first[seq] = root
            sizes[root] = sizes.get(root, 0) + 1
    load = [head - sum(sizes.values()), 0]
    share = (1 - BESIDE_SHARE, BESIDE_SHARE)
    half_of: dict[int, int] = {}
    for root in sorted(sizes, key=lambda r: (-sizes[r], r)):  # largest first, then by node
        # to the half furthest below its share (a tie: MAIN)
        which = MAIN if load[MAIN] * share[BESIDE] <= load[BESIDE] * share[MAIN] else BESIDE
        half_of[root] = which
        load[which] += sizes[root]
    side = bytearray(head + 1)
    for seq in range(1, head + 1):
        node = first[seq]
        side[seq] = half_of[node] if node >= 0 else MAIN
    for seq in _reference_seqs(connection, head, reference_kinds):
        side[seq] = BOTH
    return Halves(side=bytes(side), head=head)


def _groups(connection: Connection, head: int) -> tuple["array[int]", list[int]]:
    """Per seq, the first linking subject it names (-1: none), and the union-find forest of
    the subjects (`parent[node]`), joined wherever one event names several."""
    first = array("q", [-1]) * (head + 1)
    parent: list[int] = []
    nodes: dict[str, int] = {}
    joined: set[tuple[int, str]] = set()  # (first node of a seq, another subject): joined
    last_seq = 0
    for seq, subject in db.stream_tuples(connection, _linking_entries(head)):
        if seq != last_seq:  # the event's first entry (entries come in seq order)
            last_seq = seq
            node = nodes.get(subject)
            if node is None:
                node = nodes[subject] = len(parent)
                parent.append(node)
            first[seq] = node
            continue
        # most events name subjects an earlier event already joined (a loan and its sample)
        pair = (first[seq], subject)
        if pair in joined:
            continue
        joined.add(pair)
        node = nodes.get(subject)
        if node is None:
            node = nodes[subject] = len(parent)
            parent.append(node)
        a, b = _root(parent, first[seq]), _root(parent, node)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return first, parent


def _linking_entries(head: int) -> str:
    """The query of the linking entries under the seqs of the events up to `head`, in seq
    order, as (seq, "type key"): an entry under another seq (not a whole number, beyond the
    head) is one no event of the snapshot has, named by the index check instead."""
    kinds = " ".join(f"WHEN '{kind}' THEN 1" for kind in LINKING)
    # the type tested by a CASE, not an IN an index could serve: the rows come in the primary
    # key's order (seq first) with no sort of the 2.7M entries of a 1M-event ledger (a third
    # of the grouping's time); a type is one word, so "type key" names one subject
    return (
        "SELECT seq, subject_type || ' ' || subject_key FROM event_subject "
        f"WHERE CASE subject_type {kinds} ELSE 0 END = 1 "
        f"AND seq >= 1 AND seq <= {int(head)} AND seq = CAST(seq AS INTEGER) ORDER BY seq"
    )


def _root(parent: list[int], node: int) -> int:
    """The root of a node's tree, shortening the path on the way."""
    root = node
    while parent[root] != root:
        root = parent[root]
    while parent[node] != root:
        parent[node], node = root, parent[node]
    return root


def _reference_seqs(connection: Connection, head: int, kinds: tuple[str, ...]) -> list[int]:
    """The reference events up to `head` (through the `kind` index): both replays take them."""
    table = LedgerEvent.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    query = select(table.c.seq).where(table.c.kind.in_(kinds), table.c.seq <= head)
    return [int(seq) for (seq,) in connection.execute(query)]
