"""RFC 6962 Merkle trees: the transparency-dev/merkle (RFC 6962) test vectors, and properties."""

import random

import pytest

from sampleloans.ledger import merkle

h = bytes.fromhex

# Leaves and roots of the RFC 6962 reference test data (certificate-transparency-go,
# transparency-dev/merkle testdata): the root after each of the first 8 leaves.
LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_empty_root_is_sha256_of_nothing() -> None:
    assert merkle.EMPTY_ROOT.hex() == EMPTY
    assert merkle.root_of([]).hex() == EMPTY
    assert merkle.MerkleTree([]).root().hex() == EMPTY


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_reference_vectors(size: int) -> None:
    leaves = [h(x) for x in LEAVES[:size]]
    assert merkle.root_of(leaves).hex() == ROOTS[size - 1]
    assert merkle.MerkleTree([h(x) for x in LEAVES]).root(size).hex() == ROOTS[size - 1]


def test_reference_inclusion_proof() -> None:
    proof = [
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]
    tree = merkle.MerkleTree([h(x) for x in LEAVES])
    assert tree.inclusion_proof(5) == proof
    leaf = merkle.leaf_hash(h(LEAVES[5]))
    assert merkle.verify_inclusion(5, 8, leaf, proof, h(ROOTS[7]))
    assert not merkle.verify_inclusion(4, 8, leaf, proof, h(ROOTS[7]))
    assert not merkle.verify_inclusion(5, 8, leaf, proof[:2], h(ROOTS[7]))
    assert tree.inclusion_proof(2, 3) == [h(ROOTS[1])]
    assert merkle.verify_inclusion(2, 3, merkle.leaf_hash(h(LEAVES[2])), [h(ROOTS[1])], h(ROOTS[2]))


def test_reference_consistency_proofs() -> None:
    tree = merkle.MerkleTree([h(x) for x in LEAVES])
    proof = [
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    ]
    assert tree.consistency_proof(6, 8) == proof
    assert merkle.verify_consistency(6, 8, h(ROOTS[5]), h(ROOTS[7]), proof)
    assert not merkle.verify_consistency(6, 8, h(ROOTS[4]), h(ROOTS[7]), proof)
    small = [
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    ]
    assert tree.consistency_proof(2, 5) == small
    assert merkle.verify_consistency(2, 5, h(ROOTS[1]), h(ROOTS[4]), small)


def test_every_proof_of_a_random_tree_verifies_and_a_wrong_one_does_not() -> None:
    rng = random.Random(15)
    leaves = [rng.randbytes(32) for _ in range(37)]
    tree = merkle.MerkleTree(leaves)
    for size in range(1, 38):
        root = tree.root(size)
        assert root == merkle.root_of(leaves[:size])
        for index in range(size):
            proof = tree.inclusion_proof(index, size)
            leaf = merkle.leaf_hash(leaves[index])
            assert merkle.verify_inclusion(index, size, leaf, proof, root)
            assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"x"), proof, root)
        for old in range(0, size + 1):
            proof = tree.consistency_proof(old, size)
            assert merkle.verify_consistency(old, size, tree.root(old), root, proof)
            if 0 < old < size:
                assert not merkle.verify_consistency(old, size, tree.root(old), leaf, proof)
                assert not merkle.verify_consistency(old, size, leaf, root, proof)


def test_frontier_is_logarithmic_and_resumes() -> None:
    rng = random.Random(7)
    leaves = [rng.randbytes(32) for _ in range(1000)]
    frontier = merkle.Frontier()
    for data in leaves[:600]:
        frontier.append(data)
    assert len(frontier.hashes) == bin(600).count("1")
    resumed = merkle.Frontier(frontier.size, frontier.hashes)
    for data in leaves[600:]:
        resumed.append(data)
    assert resumed.root() == merkle.MerkleTree(leaves).root()
    with pytest.raises(ValueError):
        merkle.Frontier(3, [b"x" * 32])


def test_streamed_proofs_equal_the_in_memory_ones() -> None:
    rng = random.Random(3)
    leaves = [rng.randbytes(32) for _ in range(53)]
    tree = merkle.MerkleTree(leaves)

    def source(start: int, end: int) -> list[bytes]:
        return leaves[start:end]

    for size in range(1, 54):
        for index in range(size):
            ranges = merkle.inclusion_ranges(index, size)
            assert merkle.proof_from_ranges(ranges, source) == tree.inclusion_proof(index, size)
        for old in range(size + 1):
            ranges = merkle.consistency_ranges(old, size)
            assert merkle.proof_from_ranges(ranges, source) == tree.consistency_proof(old, size)
