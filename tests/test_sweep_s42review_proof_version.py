"""Sweep s42 review: a consistency proof's `version` is read, not skipped.

`checkpoint prove` writes `"version": 1` (docs/ledger-format.md), but `checkpoint
check-consistency` accepted a proof whose version was missing, 2, `true` or text, as long as its
other fields checked out: a later release's proof, whose fields may mean something else, would be
read as this one's. Now any version but the number 1 is one line, exit 2, naming what it read.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

MISSING = object()


@pytest.fixture(scope="module")
def proved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo copy's checkpoint and the proof from it to itself, through the CLI."""
    folder = tmp_path_factory.mktemp("proof-version")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    made = make_checkpoint(ledger, folder)
    proof = folder / "proof.json"
    env = env_for(ledger)
    done = invoke(env, "checkpoint", "prove", str(made["cp"]), str(made["cp"]), "--out", str(proof))
    assert done.exit_code == 0, done.stderr
    return {**made, "env": env, "proof": proof}


def _check(proved: dict[str, Any], proof: Path) -> Any:
    cp, pub = str(proved["cp"]), str(proved["pub"])
    args = ("checkpoint", "check-consistency", cp, cp, str(proof), "--public-key", pub)
    return invoke(proved["env"], *args)


def test_the_proof_as_written_checks(proved: dict[str, Any]) -> None:
    assert json.loads(proved["proof"].read_text())["version"] == 1
    done = _check(proved, proved["proof"])
    assert done.exit_code == 0, done.stderr


@pytest.mark.parametrize(
    ("version", "said"),
    [(MISSING, "no version"), (2, "version 2"), (True, "version true"), ("1", "version '1'")],
    ids=["missing", "2", "true", "text"],
)
def test_another_version_is_one_line_exit_2(
    proved: dict[str, Any], tmp_path: Path, version: object, said: str
) -> None:
    document = json.loads(proved["proof"].read_text())
    if version is MISSING:
        del document["version"]
    else:
        document["version"] = version
    edited = tmp_path / "proof.json"
    edited.write_text(json.dumps(document))
    done = _check(proved, edited)
    assert done.exit_code == 2, done.output
    assert done.stderr.strip().splitlines() == [
        f"Error: PROOF: {edited} is a consistency proof of {said}; this release reads version 1, "
        "as 'checkpoint prove' writes it"
    ]
