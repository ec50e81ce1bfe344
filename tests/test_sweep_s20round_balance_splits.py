"""Sweep s20-round: `balance` says why its total is not the sum of its rows after a split.

IPGP's PI split 5 mg off their 30 mg sample. `balance --loan` then showed the child "issued
5.000 mg" and the parent "split 5.000 mg", and a total of 30.000 mg issued and 0 µg split: a
compliance officer adding the column up got 35 mg and a missing 5 mg. The total is right (the
curator issued 30 mg; the split moved mass within the loan), but nothing said so. Now a line
under the equation does, naming the child; `balance --sample` of the lineage likewise for
"initial". A loan or lineage without splits prints no such line.
"""

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_env

PARENT = "CE5C0200YJFM00112"  # 19.500 mg held on L-2025-OU


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger with 5 mg of an OU sample split off by the borrower."""
    env = {**demo_env(tmp_path_factory, CURATOR), "COLUMNS": "200"}
    args = ["loans", "split", "L-2025-OU", "--sample", PARENT, "--child", "-G1", "--mass", "5 mg"]
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.stderr
    return env


def test_the_loan_total_counts_the_split_child_as_from_split(split: dict[str, str]) -> None:
    """The loan's equation adds the child's mass as "from split", not as issued."""
    result = CliRunner().invoke(app, ["balance", "--loan", "L-2025-OU"], env=split)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("issued + from split = held + consumed")
    assert "split into" not in result.stdout


def test_the_lineage_total_says_it_too(split: dict[str, str]) -> None:
    """`balance --sample`: the same, for the initial mass."""
    result = CliRunner().invoke(app, ["balance", "--sample", PARENT], env=split)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"total: the 5.000 mg split into {PARENT}-G1 is counted once, in the initial mass of "
        "the sample it was split from"
    )


def test_no_split_no_line(split: dict[str, str]) -> None:
    """A loan without a split: the equation is the last line."""
    result = CliRunner().invoke(app, ["balance", "--loan", "L-2025-UoC"], env=split)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("issued = held + consumed")
