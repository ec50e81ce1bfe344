"""Sweep s18 "a newcomer reading the docs": every key docs/json.md lists is one a command prints.

`tests/test_i11_json.py` checks one direction (every key printed is documented). The other
was open: docs/json.md listed `corrections`, `corrected_ug`, `weighings`, `discrepancies`,
`transfers`, `recipient`, `transferred_at` and `location`, which no command prints (a loan's
weighings that differ are `weighing_discrepancies`; a correction shows as `corrected_by` and
`corrects_seq`), so a reader wrote `jq '.corrections'` against `loans show` and got `null`.
Here a demo ledger gets one of everything the keys describe (a mass correction, a receipt with
a broken seal and a shortfall, an incident, a gift, a checkpoint, a replay "as of", a changed
projection row for `verify` to name) and every documented key must come out of some `--json`.
"""

import json
import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env
from tests.test_i11_json import vocabulary

CURATOR = "curator@naoc.example"
BEAD = "CE5C0000YJYX090"


def invoke(env: dict[str, str], *args: str, code: int = 0) -> str:
    """Run one command; it must end with `code`; its stdout."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, f"{args}: {result.output}"
    return result.stdout


def keys_of(value: Any) -> Iterator[str]:
    """Every key of a JSON document, at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key
            yield from keys_of(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from keys_of(inner)


@pytest.fixture(scope="module")
def printed_keys(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every key the read commands print with --json on a demo ledger with one of everything."""
    env = demo_env(tmp_path_factory, CURATOR)
    folder = Path(env["SAMPLELOANS_DB"]).parent
    key = folder / "cp.key"
    write = [
        "custody correct 99 --mass '0.6 mg' --reason reweighed",
        "incidents report --sample CE5C0500YJFM00415 --kind damage --description 'vial cracked'"
        " --mass-lost '0.1 mg'",
        f"samples register {BEAD} --mission CE-5 --mass '3.2 mg' --origin scoop"
        " --material 'glass bead' --form 'rock fragment' --purpose research --location 'N2 B'",
        "loans request L-2026-OU-2 --agreement AG-2025-OU --pi anand@open.example"
        f" --sample {BEAD} --period '6 months'",
        "loans approve L-2026-OU-2",
        "loans issue L-2026-OU-2",
        "loans ship L-2026-OU-2 --container box --seal SL-9",
        f"loans receive L-2026-OU-2 --seal-broken --condition chipped --weighed {BEAD}=3.1mg",
        "samples register CE5C0000YJYX091 --mission CE-5 --mass '1 mg' --origin scoop"
        " --material 'glass bead' --form 'rock fragment' --purpose research --location 'N2 B'",
        "samples transfer CE5C0000YJYX091 --to MNHN --reference decree",
        f"keys generate --out {key}",
        f"checkpoint --key {key} --out {folder / 'cp.txt'}",
        "loans inventory L-2025-OU",
    ]
    for line in write:
        invoke(env, *shlex.split(line))
    with sqlite3.connect(env["SAMPLELOANS_DB"]) as db:  # a changed row, for verify to name
        db.execute("UPDATE sample SET storage_location = 'x' WHERE code = ?", (BEAD,))
    reads = [
        ["samples", "list"],
        ["samples", "show", BEAD],
        ["samples", "tree", "CE5C0100YJFM00201"],
        ["institutions", "list"],
        ["people", "list"],
        ["agreements", "list"],
        ["loans", "list"],
        ["loans", "show", "L-2026-OU-2"],
        ["loans", "show", "L-2025-UoC"],
        ["loans", "show", "L-2025-OU"],
        ["incidents", "list"],
        ["custody", "history", "--loan", "L-2025-OU", "--as-of", "2025-09-01"],
        ["custody", "history", "--sample", BEAD],
        ["balance", "--loan", "L-2026-OU-2"],
        ["balance", "--sample", "CE5C0100YJFM00201"],
        ["overdue"],
        ["status", "--institution", "OU"],
        ["checkpoint", "list"],
        ["verify", "--since", str(folder / "cp.txt")],
    ]
    keys = {key for args in reads for key in keys_of(json.loads(invoke(env, *args, "--json")))}
    verified = json.loads(invoke(env, "verify", "--json", code=1))
    return keys | set(keys_of(verified))


def test_every_documented_key_is_printed_by_some_command(printed_keys: set[str]) -> None:
    never = sorted(set(vocabulary()) - printed_keys)
    assert never == [], f"docs/json.md lists keys no --json prints: {never}"


def test_a_weighing_that_differs_is_listed_with_its_documented_keys(
    printed_keys: set[str],
) -> None:
    """The keys docs/json.md gives `weighing_discrepancies` are the ones printed."""
    documented = vocabulary()["weighing_discrepancies"][1]
    for key in ("seq", "sample_code", "expected_ug", "weighed_ug", "difference_ug"):
        assert key in documented and key in printed_keys
    assert "weighings" not in vocabulary() and "discrepancies" not in vocabulary()
