"""Sweep s22, concurrent writers racing for the same record through the real CLI.

Each racer is its own process, forked from a warm server that has done the imports
(tests/warm_cli.py, one server per racer) and held at a barrier (a file appearing), so they ask
for the ledger within a millisecond or so (on a loaded machine a late one only makes the race
a queue; every assertion holds either way).
The checks that `services.common.checked_early` runs before the writers' lock (`institutions
add`, `samples move`) and the ones every command runs under it must let exactly one win: the
others get their documented refusal and exit 1, nothing is recorded twice, and `verify` stays
clean.
"""

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CURATOR
from tests.warm_cli import Done, WarmCli

NOW = "2026-05-01T10:00:00Z"
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
    "the last micrograms": "Error: --mass: cannot consume 15.000 mg of CE5C0300YJFM00307: the "
    "borrower holds only 5.000 mg on loan L-2025-OU",
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


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WarmCli]]:
    """One warm server per racer of the largest race: each forks its racer after the imports."""
    warm = [WarmCli(tmp_path_factory.mktemp(f"warm{n}")) for n in range(3)]
    yield warm
    for server in warm:
        server.close()


@pytest.mark.parametrize("race", sorted(RACES))
def test_one_racer_wins_the_others_get_the_refusal(
    servers: list[WarmCli], ledger: Path, race: str
) -> None:
    count = events(ledger)
    go = ledger.parent / "go"
    ran: list[Done | None] = [None] * len(RACES[race])

    def racer(index: int, args: list[str]) -> None:
        ran[index] = servers[index].run(args, ledger.parent, environment(ledger), barrier=go)

    racers = [
        threading.Thread(target=racer, args=(index, args)) for index, args in enumerate(RACES[race])
    ]
    for thread in racers:
        thread.start()
    time.sleep(0.5)  # every racer forked, waiting at the barrier
    go.touch()
    for thread in racers:
        thread.join()
    finished = [(done.returncode, done.stdout, done.stderr) for done in ran if done is not None]
    assert len(finished) == len(racers), ran
    codes = sorted(code for code, _out, _err in finished)
    assert codes == [0] + [1] * (len(racers) - 1), finished
    for code, _out, err in finished:
        if code == 1:
            assert len(err.splitlines()) == 1 and REFUSALS[race] in err, err
    assert events(ledger) == count + 1
    check = servers[0].run(["verify"], ledger.parent, environment(ledger))
    assert check.returncode == 0 and "verify: OK" in check.stdout, check.stdout
