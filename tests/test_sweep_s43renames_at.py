"""Sweep s43 renames: `institutions rename --at` keeps an institution's names in time order.

Before: `institutions rename SHORT --at` took any past moment. A rename dated before the
institution was registered was recorded (the custody report then listed it renamed in 2020 and
added in 2025), and a second rename dated before the first was recorded too: `verify` passed,
but every replay as of a moment between the two (`custody history --as-of`, `report custody
--as-of`) stopped with `event N (institution.renamed) cannot be replayed: institution IPGP is
named '…', not '…' as the rename says`, exit 3. An `import` line did the same. After: a rename
dated before the institution's registration or its last rename is refused in one line (exit
1), naming that event and the earliest time accepted, nothing recorded; `people rename` already
kept to the person's last part.
"""

import json
from pathlib import Path

from tests.i15_statement_helpers import env_for
from tests.test_sweep_s43corrections_rename import pdf_text
from tests.test_sweep_s43corrections_void_consumption import demo, event_count, run

__all__ = ["demo"]  # the fixture (a demo copy per test), shared by name

REGISTERED = "2025-03-03T09:00:00Z"  # every demo institution's institution.added
IPGP = "Institut de Physique du Globe de Paris"


def rename(env: dict[str, str], at: str, name: str, code: int = 0) -> str:
    """`institutions rename IPGP --name NAME --at AT`; its stdout, or its stderr if refused."""
    args = ("institutions", "rename", "IPGP", "--name", name, "--reason", "typo", "--at", at)
    done = run(env, *args, code=code)
    return str(done.stdout if code == 0 else done.stderr)


def test_a_rename_dated_before_the_registration_is_refused(demo: Path) -> None:
    env = env_for(demo)
    before = event_count(demo)
    refused = rename(env, "2020-01-01", "IPG Paris", code=1)
    assert refused.splitlines() == [
        "Error: --at: 2020-01-01T00:00:00Z is before institution IPGP was registered (event 7, "
        f"{REGISTERED}); date a rename from {REGISTERED} on (--at)"
    ]
    assert event_count(demo) == before
    assert "event 108" in rename(env, REGISTERED, "IPG Paris")  # the moment itself is accepted


def test_a_rename_dated_before_the_last_one_is_refused_and_every_moment_replays(
    demo: Path,
) -> None:
    env = env_for(demo)
    rename(env, "2026-01-10", "IPG Paris")  # event 108
    refused = rename(env, "2025-12-01", "IPGP Paris", code=1)
    assert "before institution IPGP was last renamed (event 108, 2026-01-10T00:00:00Z)" in refused
    assert len(refused.splitlines()) == 1 and event_count(demo) == 108
    rename(env, "2026-02-01", "IPGP Paris")  # event 109
    names = {}
    for as_of in ("2025-12-15", "2026-01-15", "2026-03-01"):
        out = demo.parent / f"{as_of}.pdf"
        run(env, "report", "custody", "--loan", "L-2025-IPGP", "--as-of", as_of, "--out", str(out))
        names[as_of] = [n for n in (IPGP, "IPG Paris", "IPGP Paris") if n in pdf_text(out)]
        history = run(env, "custody", "history", "--institution", "IPGP", "--as-of", as_of)
        assert history.exit_code == 0
    assert names == {
        "2025-12-15": [IPGP],
        "2026-01-15": ["IPG Paris"],
        "2026-03-01": ["IPGP Paris"],
    }
    run(env, "verify")


def test_an_import_line_dated_before_the_registration_is_refused(demo: Path) -> None:
    line = {
        "kind": "institution.renamed",
        "occurred_at": "2020-06-02T00:00:00Z",
        "actor": "curator@naoc.example",
        "payload": {"short_name": "IPGP", "previous_name": IPGP, "name": "IPG Paris"},
        "reason": "typo",
        "corrects_seq": None,
    }
    history = demo.parent / "renames.jsonl"
    history.write_text(json.dumps(line) + "\n", encoding="utf-8")
    refused = run(env_for(demo), "import", str(history), code=1)
    words = "line 1: occurred_at: 2020-06-02T00:00:00Z is before institution IPGP was registered"
    assert words in refused.stderr
    assert event_count(demo) == 107


def test_two_renames_of_one_import_are_kept_in_time_order(demo: Path) -> None:
    def renamed(at: str, previous: str, name: str) -> str:
        """One `institution.renamed` line of a history."""
        payload = {"short_name": "IPGP", "previous_name": previous, "name": name}
        line = {"kind": "institution.renamed", "occurred_at": at, "actor": "curator@naoc.example"}
        return json.dumps({**line, "payload": payload, "reason": "typo", "corrects_seq": None})

    history = demo.parent / "renames.jsonl"
    lines = [
        renamed("2026-02-01T00:00:00Z", IPGP, "IPG Paris"),
        renamed("2026-01-15T00:00:00Z", "IPG Paris", "IPGP Paris"),
    ]
    history.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = run(env_for(demo), "import", str(history), code=1)
    assert "line 2: occurred_at: 2026-01-15T00:00:00Z is before institution IPGP was last " in (
        refused.stderr
    )
    assert event_count(demo) == 107  # all or nothing
