"""RFC 6962 Merkle trees over the ledger's event hashes: roots, inclusion and consistency proofs.

The leaves of the ledger's tree are the events' SHA-256 hashes (32 raw bytes each), in seq
order; the tree adds nothing to the hash chain, it only lets a checkpoint be proved consistent
with a later one, and an event be proved included, without the ledger. Definitions are those
of RFC 6962 section 2.1 (the verification algorithms are RFC 9162 section 2.1.3.2 and 2.1.4.2):

    leaf hash  = SHA-256(0x00 || leaf data)
    node hash  = SHA-256(0x01 || left || right)
    empty root = SHA-256("")

`Frontier` computes a root in one pass with O(log n) memory (the roots of the perfect subtrees
so far, the "compact range"); `inclusion_proofs` computes the audit paths of many leaves in one
pass over the leaves, holding only the nodes those paths need; `MerkleTree` keeps every level
for proofs (O(n) memory: tests and small trees only).
"""

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): RFC 6962's split point k."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """A tree being built leaf by leaf: the roots of its perfect subtrees, largest first.

    `hashes[i]` is the root of a perfect subtree of 2^b leaves for each set bit b of `size`,
    from the highest bit down, so memory is O(log size) however many leaves are appended.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes")
        self.size = size
        self.hashes: list[bytes] = list(hashes)

    def append_leaf_hash(self, hashed_leaf: bytes) -> None:
        """Add one leaf given its leaf hash (already `leaf_hash(data)`)."""
        node = hashed_leaf
        size = self.size
        while size & 1:  # each trailing 1 bit is a perfect subtree the new one merges with
            node = node_hash(self.hashes.pop(), node)
            size >>= 1
        self.hashes.append(node)
        self.size += 1

    def append(self, data: bytes) -> None:
        """Add one leaf given its data (an event's 32-byte hash)."""
        self.append_leaf_hash(leaf_hash(data))

    def root(self) -> bytes:
        """The Merkle tree hash (MTH) of the leaves appended so far."""
        if not self.hashes:
            return EMPTY_ROOT
        node = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            node = node_hash(left, node)
        return node

    def copy(self) -> "Frontier":
        """An independent copy, to extend without changing this one."""
        return Frontier(self.size, self.hashes)


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The RFC 6962 root over leaf data given one by one (streamed, O(log n) memory)."""
    frontier = Frontier()
    for data in leaves:
        frontier.append(data)
    return frontier.root()


class MerkleTree:
    """Every level of a tree, for inclusion and consistency proofs (O(n) memory).

    `levels[h][i]` is the root of the perfect subtree of 2^h leaves starting at leaf i * 2^h.
    """

    def __init__(self, leaves: Iterable[bytes]) -> None:
        level = [leaf_hash(data) for data in leaves]
        self.size = len(level)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a subtree RFC 6962's recursion visits."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        height = n.bit_length() - 1
        if n == 1 << height and start % n == 0:  # a perfect, aligned subtree: stored
            return self.levels[height][start >> height]
        k = _largest_power_of_two_below(n)
        return node_hash(self.subtree_root(start, start + k), self.subtree_root(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """The root of the first `size` leaves (default: all of them)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is outside 0..{self.size}")
        return self.subtree_root(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]): the audit path of leaf `index` (0-based)."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        return self._path(index, 0, size)

    def _path(self, index: int, start: int, end: int) -> list[bytes]:
        """PATH(index, D[start:end]) with `index` relative to `start`."""
        n = end - start
        if n == 1:
            return []
        k = _largest_power_of_two_below(n)
        if index < k:
            return [*self._path(index, start, start + k), self.subtree_root(start + k, end)]
        return [*self._path(index - k, start + k, end), self.subtree_root(start, start + k)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[0:new_size]): the tree of old_size is a prefix."""
        new_size = self.size if new_size is None else new_size
        if not 0 <= old_size <= new_size <= self.size:
            raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
        if old_size in (0, new_size):
            return []
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        """SUBPROOF(m, D[start:end], complete) of RFC 6962 section 2.1.2."""
        n = end - start
        if m == n:
            return [] if complete else [self.subtree_root(start, end)]
        k = _largest_power_of_two_below(n)
        if m <= k:
            return [
                *self._subproof(m, start, start + k, complete),
                self.subtree_root(start + k, end),
            ]
        return [*self._subproof(m - k, start + k, end, False), self.subtree_root(start, start + k)]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose roots make RFC 6962 PATH(index, D[0:size]), in order.

    With `proof_from_ranges` this computes a proof streaming the leaves once, in O(log n)
    memory, for trees too large for `MerkleTree`.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return ranges[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots make RFC 6962 PROOF(old_size, D[0:new_size]), in order."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            m, start, complete = m - k, start + k, False
    if not complete:
        ranges.append((start, end))
    return ranges[::-1]


def inclusion_proofs(
    leaves: Iterable[bytes], size: int, indices: Iterable[int]
) -> tuple[bytes, dict[int, list[bytes]]]:
    """The root of the first `size` leaves and the RFC 6962 audit path of each leaf in `indices`,
    in one pass over the leaf data: memory O(log size) plus the nodes the paths hold.

    Every node of an RFC 6962 path is either a perfect, aligned subtree (its root is known the
    moment its last leaf is read) or a range ending at `size` on the tree's right edge (folded
    from the final frontier), so nothing else need be kept.
    """
    wanted = {index: inclusion_ranges(index, size) for index in sorted(set(indices))}
    needed = {span for spans in wanted.values() for span in spans}
    known: dict[tuple[int, int], bytes] = {}
    stack: list[tuple[int, int, bytes]] = []  # (start, leaf count, root) of perfect subtrees
    count = 0
    for data in leaves:
        if count == size:
            break
        node = (count, 1, leaf_hash(data))
        while True:
            if (node[0], node[0] + node[1]) in needed:
                known[(node[0], node[0] + node[1])] = node[2]
            if not stack or stack[-1][1] != node[1]:
                break
            left = stack.pop()
            node = (left[0], left[1] * 2, node_hash(left[2], node[2]))
        stack.append(node)
        count += 1
    if count != size:
        raise ValueError(f"{count} leaves were given for a tree of {size}")
    # the right edge: the range from each perfect subtree's start to the end of the tree
    edge: bytes | None = None
    for start, _count, root in reversed(stack):
        edge = root if edge is None else node_hash(root, edge)
        known.setdefault((start, size), edge)
    return edge or EMPTY_ROOT, {
        index: [known[span] for span in spans] for index, spans in wanted.items()
    }


def proof_from_ranges(
    ranges: Sequence[tuple[int, int]], leaves: Callable[[int, int], Iterable[bytes]]
) -> list[bytes]:
    """The roots of `ranges`, each computed by streaming `leaves(start, end)` (leaf data)."""
    return [root_of(leaves(start, end)) for start, end in ranges]


def root_from_inclusion(index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2); ValueError if malformed."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, node = index, size - 1, hashed_leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is shorter than the tree is deep")
    return node


def verify_inclusion(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows leaf hash `hashed_leaf` at `index` in the tree of `size` and `root`."""
    try:
        return root_from_inclusion(index, size, hashed_leaf, proof) == root
    except ValueError:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 section 2.1.4.2; an empty old tree is a prefix of anything (with an empty proof),
    and equal sizes need equal roots and an empty proof.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(node, fr)
            sr = node_hash(node, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, node)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
