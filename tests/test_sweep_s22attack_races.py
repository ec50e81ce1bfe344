"""Sweep s22, concurrent writers racing for the same record through the real CLI.

Each racer is its own process, given three seconds to load the command line and then held
at a barrier (a file appearing), so they ask for the ledger within a millisecond or so (on a
loaded machine a late one only makes the race a queue; every assertion holds either way).
The checks that `services.common.checked_early` runs before the writers' lock (`institutions
add`, `samples move`) and the ones every command runs under it must let exactly one win: the
others get their documented refusal and exit 1, nothing is recorded twice, and `verify` stays
clean.
"""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CURATOR

NOW = "2026-05-01T10:00:00Z"
HELD_AT_THE_BARRIER = (
    "import os, sys, time\n"
    "go = sys.argv[1]\n"
    "sys.argv = ['sampleloans', *sys.argv[2:]]\n"
    "from sampleloans.cli import main\n"
    "while not os.path.exists(go):\n"
    "    time.sleep(0.0005)\n"
    "main()\n"
)
ADD = ["institutions", "add", "KTH", "--name", "KTH Royal Institute", "--country", "Sweden"]
RACES = {
    "the same institution": [[*ADD, "--city", "Stockholm", "--kind", "borrower"]] * 3,
    "a case twin": [
        [*ADD, "--city", "Stockholm", "--kind", "borrower"],
        ["institutions", "add", "kth", *ADD[3:], "--city", "Stockholm", "--kind", "borrower"],
    ],
    "the same move": [["samples", "move", "CE5C0000YJBP005", "--location", "Shelf 9"]] * 3,
    "the last micrograms": [
        [
            *("loans", "consume", "L-2025-OU", "--sample", "CE5C0300YJFM00307"),
            *("--technique", "EPMA", "--mass", "15mg", "--destructive"),
        ]
    ]
    * 2,
    "one parent split whole twice": [
        ["samples", "split", "CE5C0000YJYX070", "--child", "-01=4800ug"],
        ["samples", "split", "CE5C0000YJYX070", "--child", "-02=4800ug"],
    ],
}
REFUSALS = {
    "the same institution": "Error: SHORT: institution KTH already exists; see 'institutions show'",
    "a case twin": "differs only in case from institution",
    "the same move": "Error: sample CE5C0000YJBP005 is already in 'Shelf 9'; give --location",
    "the last micrograms": "Error: cannot consume 15.000 mg of CE5C0300YJFM00307: the borrower "
    "holds only 5.000 mg on loan L-2025-OU",
    "one parent split whole twice": "Error: sample CE5C0000YJYX070 is split whole into child "
    "samples; nothing of it is in the vault",
}


def environment(ledger: Path) -> dict[str, str]:
    """The racers' environment: the ledger, the curator, a fixed clock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLELOANS_")}
    env.update(SAMPLELOANS_DB=str(ledger), SAMPLELOANS_USER=CURATOR, SAMPLELOANS_NOW=NOW)
    return env


def events(ledger: Path) -> int:
    """How many events the ledger holds (raw sqlite3)."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as connection:
        return int(connection.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


@pytest.mark.parametrize("race", sorted(RACES))
def test_one_racer_wins_the_others_get_the_refusal(ledger: Path, race: str) -> None:
    count = events(ledger)
    go = ledger.parent / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", HELD_AT_THE_BARRIER, str(go), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(ledger),
        )
        for args in RACES[race]
    ]
    time.sleep(3)  # every racer past its imports, waiting at the barrier
    go.touch()
    finished = [(racer.wait(timeout=300), *racer.communicate()) for racer in racers]
    codes = sorted(code for code, _out, _err in finished)
    assert codes == [0] + [1] * (len(racers) - 1), finished
    for code, _out, err in finished:
        if code == 1:
            assert len(err.splitlines()) == 1 and REFUSALS[race] in err, err
    assert events(ledger) == count + 1
    check = subprocess.run(
        [sys.executable, "-m", "sampleloans", "verify"],
        capture_output=True,
        text=True,
        env=environment(ledger),
    )
    assert check.returncode == 0 and "verify: OK" in check.stdout, check.stdout
