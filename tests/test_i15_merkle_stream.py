"""One-pass inclusion proofs (`merkle.inclusion_proofs`): RFC 6962 vectors, every leaf of small
trees, and bounded memory for a statement over a large ledger."""

import random
import tracemalloc

import pytest

from sampleloans.ledger import merkle
from tests.test_i15_merkle import LEAVES, ROOTS

h = bytes.fromhex


def test_one_pass_proofs_match_the_rfc6962_reference_vectors() -> None:
    leaves = [h(x) for x in LEAVES]
    root, proofs = merkle.inclusion_proofs(iter(leaves), 8, [5])
    assert root.hex() == ROOTS[7]
    assert proofs[5] == [
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]
    root3, proofs3 = merkle.inclusion_proofs(iter(leaves), 3, [2])
    assert root3.hex() == ROOTS[2] and proofs3[2] == [h(ROOTS[1])]


def test_one_pass_proofs_equal_the_in_memory_tree_for_every_leaf_and_size() -> None:
    rng = random.Random(61)
    leaves = [rng.randbytes(32) for _ in range(70)]
    tree = merkle.MerkleTree(leaves)
    for size in range(1, 71):
        root, proofs = merkle.inclusion_proofs(iter(leaves), size, range(size))
        assert root == tree.root(size)
        for index in range(size):
            assert proofs[index] == tree.inclusion_proof(index, size)
            leaf = merkle.leaf_hash(leaves[index])
            assert merkle.verify_inclusion(index, size, leaf, proofs[index], root)


def test_one_pass_proofs_refuse_too_few_leaves() -> None:
    with pytest.raises(ValueError, match="3 leaves"):
        merkle.inclusion_proofs(iter([b"a", b"b", b"c"]), 5, [0])


def test_proofs_of_a_million_leaf_tree_stay_in_a_few_megabytes() -> None:
    """A statement at 1M events: 200 proofs streamed, not a 270 MB tree in memory."""
    size = 1_000_000
    leaves = (i.to_bytes(32, "big") for i in range(size))
    wanted = list(range(0, size, size // 200))
    tracemalloc.start()
    try:
        root, proofs = merkle.inclusion_proofs(leaves, size, wanted)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"peak {peak} bytes"
    for index in wanted[:20]:
        leaf = merkle.leaf_hash(index.to_bytes(32, "big"))
        assert merkle.verify_inclusion(index, size, leaf, proofs[index], root)
