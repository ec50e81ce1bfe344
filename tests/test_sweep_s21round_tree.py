"""Sweep s21 "the whole round, as each user": `samples tree` never cuts a line.

Before: each line of the tree was cut at the terminal's width (80 columns when piped without
COLUMNS): on a narrow terminal a mass lost its unit ('consumed 333'), a custodian its end
('vault at NAO') and a sample on loan its loan number ('held at Osaka loan'). Now every
line is printed whole, like the other lines of text, and the terminal wraps it.
"""

import re
from typing import Any

import pytest

from sampleloans.units import format_mass
from tests.conftest import demo_env, run_at_width

CURATOR = "curator@naoc.example"
ROOT = "CE5C0100YJFM00201"
"""The demo's sample split three ways: one child on Osaka's loan, one consumed from."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger (the 2025 round), read as the curator."""
    return demo_env(tmp_path_factory, CURATOR)


def nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of a `samples tree --json`, the root first."""
    return [tree, *(node for child in tree["children"] for node in nodes(child))]


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_every_line_of_the_tree_is_whole(demo: dict[str, str], columns: int) -> None:
    """Whatever the width, each node's line holds its masses with their units, its custodian
    and its loan, as the JSON gives them."""
    import json

    tree = json.loads(run_at_width(demo, "samples", "tree", ROOT, "--json", columns=80).stdout)
    text = run_at_width(demo, "samples", "tree", ROOT, columns=columns).stdout
    lines = {
        found.group(): line
        for line in text.splitlines()
        if (found := re.search(r"CE5\S+", line)) is not None
    }
    assert len(nodes(tree)) == 4 and set(lines) == {node["code"] for node in nodes(tree)}
    for node in nodes(tree):
        line = lines[node["code"]]
        assert f"  {format_mass(node['initial_ug'])}; vault " in line, line
        assert f"vault {format_mass(node['vault_ug'])}, on loan " in line, line
        if node["consumed_ug"]:
            assert f", consumed {format_mass(node['consumed_ug'])}" in line, line
        at = f" at {node['custodian']}"
        if node["loan_number"]:
            at += f" loan {node['loan_number']}"
        assert line.endswith(at), line
