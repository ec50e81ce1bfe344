"""Issue 13, point 2: lists stream.

`samples list`, `loans list`, `overdue`, `custody history` and `loans show`'s consumptions are
read a batch at a time and written as they come: `--json` one array row by row, `--jsonl` one
object per line (the same keys), `--limit/--offset` pages (in SQL) with a footer that says what
is shown of how many, filters that combine, and the researcher's scope on every list. Memory is
checked on a child process's peak RSS: ten times the rows must not cost more memory
(`tests/test_sweep_s34suiteb_lists_memory.py`, a file of its own so that it runs beside this one).
"""

import json
import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sampleloans import db
from sampleloans.cli import app
from sampleloans.services.catalog import SampleFilters, samples_listing
from sampleloans.services.history import HistoryFilters, history_listing
from sampleloans.services.listing import Page
from sampleloans.services.loan_views import LoanFilters, loan_detail_stream, loans_listing
from tests.conftest import ctx_for, demo_copy

ROOT = Path(__file__).resolve().parents[1]
CURATOR = "curator@naoc.example"
OU_PI = "anand@open.example"
NOW = "2026-04-28T09:00:00Z"
SINCE_AFTER_UNTIL = ["--since", "2026-01-01", "--until", "2025-01-01"]
TEMPLATE = "CE5C0000YJBP005"  # a basalt in the NAOC vault, cloned into many samples below


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo ledger (28 samples, 7 loans, 6 institutions), made once."""
    folder = tmp_path_factory.mktemp("i13") / "demo"
    demo_copy(folder)
    return folder / "ledger.db"


@pytest.fixture
def env(demo_db: Path) -> dict[str, str]:
    """Read the demo ledger as its curator, at a fixed clock, 120 columns, no colour."""
    return {
        "SAMPLELOANS_DB": str(demo_db),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": NOW,
        "COLUMNS": "120",
        "NO_COLOR": "1",
    }


def cli(env: dict[str, str], *args: str, code: int = 0, who: str | None = None) -> Any:
    """Run the command line; check the exit code."""
    argv = (["--as", who] if who else []) + list(args)
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == code, f"{args}: {result.stdout} {result.stderr}"
    return result


def jsonl(text: str) -> list[dict[str, Any]]:
    """JSON Lines: every line one object."""
    return [json.loads(line) for line in text.splitlines()]


def with_samples(source: Path, target: Path, count: int) -> Path:
    """A copy of a ledger with `count` more vault samples, cloned from TEMPLATE in SQL (the
    lists read the projections; a large ledger built through the services would take minutes)."""
    shutil.copyfile(source, target)
    with sqlite3.connect(target) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(sample)")]
        rest = ", ".join(c for c in columns if c != "code")
        con.execute(
            f"INSERT INTO sample (code, {rest}) "
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            f"SELECT printf('BULK%07d', i), {rest} FROM n, sample WHERE sample.code = ?",
            (count, TEMPLATE),
        )
    return target


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["samples", "list"],
        ["loans", "list"],
        ["overdue"],
    ],
    ids=" ".join,
)
def test_jsonl_has_the_objects_of_json_one_per_line(env: dict[str, str], args: list[str]) -> None:
    whole = json.loads(cli(env, *args, "--json").stdout)
    lines = cli(env, *args, "--jsonl").stdout
    assert len(whole) > 1
    assert jsonl(lines) == whole
    assert len(lines.splitlines()) == len(whole)


def test_history_jsonl_is_the_events_of_json(env: dict[str, str]) -> None:
    whole = json.loads(cli(env, "custody", "history", "--loan", "L-2025-OU", "--json").stdout)
    lines = cli(env, "custody", "history", "--loan", "L-2025-OU", "--jsonl").stdout
    assert jsonl(lines) == whole["events"] and len(whole["events"]) == 7


def test_json_array_is_written_as_one_document_would_be(env: dict[str, str]) -> None:
    text = cli(env, "samples", "list", "--json").stdout
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    empty = cli(env, "samples", "list", "--json", "--offset", "1000")
    assert empty.stdout == "[]\n"


def test_two_output_formats_are_refused(env: dict[str, str]) -> None:
    result = cli(env, "samples", "list", "--json", "--jsonl", code=2)
    assert result.stdout == ""
    assert result.stderr == "Error: --json and --jsonl: give one of them, not both\n"
    result = cli(env, "custody", "history", "--loan", "L-2025-OU", "--jsonl", "--as-of",
                 "2025-09-01", code=2)  # fmt: skip
    assert result.stderr.startswith("Error: --jsonl: ") and result.stderr.count("\n") == 1


# --- pagination -------------------------------------------------------------------------------


def test_limit_and_offset_page_through_in_order(env: dict[str, str]) -> None:
    every = [row["code"] for row in jsonl(cli(env, "samples", "list", "--jsonl").stdout)]
    assert every == sorted(every) and len(every) == 28
    pages = []
    for offset in range(0, 28, 10):
        page = cli(env, "samples", "list", "--jsonl", "--limit", "10", "--offset", str(offset))
        pages += [row["code"] for row in jsonl(page.stdout)]
    assert pages == every


def test_footer_says_what_is_shown_of_how_many(env: dict[str, str]) -> None:
    first = cli(env, "samples", "list", "--limit", "5")
    assert first.stdout.rstrip().endswith("showing 1–5 of 28; --offset 5 for more")
    assert "Samples (28)" in first.stdout
    last = cli(env, "samples", "list", "--limit", "5", "--offset", "25")
    assert last.stdout.rstrip().endswith("showing 26–28 of 28")
    # machine formats keep stdout parseable: the footer goes to stderr
    data = cli(env, "samples", "list", "--json", "--limit", "5")
    assert len(json.loads(data.stdout)) == 5
    assert data.stderr == "showing 1–5 of 28; --offset 5 for more\n"


def test_offset_past_the_end_is_empty_not_an_error(env: dict[str, str]) -> None:
    result = cli(env, "loans", "list", "--offset", "99")
    assert result.stdout.strip() == "showing none of 7: --offset 99 is past the last row"
    assert cli(env, "loans", "list", "--jsonl", "--offset", "99").stdout == ""
    csv = cli(env, "loans", "list", "--csv", "--offset", "99").stdout
    assert csv.splitlines() == [
        "loan,institution,PI,status,samples,issued (µg),held (µg),on its way back (µg),"
        "due (UTC),days left,overdue,ended (UTC)"
    ]


def test_limit_zero_means_every_row(env: dict[str, str]) -> None:
    every = cli(env, "samples", "list", "--jsonl").stdout
    assert cli(env, "samples", "list", "--jsonl", "--limit", "0").stdout == every
    assert "showing" not in cli(env, "samples", "list", "--limit", "0").stdout


@pytest.mark.parametrize(
    ("option", "value"), [("--limit", "-1"), ("--offset", "-3")], ids=["limit", "offset"]
)
def test_negative_page_is_refused_in_one_line(env: dict[str, str], option: str, value: str) -> None:
    for args in (["samples", "list"], ["loans", "list"], ["overdue"]):
        result = cli(env, *args, option, value, code=2)
        assert result.stdout == ""
        assert result.stderr.startswith(f"Error: {option}: {value} is negative")
        assert result.stderr.count("\n") == 1


def test_loans_show_pages_its_consumptions(env: dict[str, str]) -> None:
    whole = json.loads(cli(env, "loans", "show", "L-2025-UoC", "--json").stdout)
    assert len(whole["consumptions"]) >= 1
    paged = json.loads(cli(env, "loans", "show", "L-2025-UoC", "--json", "--offset", "99").stdout)
    assert paged["consumptions"] == [] and paged["items"] == whole["items"]
    table = cli(env, "loans", "show", "L-2025-UoC", "--offset", "99").stdout
    assert "Consumptions" not in table and "Items" in table
    assert "is past the last row" in table


# --- filters ----------------------------------------------------------------------------------


def test_sample_filters_combine(env: dict[str, str]) -> None:
    every = jsonl(cli(env, "samples", "list", "--jsonl").stdout)
    rows = jsonl(
        cli(
            env, "samples", "list", "--jsonl", "--mission", "ce-5", "--state", "vault",
            "--material", "REGOLITH", "--location", "n2 CABINET",
        ).stdout
    )  # fmt: skip
    expected = [
        r
        for r in every
        if r["mission"] == "CE-5"
        and r["custody_state"] == "vault"
        and r["material_type"] == "regolith"
        and "n2 cabinet" in r["storage_location"].lower()
    ]
    assert rows == expected and 1 < len(rows) < len(every)
    held = jsonl(cli(env, "samples", "list", "--jsonl", "--custodian", "OU").stdout)
    assert {r["custodian"] for r in held} == {"OU"} and len(held) == 3


def test_location_is_a_plain_substring_not_a_pattern(env: dict[str, str]) -> None:
    assert cli(env, "samples", "list", "--jsonl", "--location", "%").stdout == ""
    assert cli(env, "samples", "list", "--jsonl", "--location", "_").stdout == ""


def test_loan_filters_combine(env: dict[str, str]) -> None:
    every = jsonl(cli(env, "loans", "list", "--jsonl").stdout)
    rows = jsonl(
        cli(
            env, "loans", "list", "--jsonl", "--status", "received", "--due-after",
            "2026-04-26", "--due-before", "2026-06-01",
        ).stdout
    )  # fmt: skip
    expected = [
        r for r in every if r["status"] == "received" and "2026-04-26" < r["due_at"] < "2026-06-01"
    ]
    assert [r["number"] for r in rows] == [r["number"] for r in expected]
    assert [r["number"] for r in rows] == ["L-2025-OU", "L-2025-SUPARCO"]
    mine = jsonl(cli(env, "loans", "list", "--jsonl", "--pi", "ANAND@open.example").stdout)
    assert [r["number"] for r in mine] == ["L-2025-OU"]
    assert jsonl(cli(env, "loans", "list", "--jsonl", "--institution", "OU").stdout) == mine


def test_history_filters_combine(env: dict[str, str]) -> None:
    every = json.loads(cli(env, "custody", "history", "--loan", "L-2025-OU", "--json").stdout)
    kinds = ["loan.shipped", "loan.received"]
    args = ["custody", "history", "--loan", "L-2025-OU", "--jsonl"]
    rows = jsonl(cli(env, *args, "--kind", kinds[0], "--kind", kinds[1]).stdout)
    assert rows == [e for e in every["events"] if e["kind"] in kinds] and rows
    since, until = every["events"][2]["occurred_at"], every["events"][4]["occurred_at"]
    window = jsonl(cli(env, *args, "--since", since, "--until", until).stdout)
    assert window == every["events"][2:5]  # both ends inclusive
    both = jsonl(cli(env, *args, "--since", since, "--until", until, "--kind", kinds[1]).stdout)
    assert both == [e for e in window if e["kind"] == kinds[1]]


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["samples", "list", "--state", "gone"], "Error: --state: 'gone' is not one of vault"),
        (["samples", "list", "--mission", "CE-9"], "Error: --mission: 'CE-9' is not a mission"),
        (["samples", "list", "--material", "cheese"], "Error: --material: 'cheese' is not"),
        (["samples", "list", "--location", " "], "Error: --location"),
        (["samples", "list", "--custodian", "XX"], "Error: --custodian 'XX': no such institution"),
        (["loans", "list", "--status", "lost"], "Error: --status: 'lost' is not one of"),
        (
            ["loans", "list", "--pi", "nobody@x.example"],
            "Error: --pi 'nobody@x.example': no such person",
        ),
        (["loans", "list", "--due-before", "soon"], "Error: --due-before: 'soon' is not"),
        (["loans", "list", "--due-after", "2026-13-01"], "Error: --due-after:"),
        (
            ["custody", "history", "--loan", "L-2025-OU", "--kind", "loan.lost"],
            "Error: --kind: 'loan.lost' is not an event kind; give one of agreement.created",
        ),
        (["custody", "history", "--loan", "L-2025-OU", "--since", "x"], "Error: --since:"),
        (
            ["custody", "history", "--loan", "L-2025-OU", *SINCE_AFTER_UNTIL],
            "Error: --since: 2026-01-01T00:00:00Z is after --until 2025-01-01T00:00:00Z;",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_bad_filter_is_one_line_exit_2(env: dict[str, str], args: list[str], start: str) -> None:
    result = cli(env, *args, code=2)
    assert result.stdout == ""
    assert result.stderr.startswith(start), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


# --- a researcher's scope ---------------------------------------------------------------------


def test_researcher_lists_only_their_institution(env: dict[str, str]) -> None:
    samples = jsonl(cli(env, "samples", "list", "--jsonl", who=OU_PI).stdout)
    assert {r["loan_number"] for r in samples} == {"L-2025-OU"}
    loans = jsonl(cli(env, "loans", "list", "--jsonl", who=OU_PI).stdout)
    assert {r["institution"] for r in loans} == {"OU"}
    late = jsonl(cli(env, "overdue", "--jsonl", who=OU_PI).stdout)
    assert {r["institution"] for r in late} <= {"OU"}
    # the count in the footer is the researcher's too
    assert "of 3" in cli(env, "samples", "list", "--limit", "1", who=OU_PI).stdout


def test_researcher_filter_on_another_institution_reads_as_missing(env: dict[str, str]) -> None:
    other = cli(env, "samples", "list", "--custodian", "UoC", code=2, who=OU_PI).stderr
    missing = cli(env, "samples", "list", "--custodian", "NOPE", code=2, who=OU_PI).stderr
    assert other.replace("UoC", "X") == missing.replace("NOPE", "X")
    other = cli(env, "loans", "list", "--pi", "muenker@uni-koeln.example", code=2, who=OU_PI)
    missing = cli(env, "loans", "list", "--pi", "nobody@uni-koeln.example", code=2, who=OU_PI)
    assert other.stderr.replace("muenker", "X") == missing.stderr.replace("nobody", "X")
    # the vault's custodian is a fine filter: it names no borrower
    cli(env, "samples", "list", "--custodian", "NAOC", who=OU_PI)


def test_researcher_history_hides_other_loans_events(env: dict[str, str]) -> None:
    staff = json.loads(cli(env, "custody", "history", "--institution", "OU", "--json").stdout)
    mine = json.loads(
        cli(env, "custody", "history", "--institution", "OU", "--json", who=OU_PI).stdout
    )
    assert {e["seq"] for e in mine["events"]} <= {e["seq"] for e in staff["events"]}
    assert all("L-2025-OU" in e["description"] or "OU" in e["description"]
               for e in mine["events"])  # fmt: skip
    assert not any("L-2025-UoC" in e["description"] for e in mine["events"])


# --- service level ------------------------------------------------------------------------------


def test_services_yield_rows_and_count_apart(demo_db: Path) -> None:
    engine = db.open_engine(db.url_for_path(demo_db))
    ctx = ctx_for(CURATOR, datetime_now())
    with db.transaction(engine, write=False) as session:
        listing = samples_listing(
            session, ctx, filters=SampleFilters(state="vault"), page=Page(offset=2, limit=3)
        )
        assert isinstance(listing.rows, types.GeneratorType)
        assert len(list(listing.rows)) == 3
        vault = samples_listing(session, ctx, filters=SampleFilters(state="vault"))
        assert listing.total() == len(list(vault.rows))
        loans = loans_listing(session, ctx, filters=LoanFilters(institution="OU"))
        assert isinstance(loans.rows, types.GeneratorType)
        assert [r.number for r in loans.rows] == ["L-2025-OU"] and loans.total() == 1
        history, total = history_listing(
            session, ctx, loan="L-2025-OU", filters=HistoryFilters(kinds=("loan.approved",))
        )
        assert isinstance(history.entries, types.GeneratorType)
        assert [e.kind for e in history.entries] == ["loan.approved"] and total() == 1
        detail, consumed = loan_detail_stream(session, ctx, "L-2025-UoC", page=Page(limit=1))
        assert isinstance(detail.consumptions, types.GeneratorType)
        assert len(list(detail.consumptions)) == 1 and consumed() >= 1
    engine.dispose()


def test_service_scopes_a_researcher(demo_db: Path) -> None:
    engine = db.open_engine(db.url_for_path(demo_db))
    with db.transaction(engine, write=False) as session:
        ctx = ctx_for(OU_PI, datetime_now())
        rows = list(samples_listing(session, ctx).rows)
        assert {r.loan_number for r in rows} == {"L-2025-OU"}
        assert samples_listing(session, ctx).total() == len(rows)
        assert {r.institution for r in loans_listing(session, ctx).rows} == {"OU"}
    engine.dispose()


def datetime_now() -> Any:
    """The demo's reading clock."""
    from sampleloans.dates import parse_datetime

    return parse_datetime(NOW, "now")


# --- large lists: plain table, terminal page, bounded memory ------------------------------------


@pytest.fixture(scope="module")
def large(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The demo ledger with 5,000 and with 50,000 more samples."""
    folder = tmp_path_factory.mktemp("i13-large")
    return {n: with_samples(demo_db, folder / f"s{n}.db", n) for n in (5_000, 50_000)}


def test_many_rows_piped_stream_as_a_plain_table(large: dict[int, Path]) -> None:
    env = {"SAMPLELOANS_DB": str(large[5_000]), "SAMPLELOANS_USER": CURATOR,
           "SAMPLELOANS_NOW": NOW, "COLUMNS": "120"}  # fmt: skip
    out = cli(env, "samples", "list").stdout.splitlines()
    assert out[0] == "Samples (5,028)"
    assert out[1].split() == ["code", "mission", "material", "initial", "vault", "on", "loan",
                              "state", "custodian", "loan"]  # fmt: skip
    assert set(out[2]) == {"-", " "}
    assert len(out) == 3 + 5_028 and not any("│" in line for line in out)
    assert [line.split()[0] for line in out[3:]] == sorted(line.split()[0] for line in out[3:])


def test_a_terminal_gets_one_page(large: dict[int, Path]) -> None:
    env = {**os.environ, "SAMPLELOANS_DB": str(large[5_000]), "SAMPLELOANS_USER": CURATOR,
           "SAMPLELOANS_NOW": NOW, "COLUMNS": "120", "NO_COLOR": "1"}  # fmt: skip
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "sampleloans", "samples", "list"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    child.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode()
    assert child.returncode == 0
    assert "showing 1–50 of 5,028; --offset 50 for more" in text
    assert text.count("│ BULK") + text.count("│ CE5") == 50


def test_bench_list_rows_measure_ours_and_the_floor(demo_db: Path, tmp_path: Path) -> None:
    """The bench rows of streamed lists run (a smoke run on the demo ledger): each a ratio of
    ours to the hand-written streaming loop measured in the same run, and peak memory."""
    from bench import __main__ as bench

    copy = tmp_path / "ledger.db"
    shutil.copyfile(demo_db, copy)
    bench.rows.clear()
    bench.list_figures(copy, loan="L-2025-UoC")
    names = [row[0] for row in bench.rows]
    assert names[:4] == [
        "samples list --jsonl time",
        "samples list --jsonl peak RSS",
        "loans list --json time",
        "loans list --json peak RSS",
    ]
    assert "custody history --loan L-2025-UoC peak RSS" in names
    assert all(ratio > 0 for _name, ratio, *_rest in bench.rows)


def test_row_converter_gives_what_renamed_gives(demo_db: Path) -> None:
    """The fast per-view key plan of streamed lists writes the same JSON as `renamed`."""
    from sampleloans.commands.jsonout import renamed, row_converter
    from sampleloans.services.catalog import SampleView
    from sampleloans.services.loan_views import LoanRow

    engine = db.open_engine(db.url_for_path(demo_db))
    with db.transaction(engine, write=False) as session:
        ctx = ctx_for(CURATOR, datetime_now())
        samples = list(samples_listing(session, ctx).rows)
        loans = list(loans_listing(session, ctx).rows)
    engine.dispose()
    to_sample = row_converter(SampleView, {"children": "child_codes"})
    assert [to_sample(v) for v in samples] == renamed(samples, {"children": "child_codes"})
    assert any(v.children for v in samples) and any(v.loan_number for v in samples)
    to_loan = row_converter(LoanRow, {"samples": "sample_count"})
    assert [to_loan(v) for v in loans] == renamed(loans, {"samples": "sample_count"})


def test_a_reader_that_stops_early_ends_the_output_quietly(large: dict[int, Path]) -> None:
    """`sampleloans samples list --jsonl | head -1`: exit 0, no traceback, as `git log` does."""
    env = {**os.environ, "SAMPLELOANS_DB": str(large[50_000]), "SAMPLELOANS_USER": CURATOR,
           "SAMPLELOANS_NOW": NOW}  # fmt: skip
    child = subprocess.Popen(
        [sys.executable, "-m", "sampleloans", "samples", "list", "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None and child.stderr is not None
    first = json.loads(child.stdout.readline())
    child.stdout.close()  # the reader goes away with 50,000 rows still to come
    assert child.wait(timeout=120) == 0
    assert child.stderr.read() == b""
    assert first["code"] == "BULK0000001"


def test_history_by_seal_is_the_shipment_and_its_receipt(env: dict[str, str]) -> None:
    args = ["custody", "history", "--loan", "L-2025-IPGP", "--jsonl"]
    every = jsonl(cli(env, *args).stdout)
    sealed = jsonl(cli(env, *args, "--seal", "SL-IPGP-R1").stdout)
    assert [e["kind"] for e in sealed] == ["loan.shipped", "loan.received"]
    assert "SL-IPGP-R1" in sealed[0]["description"]
    assert f"(shipment {sealed[0]['seq']})" in sealed[1]["description"]
    assert all(e in every for e in sealed)
    # another loan's seal within this loan's history: nothing, not an error
    assert cli(env, *args, "--seal", "SL-UoC-01").stdout == ""


def test_researcher_seal_of_another_institution_reads_as_unknown(env: dict[str, str]) -> None:
    args = ["custody", "history", "--loan", "L-2025-OU", "--seal"]
    other = cli(env, *args, "SL-UoC-01", code=2, who=OU_PI).stderr
    unknown = cli(env, *args, "SL-NONE-01", code=2, who=OU_PI).stderr
    assert other.replace("SL-UoC-01", "X") == unknown.replace("SL-NONE-01", "X")
    assert other.startswith("Error: --seal: ") and other.count("\n") == 1
    mine = jsonl(cli(env, *args, "SL-OU-01", "--jsonl", who=OU_PI).stdout)
    assert [e["kind"] for e in mine] == ["loan.shipped", "loan.received"]
