"""Sweep s44 pgindexes: `loans list` gives each withdrawn loan its own reason.

Found reading the plan of `loans list` on PostgreSQL: the withdrawal reason's subquery, two
levels down, joined every loan instead of the listed one (SQLAlchemy correlates only to the
enclosing SELECT), so every loan withdrawn before issue showed the latest withdrawal's reason,
whichever loan it was of, where `loans show` gave its own. Both engines.
"""

import json
from pathlib import Path

from tests.i15_statement_helpers import env_for, invoke, make_demo
from tests.pgcluster import PgServer, fresh_database

REASONS = {"L-2025-Brown": "first: the PI withdrew", "L-2026-OU2": "second: declined"}
REQUEST = (
    "loans", "request", "L-2026-OU2", "--agreement", "AG-2025-OU", "--pi", "anand@open.example",
    "--sample", "CE5C0000YJBP005", "--purpose", "research", "--period", "6 months",
)  # fmt: skip


def _listed_reasons(env: dict[str, str]) -> dict[str, str | None]:
    """Each loan's `withdrawn_reason` in `loans list --json`, after the two withdrawals."""
    for args in (
        ("loans", "withdraw", "L-2025-Brown", "--reason", REASONS["L-2025-Brown"]),
        REQUEST,
        ("loans", "withdraw", "L-2026-OU2", "--reason", REASONS["L-2026-OU2"]),
    ):
        done = invoke(env, *args)
        assert done.exit_code == 0, done.output
    listed = invoke(env, "loans", "list", "--json")
    assert listed.exit_code == 0, listed.output
    return {row["number"]: row["withdrawn_reason"] for row in json.loads(listed.stdout)}


def _check(env: dict[str, str]) -> None:
    """The listing's reasons are each loan's own, as `loans show` gives them."""
    reasons = _listed_reasons(env)
    assert {n: r for n, r in reasons.items() if r is not None} == REASONS
    for number, reason in REASONS.items():
        shown = json.loads(invoke(env, "loans", "show", number, "--json").stdout)
        assert shown["withdrawn_reason"] == reason


def test_each_withdrawn_loan_lists_its_own_reason_on_sqlite(tmp_path: Path) -> None:
    """Before: both listed "second: declined"."""
    _check(env_for(make_demo(tmp_path)))


def test_each_withdrawn_loan_lists_its_own_reason_on_postgresql(
    tmp_path: Path, pg_server: PgServer
) -> None:
    """The same on PostgreSQL, the demo's events imported."""
    ledger = make_demo(tmp_path)
    events = tmp_path / "events.jsonl"
    assert invoke(env_for(ledger), "export", "--events", str(events)).exit_code == 0
    with fresh_database(pg_server) as url:
        env = {**env_for(ledger), "SAMPLELOANS_DB": url}
        imported = invoke(env, "import", str(events))
        assert imported.exit_code == 0, imported.output
        _check(env)
