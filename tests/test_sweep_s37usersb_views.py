"""Sweep s37 users-b: what the demo's users saw in the lists.

`samples list` left the loan of a sample on no loan blank, where `samples show`, the loans'
tables and the replayed state of `custody history` say nothing with '—'. The table now says
'—'; CSV keeps an empty cell and --json a null.
"""

import json

import pytest

from tests.conftest import CURATOR, demo_env, run_at_width

IN_VAULT, ON_LOAN = "CE5C0000YJBP005", "CE5C0000YJYX061"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read by its curator."""
    return demo_env(tmp_path_factory, CURATOR)


@pytest.mark.parametrize("columns", [80, 120])
def test_samples_list_says_no_loan_with_a_dash(env: dict[str, str], columns: int) -> None:
    """The table (and the records at 80 columns): '—' for a sample in the vault, its loan for
    one on loan, as `samples show` says them."""
    out = run_at_width(env, "samples", "list", columns=columns).stdout
    if columns == 120:
        vault = next(line for line in out.splitlines() if f"│{IN_VAULT} " in line)
        lent = next(line for line in out.splitlines() if f"│{ON_LOAN} " in line)
        assert vault.split("│")[-2].strip() == "—" and lent.split("│")[-2].strip() == "L-2025-Osaka"
    else:
        block = out.split(f"code       {IN_VAULT}\n")[1].split("\n\n")[0]
        assert block.splitlines()[-1] == "loan       —"
    shown = run_at_width(env, "samples", "show", IN_VAULT, columns=columns).stdout
    assert "│ loan             │ —" in shown


def test_samples_list_csv_and_json_keep_no_loan_empty(env: dict[str, str]) -> None:
    """CSV: an empty cell (as every table's '—'); --json: null."""
    csv = run_at_width(env, "samples", "list", "--csv", columns=120).stdout
    row = next(line for line in csv.splitlines() if line.startswith(f"{IN_VAULT},"))
    assert row.endswith(",NAOC,")
    rows = json.loads(run_at_width(env, "samples", "list", "--json", columns=120).stdout)
    (vault,) = [r for r in rows if r["code"] == IN_VAULT]
    assert vault["loan_number"] is None
