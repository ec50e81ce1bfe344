"""After each kind of correction a curator can make (README "Correcting a mistake"), every place a
user reads the affected figures agrees with every other and with the arithmetic: `status`,
`loans show` (table, --json), `loans list` (--json, --csv), `samples list/show`, `balance`
(--loan, --sample, the whole collection; --json and --csv), `custody history` (the mark), the
chain-of-custody, return, inventory and overdue PDFs (as text), the statement after a new
checkpoint and the `notify --outbox` e-mail; and `verify` stays clean. Also: two mass corrections
of one event (the later wins everywhere) and `--as-of` a moment between an event and its
correction (the figure as it then stood)."""

import csv
import email
import io
import json
import re
import shutil
import subprocess
from decimal import Decimal
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from tests.i15_statement_helpers import env_for, invoke, make_checkpoint, make_demo

UOC = {"loan": "L-2025-UoC", "inst": "UoC", "pi": "muenker@uni-koeln.example"}
OU = {"loan": "L-2025-OU", "inst": "OU", "pi": "anand@open.example"}
OSAKA = {"loan": "L-2025-Osaka", "inst": "Osaka", "pi": "terada@osaka-u.example"}
_MASS = re.compile(r"(\d+(?:\.\d+)?) (µg|mg|g)\b")
_SCALE_UG = {"µg": 1, "mg": 1000, "g": 1_000_000}

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext")


def masses_ug(text: str) -> list[int]:
    """Every mass written in `text`, in µg, in order."""
    return [int(Decimal(v) * _SCALE_UG[u]) for v, u in _MASS.findall(text)]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A copy of the demo ledger of this test's own (the process builds the demo once)."""
    return make_demo(tmp_path / "demo")


def ok(env: dict[str, str], *args: str) -> Any:
    """Run the CLI; it must succeed."""
    result = invoke(env, *args)
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result


def as_json(env: dict[str, str], *args: str) -> Any:
    """A command's --json output, parsed."""
    return json.loads(ok(env, *args, "--json").stdout)


def csv_row(env: dict[str, str], key: str, *args: str) -> dict[str, str]:
    """The row of a command's --csv output whose first column is `key` (read under the header
    of its own section: the whole collection's balance has two, a blank line between)."""
    sections = ok(env, *args, "--csv").stdout.split("\n\n")
    rows = [r for part in sections for r in csv.DictReader(io.StringIO(part))]
    (found,) = [r for r in rows if next(iter(r.values())) == key]
    return found


def pdf_lines(env: dict[str, str], folder: Path, *args: str) -> list[str]:
    """The text lines of a PDF report (`report ... --out`)."""
    out = folder / f"{args[0]}-{len(list(folder.iterdir()))}.pdf"
    ok(env, "report", *args, "--out", str(out), "--force")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, check=True)
    return text.stdout.decode().splitlines()


def row(lines: list[str], start: str, *also: str) -> list[int]:
    """The masses of the one line starting with `start` (after spaces or a table border) and
    holding every string of `also`."""
    found = [
        line
        for line in lines
        if line.strip(" │").startswith(start + " ") and all(a in line for a in also)
    ]
    assert len(found) == 1, (start, found)
    return masses_ug(found[0])


def accounting_row(lines: list[str], code: str) -> list[int]:
    """The masses of a sample's row of the return report's accounting: from layout 21 a loan
    with splits, or a sample code too long beside eight masses, has it in two tables, its row
    in each, read one after the other."""
    found = [line for line in lines if line.strip(" │").startswith(code + " ")]
    assert 1 <= len(found) <= 2, (code, found)
    return [ug for line in found for ug in masses_ug(line)]


def table_row(lines: list[str], code: str) -> dict[str, str]:
    """The cells of a rich table's row for `code`, by its column header (abbreviations spelt
    out: a narrow terminal shortens them)."""
    # a narrow terminal drops the cells' padding: match the first cell, not its spacing
    at = next(i for i, line in enumerate(lines) if line[1:].split("│")[0].strip() == code)
    header = next(lines[i] for i in range(at, -1, -1) if lines[i].startswith("┃"))
    names = [h.strip() for h in header.strip("┃").split("┃")]
    cells = [c.strip() for c in lines[at].strip("│").split("│")]
    full = {"cons": "consumed", "ret": "returned"}
    return {full.get(n, n): c for n, c in zip(names, cells, strict=True)}


FOUR_JSON = ("held_ug", "consumed_ug", "lost_ug", "returned_ug")
FOUR_NAMES = ("held", "consumed", "lost", "returned")


def one(items: list[dict[str, Any]], key: str, value: str | int) -> dict[str, Any]:
    """The one entry of `items` whose `key` is `value`."""
    (found,) = [i for i in items if i[key] == value]
    return found


def status_lines(env: dict[str, str], pi: str) -> list[str]:
    """`status` as the loan's PI sees it."""
    return ok(env_for(Path(env["SAMPLELOANS_DB"]), pi), "status").stdout.splitlines()


def four_by_view(env: dict[str, str], folder: Path, loan: str, code: str) -> dict[str, tuple]:
    """(held, consumed, lost, returned) of one loan item as each view that shows them all
    (or three: `samples show` has no "returned") shows them."""
    shown = one(as_json(env, "loans", "show", loan)["items"], "sample_code", code)
    table = table_row(ok(env, "loans", "show", loan).stdout.splitlines(), code)
    rows = as_json(env, "balance", "--loan", loan)["item_balance"]["rows"]
    line = csv_row(env, code, "balance", "--loan", loan)
    ret = accounting_row(pdf_lines(env, folder, "return", "--loan", loan), code)
    sample = as_json(env, "samples", "show", code)
    return {
        "loans show --json": tuple(shown[k] for k in FOUR_JSON),
        "loans show": tuple(masses_ug(table[k])[0] for k in FOUR_NAMES),
        "balance --loan --json": tuple(one(rows, "sample_code", code)[k] for k in FOUR_JSON),
        "balance --loan --csv": tuple(int(line[f"{k} (µg)"]) for k in FOUR_NAMES),
        # from the right: a "From split" column is there only where the borrower split
        "return report": (ret[-1], ret[-6], ret[-2], ret[-5] + ret[-4]),
        "samples show --json": (*(sample[k] for k in ("on_loan_ug", "consumed_ug", "lost_ug")),),
    }


def held_by_view(env: dict[str, str], folder: Path, who: dict[str, str], code: str) -> dict:
    """The mass of one loan item held, as each view that shows only that shows it."""
    loan = who["loan"]
    sample_rows = as_json(env, "balance", "--sample", code)["sample_balance"]["rows"]
    return {
        "status": row(status_lines(env, who["pi"]), code)[-1],
        "custody report": row(pdf_lines(env, folder, "custody", "--loan", loan), code, loan)[-1],
        "inventory report": row(pdf_lines(env, folder, "inventory", "--loan", loan), code)[0],
        "samples list --json": one(as_json(env, "samples", "list"), "code", code)["on_loan_ug"],
        "samples list": row(ok(env, "samples", "list").stdout.splitlines(), code)[2],
        "balance --sample --json": one(sample_rows, "code", code)["on_loan_ug"],
    }


def loan_held_by_view(env: dict[str, str], who: dict[str, str]) -> dict[str, int]:
    """The loan's total held, as each view shows it."""
    loan = who["loan"]
    listed = ok(env, "loans", "list").stdout.splitlines()
    return {
        "loans show --json": as_json(env, "loans", "show", loan)["held_ug"],
        "loans list --json": one(as_json(env, "loans", "list"), "number", loan)["held_ug"],
        "loans list --csv": int(csv_row(env, loan, "loans", "list")["held (µg)"]),
        "loans list": masses_ug(table_row(listed, loan)["held"])[0],
        "status": masses_ug("\n".join(status_lines(env, who["pi"])).split("held ")[1])[0],
    }


def statement_figures(db: Path, folder: Path, who: dict[str, str], code: str) -> dict[str, int]:
    """The item's held mass in a statement made on a new checkpoint, and the total held in it
    and in the `notify --outbox` e-mail."""
    env, cp = env_for(db), str(make_checkpoint(db, folder)["cp"])
    out, outbox = folder / "st", folder / "outbox"
    out.mkdir(exist_ok=True)
    outbox.mkdir(exist_ok=True)
    ok(env, "report", "statement", "--pi", who["pi"], "--checkpoint", cp, "--out", str(out))
    (pdf,) = out.iterdir()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True)
    lines = text.stdout.decode().splitlines()
    ok(env, "notify", "--institution", who["inst"], "--checkpoint", cp, "--outbox", str(outbox))
    mail = next(p for p in outbox.iterdir() if p.name.startswith("statement-"))
    body = email.message_from_bytes(mail.read_bytes(), policy=default).get_body(("plain",))
    assert body is not None
    return {
        "item": row(lines, code, who["loan"], " held ")[-1],
        "total": row(lines, "Total held")[-1],
        "mail total": masses_ug(body.get_content().split("Total held:")[1])[0],
    }


def assert_item(
    db: Path, folder: Path, who: dict[str, str], code: str, four: tuple, loan_held_ug: int
) -> None:
    """Every view shows (held, consumed, lost, returned) = `four` for the item and
    `loan_held_ug` for the loan (each PI here has one loan); the statement and e-mail too;
    `verify` is clean."""
    env = env_for(db)
    for view, figures in four_by_view(env, folder, who["loan"], code).items():
        assert figures == four[: len(figures)], view
    held = held_by_view(env, folder, who, code)
    assert held == dict.fromkeys(held, four[0])
    totals = loan_held_by_view(env, who)
    assert totals == dict.fromkeys(totals, loan_held_ug)
    stated = statement_figures(db, folder, who, code)
    assert stated == {"item": four[0], "total": loan_held_ug, "mail total": loan_held_ug}
    assert "verify: OK" in ok(env, "verify").stdout


def collection_total(db: Path, key: str) -> int:
    """The whole collection's total of one column (`initial`, `consumed`, `lost`, ...) as
    `balance --json`, `balance --csv` and `balance` show it; they must agree."""
    env = env_for(db)
    shown = {
        "json": as_json(env, "balance")["sample_balance"]["total"][f"{key}_ug"],
        "csv": int(csv_row(env, "all samples", "balance")[f"{key} (µg)"]),
        "table": masses_ug(table_row(ok(env, "balance").stdout.splitlines(), "all samples")[key])[
            0
        ],
    }
    assert len(set(shown.values())) == 1, shown
    return int(shown["json"])


def correct(db: Path, seq: int, *args: str) -> None:
    """`custody correct SEQ ARGS --reason`, as the curator."""
    ok(env_for(db), "custody", "correct", str(seq), *args, "--reason", "typed wrong")


def marked(db: Path, loan: str, seq: int) -> list[int]:
    """The `corrected_by` mark of event `seq` in `custody history --loan`."""
    events = as_json(env_for(db), "custody", "history", "--loan", loan)["events"]
    return next(e for e in events if e["seq"] == seq)["corrected_by"]


def assert_marked_everywhere(db: Path, folder: Path, who: dict[str, str], by: list[int]) -> None:
    """`custody history` (table), the chain-of-custody report and a statement on a new
    checkpoint all mark the corrected event with its corrections `by`."""
    env, mark = env_for(db), f"[corrected by {', '.join(map(str, by))}]"
    wide = {**env, "COLUMNS": "250"}  # the mark on one line of the table
    assert mark in ok(wide, "custody", "history", "--loan", who["loan"]).stdout, mark
    report = folder / "marked.pdf"
    ok(env, "report", "custody", "--loan", who["loan"], "--out", str(report))
    # reading order, not layout: the mark wraps inside its narrow cell
    text = subprocess.run(["pdftotext", str(report), "-"], capture_output=True, check=True)
    assert mark in re.sub(r"\s+", " ", text.stdout.decode()), mark
    out = folder / "marks"
    out.mkdir()
    cp = str(make_checkpoint(db, folder)["cp"])
    ok(env, "report", "statement", "--pi", who["pi"], "--checkpoint", cp, "--out", str(out))
    (pdf,) = out.iterdir()
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True)
    assert mark in text.stdout.decode(), mark


def test_a_consumption_corrected_is_read_everywhere(ledger: Path, tmp_path: Path) -> None:
    consumed_before = collection_total(ledger, "consumed")
    correct(ledger, 97, "--mass", "3mg")
    assert_item(ledger, tmp_path, UOC, "CE5C0000YJYX052", (32200, 3000, 0, 0), 832200)
    assert collection_total(ledger, "consumed") == consumed_before - 2000
    assert marked(ledger, UOC["loan"], 97) == [108]
    assert_marked_everywhere(ledger, tmp_path, UOC, [108])


def test_a_consumption_voided_gives_the_mass_back_everywhere(ledger: Path, tmp_path: Path) -> None:
    consumed_before = collection_total(ledger, "consumed")
    correct(ledger, 99, "--mass", "0mg")
    assert collection_total(ledger, "consumed") == consumed_before - 500
    assert_item(ledger, tmp_path, OU, "CE5C0200YJFM00112", (20000, 0, 0, 0), 60000)
    overdue = pdf_lines(env_for(ledger), tmp_path, "overdue", "--institution", "OU")
    assert row(overdue, OU["loan"])[-1] == 60000


def test_the_later_of_two_mass_corrections_wins_everywhere(ledger: Path, tmp_path: Path) -> None:
    correct(ledger, 97, "--mass", "3mg")
    correct(ledger, 97, "--mass", "4mg")
    assert_item(ledger, tmp_path, UOC, "CE5C0000YJYX052", (31200, 4000, 0, 0), 831200)
    assert marked(ledger, UOC["loan"], 97) == [108, 109]
    assert_marked_everywhere(ledger, tmp_path, UOC, [108, 109])


def test_a_receipt_weighing_corrected_moves_no_figure_but_the_discrepancy(
    ledger: Path, tmp_path: Path
) -> None:
    correct(ledger, 85, "--sample", "CE5C0000YJYX052", "--mass", "35mg")
    assert_item(ledger, tmp_path, UOC, "CE5C0000YJYX052", (30200, 5000, 0, 0), 830200)
    shown = as_json(env_for(ledger), "loans", "show", UOC["loan"])
    assert [(d["seq"], d["difference_ug"]) for d in shown["weighing_discrepancies"]] == [(85, -200)]
    findings = pdf_lines(env_for(ledger), tmp_path, "custody", "--loan", UOC["loan"])
    assert any("expected 35.200 mg, weighed 35.000 mg" in line for line in findings)


def test_a_return_weighing_stays_the_accountable_mass_in_every_view(
    ledger: Path, tmp_path: Path
) -> None:
    # a return weighs exactly what is accountable (`loans accept-return`), so its weighing has
    # nothing to correct: refused in one line, and every view still reads the return as made
    code, loan, env = "CE5C0100YJFM00201-01", "L-2025-IPGP", env_for(ledger)
    before = ledger.read_bytes()
    for mass, code_expected in (("280mg", 2), ("279mg", 1)):  # nothing to correct; a rule
        result = invoke(env, "custody", "correct", "101", "--mass", mass, "--reason", "r")
        assert result.exit_code == code_expected and result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("Error: --mass: ")
    assert ledger.read_bytes() == before
    rows = as_json(env, "balance", "--loan", loan)["item_balance"]["rows"]
    assert [(r["held_ug"], r["consumed_ug"], r["returned_ug"]) for r in rows] == [
        (0, 20000, 280000)
    ]
    ret = accounting_row(pdf_lines(env, tmp_path, "return", "--loan", loan), code)
    assert (ret[-6], ret[-5] + ret[-4], ret[-1]) == (20000, 280000, 0)
    assert as_json(env, "samples", "show", code)["vault_ug"] == 280000


def test_a_registration_corrected_is_read_everywhere(ledger: Path, tmp_path: Path) -> None:
    code, env = "CE5C0000YJBP005", env_for(ledger)
    initial_before = collection_total(ledger, "initial")
    correct(ledger, 38, "--mass", "26mg")
    shown = as_json(env, "samples", "show", code)
    listed = next(s for s in as_json(env, "samples", "list") if s["code"] == code)
    balance = as_json(env, "balance", "--sample", code)["sample_balance"]["rows"][0]
    for view in (shown, listed, balance):
        assert (view["initial_ug"], view["vault_ug"]) == (26000, 26000)
    assert row(ok(env, "samples", "list").stdout.splitlines(), code)[:2] == [26000, 26000]
    custody = pdf_lines(env, tmp_path, "custody", "--sample", code)
    assert row(custody, code, "vault")[-1] == 26000
    # before the correction was recorded, the register said 26.300 mg
    moment = "2026-01-01T00:00:00Z"
    then = pdf_lines(env, tmp_path, "custody", "--sample", code, "--as-of", moment)
    assert row(then, code, "vault")[-1] == 26300
    history = as_json(env, "custody", "history", "--sample", code, "--as-of", moment)
    assert one(history["replayed_state"]["samples"], "code", code)["initial_ug"] == 26300
    assert collection_total(ledger, "initial") == initial_before - 300
    assert "verify: OK" in ok(env, "verify").stdout


def test_a_split_child_corrected_is_read_everywhere(ledger: Path, tmp_path: Path) -> None:
    correct(ledger, 98, "--mass", "1.5mg")
    env = env_for(ledger)
    child = as_json(env, "samples", "show", "CE5C0000YJYX061-G1")
    assert (child["initial_ug"], child["on_loan_ug"]) == (1500, 1500)
    assert_item(ledger, tmp_path, OSAKA, "CE5C0000YJYX061", (10900, 0, 0, 0), 112400)
    rows = as_json(env, "balance", "--loan", OSAKA["loan"])["item_balance"]["rows"]
    by_code = {r["sample_code"]: r for r in rows}
    assert by_code["CE5C0000YJYX061"]["split_ug"] == 1500
    assert by_code["CE5C0000YJYX061-G1"]["held_ug"] == 1500
    loan_row = table_row(
        ok(env, "loans", "show", OSAKA["loan"]).stdout.splitlines(), "CE5C0000YJYX061-G1"
    )
    assert (loan_row["from split"], loan_row["held"]) == ("1.500 mg", "1.500 mg")
    inventory = pdf_lines(env, tmp_path, "inventory", "--loan", OSAKA["loan"])
    assert row(inventory, "CE5C0000YJYX061-G1")[0] == 1500


def lose(db: Path, code: str, mass: str) -> int:
    """`incidents report` a loss of `mass` of `code`; the incident's seq."""
    result = ok(env_for(db), "incidents", "report", "--sample", code, "--kind", "loss",
                "--description", "spilled", "--mass-lost", mass)  # fmt: skip
    return int(re.findall(r"\d+", result.stdout.split("event")[1])[0])


LOSSES = [("0mg", (20000, 0, 0, 0)), ("400ug", (19600, 0, 400, 0))]


@pytest.mark.parametrize(("corrected", "four"), LOSSES)
def test_an_incidents_lost_mass_corrected_is_read_everywhere(
    ledger: Path, tmp_path: Path, corrected: str, four: tuple
) -> None:
    seq = lose(ledger, "CE5C0300YJFM00307", "1mg")
    assert collection_total(ledger, "lost") == 1000
    correct(ledger, seq, "--mass", corrected)
    assert collection_total(ledger, "lost") == four[2]
    listed = as_json(env_for(ledger), "incidents", "list")
    assert [(i["seq"], i["mass_lost_ug"]) for i in listed] == [(seq, four[2])]
    table = table_row(ok(env_for(ledger), "incidents", "list").stdout.splitlines(), str(seq))
    assert masses_ug(table["mass lost"]) == [four[2]]
    assert_item(ledger, tmp_path, OU, "CE5C0300YJFM00307", four, 59500 - four[2])
    assert marked(ledger, OU["loan"], seq) == [seq + 1]


def test_a_note_moves_no_figure_and_marks_the_event(ledger: Path, tmp_path: Path) -> None:
    ok(env_for(ledger), "custody", "correct", "97", "--text", "it was 5 mg, as recorded")
    assert_item(ledger, tmp_path, UOC, "CE5C0000YJYX052", (30200, 5000, 0, 0), 830200)
    assert marked(ledger, UOC["loan"], 97) == [108]


def test_renames_move_no_figure(ledger: Path, tmp_path: Path) -> None:
    env = env_for(ledger)
    ok(env, "people", "rename", UOC["pi"], "--name", "Carsten Muenker", "--reason", "spelling")
    ok(env, "institutions", "rename", "UoC", "--name", "Universität zu Köln", "--reason", "name")
    assert_item(ledger, tmp_path, UOC, "CE5C0000YJYX052", (30200, 5000, 0, 0), 830200)


def test_as_of_between_the_event_and_its_correction_shows_the_figure_then(
    ledger: Path, tmp_path: Path
) -> None:
    correct(ledger, 97, "--mass", "3mg")
    env, moment = env_for(ledger), "2026-01-01T00:00:00Z"
    then = as_json(env, "custody", "history", "--loan", UOC["loan"], "--as-of", moment)
    items = then["replayed_state"]["loans"][0]["items"]
    item = one(items, "sample_code", "CE5C0000YJYX052")
    assert (item["held_ug"], item["consumed_ug"]) == (30200, 5000)
    assert next(e for e in then["events"] if e["seq"] == 97)["corrected_by"] == []
    report = pdf_lines(env, tmp_path, "custody", "--loan", UOC["loan"], "--as-of", moment)
    assert row(report, "CE5C0000YJYX052", UOC["loan"])[-1] == 30200
    now = pdf_lines(env, tmp_path, "custody", "--loan", UOC["loan"])
    assert row(now, "CE5C0000YJYX052", UOC["loan"])[-1] == 32200


def test_as_of_between_two_corrections_shows_the_first(ledger: Path, tmp_path: Path) -> None:
    ok(env_for(ledger, now="2026-06-15T09:00:00Z"), "custody", "correct", "97", "--mass", "3mg",
       "--reason", "first")  # fmt: skip
    ok(env_for(ledger, now="2026-06-20T09:00:00Z"), "custody", "correct", "97", "--mass", "4mg",
       "--reason", "second")  # fmt: skip
    env = env_for(ledger, now="2026-06-25T09:00:00Z")
    for moment, held_ug, marks in (
        ("2026-06-17T00:00:00Z", 32200, [108]),
        ("2026-06-21T00:00:00Z", 31200, [108, 109]),
    ):
        then = as_json(env, "custody", "history", "--loan", UOC["loan"], "--as-of", moment)
        item = one(then["replayed_state"]["loans"][0]["items"], "sample_code", "CE5C0000YJYX052")
        assert (item["held_ug"], item["consumed_ug"]) == (held_ug, 35200 - held_ug)
        assert one(then["events"], "seq", 97)["corrected_by"] == marks
        report = pdf_lines(env, tmp_path, "custody", "--loan", UOC["loan"], "--as-of", moment)
        assert row(report, "CE5C0000YJYX052", UOC["loan"])[-1] == held_ug


def test_as_of_between_a_loss_and_its_correction_shows_the_loss(
    ledger: Path, tmp_path: Path
) -> None:
    seq = lose(ledger, "CE5C0300YJFM00307", "1mg")
    ok(env_for(ledger, now="2026-06-16T09:00:00Z"), "custody", "correct", str(seq), "--mass",
       "0mg", "--reason", "false alarm")  # fmt: skip
    env, code = env_for(ledger, now="2026-06-17T09:00:00Z"), "CE5C0300YJFM00307"
    for moment, lost_ug in (("2026-06-15T12:00:00Z", 1000), ("2026-06-16T12:00:00Z", 0)):
        then = as_json(env, "custody", "history", "--loan", OU["loan"], "--as-of", moment)
        assert one(then["replayed_state"]["samples"], "code", code)["lost_ug"] == lost_ug
        report = pdf_lines(env, tmp_path, "custody", "--loan", OU["loan"], "--as-of", moment)
        assert row(report, code, OU["loan"])[-1] == 20000 - lost_ug
