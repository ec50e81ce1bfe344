"""Sweep "the whole 2025 round, as each user": what a table shows on a 100-column terminal.

A mass or a loan number folded inside itself ("17.60" over "0 mg", "L-20" over "25-UoC") reads
as another value; each must stay whole whenever every column's longest word fits.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sampleloans.units import format_mass
from tests.conftest import demo_copy, demo_env, run_at_width

CURATOR = "curator@naoc.example"
NOW = "2026-04-28T10:00:00Z"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger (the 2025 round) and the environment to read it as the curator."""
    return demo_env(tmp_path_factory, CURATOR, NOW)


def run(env: dict[str, str], *args: str, columns: int = 100) -> Any:
    """Invoke the CLI at a terminal width (100 columns unless given); it must succeed."""
    return run_at_width(env, *args, columns=columns)


def number_words(mass_ug: int) -> str:
    """The number part of a mass as a table shows it ('17.600' of '17.600 mg')."""
    return format_mass(mass_ug).split()[0]


def folded(words: set[str], table: str) -> list[str]:
    """The words that do not appear whole in a table's text."""
    return sorted(word for word in words if not re.search(rf"(?<![\w.]){re.escape(word)}", table))


WHOLE_MASS = re.compile(r"\d+\.\d{3,6}( (mg|g))?|\d+ µg")


def mass_fragments(table: str) -> list[str]:
    """Cells of a table's rows that begin with a digit but are not a whole mass ('800.000 mg',
    '800.000' with its unit wrapped below, '250 µg'): pieces of a mass folded inside itself."""
    cells = [
        cell.strip()
        for line in table.splitlines()
        if line.startswith("│")
        for cell in line.strip("│").split("│")
    ]
    return [c for c in cells if c[:1].isdigit() and not WHOLE_MASS.fullmatch(c)]


def test_samples_list_keeps_masses_and_loan_numbers_whole(demo: dict[str, str]) -> None:
    """samples list at 100 columns: every mass and loan number on one line, as in its JSON."""
    rows = json.loads(run(demo, "samples", "list", "--json").stdout)
    words = {r["loan_number"] for r in rows if r["loan_number"]}
    for row in rows:
        words |= {number_words(row[key]) for key in ("initial_ug", "vault_ug", "on_loan_ug")}
    table = run(demo, "samples", "list").stdout
    assert folded(words, table) == []
    assert mass_fragments(table) == []


@pytest.mark.parametrize("code", ["CE5C0800YJFM00102", "CE5C0100YJFM00201"])
def test_lineage_balance_keeps_masses_whole(demo: dict[str, str], code: str) -> None:
    """balance --sample at 100 columns: every mass of every row whole."""
    data = json.loads(run(demo, "balance", "--sample", code, "--json").stdout)
    rows = [*data["sample_balance"]["rows"], data["sample_balance"]["total"]]
    words = {number_words(v) for row in rows for k, v in row.items() if k.endswith("_ug")}
    table = run(demo, "balance", "--sample", code).stdout
    assert folded(words, table) == []
    assert mass_fragments(table) == []


def test_custody_as_of_state_keeps_loan_numbers_whole(demo: dict[str, str]) -> None:
    """The state table of custody history --as-of keeps the loan number whole at 100 columns."""
    args = ["custody", "history", "--loan", "L-2025-SUPARCO", "--as-of", "2025-12-01"]
    state = run(demo, *args).stdout.split("State as of", 1)[1]
    table = "\n".join(line for line in state.splitlines() if line[:1] in "┃│")
    assert folded({"L-2025-SUPARCO", "CE5Z0200YJFM00103", "100.000"}, table) == []
    assert "xfer = transferred" in state  # the headers that had to be shortened, explained


def column_text(table: str, index: int) -> str:
    """The text of one column of a table's rows, its wrapped pieces joined."""
    rows = [line.strip("│").split("│") for line in table.splitlines() if line.startswith("│")]
    return "".join(row[index].strip() for row in rows)


@pytest.mark.parametrize("columns", [80, 200])
def test_checkpoint_list_shows_each_head_and_state_whole(tmp_path: Path, columns: int) -> None:
    """checkpoint list: the whole head (to compare with `verify --print-head` or give to
    `verify --anchor`), the state digest the README lists, and the time as every table writes it
    (it cut the head with '…', left the state out and wrote '2026-04-28T10:00:00Z')."""
    demo_copy(tmp_path / "d")
    env = {
        "SAMPLELOANS_DB": str(tmp_path / "d" / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "NO_COLOR": "1",
    }
    key = tmp_path / "naoc.key"
    run(env, "keys", "generate", "--out", str(key), "--name", "naoc")
    run(env, "checkpoint", "--key", str(key))
    (kept,) = json.loads(run(env, "checkpoint", "list", "--json").stdout)
    table = run(env, "checkpoint", "list", columns=columns).stdout
    assert "…" not in table
    headers = next(line for line in table.splitlines() if line.startswith("┃"))
    names = [h.strip() for h in headers.strip("┃").split("┃")]
    both = column_text(table, names.index("head / state"))
    assert both == kept["head"] + kept["state_digest"]
    assert column_text(table, names.index("made (UTC)")).replace(" ", "") == "2026-04-2810:00"
    assert "2026-04-28 10:00" in table  # a time never breaks inside (stop 32), at 80 too
    assert max(len(line) for line in table.splitlines()) <= columns


def tree_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a `samples tree --json` tree, depth first."""
    return [node, *(n for child in node["children"] for n in tree_nodes(child))]


@pytest.mark.parametrize("code", ["CE5C0100YJFM00201", "CE5C0200YJFM00112"])
def test_a_lineage_tree_adds_up(demo: dict[str, str], code: str) -> None:
    """samples tree: each node's initial mass is its vault, on loan, children, consumed, lost and
    transferred mass, and the tree prints what was consumed (a sample's 300 mg read 'vault
    280 mg, on loan 0 µg' and the 20 mg analysed were nowhere)."""
    root = json.loads(run(demo, "samples", "tree", code, "--json").stdout)
    nodes = tree_nodes(root)
    for node in nodes:
        parts = ("vault_ug", "on_loan_ug", "consumed_ug", "lost_ug", "transferred_ug")
        children = sum(child["initial_ug"] for child in node["children"])
        assert node["initial_ug"] == sum(node[p] for p in parts) + children, node["code"]
    text = run(demo, "samples", "tree", code, columns=200).stdout
    consumed = [n for n in nodes if n["consumed_ug"]]
    assert consumed  # the demo analysed part of each of these lineages
    for node in consumed:
        line = next(line for line in text.splitlines() if f"{node['code']} " in line)
        assert f"consumed {format_mass(node['consumed_ug'])}" in line


def test_incidents_list_keeps_codes_and_masses_on_one_line(tmp_path: Path) -> None:
    """incidents list at 100 columns: a loss's mass and the sample and loan codes each on one
    line, the description wrapping instead ('250' over 'µg' before)."""
    demo_copy(tmp_path / "d")
    env = {
        "SAMPLELOANS_DB": str(tmp_path / "d" / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "NO_COLOR": "1",
    }
    report = ["incidents", "report", "--sample", "CE5C0100YJFM00201-02", "--kind", "loss"]
    run(
        env,
        *report,
        "--description",
        "spilled in the glovebox while mounting",
        "--mass-lost",
        "0.25 mg",
    )
    table = run(env, "incidents", "list", columns=100).stdout
    rows = [line for line in table.splitlines() if line.startswith("│")]
    assert any("250 µg" in line and "CE5C0100YJFM00201-02" in line for line in rows), table
    assert any("L-2025-Osaka" in line for line in rows), table
