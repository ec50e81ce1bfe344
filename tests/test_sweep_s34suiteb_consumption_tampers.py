"""Issue 15 point 3: `verify` names the same findings on a tampered ledger whether the
consumption rows are filled after the replay or written as it goes.

The ledger (`corrected`) and the tampers (`TAMPERS`) are
`tests/test_sweep_s24verify6_consumptions_after.py`'s; the 22 cases, two whole verifies each,
cost as much as the rest of that file, so they live in a file of their own that the suite's
workers (`--dist loadfile`) run beside it.
"""

import shutil
from pathlib import Path

import pytest

from sampleloans import db
from sampleloans.services import verify as verify_module
from tests.test_sweep_s23verify5_deferred_writes import _replays
from tests.test_sweep_s24verify6_consumptions_after import (  # noqa: F401  (pytest fixtures)
    TAMPERS,
    corrected,
    template,
)
from tests.test_verify_tamper import tamper


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_verify_names_the_same_findings_filled_after_or_not(
    corrected: Path,  # noqa: F811
    tmp_path: Path,
    name: str,
) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(corrected, path)
    tamper(path, (TAMPERS[name], ()))
    engine = db.open_engine(db.url_for_path(path))
    found = {}
    try:
        for later in (True, False):
            with _replays(defer=True, keep_rows=3, batch=2, later=later):
                result = verify_module.verify(engine)
            found[later] = [(problem.area, problem.message) for problem in result.problems]
    finally:
        engine.dispose()
    assert found[True], name  # the tamper is caught
    assert found[True] == found[False]
    if name.startswith(("technique", "mass changed", "a consumption row")):
        assert any("consumption row" in message for _area, message in found[True]), found
