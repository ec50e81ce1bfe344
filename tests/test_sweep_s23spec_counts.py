"""Counts agree with their nouns everywhere: `checkpoint prove` said "(0 hashs)" and "(3 hashs)";
`text.counted` added a bare "s" to every noun."""

from pathlib import Path

import pytest

from sampleloans.text import counted
from tests.i15_statement_helpers import env_for, invoke, make_checkpoint


@pytest.mark.parametrize(
    ("count", "noun", "words"),
    [
        (0, "hash", "0 hashes"),
        (1, "hash", "1 hash"),
        (2, "event", "2 events"),
        (3, "box", "3 boxes"),
    ],
)
def test_counted(count: int, noun: str, words: str) -> None:
    assert counted(count, noun) == words


def test_checkpoint_prove_counts_hashes(ledger: Path, tmp_path: Path) -> None:
    first = make_checkpoint(ledger, tmp_path)["cp"].read_bytes()
    old = tmp_path / "old.txt"
    old.write_bytes(first)
    moved = invoke(env_for(ledger), "samples", "move", "CE5C0000YJYX048", "--location", "B2")
    assert moved.exit_code == 0, moved.output
    new = make_checkpoint(ledger, tmp_path)["cp"]
    proof = tmp_path / "proof.json"
    result = invoke(env_for(ledger), "checkpoint", "prove", str(old), str(new), "--out", str(proof))
    assert result.exit_code == 0, result.output
    assert "hashs" not in result.stdout and "hashes) to" in result.stdout, result.stdout
