"""Half of `verify`'s replay in a second process, beside the other half (`services/verify.py`,
`ledger/halves.py`).

`python -m sampleloans.services.replay_beside PATH UP_TO_SEQ HALVES SCRATCH` replays the events
up to `UP_TO_SEQ` of the SQLite ledger file `PATH` that the halves file `HALVES` gives to the
process beside, into a new scratch file `SCRATCH`, comparing their event index entries as it
goes, and prints one JSON object: failure (the first event that cannot be replayed, in words,
or null), differences (index entries that differ), events (how many it replayed).
"""

import json
import os
import sys
from pathlib import Path

from sampleloans import db
from sampleloans.ledger.halves import BESIDE, Halves
from sampleloans.services.verify import VERIFY_REPLAY_BATCH
from sampleloans.services.verify_halves import replay_half

ORPHAN_CHECK_EVENTS = 5000
"""How often (in events replayed) this half checks that the verify which started it still runs."""


def main(argv: list[str]) -> None:
    """Replay the half as asked and print the answer."""
    path, up_to_seq, halves_path, scratch = argv
    halves = Halves.load(Path(halves_path))
    engine = db.open_engine(db.url_for_path(path))
    target = db.scratch_engine(Path(scratch))
    replayed = 0
    parent = os.getppid()

    def count(_seq: int) -> None:
        """Count one replayed event; stop when the verify that started this half is gone."""
        nonlocal replayed
        replayed += 1
        if replayed % ORPHAN_CHECK_EVENTS == 0 and os.getppid() != parent:
            # the verify that started this half was killed: nobody will read its answer
            raise SystemExit(1)

    try:
        with engine.connect() as connection:
            failure, differences = replay_half(
                connection, target, (halves, BESIDE), int(up_to_seq), VERIFY_REPLAY_BATCH, count
            )
            connection.rollback()
    finally:
        target.dispose()
        engine.dispose()
    answer = {"failure": failure, "differences": differences, "events": replayed}
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
