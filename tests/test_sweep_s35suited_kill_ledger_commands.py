"""Sweep "kills", second half: SIGKILL and SIGTERM a real `python -m sampleloans` in the
middle of each command that writes only the ledger or makes one (ledger writes, restore,
db upgrade, demo, init), at seeded random moments of its own run time.

The cases, fixtures and checks are `test_sweep_kill_commands.py`'s, which kills the commands
that write a file; the two halves are files of their own so that the suite's workers
(`--dist loadfile`) run them at the same time.
"""

from pathlib import Path

import pytest

from tests.test_sweep_kill_commands import (
    LEDGER_WRITES,
    SIGNALS,
    Reference,
    cli,
    kill_and_check,
    references,
    sources,
)
from tests.warm_cli import WarmCli

__all__ = ["cli", "references", "sources"]  # the module fixtures, shared by name


@SIGNALS
@pytest.mark.parametrize("name", LEDGER_WRITES)
def test_a_ledger_command_killed_mid_run_leaves_before_or_after_and_reruns(
    cli: WarmCli,
    sources: Path,
    references: dict[str, Reference],
    tmp_path: Path,
    name: str,
    signum: int,
) -> None:
    kill_and_check(cli, sources, references, tmp_path, name, signum)
