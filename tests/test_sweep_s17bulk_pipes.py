"""Sweep "a curator lists a large collection": every command's output piped to `head`.

The list commands already ended quietly with exit 0 when their reader stopped reading; every
other command (`loans show`, `balance`, `status`, `samples show`, …) exited 1 — the code of a
refusal by a rule — so `set -o pipefail; sampleloans balance | head -1` failed a script.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import demo_env

COMMANDS = [
    ["loans", "show", "L-2025-OU"],
    ["balance"],
    ["status", "--loan", "L-2025-UoC"],
    ["samples", "show", "CE5C0100YJFM00201"],
    ["custody", "history", "--loan", "L-2025-UoC"],
    ["samples", "list"],
    ["loans", "list", "--json"],
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The demo ledger, read by the compliance officer, without colour."""
    return demo_env(tmp_path_factory, "compliance@naoc.example")


@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args))
def test_a_reader_that_stops_after_one_line_ends_any_command_quietly_with_exit_0(
    env: dict[str, str], args: list[str], tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write fails
    command = [sys.executable, "-m", "sampleloans", *args]
    # a wide terminal's worth of output, more than a pipe buffer, so the write really fails
    with os.fdopen(write_end, "wb") as closed:
        done = subprocess.run(
            command,
            stdout=closed,
            stderr=subprocess.PIPE,
            env={**os.environ, **env, "COLUMNS": "200"},
            text=True,
            check=False,
        )
    assert done.stderr == ""
    assert done.returncode == 0


@pytest.mark.parametrize(
    ("args", "footer"),
    [
        (["custody", "history", "--loan", "L-2025-OU", "--limit", "2"], "showing 1–2 of "),
        (["custody", "history", "--loan", "L-2025-OU", "--offset", "99"], "showing none of "),
        (["loans", "show", "L-2025-UoC", "--offset", "1"], "showing none of 1: --offset 1 "),
        (["loans", "show", "L-2025-UoC", "--limit", "1"], "showing 1–1 of 1"),
    ],
)
def test_a_json_document_that_leaves_rows_out_says_so_on_stderr(
    env: dict[str, str], args: list[str], footer: str
) -> None:
    """The README: whenever rows are left out a footer says so, on stderr with --json. The
    lists did; `custody history --json` and `loans show --json` said nothing."""
    from typer.testing import CliRunner

    from sampleloans.cli import app

    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith(footer), result.stderr
    table = CliRunner().invoke(app, args, env=env)
    assert f"{result.stderr.strip()}" in table.stdout  # the table's own footer, word for word
