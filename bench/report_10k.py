"""Measure a 10,000-event custody report: build the read model and render the PDF.

Usage: python bench/report_10k.py [EVENTS [DB]]   (prints seconds, peak memory and page count)

An existing DB is reused as it is (building 10,000 events takes a minute or two, 100,000 half an
hour); `bench/report_scale.py` compares sizes, each in a fresh process.

The peak memory printed includes building the ledger; for the report command alone run
`/usr/bin/time -v sampleloans --db DB --as curator@naoc.example report custody --loan L-BIG
--out big.pdf --generated-at 2025-04-02T09:00:00Z` on the DB this leaves behind.
"""

import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sampleloans import db
from sampleloans.ledger.store import Context
from sampleloans.readmodels.report import CustodyBody
from sampleloans.reports import render
from sampleloans.services import agreements, loans, setup
from sampleloans.services.reporting import build_report, make_request

NOW = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
CURATOR = "curator@naoc.example"


def build_ledger(path: Path, events: int) -> None:
    """A ledger at `path` with one loan, L-BIG, of `events` events (almost all consumptions)."""
    engine = db.open_engine(db.url_for_path(path), create=True)
    ctx = Context(CURATOR, "bench", NOW)
    with db.transaction(engine) as s:
        setup.init_ledger(s, ctx, curator_name="Li Na")
        setup.add_people_rows(s, ctx, setup.read_rows("demo/people.csv"))
        setup.register_sample_rows(s, ctx, setup.read_rows("demo/samples.csv"))
        agreements.create_agreement(
            s,
            ctx,
            number="AG-UoC",
            institution="UoC",
            term="P5Y",
            max_total_mass_ug=3_000_000,
            allowed_purposes=["research"],
            max_loan_period="P1Y",
            destructive_use_allowed=True,
            max_extensions=2,
            inventory_interval="P1Y",
        )
        agreements.sign_agreement(s, ctx, number="AG-UoC", signed_by="LESEC and UoC")
        loans.request_loan(
            s,
            ctx,
            number="L-BIG",
            agreement="AG-UoC",
            pi="muenker@uni-koeln.example",
            samples=["CE5C0800YJFM00102"],
            loan_period=None,
        )
        loans.approve_loan(s, ctx, number="L-BIG")
        loans.issue_loan(s, ctx, number="L-BIG")
        loans.ship_loan(s, ctx, number="L-BIG", container="N2 box", seal_number="S-1")
        loans.receive_loan(s, ctx, number="L-BIG", seal_intact=True, condition="pristine")
    batch = 1000
    for first in range(0, events - 6, batch):
        with db.transaction(engine) as s:
            for i in range(first, min(first + batch, events - 6)):
                loans.consume(
                    s,
                    Context(CURATOR, "bench", NOW + timedelta(seconds=i + 1)),
                    number="L-BIG",
                    sample="CE5C0800YJFM00102",
                    technique=f"SIMS spot {i}",
                    mass_ug=1,
                    destructive=True,
                    occurred_at=NOW + timedelta(seconds=i),
                )
    engine.dispose()


def main() -> None:
    """Build a ledger with one loan of EVENTS consumption events, then report on it."""
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    path = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp()) / "ledger.db"
    if not path.exists():
        start = time.perf_counter()
        build_ledger(path, events)
        print(f"ledger built in {time.perf_counter() - start:.1f} s", flush=True)
    engine = db.open_engine(db.url_for_path(path))
    later = NOW + timedelta(days=1)
    request = make_request("custody", loan="L-BIG")
    t0 = time.perf_counter()
    with db.transaction(engine, write=False) as s:
        report = build_report(s, Context(CURATOR, "bench", later), request, generated_at=later)
    t1 = time.perf_counter()
    data = render(report)
    t2 = time.perf_counter()
    import io

    from pypdf import PdfReader

    pages = len(PdfReader(io.BytesIO(data)).pages)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert isinstance(report.body, CustodyBody)  # a custody report
    print(
        f"{len(report.body.events)} events: read model {t1 - t0:.1f} s, render {t2 - t1:.1f} s, "
        f"{pages} pages, {len(data) / 1e6:.1f} MB, peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
