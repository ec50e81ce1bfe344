"""Sweep s38 as the compliance officer who pastes `--help` examples in order: `keys generate`'s
wrote the key to `~/.sampleloans/cp.key` (refused in a fresh account: "folder ~/.sampleloans
does not exist; create it first", exit 3), and `checkpoint`'s signed with
`~/.config/sampleloans/checkpoint.key`, another file. Both now name `~/checkpoint.key`, so the
first makes the key the second signs with.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.i15_statement_helpers import CURATOR, copy_ledger, make_demo
from tests.test_sweep_docs_help import examples, help_text


def test_the_key_examples_run_in_order_in_a_fresh_home(tmp_path: Path) -> None:
    ledger = copy_ledger(make_demo(tmp_path / "d"), tmp_path / "ledger.db")
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "SAMPLELOANS_DB": str(ledger),
           "SAMPLELOANS_USER": CURATOR, "SAMPLELOANS_NOW": "2026-06-15T09:00:00Z"}  # fmt: skip
    [generate] = examples(help_text("keys generate", 200))
    [sign] = examples(help_text("checkpoint", 200))
    for example in (generate, sign):
        words = shlex.split(example)  # the shell's own words, its ~ expanded below by bash
        assert words[0] == "sampleloans"
        command = f"{shlex.quote(sys.executable)} -m {example}"
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, (example, done.stdout, done.stderr)
    assert (home / "checkpoint.key").stat().st_mode & 0o777 == 0o600
    note = (tmp_path / "cp-212.txt").read_text("utf-8")
    assert note.startswith("sampleloans/ledger/") and "\n— naoc.example/ledger " in note
