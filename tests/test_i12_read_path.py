"""Read commands never load the write side: a cold `status` pays only for what it reads.

Each command runs in a fresh interpreter on a demo ledger; afterwards `sys.modules` must hold
none of the modules that append events (the store, `apply`, the event kinds, the chain, the
bulk import, `verify`'s replay, the write services). Only `report` may load reportlab, and
the scoped replay it checks its pages against (`ledger/replay.py` through the unit, `apply` and
the event kinds: a projection edited by hand is never printed), never a write service.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CURATOR, demo_copy

ROOT = Path(__file__).resolve().parent.parent
WRITE_SIDE = (
    "sampleloans.ledger.store",
    "sampleloans.ledger.apply",
    "sampleloans.ledger.events",
    "sampleloans.ledger.unit",
    "sampleloans.ledger.chain",
    "sampleloans.services.bulk",
    "sampleloans.services.verify",
    "sampleloans.services.loans",
    "sampleloans.services.samples",
    "sampleloans.services.reference",
    "sampleloans.services.agreements",
)
REPLAY = (
    "sampleloans.ledger.store",
    "sampleloans.ledger.apply",
    "sampleloans.ledger.events",
    "sampleloans.ledger.unit",
    "sampleloans.ledger.chain",
)
"""What a report's scoped replay loads (`services/reporting.refuse_unlike_events`)."""
READS = [
    ["status", "--loan", "L-2025-UoC"],
    ["overdue"],
    ["balance", "--loan", "L-2025-UoC"],
    ["loans", "show", "L-2025-UoC"],
    ["loans", "list"],
    ["custody", "history", "--loan", "L-2025-UoC"],
    ["samples", "list"],
    ["agreements", "list"],
    ["people", "list"],
    ["institutions", "list"],
    ["report", "inventory", "--loan", "L-2025-UoC", "--out", "{tmp}/inventory.pdf"],
]
PROBE = """
import json, sys
sys.argv = ["sampleloans", *json.loads(sys.argv[1])]
from sampleloans.cli import main
try:
    main()
except SystemExit as exit:
    code = exit.code or 0
else:
    code = 0
sys.stderr.write("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A demo ledger and the environment that reads it as its curator."""
    folder = tmp_path_factory.mktemp("read-path") / "demo"
    demo_copy(folder)
    return {
        "SAMPLELOANS_DB": str(folder / "ledger.db"),
        "SAMPLELOANS_USER": CURATOR,
        "SAMPLELOANS_NOW": "2026-04-28T09:00:00Z",
    }


def loaded_by_command(args: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    """The exit code of a command run in a fresh interpreter, and every module it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], report["modules"]


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a[:2]))
def test_read_commands_load_no_write_side(
    args: list[str], demo_env: dict[str, str], tmp_path: Path
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, modules = loaded_by_command(args, demo_env)
    assert code == 0
    allowed = REPLAY if args[0] == "report" else ()
    writers = [m for m in modules if m.startswith(WRITE_SIDE) and not m.startswith(allowed)]
    assert writers == []
    if args[0] != "report":
        assert not [m for m in modules if m.startswith("reportlab")]


def test_the_probe_sees_a_write_command_load_the_store(
    demo_env: dict[str, str], tmp_path: Path
) -> None:
    """The check can fail: a write loads the store and `apply`."""
    env = {**demo_env, "SAMPLELOANS_DB": str(tmp_path / "ledger.db")}
    args = ["init", "--curator-email", CURATOR, "--curator-name", "Li Na"]
    code, modules = loaded_by_command(args, env)
    assert code == 0
    assert "sampleloans.ledger.store" in modules and "sampleloans.ledger.apply" in modules
