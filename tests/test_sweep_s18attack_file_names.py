"""Sweep s18, an attacker: file names built from e-mail addresses.

Found: `report statement` and `notify --outbox` named each file after the PI's address with
every character but letters, digits and `. _ -` replaced by `_`, so `x+y@open.example` and
`x_y@open.example` (both valid, both PIs of OU) got one file: without `--force` the command
wrote one statement, then stopped with "… exists" (a partial output, for a file that did not
exist before it ran); with `--force` the second PI's statement silently replaced the first's.
"""

from pathlib import Path
from typing import Any

import pytest

from sampleloans.services.statement import file_name
from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_checkpoint, make_demo

TWINS = ("x+y@open.example", "x_y@open.example")


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo with two OU PIs whose addresses differ only in `+`/`_`, each with a loan
    requested, and a kept checkpoint."""
    folder = tmp_path_factory.mktemp("twins")
    ledger = copy_ledger(make_demo(folder / "d"), folder / "ledger.db")
    env = env_for(ledger)
    for n, email in enumerate(TWINS, start=1):
        steps = [
            ["people", "add", email, "--name", f"Twin {n}", "--institution", "OU",
             "--role", "researcher"],
            ["samples", "register", f"CE5C0000YJYX09{n}", "--mission", "CE-5", "--mass", "3 mg",
             "--origin", "scoop", "--material", "glass bead", "--form", "rock fragment",
             "--purpose", "research", "--location", "NAOC N2 cabinet B"],
            ["loans", "request", f"L-TWIN-{n}", "--agreement", "AG-2025-OU", "--pi", email,
             "--sample", f"CE5C0000YJYX09{n}", "--period", "6 months"],
        ]  # fmt: skip
        for step in steps:
            done = invoke(env, *step)
            assert done.exit_code == 0, (step, done.stderr)
    make_checkpoint(ledger, folder)
    return {"env": env, "folder": folder}


def test_two_pis_whose_addresses_read_alike_get_two_statements(
    twins: dict[str, Any], tmp_path: Path
) -> None:
    """Before: two files written, then `… statement-x_y-at-open.example.pdf exists`, exit 3."""
    out = tmp_path / "st"
    done = invoke(twins["env"], "report", "statement", "--institution", "OU", "--out", str(out))
    assert done.exit_code == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3, names  # anand and the twins
    assert "statement-x_y-at-open.example.pdf" in names  # the address that reads back as typed
    plus = [n for n in names if n.startswith("statement-x_y-at-open.example_")]
    assert len(plus) == 1, names
    assert f"Wrote {out / plus[0]}: statement to x+y@open.example, 1 event proved" in done.stdout


def test_force_never_lets_one_pi_s_statement_replace_another_s(
    twins: dict[str, Any], tmp_path: Path
) -> None:
    """Before: exit 0, three 'Wrote' lines, two files: x+y's statement gone."""
    out = tmp_path / "st"
    args = ("report", "statement", "--institution", "OU", "--out", str(out), "--force")
    done = invoke(twins["env"], *args)
    assert done.exit_code == 0, done.stderr
    written = [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("Wrote")]
    assert len(written) == len(set(written)) == len(list(out.iterdir())) == 3


def test_the_outbox_holds_one_message_per_pi(twins: dict[str, Any], tmp_path: Path) -> None:
    """Before: `--outbox: …/statement-x_y_open.example.eml exists`, exit 3, two files left."""
    outbox = tmp_path / "ob"
    args = ("notify", "--institution", "OU", "--outbox", str(outbox),
            "--smtp-from", "curator@naoc.example")  # fmt: skip
    done = invoke(twins["env"], *args)
    assert done.exit_code == 0, done.stderr
    messages = {p.name: p.read_text() for p in outbox.glob("statement-*")}
    assert len(messages) == 3, sorted(messages)  # beside them, OU's overdue notice
    to = sorted(line for text in messages.values() for line in text.splitlines()
                if line.startswith("To: "))  # fmt: skip
    assert to == ["To: anand@open.example", "To: x+y@open.example", "To: x_y@open.example"]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("x+y@open.example", "x_y@open.example"),  # a character replaced
        ("x-@at-y.example", "x--at@y.example"),  # "-at-" splits both ways
        ("a/b@open.example", "a=b@open.example"),  # two replaced the same way
    ],
)
def test_no_two_addresses_share_a_statement_file_name(first: str, second: str) -> None:
    """Each address gets its own name; a plain one keeps the name it always had."""
    assert file_name(first) != file_name(second)
    assert file_name("terada@osaka-u.example") == "statement-terada-at-osaka-u.example.pdf"
    assert file_name("x_y@open.example") == "statement-x_y-at-open.example.pdf"
