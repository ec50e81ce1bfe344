"""Sweep "a newcomer who trusts the documentation": commands used as the README lists them.

Each test is one place where the README (or `--help`) and the program disagreed, through the CLI
on a demo ledger.
"""

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.conftest import CURATOR, demo_copy, fingerprint

NOW = "2026-06-15T10:00:00Z"  # the demo's loans: Osaka, SUPARCO and OU overdue; IPGP closed


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo ledger (read-only for the tests that share it) and the environment to use it."""
    folder = tmp_path_factory.mktemp("docs") / "demo"
    demo_copy(folder)
    return {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }


def cli(env: dict[str, str], *args: str, code: int = 0) -> Result:
    """Invoke the CLI and check its exit code."""
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def numbers(result: Result) -> list[str]:
    """The loan numbers of a `loans list --json`."""
    return [row["number"] for row in json.loads(result.stdout)]


# --- `loans list --due-before` listed loans returned long ago ----------------------------------


def test_due_before_lists_only_loans_still_out(demo: dict[str, str]) -> None:
    """Asked what is due before 2027, it names the loans whose return is owed, not L-2025-IPGP,
    which came back and closed in 2025 (before: listed, status closed)."""
    every = numbers(cli(demo, "loans", "list", "--json"))
    assert "L-2025-IPGP" in every  # the closed loan is there, with its old due date
    due = numbers(cli(demo, "loans", "list", "--due-before", "2027-01-01", "--json"))
    assert due == ["L-2025-OU", "L-2025-Osaka", "L-2025-SUPARCO", "L-2025-UoC"]


def test_due_after_lists_only_loans_still_out(demo: dict[str, str]) -> None:
    """The lower bound too: the closed loan was due after 2026-01-01 but is due no more."""
    due = numbers(cli(demo, "loans", "list", "--due-after", "2026-01-01", "--json"))
    assert "L-2025-IPGP" not in due and "L-2025-UoC" in due


def test_a_due_bound_with_a_status_no_longer_out_is_refused(demo: dict[str, str]) -> None:
    """`--status closed --due-before …` would always be empty: one line says why, exit 2."""
    before = fingerprint(Path(demo["SAMPLELOANS_DB"]))
    result = cli(demo, "loans", "list", "--status", "closed", "--due-before", "2027-01-01", code=2)
    assert result.stderr.startswith("Error: --due-before: a loan closed owes no return")
    assert result.stderr.count("\n") == 1
    assert fingerprint(Path(demo["SAMPLELOANS_DB"])) == before


def test_a_due_bound_with_a_status_still_out_narrows(demo: dict[str, str]) -> None:
    """`--status received` with a due bound: the received loans due before then."""
    args = ["loans", "list", "--status", "received", "--due-before", "2026-05-01", "--json"]
    assert numbers(cli(demo, *args)) == ["L-2025-Osaka", "L-2025-SUPARCO"]


def test_loans_list_help_says_the_due_bounds_list_loans_still_out(demo: dict[str, str]) -> None:
    """`--help` says what the README says."""
    text = " ".join(cli(demo, "loans", "list", "--help").stdout.split())
    assert "list only loans still out" in text


# --- a statement named its checkpoint "107:ae262b9ed576…" (size:root), which reads as a head ---


@pytest.fixture
def own_demo(demo: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A copy of the demo ledger this test may write to."""
    copy = tmp_path / "ledger.db"
    copy.write_bytes(Path(demo["SAMPLELOANS_DB"]).read_bytes())
    return {**demo, "SAMPLELOANS_DB": str(copy)}


def test_a_statement_names_its_checkpoint_by_size_and_head(
    own_demo: dict[str, str], tmp_path: Path
) -> None:
    """`report statement` and `verify-document` name the checkpoint as `checkpoint` printed it
    ("107 events, 107:<head hash>"), not as size:root, which reads like a head that no command
    prints."""
    cli(own_demo, "keys", "generate", "--out", str(tmp_path / "key"), "--name", "naoc")
    note = cli(own_demo, "checkpoint", "--key", str(tmp_path / "key")).stdout
    (head,) = [line[5:] for line in note.splitlines() if line.startswith("head ")]
    assert head.startswith("107:") and len(head) == 4 + 64
    (tmp_path / "st").mkdir()
    args = ["report", "statement", "--institution", "Osaka", "--out", str(tmp_path / "st")]
    wrote = " ".join(cli(own_demo, *args).stdout.split())
    assert f"proved in the checkpoint of 107 events (head {head[:16]}…)" in wrote
    (pdf,) = (tmp_path / "st").iterdir()
    checked = cli(own_demo, "verify-document", str(pdf)).stdout.splitlines()[0]
    assert checked.endswith(f"built on the checkpoint of 107 events (head {head[:16]}…)")


# --- `verify --since` with nothing new said it checked "events 109..108" -------------------------


def test_verify_since_names_the_new_events_it_checked(
    own_demo: dict[str, str], tmp_path: Path
) -> None:
    """Right after the checkpoint: "no event after event 107"; one event later: "event 108";
    two: "events 108–109" (before: "events 108..107", a range running backwards)."""
    key, cp = str(tmp_path / "key"), str(tmp_path / "cp.txt")
    cli(own_demo, "keys", "generate", "--out", key)
    cli(own_demo, "checkpoint", "--key", key, "--out", cp)
    lines = cli(own_demo, "verify", "--since", cp).stdout.splitlines()
    assert (
        "  checked: no event after event 107, the last one the checkpoint signed: nothing new "
        "to check" in lines
    )
    move = ["samples", "move", "CE5C0000YJBP005", "--reason", "cabinet serviced", "--location"]
    cli(own_demo, *move, "NAOC N2 cabinet C")
    lines = cli(own_demo, "verify", "--since", cp).stdout.splitlines()
    assert (
        "  checked: event 108, the one new event: its number, its link to event 107, its hash, "
        "its contents and its recording time" in lines
    )
    cli(own_demo, *move, "NAOC N2 cabinet D")
    lines = cli(own_demo, "verify", "--since", cp).stdout.splitlines()
    assert (
        "  checked: events 108–109, the new events: their numbers, links, hashes, contents and "
        "recording times" in lines
    )


# --- a list with nothing to show drew an empty table (the streamed lists say "No loans match.") --


@pytest.fixture(scope="module")
def new_ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A ledger just made by `init`: no agreement, incident, checkpoint or borrower staff."""
    folder = tmp_path_factory.mktemp("new")
    env = {"SAMPLELOANS_DB": str(folder / "lab.db"), "SAMPLELOANS_USER": CURATOR}
    init = ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"]
    assert CliRunner().invoke(app, init, env=env).exit_code == 0
    return env


EMPTY_LISTS = {
    "agreements list": "No agreements match.",
    "incidents list": "No incidents match.",
    "people list --institution OU": "No people match.",
    "checkpoint list": (
        "No checkpoint is kept yet; a curator makes one with 'sampleloans checkpoint --key FILE'."
    ),
}


@pytest.mark.parametrize("command", sorted(EMPTY_LISTS))
def test_an_empty_list_says_so_in_one_line(new_ledger: dict[str, str], command: str) -> None:
    """One line saying nothing matches, as `loans list` and `samples list` do; `--json` is
    still `[]` and `--csv` still the header."""
    assert cli(new_ledger, *command.split()).stdout == EMPTY_LISTS[command] + "\n"
    assert json.loads(cli(new_ledger, *command.split(), "--json").stdout) == []


def test_an_empty_list_in_csv_is_its_header(new_ledger: dict[str, str]) -> None:
    """CSV keeps its columns: a header line and no record."""
    text = cli(new_ledger, "incidents", "list", "--csv").stdout
    # one fact a cell (sweep s21-csv): the table's "kind: description" and "status:
    # resolution" are two columns each, the mass in whole micrograms
    header = "no.,sample,loan,kind,description,mass lost (µg),reported (UTC),status,resolution"
    assert text.splitlines() == [header]


# --- `report statement --out st/` and `notify --outbox outbox/`, as their help examples say ----


def test_the_statement_example_makes_its_folder(own_demo: dict[str, str], tmp_path: Path) -> None:
    """The help's example `--out st/` on a fresh directory: the folder is made (0700, as `keys`
    makes theirs) and the statement written; before, "--out: st is not an existing folder",
    exit 3."""
    cli(own_demo, "keys", "generate", "--out", str(tmp_path / "key"))
    cli(own_demo, "checkpoint", "--key", str(tmp_path / "key"))
    out = tmp_path / "st"
    cli(own_demo, "report", "statement", "--institution", "OU", "--out", f"{out}/")
    assert [p.name for p in out.iterdir()] == ["statement-anand-at-open.example.pdf"]
    assert out.stat().st_mode & 0o777 == 0o700


def test_a_statement_folder_whose_parent_is_missing_is_refused(
    own_demo: dict[str, str], tmp_path: Path
) -> None:
    """Only the last folder is made: a mistyped parent is one line, exit 3, nothing made."""
    cli(own_demo, "keys", "generate", "--out", str(tmp_path / "key"))
    cli(own_demo, "checkpoint", "--key", str(tmp_path / "key"))
    out = tmp_path / "typo" / "st"
    args = ["report", "statement", "--institution", "OU", "--out", str(out)]
    result = cli(own_demo, *args, code=3)
    assert result.stderr == (
        f"Error: --out: {out}: cannot create it: folder {out.parent} does not exist; create it "
        "first\n"
    )
    assert not out.parent.exists()


def test_no_statement_makes_no_folder(own_demo: dict[str, str], tmp_path: Path) -> None:
    """Nothing to write (IPGP's loan is closed): no folder is left behind."""
    cli(own_demo, "keys", "generate", "--out", str(tmp_path / "key"))
    cli(own_demo, "checkpoint", "--key", str(tmp_path / "key"))
    out = tmp_path / "st"
    said = cli(own_demo, "report", "statement", "--institution", "IPGP", "--out", str(out))
    assert "No statement" in said.stdout and not out.exists()


def test_the_notify_example_makes_its_outbox(own_demo: dict[str, str], tmp_path: Path) -> None:
    """`notify --outbox outbox/` on a fresh directory writes the dry run's messages there."""
    cli(own_demo, "keys", "generate", "--out", str(tmp_path / "key"))
    cli(own_demo, "checkpoint", "--key", str(tmp_path / "key"))
    outbox = tmp_path / "outbox"
    cli(own_demo, "notify", "--institution", "OU", "--outbox", f"{outbox}/")
    assert sorted(p.suffix for p in outbox.iterdir()) == [".eml", ".eml"]
    assert outbox.stat().st_mode & 0o777 == 0o700


# --- the README's roles table: what a compliance officer may run ---------------------------------


def test_a_compliance_officer_may_run_what_the_roles_table_says(
    own_demo: dict[str, str], tmp_path: Path
) -> None:
    """Each command the README's compliance officer row allows runs (exit 0); each it names as
    a recording one is refused (exit 4)."""
    cli(own_demo, "keys", "generate", "--out", str(tmp_path / "key"))
    cli(own_demo, "checkpoint", "--key", str(tmp_path / "key"), "--out", str(tmp_path / "cp"))
    officer = {**own_demo, "SAMPLELOANS_USER": "compliance@naoc.example"}
    allowed = [
        ["verify"], ["balance", "--loan", "L-2025-OU"], ["overdue"],
        ["custody", "history", "--loan", "L-2025-OU"],
        ["report", "custody", "--loan", "L-2025-OU", "--out", str(tmp_path / "c.pdf")],
        ["backup", str(tmp_path / "b.db")], ["export", "--events", str(tmp_path / "e.jsonl")],
        ["checkpoint", "list"],
        ["checkpoint", "prove", str(tmp_path / "cp"), str(tmp_path / "cp"),
         "--out", str(tmp_path / "p.json")],
    ]  # fmt: skip
    for argv in allowed:
        cli(officer, *argv)
    refused = [
        ["checkpoint", "--key", str(tmp_path / "key")], ["notify", "--outbox", str(tmp_path)],
        ["db", "upgrade"], ["import", str(tmp_path / "e.jsonl")],
        ["loans", "approve", "L-2025-Brown"],
    ]  # fmt: skip
    for argv in refused:
        assert cli(officer, *argv, code=4).stderr.startswith("Error: compliance@naoc.example is a")


# --- `verify --anchor` proved the anchor without saying so ---------------------------------------


def test_verify_says_the_anchor_it_proved(own_demo: dict[str, str]) -> None:
    """The README: `verify --anchor SEQ:HASH` proves the ledger still extends it. A clean run
    printed the usual OK line only, the same as without `--anchor`; it now names the anchor
    (as `--checkpoint` names the checkpoint)."""
    head = cli(own_demo, "verify", "--print-head").stdout.strip()
    cli(own_demo, "samples", "move", "CE5C0000YJBP005", "--location", "C", "--reason", "moved")
    lines = cli(own_demo, "verify", "--anchor", head).stdout.splitlines()
    seq = head.split(":")[0]
    assert lines[-2] == f"anchor: the ledger extends {head} (event {seq} still has that hash)"
    # the event after it is named as not covered (sweep s23)
    assert lines[-1].startswith(f"not checked: that event {int(seq) + 1}, after the anchored ")


def test_a_wrong_anchor_shows_the_two_hashes_whole(demo: dict[str, str]) -> None:
    """An anchor whose hash differs in its last digit: the finding must let the reader see the
    difference (before: "has hash b6be6a6c68dd4b36… but the anchor says b6be6a6c68dd4b36…")."""
    head = cli(demo, "verify", "--print-head").stdout.strip()
    seq, hash_hex = head.split(":")
    wrong = hash_hex[:-1] + ("0" if hash_hex[-1] != "0" else "1")
    finding = cli(demo, "verify", "--anchor", f"{seq}:{wrong}", code=1).stdout.splitlines()[1]
    assert hash_hex in finding and wrong in finding


# --- the README's exit-code table, each cause it names, provoked ---------------------------------


def test_each_cause_in_the_exit_code_table_gives_its_code(
    own_demo: dict[str, str], tmp_path: Path
) -> None:
    """For each row of the table, the causes it lists exit with its code, with one `Error:`
    line on stderr (0 aside) and no traceback."""
    empty, foreign = tmp_path / "empty.db", tmp_path / "other.db"
    empty.write_bytes(b"")
    with sqlite3.connect(foreign) as other:
        other.execute("CREATE TABLE notes (body TEXT)")
    ledger = own_demo["SAMPLELOANS_DB"]
    causes = [
        (0, ["status", "--loan", "L-2025-OU"]),
        (1, ["loans", "issue", "L-2025-Brown"]),  # agreement not signed: a rule
        (1, ["loans", "recall", "L-2025-OU", "--due", "2027-01-01", "--reason", "x"]),  # later
        (2, ["loans", "issue", "L-2025-Brown", "--at", "yesterday"]),  # cannot be parsed
        (2, ["loans", "show", "L-NOPE"]),  # an unknown record
        (2, ["report", "custody", "--loan", "L-2025-OU", "--out", ledger]),  # the ledger itself
        (3, ["--db", str(tmp_path / "none.db"), "status", "--loan", "L-2025-OU"]),  # no database
        (3, ["--db", str(empty), "status", "--loan", "L-2025-OU"]),  # an empty file
        (3, ["--db", str(foreign), "status", "--loan", "L-2025-OU"]),  # another application's
        (4, ["--as", "nobody@nowhere.example", "status", "--loan", "L-2025-OU"]),  # unregistered
        (4, ["--as", "compliance@naoc.example", "loans", "approve", "L-2025-Brown"]),  # role
    ]
    for code, argv in causes:
        result = cli(own_demo, *argv, code=code)
        if code:
            assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, argv
        assert "Traceback" not in result.stderr
    assert foreign.read_bytes()[:16] == b"SQLite format 3\x00" and empty.read_bytes() == b""
