"""Sweep s42 (two years of one ledger): an extension asked near the agreement's end.

Found: OU's loan under a one-year agreement (in force until 2027-05-01 08:00) fell due on
2026-11-02 08:00; `loans extend --period P6M` was refused, rightly, as due after the end, with
"grant a shorter period, or record the return": which period fits was left to trial and
error (5 months fits, 6 does not; 180 days fits to the hour). The line now names the longest in
whole days, as `loans request` does, and that period, typed as named, is granted.
"""

from pathlib import Path
from typing import Any

from tests.i15_statement_helpers import copy_ledger, env_for, invoke, make_demo

CODE = "CE5C0000YJBP005"  # a vault sample of the demo


def test_the_refusal_names_the_longest_period_and_it_is_granted(tmp_path: Path) -> None:
    ledger = copy_ledger(make_demo(tmp_path / "demo"), tmp_path / "ledger.db")

    def run(now: str, *args: str) -> Any:
        return invoke(env_for(ledger, now=now), *args)

    steps = [
        ("2026-05-01T08:00:00Z", ("agreements", "add", "AG-2026-OU", "--institution", "OU",
         "--term", "1 year", "--max-mass", "100 mg", "--purpose", "research",
         "--max-loan-period", "6 months")),
        ("2026-05-01T08:00:00Z", ("agreements", "sign", "AG-2026-OU", "--signed-by", "CNSA")),
        ("2026-05-01T08:00:00Z", ("loans", "request", "L-2026-OU-3", "--agreement",
         "AG-2026-OU", "--pi", "anand@open.example", "--sample", CODE, "--period", "6 months")),
        ("2026-05-01T08:00:00Z", ("loans", "approve", "L-2026-OU-3")),
        ("2026-05-02T08:00:00Z", ("loans", "issue", "L-2026-OU-3")),
    ]  # fmt: skip
    for now, args in steps:
        done = run(now, *args)
        assert done.exit_code == 0, (args, done.output)
    extend = ("loans", "extend", "L-2026-OU-3", "--approver", "curator@naoc.example",
              "--reason", "beam time")  # fmt: skip
    refused = invoke(env_for(ledger, now="2026-10-25T09:00:00Z"), *extend, "--period", "P6M")
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: --period: extending loan L-2026-OU-3 by 6 months makes it due 2027-05-02 08:00 "
        "UTC, after agreement AG-2026-OU ends on 2027-05-01 08:00 UTC; grant a --period of at "
        "most 180 days, or record the return\n"
    )
    granted = invoke(env_for(ledger, now="2026-10-25T09:00:00Z"), *extend, "--period", "180 days")
    assert granted.exit_code == 0, granted.output
    assert "now due 2027-05-01 08:00 UTC" in granted.stdout
