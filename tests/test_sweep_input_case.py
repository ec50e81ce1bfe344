"""Codes that differ only in case: a new institution or agreement whose code is a recorded
one's in another case is refused (exit 1), and a new sample code must be in capitals (exit 2),
so that no two records read alike; before, `institutions add ou` sat beside `OU`, `loans request
l-1` beside `L-1` and `loans split … --child -g9` made `…-g9` beside a possible `…-G9`. A loan's
case twin is found with one lookup of the index on `lower(number)` (revision 0007)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests import factories
from tests.conftest import COMPLIANCE, CURATOR, OU_PI, Run, fingerprint

S = "CE5C0200YJFM00112"  # lent on L-1 (20 mg)
VAULT = "CE5C0000YJYX070"


@pytest.fixture
def ledger(run: Run, db_path: Path, cli_env: dict[str, str]) -> Path:
    """The demo people and samples, agreement AG-OU signed and loan L-1 received."""
    factories.signed_agreement(run, "OU", destructive=False)
    factories.received_loan(run)
    return db_path


def invoke(argv: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--as", CURATOR, *argv])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


INSTITUTION = ["--name", "Open Uni", "--country", "UK", "--city", "Milton Keynes"]
AGREEMENT = [
    "--institution", "OU", "--term", "5 years", "--max-mass", "1 g", "--purpose", "research",
    "--max-loan-period", "12 months",
]  # fmt: skip
TWINS = {
    "institution": (
        ["institutions", "add", "ou", *INSTITUTION, "--kind", "borrower"],
        "Error: SHORT: institution ou differs only in case from institution OU; use OU or choose a "
        "short name that differs in more than case\n",
    ),
    "agreement": (
        ["agreements", "add", "ag-ou", *AGREEMENT],
        "Error: NUMBER: agreement ag-ou differs only in case from agreement AG-OU; use AG-OU or "
        "choose a number that differs in more than case\n",
    ),
    "loan": (
        ["loans", "request", "l-1", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", VAULT],
        "Error: NUMBER: loan l-1 differs only in case from loan L-1; use L-1 or choose a number "
        "that differs in more than case\n",
    ),
}
LOWER = {
    "samples register": (
        [
            "samples", "register", "ce5c0000yjyx999", "--mission", "CE-5", "--mass", "1 mg",
            "--origin", "scoop", "--material", "glass", "--form", "bead", "--purpose", "research",
            "--location", "cabinet B",
        ],
        "Error: CODE: 'ce5c0000yjyx999' has lower-case letters; sample codes are written in "
        "capitals, e.g. CE5C0000YJYX999\n",
    ),
    "samples split": (
        ["samples", "split", VAULT, "--child", "-g1=1mg"],
        f"Error: --child: '{VAULT}-g1' has lower-case letters; sample codes are written in "
        f"capitals, e.g. {VAULT}-G1\n",
    ),
    "loans split": (
        ["loans", "split", "L-1", "--sample", S, "--child", "-g9", "--mass", "1 mg"],
        f"Error: --child: '{S}-g9' has lower-case letters; sample codes are written in "
        f"capitals, e.g. {S}-G9\n",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TWINS))
def test_a_code_differing_only_in_case_is_refused(name: str, ledger: Path) -> None:
    argv, message = TWINS[name]
    before = fingerprint(ledger)
    assert invoke(argv) == (1, "", message)
    assert fingerprint(ledger) == before


@pytest.mark.parametrize("name", sorted(LOWER))
def test_a_new_sample_code_in_lower_case_is_refused(name: str, ledger: Path) -> None:
    argv, message = LOWER[name]
    before = fingerprint(ledger)
    assert invoke(argv) == (2, "", message)
    assert fingerprint(ledger) == before


def test_the_same_codes_in_capitals_or_new_are_recorded(ledger: Path) -> None:
    assert invoke(["institutions", "add", "OU2", *INSTITUTION, "--kind", "borrower"])[0] == 0
    assert invoke(["agreements", "add", "AG-OU-2", *AGREEMENT])[0] == 0
    loan = ["loans", "request", "L-2", "--agreement", "AG-OU", "--pi", OU_PI, "--sample", VAULT]
    assert invoke(loan)[0] == 0
    for argv, _message in LOWER.values():
        upper = [a.upper() if a.startswith(("ce5c", "-g")) else a for a in argv]
        upper = [a.replace("-g1=", "-G1=") for a in upper]
        code, _out, err = invoke(upper)
        assert code == 0, err


def test_a_loan_numbers_case_twin_is_found_through_its_index(ledger: Path) -> None:
    """The twin lookup is an index search, not a scan of every loan (SQLite's query plan)."""
    import sqlite3

    with sqlite3.connect(ledger) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT loan.number FROM loan "
            "WHERE lower(loan.number) = ? AND loan.number != ? LIMIT 1",
            ("l-1", "l-1"),
        ).fetchall()
    assert "USING INDEX ix_loan_number_lower" in " ".join(str(row[3]) for row in plan)


def test_an_imported_loan_request_in_another_case_is_refused(ledger: Path, tmp_path: Path) -> None:
    """`import` applies the same rule: the record is refused, nothing written."""
    record = {
        "kind": "loan.requested",
        "occurred_at": "2025-06-01T09:00:00Z",
        "actor": CURATOR,
        "payload": {
            "number": "l-1",
            "agreement": "AG-OU",
            "pi": OU_PI,
            "samples": [VAULT],
        },
    }
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps(record) + "\n")
    before = fingerprint(ledger)
    code, _out, err = invoke(["import", str(history)])
    assert code == 1, err
    assert "loan l-1 differs only in case from loan L-1" in err
    assert fingerprint(ledger) == before


@pytest.mark.parametrize(
    ("argv", "doing"),
    [
        (["loans", "consume", "L-1", "--sample", S, "--technique", "SIMS", "--mass", "1 mg",
          "--non-destructive"], "record consumption"),
        (["loans", "split", "L-1", "--sample", S, "--child", "-G9", "--mass", "1 mg"],
         "record borrower splits"),
    ],
)  # fmt: skip
def test_a_lab_event_refused_to_a_compliance_officer_names_who_may(
    ledger: Path, argv: list[str], doing: str
) -> None:
    """Researchers of the borrowing institution record what happens in their lab too: the
    refusal says so (it said "only curators")."""
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, ["--as", COMPLIANCE, *argv])
    assert result.exit_code == 4, result.stderr
    assert result.stderr == (
        f"Error: {COMPLIANCE} is a compliance officer; only curators and the borrowing "
        f"institution's researchers may {doing}\n"
    )
    assert fingerprint(ledger) == before


def test_status_says_how_much_of_the_mass_held_is_on_its_way_back(ledger: Path) -> None:
    """Released for return, a sample is no longer in the borrower's hands: `status` says so
    beside the mass held (table and JSON), which still counts it until the return is accepted."""
    release = ["loans", "return", "L-1", "--container", "box", "--seal", "R-9", "--sample", S]
    assert invoke(release)[0] == 0
    code, out, err = invoke(["status", "--loan", "L-1"])
    assert code == 0, err
    assert "held 20.000 mg (20.000 mg of it on its way back);" in out
    code, out, err = invoke(["status", "--loan", "L-1", "--json"])
    assert code == 0, err
    (loan,) = json.loads(out)["loans"]
    assert (loan["held_ug"], loan["returning_ug"]) == (20_000, 20_000)
    code, out, _err = invoke(["loans", "show", "L-1"])
    assert code == 0 and "return in transit" in out
