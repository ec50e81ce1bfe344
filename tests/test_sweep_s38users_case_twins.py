"""Sweep s38 "users" (1): a loan, agreement or sample key typed in another case is named.

Loan and agreement numbers are unique whatever their case, and sample codes are written in
capitals, so `l-2025-ou` can only mean `L-2025-OU`. Before, it said "no such loan" with no hint,
while an institution typed `ou` said "did you mean OU?". Now every kind names its twin
(`did you mean L-2025-OU? (loan numbers are exact)`), to staff always and to a researcher only
when the twin is a record they may read: for a twin that is not theirs they get the very words
of a key that does not exist (services/access.py), so the hint discloses nothing.
"""

from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.errors import NoSuchRecord
from sampleloans.services import access
from sampleloans.services.common import acting_person
from tests.conftest import CURATOR, DEMO_NOW, OU_PI, ctx_for, demo_copy

OU_SAMPLE = "CE5C0300YJFM00307"  # on OU's loan
UOC_SAMPLE = "CE5C0800YJFM00102-01"  # on UoC's loan


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (read only here)."""
    return demo_copy(tmp_path_factory.mktemp("twins") / "demo")


def refusal(ledger: Path, actor: str, *args: str) -> str:
    """The one line a refused command prints (exit 2, nothing on stdout)."""
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": DEMO_NOW, "COLUMNS": "400"}
    result = CliRunner().invoke(app, ["--as", actor, *args], env=env)
    assert (result.exit_code, result.stdout) == (2, ""), (args, result.stdout, result.stderr)
    return result.stderr.strip()


def missing(option: str, key: str, what: str, scoped: bool) -> str:
    """The refusal of a key that names no record (`scoped`: a researcher's)."""
    among = " among the records you may read" if scoped else ""
    return f"Error: {option} '{key}': no such {what}{among}; see 'sampleloans {what}s list'"


NOUNS = {"loan": "loan numbers", "agreement": "agreement numbers", "sample": "sample codes"}


def hinted(option: str, key: str, what: str, twin: str, scoped: bool) -> str:
    """The refusal of a key spelt in another case than the record `twin`."""
    among = " among the records you may read" if scoped else ""
    hint = f"did you mean {twin}? ({NOUNS[what]} are exact)"
    return f"Error: {option} '{key}': no such {what}{among}; {hint}"


CONSUME = ("--sample", OU_SAMPLE, "--technique", "SEM", "--mass", "1 mg", "--destructive")
TWINS = [  # (args, how the key is named, what, the twin)
    (("loans", "show", "l-2025-uoc"), "NUMBER", "loan", "L-2025-UoC"),
    (("agreements", "show", "ag-2025-uoc"), "NUMBER", "agreement", "AG-2025-UoC"),
    (("samples", "show", UOC_SAMPLE.lower()), "CODE", "sample", UOC_SAMPLE),
    (("balance", "--loan", "l-2025-ou"), "--loan", "loan", "L-2025-OU"),
]
STAFF_CASES = [
    (args, hinted(named, args[-1], what, twin, False)) for args, named, what, twin in TWINS
]
STAFF_CASES.append(
    (("loans", "show", "L-2025-NONE"), missing("NUMBER", "L-2025-NONE", "loan", False))
)


@pytest.mark.parametrize(("args", "said"), STAFF_CASES)
def test_staff_are_told_the_twin(ledger: Path, args: tuple[str, ...], said: str) -> None:
    """A curator or compliance officer is named any record's twin; a key with none is missing."""
    assert refusal(ledger, CURATOR, *args) == said


OWN_TWINS = [  # (args, how the key is named, the key typed, what, the twin)
    (("loans", "show", "l-2025-ou"), "NUMBER", "l-2025-ou", "loan", "L-2025-OU"),
    (("status", "--loan", "l-2025-ou"), "--loan", "l-2025-ou", "loan", "L-2025-OU"),
    (("custody", "history", "--loan", "L-2025-ou"), "--loan", "L-2025-ou", "loan", "L-2025-OU"),
    (("agreements", "show", "ag-2025-ou"), "NUMBER", "ag-2025-ou", "agreement", "AG-2025-OU"),
    (("samples", "show", OU_SAMPLE.lower()), "CODE", OU_SAMPLE.lower(), "sample", OU_SAMPLE),
    (("loans", "consume", "l-2025-ou", *CONSUME), "NUMBER", "l-2025-ou", "loan", "L-2025-OU"),
]
OWN_CASES = [
    (args, hinted(named, key, what, twin, True)) for args, named, key, what, twin in OWN_TWINS
]


@pytest.mark.parametrize(("args", "said"), OWN_CASES)
def test_a_researcher_is_told_their_own_twin(
    ledger: Path, args: tuple[str, ...], said: str
) -> None:
    """OU's PI typing one of OU's records in another case is named it, in a read or a write."""
    assert refusal(ledger, OU_PI, *args) == said


NOT_THEIRS = [
    ("loans", "show", "{}", "NUMBER", "loan", "L-2025-UoC"),
    ("agreements", "show", "{}", "NUMBER", "agreement", "AG-2025-UoC"),
    ("samples", "show", "{}", "CODE", "sample", UOC_SAMPLE),
]


@pytest.mark.parametrize(("group", "command", "_", "option", "what", "key"), NOT_THEIRS)
def test_a_twin_not_theirs_answers_as_a_missing_record(
    ledger: Path, group: str, command: str, _: str, option: str, what: str, key: str
) -> None:
    """UoC's records, typed exactly or in another case by OU's PI: the words of a key that
    names nothing, the key aside (nothing tells them UoC's record exists)."""
    for typed in (key, key.lower(), key[:-1] + "X"):
        said = refusal(ledger, OU_PI, group, command, typed)
        assert said == missing(option, typed, what, scoped=True)


def test_a_sample_of_the_loan_in_small_letters_is_named(ledger: Path) -> None:
    """`--sample` of a loan's own item in small letters (a write's refusal, exit 2)."""
    args = ("loans", "consume", "L-2025-OU", "--sample", OU_SAMPLE.lower(), "--technique", "SEM")
    said = refusal(ledger, OU_PI, *args, "--mass", "1 mg", "--destructive")
    assert said == (
        f"Error: --sample: {OU_SAMPLE.lower()} is not part of loan L-2025-OU; did you mean "
        f"{OU_SAMPLE}? (sample codes are exact)"
    )


def test_the_service_names_only_a_readable_twin(ledger: Path) -> None:
    """`access.readable_loan`: the twin for the researcher's own loan, none for another's."""
    engine = db.open_engine(db.url_for_path(ledger))
    with Session(engine) as session:
        person = acting_person(session, ctx_for(OU_PI))
        with pytest.raises(NoSuchRecord) as own:
            access.readable_loan(session, person, "l-2025-ou")
        with pytest.raises(NoSuchRecord) as other:
            access.readable_loan(session, person, "l-2025-uoc")
    engine.dispose()
    assert own.value.hint == "did you mean L-2025-OU? (loan numbers are exact)"
    assert other.value.hint == "see 'sampleloans loans list'" and other.value.scoped
