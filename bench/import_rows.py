"""The import rows of the bench alone (issue 13 points 3–4), without the rest of a full run.

`python -m bench.import_rows WORKDIR small` runs `bench.scaling.per_event(10_000)` in a child
process, as `python -m bench` does; `... big` imports the bench ledger (`--scale full`: 1M
events) with `bench.scaling.build` in a child process (wall and CPU seconds, peak RSS), then the
raw 1-row ingest baseline. Each writes its figures to WORKDIR/small.json or big.json and prints
them.
"""

import json
import sys
from pathlib import Path

from bench.__main__ import in_child, raw_ingest
from bench.generate import SCALES


def main(argv: list[str]) -> None:
    """Run the rows named (small, big or all) in WORKDIR."""
    work, what = Path(argv[0]), argv[1] if len(argv) > 1 else "all"
    work.mkdir(parents=True, exist_ok=True)
    if what in ("small", "all"):
        small = in_child(
            "from bench.scaling import per_event\n"
            f"result = per_event({SCALES['full'].base_events}, Path({str(work / 'scaling')!r}))\n"
        )
        (work / "small.json").write_text(json.dumps(small))
        print("small", json.dumps(small), flush=True)
    if what in ("big", "all"):
        big = in_child(
            "from bench.scaling import build\nfrom bench.generate import SCALES\n"
            f"result = build(Path({str(work / 'big.db')!r}), SCALES['full'], Path({str(work)!r}))\n"
        )
        big["baseline_ev_s"] = raw_ingest(work / "raw.db", int(big["events"]))
        (work / "big.json").write_text(json.dumps(big))
        print("big", json.dumps(big), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
