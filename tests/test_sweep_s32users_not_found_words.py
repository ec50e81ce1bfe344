"""One wording for "no such loan among the records you may read": `report inventory --loan`
said `--loan 'L-2025-Osaka': no such loan among the records you may read`, `verify-document`
(the loan read from the document) `no such loan 'L-2025-IPGP' among the records you may read`.
Now every refusal of a loan, sample or person not found reads `LEAD 'KEY': no such WHAT…`,
LEAD the option or argument the key was typed in, or the kind of record where none was."""

import re
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from sampleloans.db import make_engine
from sampleloans.errors import NoSuchRecord
from sampleloans.services import access
from tests.conftest import CURATOR, ctx_for, demo_copy

NOW = "2026-05-01T10:00:00Z"
OU_RESEARCHER = "anand@open.example"
OSAKA_SAMPLE = "CE5C0000YJYX061"
REFUSAL = re.compile(
    r"Error: (?P<lead>\S+) '(?P<key>[^']+)': no such (?P<what>loan|sample|person) among the "
    r"records you may read; see 'sampleloans (loans|samples|people) list'\n"
)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger, and an inventory report of IPGP's loan printed by the curator."""
    folder = tmp_path_factory.mktemp("not-found") / "demo"
    path = demo_copy(folder)
    made = _run(path, CURATOR, "report", "inventory", "--loan", "L-2025-IPGP", "--out", "x.pdf")
    assert made.exit_code == 0, made.output
    return path


def _run(ledger: Path, user: str, *args: str) -> Result:
    """A command run by `user` on `ledger` at NOW; `x.pdf` and `y.pdf` beside the ledger."""
    args = tuple(str(ledger.parent / a) if a in ("x.pdf", "y.pdf") else a for a in args)
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_USER": user, "SAMPLELOANS_NOW": NOW}
    return CliRunner().invoke(app, list(args), env=env)


CASES = [
    (("report", "inventory", "--loan", "L-2025-Osaka", "--out", "y.pdf"), "--loan", "loan"),
    (("verify-document", "x.pdf"), "loan", "loan"),
    (("loans", "show", "L-2025-Osaka"), "NUMBER", "loan"),
    (("custody", "history", "--loan", "L-2025-Osaka"), "--loan", "loan"),
    (("status", "--loan", "L-2025-Osaka"), "--loan", "loan"),
    (("balance", "--loan", "L-2025-Osaka"), "--loan", "loan"),
    (("samples", "show", OSAKA_SAMPLE), "CODE", "sample"),
    (("balance", "--sample", OSAKA_SAMPLE), "--sample", "sample"),
    (("custody", "history", "--sample", OSAKA_SAMPLE), "--sample", "sample"),
    (("loans", "list", "--pi", "terada@osaka-u.example"), "--pi", "person"),
    (("people", "show", "terada@osaka-u.example"), "EMAIL", "person"),
]


@pytest.mark.parametrize(("args", "lead", "what"), CASES, ids=lambda v: str(v))
def test_every_lookup_refuses_in_one_wording(
    ledger: Path, args: tuple[str, ...], lead: str, what: str
) -> None:
    """A researcher of OU naming Osaka's (or IPGP's) records: one line, one wording, exit 2."""
    refused = _run(ledger, OU_RESEARCHER, *args)
    assert refused.exit_code == 2, refused.output
    found = REFUSAL.fullmatch(refused.stderr)
    assert found is not None, refused.stderr
    assert (found["lead"], found["what"]) == (lead, what)


def test_the_wording_is_one_with_and_without_an_option() -> None:
    """Service level: `NoSuchRecord` leads with the option, else the kind; the rest is one."""
    hint = "see 'sampleloans loans list'"
    bare = NoSuchRecord("loan", "L-2025-IPGP", hint, scoped=True)
    typed = bare.typed_as("--loan")
    tail = ": no such loan among the records you may read; " + hint
    assert str(bare) == "loan 'L-2025-IPGP'" + tail
    assert str(typed) == "--loan 'L-2025-IPGP'" + tail


def test_a_researcher_reading_another_loan_gets_the_one_wording(ledger: Path) -> None:
    """Service level: `access.readable_loan` of another institution's loan."""
    with Session(make_engine(f"sqlite:///{ledger}")) as session:
        person = access.reader(session, ctx_for(OU_RESEARCHER))
        with pytest.raises(NoSuchRecord) as refused:
            access.readable_loan(session, person, "L-2025-IPGP")
    assert str(refused.value).startswith(
        "loan 'L-2025-IPGP': no such loan among the records you may read; "
    )
