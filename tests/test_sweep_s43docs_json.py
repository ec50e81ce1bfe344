"""docs/json.md read against `loans show --json` and `custody history --json` of a loan the demo
lacks: a shipment by a courier named in words, a broken seal, a weighing that differs.

Before s43 the page said `courier` and `witness` were keys of `loans show`'s shipments (they are
the hand-overs'), that a history's events carry `recorded_by` (they carry `actor`), that a
replayed loan's items carry `from_split_ug`, that an analysis and an extension had only six and
five keys, and that `email` is never null (a courier given by name has none).
`tests/test_i11_json.py` checks every key of the demo; the demo has no such hand-over.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import env_for, invoke, make_demo
from tests.test_i11_json import key_problems, vocabulary

CODE = "CE5C0000YJYX090"
LOAN = "L-2026-UoC-2"


def run(env: dict[str, str], *args: str) -> str:
    """Run the CLI; its standard output, after asserting it succeeded."""
    result = invoke(env, *args)
    assert result.exit_code == 0, (args, result.output)
    return str(result.stdout)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo plus a loan shipped by a courier named in words, received with its seal broken
    and 100 µg short, and extended once."""
    ledger = make_demo(tmp_path_factory.mktemp("s43docs") / "demo")
    issue = env_for(ledger, now="2026-04-28T10:00:00Z")
    run(issue, "samples", "register", CODE, "--mission", "CE-5", "--mass", "3.2 mg", "--origin",
        "scoop", "--material", "basalt clast", "--form", "rock fragment", "--purpose", "research",
        "--location", "NAOC N2 cabinet B")  # fmt: skip
    run(issue, "loans", "request", LOAN, "--agreement", "AG-2025-UoC", "--pi",
        "muenker@uni-koeln.example", "--sample", CODE, "--period", "6 months")  # fmt: skip
    run(issue, "loans", "approve", LOAN)
    run(issue, "loans", "issue", LOAN)
    run(issue, "loans", "ship", LOAN, "--container", "box", "--seal", "S-1", "--courier", "DHL",
        "--witness", "a clerk")  # fmt: skip
    later = env_for(ledger, now="2026-05-02T10:00:00Z")
    run(later, "loans", "receive", LOAN, "--seal-broken", "--condition", "dented", "--weighed",
        f"{CODE}=3.1mg")  # fmt: skip
    run(later, "loans", "consume", LOAN, "--sample", CODE, "--technique", "EPMA", "--mass",
        "0.1 mg", "--non-destructive")  # fmt: skip
    run(later, "loans", "extend", LOAN, "--period", "1 month", "--approver",
        "curator@naoc.example", "--reason", "beam time")  # fmt: skip
    return later


def documented_fields(key: str) -> set[str]:
    """The member keys docs/json.md names for an array key: `{a, b}` or the list after ':'."""
    text = vocabulary()[key][1]
    braces = re.search(r"\{([^}]*)\}", text)
    listed = braces.group(1) if braces else text.split(":", 1)[1]
    return {name.strip(" `") for name in listed.split(",")}


def loan_json(env: dict[str, str]) -> Any:
    """`loans show LOAN --json`, parsed."""
    return json.loads(run(env, "loans", "show", LOAN, "--json"))


def test_every_key_has_its_documented_type_and_format(env: dict[str, str]) -> None:
    problems = []
    for args in (("loans", "show", LOAN), ("custody", "history", "--loan", LOAN)):
        problems += key_problems(json.loads(run(env, *args, "--json")))
    assert problems == []


@pytest.mark.parametrize(
    "key", ["consumptions", "extensions", "handovers", "broken_seals", "weighing_discrepancies"]
)
def test_loans_show_objects_have_the_documented_keys(env: dict[str, str], key: str) -> None:
    rows = loan_json(env)[key]
    assert rows, f"the fixture's loan has no {key}"
    assert [set(row) for row in rows] == [documented_fields(key)] * len(rows)


def test_courier_and_witness_are_the_hand_overs_not_the_shipments(env: dict[str, str]) -> None:
    loan = loan_json(env)
    ship = next(h for h in loan["handovers"] if h["step"] == "ship")
    assert ship["courier"] == {"email": None, "institution": None, "name": "DHL"}
    assert ship["witness"]["name"] == "a clerk"
    assert all("courier" not in s and "witness" not in s for s in loan["shipments"])
    assert "loans show (handovers)" in vocabulary()["courier"][2]


def test_history_events_name_their_recorder_as_actor(env: dict[str, str]) -> None:
    events = json.loads(run(env, "custody", "history", "--loan", LOAN, "--json"))["events"]
    assert {e["actor"] for e in events} == {"curator@naoc.example"}
    assert all("recorded_by" not in e for e in events)
    assert "history" not in vocabulary()["recorded_by"][2]


def test_a_replayed_loans_items_have_the_documented_keys(env: dict[str, str]) -> None:
    history = run(env, "custody", "history", "--loan", LOAN, "--as-of", "2026-05-02", "--json")
    loans = json.loads(history)["replayed_state"]["loans"]
    items = [item for loan in loans for item in loan["items"]]
    assert items
    documented = vocabulary()["items"][1].split("a replayed loan's items have only ")[1]
    assert {frozenset(item) for item in items} == {
        frozenset(k.strip(" `") for k in documented.split(","))
    }
    assert "history" not in vocabulary()["from_split_ug"][2]


def test_the_transfer_type_is_the_word_typed(tmp_path: Path) -> None:
    env = env_for(make_demo(tmp_path / "demo"), now="2026-04-28T10:00:00Z")
    run(env, "loans", "request", "L-GIFT", "--agreement", "AG-2025-UoC", "--pi",
        "muenker@uni-koeln.example", "--sample", "CE5C0000YJYX070", "--transfer-type",
        "exhibition", "--purpose", "research")  # fmt: skip
    shown = json.loads(run(env, "loans", "show", "L-GIFT", "--json"))
    assert shown["transfer_type"] == "exhibition"
    assert "`exhibition`" in vocabulary()["transfer_type"][1]
