"""Session 39: Ctrl-C (SIGINT to the whole process group, as a terminal sends it) at moments
through a real `python -m sampleloans restore --bag` into a new ledger file.

Each interrupted run exits 130 with one `Error:` line and no traceback, and leaves either no
ledger or the whole rebuilt one (verified, the bag's head, its checkpoints kept), never a temp
file or a part of one; the rerun works. (SIGKILL and SIGTERM: `restore-bag` and
`restore-bag-new` in tests/test_sweep_kill_commands.py.)
"""

import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from sampleloans import fileio
from sampleloans.interrupts import INTERRUPTED_EXIT
from tests.test_sweep_s18kill_interrupts import interrupted
from tests.test_sweep_s18kill_interrupts import run_to_the_end as run
from tests.test_sweep_s39attack_bag_restore import lender  # noqa: F401  (the fixture)

AFTER_S = (0.4, 0.7, 0.9, 1.1, 1.3, 1.6)
"""Moments after the start: the imports, the bag's validation, the rebuild, the load."""


@pytest.mark.parametrize("after_s", AFTER_S)
def test_ctrl_c_during_restore_bag_leaves_no_ledger_or_the_whole_one(
    lender: dict[str, Any],  # noqa: F811
    tmp_path: Path,
    after_s: float,
) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    shutil.copytree(lender["bag"], folder / "bag")
    shutil.copy(lender["pub"], folder / "key.pub")
    args = ["--db", "rebuilt.db", "restore", "--bag", "bag", "--public-key", "key.pub"]
    began = time.monotonic()
    done = interrupted(folder, args, after_s)
    if done.returncode == 0:
        pytest.skip(f"restore --bag finished in {time.monotonic() - began:.2f} s, before Ctrl-C")
    assert done.returncode == INTERRUPTED_EXIT, (done.returncode, done.stderr[-3000:])
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: interrupted (Ctrl-C)"), lines
    assert fileio.temp_names(folder) == []
    left = {p.name for p in folder.iterdir()} - {"bag", "key.pub"}
    assert left <= {"rebuilt.db"}, f"a partial or temp file was left: {left}"
    if left:  # interrupted after the ledger was in place: it must be the whole rebuild
        checked = run(folder, ["--db", "rebuilt.db", "verify"])
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with closing(sqlite3.connect(folder / "rebuilt.db")) as connection:
            assert connection.execute("SELECT count(*) FROM checkpoint").fetchone() == (2,)
        return
    rerun = run(folder, args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Kept 2 checkpoints of the bag:" in rerun.stdout
