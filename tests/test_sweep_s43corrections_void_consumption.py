"""Sweep s43 "a curator puts their mistakes right": a consumption that never happened.

Before: a consumption entered twice, or on the wrong sample or loan, could not be put right.
`custody correct SEQ --mass 0mg` was refused (`--mass: must be at least 1 µg for a
consumption`, exit 2), and any other mass left part of it consumed, so the borrower's balance
stayed short of what they hold and the loan could not settle honestly. After: a consumption's
mass may be corrected down to 0 µg (as a weighing's and a loss's may), which gives the whole
mass back to what the borrower holds; every view reads it, `verify` replays it, and the
original event stays, marked "corrected by". The refusals around it (a settled loan, a
researcher, a correction of a correction, an event that does not exist) stay one line each.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.i15_statement_helpers import env_for, make_demo

CURATOR = "curator@naoc.example"
OU_MOUNT = 99  # the demo's 500 µg SEM-EDS mount of CE5C0200YJFM00112 on L-2025-OU
IPGP_ANALYSIS = 96  # the demo's 20 mg Zn analysis on L-2025-IPGP, a loan settled and closed
MOUNTED = "CE5C0200YJFM00112"


def run(env: dict[str, str], *args: str, code: int = 0) -> Any:
    """Run one command in-process; it must end with `code`."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, f"{args}: {result.output}"
    return result


def as_json(env: dict[str, str], *args: str) -> Any:
    """A read command's --json output."""
    return json.loads(run(env, *args, "--json").stdout)


def event_count(ledger: Path) -> int:
    """How many events the ledger holds (read with sqlite3)."""
    with sqlite3.connect(ledger) as db:
        return int(db.execute("SELECT count(*) FROM ledger_event").fetchone()[0])


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo ledger."""
    return make_demo(tmp_path / "demo")


def item(rows: list[dict[str, Any]], code: str) -> dict[str, Any]:
    """The row of one sample."""
    (found,) = [r for r in rows if r["sample_code"] == code]
    return found


def test_a_consumption_entered_twice_is_corrected_to_nothing_everywhere(demo: Path) -> None:
    env = env_for(demo)
    done = run(env, "custody", "correct", str(OU_MOUNT), "--mass", "0mg", "--reason", "twice")
    assert "consumption of CE5C0200YJFM00112 500 µg → 0 µg" in done.stdout
    correction = event_count(demo)
    balance = as_json(env, "balance", "--loan", "L-2025-OU")
    mounted = item(balance["item_balance"]["rows"], MOUNTED)
    assert (mounted["held_ug"], mounted["consumed_ug"], mounted["balanced"]) == (20000, 0, True)
    status = as_json(env, "status", "--loan", "L-2025-OU")
    assert status["loans"][0]["held_ug"] == 60000
    shown = as_json(env, "loans", "show", "L-2025-OU")
    assert [c["mass_ug"] for c in shown["consumptions"]] == [0]
    assert [(c["seq"], c["corrects_seq"]) for c in shown["corrections"]] == [(correction, OU_MOUNT)]
    sample = as_json(env, "samples", "show", MOUNTED)
    assert (sample["consumed_ug"], sample["on_loan_ug"]) == (0, 20000)
    history = as_json(env, "custody", "history", "--loan", "L-2025-OU")
    events = history["events"] if isinstance(history, dict) else history
    (original,) = [e for e in events if e["seq"] == OU_MOUNT]
    assert original["corrected_by"] == [correction]
    assert "500 µg of CE5C0200YJFM00112 consumed" in original["description"]  # as recorded
    run(env, "verify")
    # the right consumption is then recorded on the right sample, dated after the loan's
    # last event (a record's events stay in time order)
    run(
        env,
        "loans",
        "consume",
        "L-2025-OU",
        "--sample",
        "CE5C0300YJFM00307",
        "--technique",
        "SEM-EDS mount preparation",
        "--mass",
        "0.5mg",
        "--non-destructive",
    )
    rows = as_json(env, "balance", "--loan", "L-2025-OU")["item_balance"]["rows"]
    assert [item(rows, c)["consumed_ug"] for c in (MOUNTED, "CE5C0300YJFM00307")] == [0, 500]
    run(env, "verify")


def init_ledger_with_a_sample_consumed_whole(folder: Path) -> dict[str, str]:
    """A fresh `init` ledger whose one loan's one sample was consumed whole (event 32)."""
    folder.mkdir()
    env = env_for(folder / "ledger.db", actor="cur@naoc.example")
    run(env, "init", "--curator-email", "cur@naoc.example", "--curator-name", "Cur Ator")
    steps = [
        "institutions add LAB --name Lab --country France --city Lyon --kind borrower",
        "people add pi@lab.example --name Pia --institution LAB --role researcher",
        "samples register CE5C0000YJYX070 --mission CE-5 --mass 4mg --origin scoop"
        " --material regolith --form powder --purpose research --location N2",
        "agreements add AG-1 --institution LAB --term P5Y --max-mass 1g --purpose research"
        " --max-loan-period P12M --destructive",
        "agreements sign AG-1 --signed-by both",
        "loans request L-1 --agreement AG-1 --pi pi@lab.example --sample CE5C0000YJYX070",
        "loans approve L-1",
        "loans issue L-1",
        "loans ship L-1 --container box --seal S-1",
        "loans receive L-1 --seal-intact --condition fine",
        "loans consume L-1 --sample CE5C0000YJYX070 --technique ICP --mass 4mg --destructive",
    ]
    for step in steps:
        run(env, *step.split())
    return env


def test_a_sample_consumed_whole_by_mistake_is_held_again(tmp_path: Path) -> None:
    env = init_ledger_with_a_sample_consumed_whole(tmp_path / "fresh")
    ledger = Path(env["SAMPLELOANS_DB"])
    assert as_json(env, "samples", "show", "CE5C0000YJYX070")["custody_state"] == "consumed"
    run(env, "custody", "correct", "32", "--mass", "0mg", "--reason", "wrong sample")
    sample = as_json(env, "samples", "show", "CE5C0000YJYX070")
    assert (sample["custody_state"], sample["on_loan_ug"], sample["consumed_ug"]) == (
        "held",
        4000,
        0,
    )
    # nothing is accounted for any more: the loan cannot settle until it comes back
    refused = run(env, "loans", "settle", "L-1", "--obligations", "done", code=1)
    assert "4.000 mg held by the borrower" in refused.stderr
    # the correction itself is put right by correcting the original again
    run(env, "custody", "correct", "32", "--mass", "4mg", "--reason", "it was this sample")
    assert as_json(env, "samples", "show", "CE5C0000YJYX070")["custody_state"] == "consumed"
    assert event_count(ledger) == 34  # the refused settlement recorded nothing
    run(env, "verify")


@pytest.mark.parametrize(
    ("args", "actor", "code", "words"),
    [
        # a settled loan's balance is final
        ((str(IPGP_ANALYSIS), "--mass", "0mg"), CURATOR, 1, "its balance is final"),
        # a registration is never 0 µg: the zero is for a consumption, weighing or loss
        (("30", "--mass", "0mg"), CURATOR, 2, "at least 1 µg for a registration"),
        # a researcher records no correction, of their own event either
        (("107", "--text", "x"), "anand@open.example", 4, "only curators"),
        (("1000", "--text", "x"), CURATOR, 2, "no such event"),
        (("0", "--text", "x"), CURATOR, 2, "no such event"),
    ],
)
def test_a_correction_that_cannot_be_is_one_line_and_records_nothing(
    demo: Path, args: tuple[str, ...], actor: str, code: int, words: str
) -> None:
    before = event_count(demo)
    reason = ("--reason", "why") if "--mass" in args else ()
    refused = run(env_for(demo, actor=actor), "custody", "correct", *args, *reason, code=code)
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and words in lines[0], lines
    assert "Traceback" not in refused.output
    assert event_count(demo) == before


def test_a_mass_correction_is_not_corrected_itself(demo: Path) -> None:
    env = env_for(demo)
    run(env, "custody", "correct", str(OU_MOUNT), "--mass", "0mg", "--reason", "twice")
    correction = str(event_count(demo))
    refused = run(env, "custody", "correct", correction, "--mass", "1mg", "--reason", "x", code=2)
    assert f"correct event {OU_MOUNT}" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
