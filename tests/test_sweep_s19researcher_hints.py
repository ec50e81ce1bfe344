"""Sweep s19 (a researcher at a borrowing institution, recording their lab's events).

A refusal told the researcher to do what only a curator may: "cannot receive: approve it
first ('loans approve')", "cannot consume: ship it first ('loans ship')", "frozen by open
incident 113; resolve it first ('incidents resolve 113 …')", "on its way back …; record its
arrival with 'loans accept-return …'", and `incidents report` answered "the sample is frozen
until 'incidents resolve 113'" — each an order that then exits 4. A hint to a researcher now
says a curator takes that step (the command still named, for the curator they ask); a step
that is theirs (`loans receive`) is still named as theirs, and a curator's own refusal keeps
its words. The rule is in the service (`ledger/checks.py` `step_hint`, `frozen_words`), so it
holds on PostgreSQL, with each person's login, as on SQLite.
"""

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import CURATOR, OU_PI, OU_RETURNED, demo_env, fingerprint

LOAN = "L-2026-OU-2"
SAMPLE = "CE5C0000YJBP005"
CONSUME = ("loans", "consume", LOAN, "--sample", SAMPLE, "--technique", "EPMA", "--mass", "1 mg")


def _invoke(env: dict[str, str], who: str, *args: str) -> Result:
    """Run one command as `who`."""
    return CliRunner().invoke(app, ["--as", who, *args], env=env)


def _ok(env: dict[str, str], *args: str) -> None:
    """A curator's step that must succeed."""
    result = CliRunner().invoke(app, ["--as", CURATOR, *args], env=env)
    assert result.exit_code == 0, (args, result.stderr)


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, with a new OU loan requested (not yet approved)."""
    made = demo_env(tmp_path_factory, OU_PI)
    _ok(made, "loans", "request", LOAN, "--agreement", "AG-2025-OU", "--pi", OU_PI,
        "--sample", SAMPLE, "--period", "6 months")  # fmt: skip
    return made


def _refused(env: dict[str, str], who: str, *args: str) -> str:
    """The one `Error:` line of a refused command (exit 1), which writes nothing."""
    ledger = Path(env["SAMPLELOANS_DB"])
    before = fingerprint(ledger)
    result = CliRunner().invoke(app, ["--as", who, *args], env=env)
    assert result.exit_code == 1, (args, result.output)
    assert fingerprint(ledger) == before
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_a_loan_not_yet_approved_or_shipped_is_the_curators_next_step(
    env: dict[str, str],
) -> None:
    receive = ("loans", "receive", LOAN, "--seal-intact", "--condition", "ok")
    assert _refused(env, OU_PI, *receive) == (
        f"Error: loan {LOAN} is requested; cannot receive: a curator must approve it first "
        "('loans approve')\n"
    )
    # the curator's own refusal keeps its words: the step is theirs
    assert _refused(env, CURATOR, *receive) == (
        f"Error: loan {LOAN} is requested; cannot receive: approve it first ('loans approve')\n"
    )
    _ok(env, "loans", "approve", LOAN)
    _ok(env, "loans", "issue", LOAN)
    assert _refused(env, OU_PI, *CONSUME, "--destructive") == (
        f"Error: loan {LOAN} is issued; cannot consume: a curator must ship it first "
        "('loans ship')\n"
    )
    assert _refused(env, OU_PI, "loans", "inventory", LOAN) == (
        f"Error: loan {LOAN} is issued; cannot inventory: a curator must ship it first "
        "('loans ship')\n"
    )
    _ok(env, "loans", "ship", LOAN, "--container", "box", "--seal", "S9", "--method", "courier")
    # receiving is the researcher's own step: named as theirs
    assert _refused(env, OU_PI, *CONSUME, "--destructive") == (
        f"Error: loan {LOAN} is on its way to the borrower; cannot consume: record its receipt "
        "first ('loans receive')\n"
    )


def test_a_frozen_sample_is_released_by_a_curator(env: dict[str, str]) -> None:
    _ok(env, "loans", "approve", LOAN)
    _ok(env, "loans", "issue", LOAN)
    _ok(env, "loans", "ship", LOAN, "--container", "box", "--seal", "S9", "--method", "courier")
    received = _invoke(env, OU_PI, "loans", "receive", LOAN, "--seal-intact", "--condition", "ok")
    assert received.exit_code == 0, received.stderr
    reported = _invoke(
        env, OU_PI, "incidents", "report", "--sample", SAMPLE, "--kind", "damage",
        "--description", "cracked on the mount",
    )  # fmt: skip
    assert reported.exit_code == 0, reported.stderr
    seq = reported.stdout.split()[1]
    assert reported.stdout == (
        f"Incident {seq} reported on {SAMPLE}; the sample is frozen until a curator resolves "
        f"it ('incidents resolve {seq} --resolution …') (event {seq}).\n"
    )
    frozen_for_researcher = (
        f"Error: sample {SAMPLE} is frozen by open incident {seq} until a curator resolves it "
        f"('incidents resolve {seq} --resolution …')\n"
    )
    assert _refused(env, OU_PI, *CONSUME, "--destructive") == frozen_for_researcher
    split = ("loans", "split", LOAN, "--sample", SAMPLE, "--child", "-G1", "--mass", "1 mg")
    assert _refused(env, OU_PI, *split) == frozen_for_researcher
    assert _refused(env, CURATOR, *CONSUME, "--destructive") == (
        f"Error: sample {SAMPLE} is frozen by open incident {seq}; resolve it first "
        f"('incidents resolve {seq} --resolution …')\n"
    )
    # and the researcher indeed may not resolve it (the hint sent them nowhere they can go)
    tried = _invoke(env, OU_PI, "incidents", "resolve", seq, "--resolution", "glued")
    assert tried.exit_code == 4


def test_a_sample_on_its_way_back_is_received_by_the_curator(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = demo_env(tmp_path_factory, OU_PI)
    _ok(env, "loans", "return", "L-2025-OU", "--container", "box", "--seal", "S1",
        "--sample", OU_RETURNED)  # fmt: skip
    consume = ("loans", "consume", "L-2025-OU", "--sample", OU_RETURNED, "--technique", "EPMA",
               "--mass", "1 mg", "--non-destructive")  # fmt: skip
    assert _refused(env, OU_PI, *consume) == (
        f"Error: sample {OU_RETURNED} of loan L-2025-OU is on its way back (return in transit), "
        "not held by the borrower; a curator records its arrival ('loans accept-return "
        "L-2025-OU')\n"
    )
    assert _refused(env, CURATOR, *consume).endswith(
        "; record its arrival with 'loans accept-return L-2025-OU'\n"
    )


# --- a receipt weighed other than issued ------------------------------------------------------
#
# `loans receive --weighed CODE=MASS` keeps a discrepancy, but said only "received by the
# borrower, seal intact": the researcher who weighed 26.1 mg of 26.3 mg issued (or 0 mg of a
# sample lost on the way) was not told that the ledger still counts 26.3 mg as held, which the
# return must account for (accept-return then refuses the shortfall, "record the missing … as
# a loss first"). The confirmation now names each sample weighed otherwise, by how much, and
# for a shortfall the loss report that settles it.


def test_a_receipt_names_each_sample_weighed_other_than_issued(env: dict[str, str]) -> None:
    _ok(env, "loans", "approve", LOAN)
    _ok(env, "loans", "issue", LOAN)
    _ok(env, "loans", "ship", LOAN, "--container", "box", "--seal", "S9", "--method", "courier")
    received = _invoke(env, OU_PI, "loans", "receive", LOAN, "--seal-intact", "--condition",
                       "ok", "--weighed", f"{SAMPLE}=26.1mg")  # fmt: skip
    assert received.exit_code == 0, received.stderr
    lines = received.stdout.splitlines()
    assert lines[0].startswith(f"Loan {LOAN} received by the borrower, seal intact (event ")
    assert lines[1:] == [
        f"{SAMPLE} weighed 26.100 mg, 200 µg less than the 26.300 mg issued: the ledger still "
        f"counts 26.300 mg as held; if it is lost, report it ('incidents report --sample "
        f"{SAMPLE} --kind loss --mass-lost 200µg --description …')."
    ]
    # what the hint says is so: status counts the mass issued, and the loss as typed settles it
    status = _invoke(env, OU_PI, "status", "--loan", LOAN)
    assert "held 26.300 mg;" in status.stdout
    loss = _invoke(env, OU_PI, "incidents", "report", "--sample", SAMPLE, "--kind", "loss",
                   "--mass-lost", "200µg", "--description", "not found on arrival")  # fmt: skip
    assert loss.exit_code == 0, loss.stderr
    status = _invoke(env, OU_PI, "status", "--loan", LOAN)
    assert "held 26.100 mg;" in status.stdout


def test_a_receipt_weighed_as_issued_says_nothing_more_and_an_excess_is_named(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = demo_env(tmp_path_factory, OU_PI)
    number, codes = "L-2026-OU-3", ("CE5C0000YJYX048", "CE5C0000YJYX070")
    _ok(env, "loans", "request", number, "--agreement", "AG-2025-OU", "--pi", OU_PI,
        "--sample", codes[0], "--sample", codes[1], "--period", "6 months")  # fmt: skip
    _ok(env, "loans", "approve", number)
    _ok(env, "loans", "issue", number)
    _ok(env, "loans", "ship", number, "--container", "box", "--seal", "S9", "--method", "courier")
    received = _invoke(env, OU_PI, "loans", "receive", number, "--seal-intact", "--condition",
                       "ok", "--weighed", f"{codes[0]}=17.6mg", "--weighed",
                       f"{codes[1]}=5mg")  # fmt: skip
    assert received.exit_code == 0, received.stderr
    assert received.stdout.splitlines()[1:] == [
        f"{codes[1]} weighed 5.000 mg, 200 µg more than the 4.800 mg issued: kept as a weighing "
        f"discrepancy ('loans show {number}'); the ledger still counts 4.800 mg as held."
    ]


def test_a_statement_with_no_checkpoint_yet_is_the_curators_to_sign(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`report statement` with no checkpoint kept told a researcher to run `checkpoint`, which
    only a curator may (exit 4); it now says a curator signs one, or to give the lender's."""
    env = demo_env(tmp_path_factory, OU_PI)
    out = tmp_path_factory.mktemp("statements") / "out"
    statement = ("report", "statement", "--institution", "OU", "--out", str(out))
    assert _refused(env, OU_PI, *statement) == (
        "Error: --checkpoint: none kept yet; a statement is built on a signed checkpoint: a "
        "curator signs one ('sampleloans checkpoint --key FILE'), or give --checkpoint FILE (one "
        "the lender sent you)\n"
    )
    assert not out.exists()
    assert _refused(env, CURATOR, *statement) == (
        "Error: --checkpoint: none kept yet; a statement is built on a signed checkpoint: run "
        "'sampleloans checkpoint --key FILE' first, or give --checkpoint FILE\n"
    )
    key = out.parent / "k"
    made = _invoke(env, OU_PI, "keys", "generate", "--out", str(key), "--name", "mine")
    assert made.exit_code == 0, made.stderr
    tried = _invoke(env, OU_PI, "checkpoint", "--key", str(key))
    assert tried.exit_code == 4


# --- the researcher's own institution typed in another case ------------------------------------
#
# A curator who typed `--institution osaka` was told "did you mean Osaka?"; a researcher of
# Osaka was told only that 'osaka' is not among the records they may read, as for an
# institution that does not exist, though the one it means is their own. Their own is named
# now; another institution's twin (`ou`) still answers exactly as a missing one (`zz`).

TWIN_READS = (
    ("loans", "list", "--institution"),
    ("overdue", "--institution"),
    ("status", "--institution"),
    ("custody", "history", "--institution"),
    ("samples", "list", "--custodian"),
)


@pytest.fixture(scope="module")
def read_only(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One demo ledger for the parametrized reads (they write nothing)."""
    return demo_env(tmp_path_factory, OU_PI)


@pytest.mark.parametrize("command", TWIN_READS, ids=lambda c: " ".join(c))
def test_a_researcher_who_types_their_institution_in_another_case_is_told_its_name(
    command: tuple[str, ...], read_only: dict[str, str]
) -> None:
    env = read_only
    lead = command[-1]
    answers = {}
    for typed in ("osaka", "ou", "zz"):
        result = _invoke(env, "terada@osaka-u.example", *command, typed)
        assert result.exit_code == 2, result.output
        answers[typed] = result.stderr
    assert answers["osaka"] == (
        f"Error: {lead} 'osaka': no such institution among the records you may read; did you "
        "mean Osaka? (short names are exact)\n"
    )
    # another institution's twin names nothing: the same words as a missing one
    assert answers["ou"] == answers["zz"].replace("'zz'", "'ou'")
    assert "did you mean" not in answers["ou"]
