"""Sweep s18 (the whole round, as a researcher — and as one who would write material off).

The README says a researcher reports an incident "for a sample held on their institution's
loan": what happens in their lab. The service let them report on any sample of their loans
wherever it was: issued and still at the lender, with the courier, or on its way back. So a
borrower could record the loss of a sample they had already released for return, and the
lender would then have to accept it weighed at 0 µg. Such a report is now refused (exit 4, one
line naming where the sample is and that a curator reports it, nothing written); a curator
still reports it, and the researcher still reports on a sample they hold. `import` goes through
the same service.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import OU_RETURNED, demo_with_a_return_in_flight, fingerprint

PI = "anand@open.example"
LOSS = ("incidents", "report", "--kind", "loss", "--mass-lost", "1 mg", "--description", "lost")


@pytest.fixture
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo with one OU sample on its way back, the rest of L-2025-OU still held."""
    return demo_with_a_return_in_flight(tmp_path_factory, PI)


def test_a_researcher_cannot_report_a_loss_on_a_sample_on_its_way_back(
    demo: dict[str, str],
) -> None:
    ledger = Path(demo["SAMPLELOANS_DB"])
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, [*LOSS, "--sample", OU_RETURNED], env=demo)
    assert result.exit_code == 4, result.output
    assert result.stderr == (
        f"Error: {PI} is a researcher; a researcher reports incidents only on a sample held in "
        f"their lab, and {OU_RETURNED} is on its way back to the lender on loan L-2025-OU: a "
        "curator reports it\n"
    )
    assert fingerprint(ledger) == before


def test_the_curator_reports_it_and_the_researcher_reports_what_they_hold(
    demo: dict[str, str],
) -> None:
    runner = CliRunner()
    curator = {**demo, "SAMPLELOANS_USER": "curator@naoc.example"}
    by_curator = runner.invoke(app, [*LOSS, "--sample", OU_RETURNED], env=curator)
    assert by_curator.exit_code == 0, by_curator.output
    shown = runner.invoke(app, ["status", "--loan", "L-2025-OU", "--json"], env=demo)
    assert shown.exit_code == 0, shown.stderr
    held = [
        item["sample_code"]
        for loan in json.loads(shown.stdout)["loans"]
        for item in loan["items"]
        if item["custody_state"] == "held"
    ]
    assert held, shown.stdout
    damage = ("incidents", "report", "--kind", "damage", "--description", "vial cracked")
    in_lab = runner.invoke(app, [*damage, "--sample", held[0]], env=demo)
    assert in_lab.exit_code == 0, in_lab.output
    assert f"reported on {held[0]}" in in_lab.stdout
