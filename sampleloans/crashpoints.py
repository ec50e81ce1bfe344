"""Test-only crash points: die by SIGKILL at a named point of a write (docs/reliability.md, T2).

`reached("after_commit")` kills this process when the environment variable
`SAMPLELOANS_CRASH_AT` names that point, so a test can prove that a crash anywhere leaves the
database equal to the state before or after the transaction. When the variable is unset this is
one dict lookup. This leaf module is the only one that reads the variable; services and the
ledger stay free of `os.environ`.
"""

import os
import signal

ENV_VAR = "SAMPLELOANS_CRASH_AT"
POINTS = (
    "after_event_insert",
    "after_apply",
    "before_commit",
    "in_commit",
    "after_commit",
    "before_replace",
    "before_restore_load",
    "after_replay",
    "before_bag_rename",
    "after_replace",
)
"""Every instrumented point: `in_commit` once the COMMIT returned, before the run notes it
(a Ctrl-C there is held until it has); `before_replace` where files are written atomically (reports,
backup), `before_restore_load` once restore's verified copy exists, `after_replay` once verify's
scratch replay is complete, `before_bag_rename` once an export's bag is built and validated in
its private folder, `after_replace` once an output is in place, whole (`fileio.placed`).

`NAME:INT` (or `NAME@N:INT`) sends SIGINT instead, as a Ctrl-C at that very moment would."""


_times_reached: dict[str, int] = {}


def reached(name: str) -> None:
    """Kill this process with SIGKILL if `SAMPLELOANS_CRASH_AT` is `name` (its first time) or
    `name@N` (the Nth time the run reaches it: between two files of one output, say); with
    `:INT` after it, interrupt it as Ctrl-C does."""
    wanted = os.environ.get(ENV_VAR)
    if wanted is None:
        return
    wanted, _, how = wanted.partition(":")
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _times_reached[name] = _times_reached.get(name, 0) + 1
    if _times_reached[name] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGINT if how == "INT" else signal.SIGKILL)
