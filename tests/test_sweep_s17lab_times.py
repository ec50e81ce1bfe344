"""Sweep s17-lab: the due and inventory moments, as a borrowing researcher reads them.

`loans show` says how many days are left before the next inventory or how late it is, in the
table and in --json (inventory_days_left, inventory_overdue), with the figures `status` gives
(before: the date alone, while `status` said 'OVERDUE by 3 days' and `overdue` listed it)."""

import json
import re

import pytest
from typer.testing import CliRunner

from sampleloans.cli import app
from tests.conftest import demo_env

OSAKA_PI = "terada@osaka-u.example"
UOC_PI = "muenker@uni-koeln.example"
INVENTORY_DUE = "2027-04-20T10:00:00Z"  # UoC's next inventory in the demo


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo, read by Osaka's PI (whose return and inventory are 3 days late)."""
    return demo_env(tmp_path_factory, OSAKA_PI)


def _run(env: dict[str, str], *args: str, now: str | None = None) -> str:
    extra = {"SAMPLELOANS_NOW": now} if now else {}
    result = CliRunner().invoke(app, list(args), env={**env, "COLUMNS": "200", **extra})
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _status_loan(env: dict[str, str], user: str, now: str | None = None) -> dict[str, object]:
    loans = json.loads(_run(env, "--as", user, "status", "--json", now=now))["loans"]
    assert len(loans) == 1
    return dict(loans[0])


def test_loans_show_says_the_inventory_is_late_as_status_does(env: dict[str, str]) -> None:
    assert "next inventory 2026-04-25 08:00 UTC (OVERDUE by 3 days)" in _run(env, "status")
    shown = _run(env, "loans", "show", "L-2025-Osaka")
    line = next(line for line in shown.splitlines() if line.startswith("next inventory"))
    assert line.split(None, 2)[2].strip() == "2026-04-25 08:00 UTC (overdue by 3 days)"


@pytest.mark.parametrize(
    ("now", "days_left", "late"),
    [
        ("2027-04-20T09:59:59Z", 0, False),
        (INVENTORY_DUE, 0, False),  # at the due moment itself it is not yet late
        ("2027-04-20T10:00:01Z", 0, True),
        ("2027-04-21T10:00:00Z", -1, True),
        ("2027-04-19T10:00:00Z", 1, False),
    ],
)
def test_loans_show_json_inventory_figures_agree_with_status_at_the_due_moment(
    env: dict[str, str], now: str, days_left: int, late: bool
) -> None:
    status = _status_loan(env, UOC_PI, now)
    shown = json.loads(_run(env, "--as", UOC_PI, "loans", "show", "L-2025-UoC", "--json", now=now))
    assert shown["next_inventory_due_at"] == status["next_inventory_due_at"] == INVENTORY_DUE
    assert shown["inventory_days_left"] == status["inventory_days_left"] == days_left
    assert shown["inventory_overdue"] is status["inventory_overdue"] is late
    listed = _run(env, "--as", UOC_PI, "overdue", "--json", now=now)
    assert any(row["what"] == "inventory" for row in json.loads(listed)) is late


@pytest.mark.parametrize(
    "args",
    [
        ("custody", "history", "--loan", "L-2025-Osaka", "--since"),
        ("custody", "history", "--loan", "L-2025-Osaka", "--as-of"),
        ("report", "custody", "--loan", "L-2025-Osaka", "--out", "unused.pdf", "--as-of"),
    ],
)
def test_a_time_finer_than_a_microsecond_is_refused_not_cut(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    """Times are kept to the microsecond: a seventh decimal is refused, naming the option
    (before: '.1234567' was silently read as '.123456')."""
    result = CliRunner().invoke(app, [*args, "2025-05-01T08:00:00.1234567Z"], env=env)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {args[-1]}: '2025-05-01T08:00:00.1234567Z' is finer than a microsecond; "
        "give at most 6 decimals of a second, e.g. 2025-04-24T10:30:00.123456Z\n"
    )


def test_six_decimals_are_kept_to_the_microsecond(env: dict[str, str]) -> None:
    """An event at :00 is listed --since that second and not --since a microsecond before the
    next one."""
    history = ("custody", "history", "--loan", "L-2025-Osaka", "--json")
    when = json.loads(_run(env, *history))["events"][-1]["occurred_at"]
    assert when.endswith(":00Z")
    since = json.loads(_run(env, *history, "--since", when))["events"]
    assert since[-1]["occurred_at"] == when
    later = when.replace(":00Z", ":00.000001Z")
    assert when not in [
        e["occurred_at"] for e in json.loads(_run(env, *history, "--since", later))["events"]
    ]


SUPARCO_PI = "pi@suparco.example"
SUPARCO_DUE_DAY = "2026-04-30T07:59:59Z"  # L-2025-SUPARCO is due at 08:00 UTC that day


def test_on_the_due_day_every_command_says_due_today_as_the_statement_does(
    env: dict[str, str],
) -> None:
    """The statement's standing says 'due today' on the due day (before: status said 'return
    due in 0 days' and '(0 days left)', loans list and show '(0 days left)')."""
    status = _run(env, "--as", SUPARCO_PI, "status", now=SUPARCO_DUE_DAY)
    assert "due 2026-04-30 08:00 UTC (due today)" in status
    assert "obligations: return due today" in status
    assert "0 days" not in status
    for args in (("loans", "list"), ("loans", "show", "L-2025-SUPARCO")):
        shown = _run(env, "--as", SUPARCO_PI, *args, now=SUPARCO_DUE_DAY)
        # loans list's column is "due (UTC)": its cells give the time alone
        assert re.search(r"2026-04-30 08:00( UTC)? \(due today\)", shown)
        assert "0 days" not in shown
    # the CSV: the due time, days left and overdue each in a column of its own
    shown = _run(env, "--as", SUPARCO_PI, "loans", "list", "--csv", now=SUPARCO_DUE_DAY)
    assert shown.splitlines()[1].endswith(",2026-04-30T08:00:00Z,0,no,"), shown
    listed = json.loads(
        _run(env, "--as", SUPARCO_PI, "loans", "list", "--json", now=SUPARCO_DUE_DAY)
    )
    assert (listed[0]["days_left"], listed[0]["overdue"]) == (0, False)


def test_the_inventory_due_today_says_so_in_status_and_loans_show(env: dict[str, str]) -> None:
    now = "2027-04-20T09:00:00Z"
    status = _run(env, "--as", UOC_PI, "status", now=now)
    assert "next inventory 2027-04-20 10:00 UTC (due today)" in status
    shown = _run(env, "--as", UOC_PI, "loans", "show", "L-2025-UoC", now=now)
    assert "2027-04-20 10:00 UTC (due today)" in shown
