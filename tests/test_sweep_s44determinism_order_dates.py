"""Sweep s44 determinism: listings in one total order, and times at their edges.

Every listing is in its unique key's code point order (README "The same bytes everywhere"):
the same records entered in another order list alike, `S-10` before `S-9` (text, not number),
capitals before lower case. A time typed with an offset, a date alone, `24:00` at a year's end
and a leap day crossed by an offset are recorded and shown in UTC; a recall's `--due` on the day
Paris leaves summer time is the same instant whatever `TZ`; and at the due instant itself a
return is due, not late, in every view, overdue a microsecond later, a day late from the next
UTC date.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from sampleloans.cli import app
from tests.i15_statement_helpers import CURATOR, make_demo

NOW = "2026-06-15T09:00:00Z"
COMPLIANCE = "compliance@naoc.example"
OU_PI = "anand@open.example"
OU_DUE = "2026-05-05T08:00:00Z"  # the demo's L-2025-OU return


def run(ledger: Path, actor: str, *args: str, now: str = NOW) -> Result:
    """One CLI command on `ledger` as `actor` at `now`."""
    env = {"SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": now, "COLUMNS": "150", "NO_COLOR": "1"}
    return CliRunner().invoke(app, ["--as", actor, *args], env=env)


def ok(ledger: Path, actor: str, *args: str, now: str = NOW) -> str:
    """`run`, which must succeed; its stdout."""
    done = run(ledger, actor, *args, now=now)
    assert done.exit_code == 0, done.output
    return done.stdout


def register(ledger: Path, code: str, at: str) -> None:
    """Register a 1 mg sample `code` in the vault, dated `at`."""
    ok(
        ledger, CURATOR, "samples", "register", code, "--mission", "CE-5", "--mass", "1 mg",
        "--origin", "scoop", "--material", "basalt", "--form", "rock fragment",
        "--purpose", "research", "--location", "NAOC test drawer", "--at", at,
    )  # fmt: skip


def add_institution(ledger: Path, short: str) -> None:
    """Add a borrowing institution `short`."""
    ok(
        ledger, CURATOR, "institutions", "add", short, "--name", f"Institute {short}",
        "--country", "France", "--city", "Paris", "--kind", "borrower",
        "--at", "2026-06-01T00:00:00Z",
    )  # fmt: skip


def test_the_same_records_in_another_order_list_alike_in_code_point_order(
    tmp_path: Path,
) -> None:
    """Two ledgers given the same samples (registered at the same moment) and institutions in
    opposite orders: every listing and format is the same bytes, and the order is the
    documented one, text not numbers, capitals first."""
    samples, shorts = ["S-9", "S-10", "S-10.A"], ["ab1", "AC", "Zeta"]
    listings = [
        ("samples", "list"), ("samples", "list", "--json"), ("samples", "list", "--csv"),
        ("samples", "list", "--jsonl"), ("institutions", "list"),
        ("institutions", "list", "--csv"), ("institutions", "list", "--json"),
    ]  # fmt: skip
    outputs = []
    for name, order in (("forward", 1), ("backward", -1)):
        ledger = make_demo(tmp_path / name)
        for code in samples[::order]:
            register(ledger, code, "2026-06-01T00:00:00Z")
        for short in shorts[::order]:
            add_institution(ledger, short)
        outputs.append([ok(ledger, CURATOR, *listing) for listing in listings])
    assert outputs[0] == outputs[1]
    codes = [line.split(",")[0] for line in outputs[0][2].splitlines()[1:]]
    assert [code for code in codes if code.startswith("S-")] == ["S-10", "S-10.A", "S-9"]
    assert codes == sorted(codes)  # code point order: the whole listing
    listed = [row["short_name"] for row in json.loads(outputs[0][6])]
    assert listed.index("AC") < listed.index("Zeta") < listed.index("ab1")
    assert listed.index("OU") < listed.index("Osaka")
    assert listed == sorted(listed)


def test_times_at_their_edges_are_recorded_and_shown_in_utc(tmp_path: Path) -> None:
    """Offsets east and west (+08:00, -03:30, +13:45), a date alone, `24:00` at a year's end
    and an offset that crosses a leap day: each recorded as its UTC instant, and the JSON and
    the table both say it in UTC."""
    ledger = make_demo(tmp_path)
    typed = {
        "T-EAST": ("2026-06-01T08:00:00+08:00", "2026-06-01T00:00:00Z", "2026-06-01 00:00"),
        "T-WEST": ("2026-06-01T00:00:00-03:30", "2026-06-01T03:30:00Z", "2026-06-01 03:30"),
        "T-CHATHAM": ("2026-06-02T13:45:00+13:45", "2026-06-02T00:00:00Z", "2026-06-02 00:00"),
        "T-DATE": ("2026-06-03", "2026-06-03T00:00:00Z", "2026-06-03 00:00"),
        "T-YEAR": ("2025-12-31T24:00:00Z", "2026-01-01T00:00:00Z", "2026-01-01 00:00"),
        "T-LEAP": ("2024-02-29T23:30:00-03:30", "2024-03-01T03:00:00Z", "2024-03-01 03:00"),
    }
    for code, (at, _stored, _shown) in typed.items():
        register(ledger, code, at)
    for code, (_at, stored, shown) in typed.items():
        history = json.loads(ok(ledger, CURATOR, "custody", "history", "--sample", code, "--json"))
        assert [event["occurred_at"] for event in history["events"]] == [stored], code
        table = ok(ledger, CURATOR, "custody", "history", "--sample", code)
        assert shown in table and "(recorded 2026-06-15 09:00)" in table, table
        assert "occurred (UTC)" in table


def _views(ledger: Path, now: str) -> dict[str, str]:
    """What `overdue`, `status`, `loans list` and `loans show` say of L-2025-OU at `now`."""
    overdue = ok(ledger, COMPLIANCE, "overdue", "--csv", now=now)
    status = ok(ledger, OU_PI, "status", "--loan", "L-2025-OU", now=now)
    listed = ok(ledger, CURATOR, "loans", "list", "--csv", now=now)
    shown = ok(ledger, CURATOR, "loans", "show", "L-2025-OU", now=now)
    row = next(line for line in listed.splitlines() if line.startswith("L-2025-OU,"))
    return {
        "overdue": next(
            (line for line in overdue.splitlines() if line.startswith("L-2025-OU,")), ""
        ),
        "status": next(line.strip() for line in status.splitlines() if "due 2026-05-05" in line),
        "listed": row,
        "shown": next(line.strip() for line in shown.splitlines() if line.startswith("due ")),
    }


def test_at_the_due_instant_a_return_is_due_and_late_just_after(tmp_path: Path) -> None:
    """Every view agrees: at the due instant itself (and a microsecond before) the return is
    due today, not overdue; a microsecond after it is overdue since today; days late count
    UTC dates, so one day late from the next UTC midnight."""
    ledger = make_demo(tmp_path)
    for now in ("2026-05-05T07:59:59.999999Z", OU_DUE):
        due = _views(ledger, now)
        assert due["overdue"] == "", now
        assert due["status"].endswith("(due today)"), due
        assert due["listed"].endswith(",2026-05-05T08:00:00Z,0,no,"), due
        assert due["shown"].endswith("2026-05-05 08:00 UTC (due today)"), due
    for now, days, words in (
        ("2026-05-05T08:00:00.000001Z", 0, "since today"),
        ("2026-05-05T23:59:59Z", 0, "since today"),
        ("2026-05-06T00:00:00Z", 1, "by 1 day"),
    ):
        late = _views(ledger, now)
        assert late["overdue"] == f"L-2025-OU,OU,{OU_PI},return,{OU_DUE},{days}", now
        assert late["status"].endswith(f"(OVERDUE {words})"), late
        assert late["listed"].endswith(f",{OU_DUE},{-days},yes,"), late
        assert late["shown"].endswith(f"(overdue {words})"), late


def test_a_due_date_on_a_summer_time_change_is_one_instant_in_any_time_zone(
    tmp_path: Path,
) -> None:
    """`loans recall --due 2026-10-25T02:30:00` typed in Paris, the night its 02:30 comes
    twice, and in UTC: the same instant recorded (no offset is UTC), the same JSON and the same
    words, in processes whose TZ really differs."""
    package = str(Path(__file__).resolve().parent.parent)
    shown = []
    for zone in ("UTC", "Europe/Paris"):
        ledger = make_demo(tmp_path / zone.replace("/", "-"))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": package, "TZ": zone,
            "SAMPLELOANS_DB": str(ledger), "SAMPLELOANS_NOW": NOW, "SAMPLELOANS_USER": CURATOR,
            "COLUMNS": "150", "NO_COLOR": "1",
        }  # fmt: skip
        recall = ["loans", "recall", "L-2025-UoC", "--due", "2026-10-25T02:30:00"]
        for args in ([*recall, "--reason", "audit"], ["loans", "show", "L-2025-UoC", "--json"]):
            done = subprocess.run(
                [sys.executable, "-m", "sampleloans", *args], env=env, capture_output=True,
                text=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        shown.append(done.stdout)
    assert shown[0] == shown[1]
    assert json.loads(shown[0])["due_at"] == "2026-10-25T02:30:00Z"


def test_a_material_or_location_with_a_capital_beyond_ascii_is_found(tmp_path: Path) -> None:
    """Before, the typed filter was lowered by Python (`Ö` to `ö`) and the stored text by SQL
    (ASCII letters only): `--material 'Ölivine basalt'`, typed as `samples list` shows it, was
    refused as no sample's material, naming it among those there are, and no `--location`
    spelling found `Étagère B`. Now both sides fold ASCII letters alone, on every engine."""
    ledger = make_demo(tmp_path)
    ok(
        ledger, CURATOR, "samples", "register", "T-1", "--mission", "CE-5", "--mass", "1 mg",
        "--origin", "scoop", "--material", "Ölivine basalt", "--form", "rock fragment",
        "--purpose", "research", "--location", "Étagère B", "--at", "2026-06-01",
    )  # fmt: skip
    for option, typed in (
        ("--material", "Ölivine basalt"),
        ("--material", "ÖLIVINE BASALT"),
        ("--location", "Étagère"),
        ("--location", "Étagère b"),
    ):
        listed = ok(ledger, CURATOR, "samples", "list", option, typed, "--csv")
        assert [line.split(",")[0] for line in listed.splitlines()[1:]] == ["T-1"], typed
    other = run(ledger, CURATOR, "samples", "list", "--material", "ölivine basalt")
    assert other.exit_code == 2
    assert other.stderr.startswith("Error: --material: 'ölivine basalt' is not the material")
    assert "Ölivine basalt" in other.stderr
    nothing = ok(ledger, CURATOR, "samples", "list", "--location", "ÉTAGÈRE", "--csv")
    assert nothing.splitlines()[1:] == []


def test_ascii_lower_folds_as_sql_does() -> None:
    """Service level: `text.ascii_lower` is SQLite's `lower()`: ASCII capitals only, so a
    Turkish `I` is `i` and `Ö`, `É`, `İ` stay."""
    from sampleloans.text import ascii_lower

    assert ascii_lower("IPGP Ölivine ÉTAGÈRE İ") == "ipgp Ölivine ÉtagÈre İ"
